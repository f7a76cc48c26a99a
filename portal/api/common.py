"""API endpoints for both roles, the generated OpenAPI document and its reference page."""

from __future__ import annotations

from flask import Response, g, jsonify, render_template

from portal import bindings
from portal.api import schemas, serializers
from portal.api.base import api_user, build_document, endpoint, list_answer
from portal.api.blueprints import bp
from portal.extensions import db
from portal.models import Merchant


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_document())


@bp.get("/docs")
def reference() -> str:
    """The API reference, rendered in the browser from /api/v1/openapi.json (vendored viewer)."""
    return render_template("api/reference.html")


@bp.get("/me")
@endpoint(schemas.Me)
def me() -> Response:
    """当前账号"""
    return jsonify(serializers.me(api_user()))


@bp.get("/bindings")
@endpoint(schemas.BindingPage)
def binding_list(query: schemas.PageQuery) -> Response:
    """绑定列表（商家与厂家）"""
    return list_answer(bindings.bindings_query(g.profile), serializers.binding, query)


@bp.delete("/bindings/<int:binding_id>")
@endpoint(schemas.BindingEnded, errors={404: "不存在或不属于当前账号", 409: "状态已变化"})
def binding_end(binding_id: int) -> Response:
    """解除绑定（商家也可撤回待审核申请）"""
    profile = g.profile
    if isinstance(profile, Merchant):
        binding = bindings.get_binding_for_merchant(profile, binding_id)
    else:
        binding = bindings.get_binding_for_supplier(profile, binding_id)
    cancelled = bindings.end_binding(binding, api_user().role)
    db.session.commit()
    return jsonify(status=binding.status, cancelled_assignments=cancelled)
