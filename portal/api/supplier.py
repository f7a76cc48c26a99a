"""API endpoints for suppliers (factories): deciding binding applications."""

from __future__ import annotations

from flask import Response, jsonify

from portal.api import schemas, serializers
from portal.api.base import endpoint
from portal.api.blueprints import supplier_bp as bp
from portal.domain import bindings
from portal.extensions import db
from portal.web.gate import current_supplier

DECIDE_ERRORS = {404: "不存在或不属于当前账号", 409: "binding_not_pending：该申请已处理"}


@bp.post("/bindings/<int:binding_id>/accept")
@endpoint(schemas.Binding, errors=DECIDE_ERRORS)
def binding_accept(binding_id: int) -> Response:
    """厂家同意绑定"""
    binding = bindings.accept_binding(current_supplier(), binding_id)
    db.session.commit()
    return jsonify(serializers.binding(binding))


@bp.post("/bindings/<int:binding_id>/reject")
@endpoint(schemas.Binding, errors=DECIDE_ERRORS)
def binding_reject(binding_id: int) -> Response:
    """厂家拒绝绑定"""
    binding = bindings.reject_binding(current_supplier(), binding_id)
    db.session.commit()
    return jsonify(serializers.binding(binding))
