"""API endpoints for both roles, the generated OpenAPI document and its reference page."""

from __future__ import annotations

from flask import Response, g, jsonify, render_template, request

from portal.api import schemas, serializers
from portal.api.base import api_user, endpoint, list_answer, openapi_document
from portal.api.blueprints import bp
from portal.domain import bindings, staff
from portal.domain.authz import get_or_404
from portal.extensions import db
from portal.models import Binding


@bp.get("/openapi.json")
def openapi() -> Response:
    return openapi_document()


@bp.get("/docs")
def reference() -> str:
    """The API reference, rendered in the browser from /api/v1/openapi.json (vendored viewer)."""
    return render_template("api/reference.html")


@bp.get("/me")
@endpoint(schemas.Me)
def me() -> Response:
    """当前账号"""
    return jsonify(serializers.me(api_user()))


@bp.get("/staff")
@endpoint(schemas.StaffPage)
def staff_list(query: schemas.PageQuery) -> Response:
    """子账号列表（店主或管理员）"""
    return list_answer(staff.staff_query(api_user().shop_owner), serializers.staff_member, query)


@bp.post("/staff")
@endpoint(
    schemas.StaffMember,
    status=201,
    errors={409: "username_taken", 422: "invalid_username、weak_password、invalid_shop_role"},
)
def staff_create(json: schemas.StaffInput) -> tuple[Response, int]:
    """添加子账号（店主或管理员）；成员首次登录须修改初始密码"""
    member = staff.add_member(api_user().shop_owner, json.username, json.password, json.role)
    db.session.commit()
    return jsonify(serializers.staff_member(member)), 201


@bp.patch("/staff/<int:member_id>")
@endpoint(
    schemas.StaffMember,
    errors={
        404: "不是当前店铺的子账号",
        409: "cannot_change_self",
        422: "invalid_shop_role、weak_password",
    },
    guard=lambda: staff.get_member(api_user().shop_owner, request.view_args["member_id"]),
)
def staff_update(member_id: int, json: schemas.StaffUpdate) -> Response:
    """修改子账号角色、停用/启用（停用后登录和令牌立即失效）或重置密码"""
    owner = api_user().shop_owner
    member = staff.get_member(owner, member_id)
    staff.update_member(owner, member, api_user(), role=json.role, active=json.active)
    if json.password is not None:
        staff.reset_password(member, json.password)
    db.session.commit()
    return jsonify(serializers.staff_member(member))


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
    binding = get_or_404(Binding, profile, id=binding_id)
    cancelled = bindings.end_binding(binding, api_user().role)
    db.session.commit()
    return jsonify(status=binding.status, cancelled_assignments=cancelled)
