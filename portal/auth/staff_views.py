"""设置 → 子账号: the shop's owner and admins manage the shop's members (both sides)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.views import account_bp
from portal.domain import staff
from portal.domain.errors import DomainError
from portal.domain.formatting import SHOP_ROLE_LABELS
from portal.domain.permissions import staff_roles
from portal.extensions import db
from portal.models import User
from portal.web.forms import (
    StaffForm,
    StaffPasswordForm,
    StaffUpdateForm,
    attach_error,
    form_status,
)
from portal.web.htmx import notify, render


def _owner() -> User:
    return current_user.shop_owner


def _staff_form(*, submitted: bool) -> StaffForm:
    form = StaffForm() if submitted else StaffForm(formdata=None)
    form.role.choices = [(role, SHOP_ROLE_LABELS[role]) for role in staff_roles(_owner().role)]
    return form


def _render(form: StaffForm) -> Response:
    owner = _owner()
    return render(
        "auth/staff_page.html",
        "_partials/staff.html",
        status=form_status(form),
        staff_form=form,
        password_form=StaffPasswordForm(formdata=None),
        owner=owner,
        members=staff.staff_members(owner),
        roles=staff_roles(owner.role),
    )


@account_bp.get("/staff")
def staff_list() -> Response:
    return _render(_staff_form(submitted=False))


@account_bp.post("/staff")
def staff_create() -> Response:
    form = _staff_form(submitted=True)
    if form.validate_on_submit():
        try:
            member = staff.add_member(
                _owner(), form.username.data, form.password.data, form.role.data
            )
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("已添加子账号 %(name)s，首次登录时需修改密码", name=member.username))
            form = _staff_form(submitted=False)
    return _render(form)


def _change(action: Callable[[], object], done: str) -> Response:
    """Apply a change to a member: commit and say so, or roll back and name the refusal."""
    try:
        action()
    except DomainError as error:
        db.session.rollback()
        notify(error.message, "error")
    else:
        db.session.commit()
        notify(done)
    return _render(_staff_form(submitted=False))


@account_bp.post("/staff/<int:member_id>")
def staff_update(member_id: int) -> Response:
    member = staff.get_member(_owner(), member_id)
    form = StaffUpdateForm()
    if not form.validate_on_submit():
        return _render(_staff_form(submitted=False))
    return _change(
        lambda: staff.update_member(
            _owner(),
            member,
            current_user._get_current_object(),
            role=form.role.data or None,
            active={"1": True, "0": False}.get(form.active.data or ""),
        ),
        _("已更新子账号 %(name)s", name=member.username),
    )


@account_bp.post("/staff/<int:member_id>/password")
def staff_password(member_id: int) -> Response:
    member = staff.get_member(_owner(), member_id)
    form = StaffPasswordForm()
    if not form.validate_on_submit():
        notify(_("密码至少 8 位"), "error")
        return _render(_staff_form(submitted=False))
    return _change(
        lambda: staff.reset_password(member, form.password.data),
        _("已重置 %(name)s 的密码，其登录已退出", name=member.username),
    )
