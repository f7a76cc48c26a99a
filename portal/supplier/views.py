"""Supplier views: thin — parse, scoped load, service, commit, render."""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.domain import accounts, bindings, supplier_orders
from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.domain.printing.jobs import PRINT_ORDER_LABELS, update_print_settings
from portal.domain.printing.pick_list import PICK_ORDER_LABELS
from portal.domain.statements import review as statement_review
from portal.extensions import db
from portal.models import Binding, Statement, Supplier
from portal.models.accounts import ROLE_SUPPLIER
from portal.models.base import utcnow
from portal.models.bindings import BINDING_ACTIVE, BINDING_PENDING
from portal.models.settlement import REVIEW_PENDING
from portal.web.forms import (
    EmptyForm,
    SupplierPrintForm,
    SupplierProfileForm,
    TokenForm,
    attach_error,
)
from portal.web.gate import current_supplier, install_role_gate
from portal.web.htmx import notify, render

bp = Blueprint("supplier", __name__, url_prefix="/supplier")
install_role_gate(bp, ROLE_SUPPLIER)


@bp.get("/")
def dashboard() -> Response:
    supplier = current_supplier()
    links = bindings.bindings_for_supplier(supplier)
    now = utcnow()
    return render(
        "supplier/dashboard.html",
        supplier=supplier,
        active_count=sum(1 for b in links if b.status == BINDING_ACTIVE),
        pending_count=sum(1 for b in links if b.status == BINDING_PENDING),
        counts=supplier_orders.tab_counts(supplier, supplier_orders.SupplierFilters(), now),
        due=supplier_orders.due_counts(supplier, now),
        statements_to_confirm=statement_review.waiting_count(
            Statement.supplier_id, supplier.id, (REVIEW_PENDING,)
        ),
    )


def _render_merchants() -> Response:
    return render(
        "supplier/merchants.html",
        {"bindings": "supplier/_bindings.html"},
        bindings=bindings.bindings_for_supplier(current_supplier()),
        action_form=EmptyForm(),
    )


@bp.get("/merchants")
def merchant_list() -> Response:
    return _render_merchants()


@bp.post("/bindings/<int:binding_id>/accept")
def binding_accept(binding_id: int) -> Response:
    binding = bindings.accept_binding(current_supplier(), binding_id)
    db.session.commit()
    notify(_("已同意 %(name)s 的绑定申请", name=binding.merchant.shop_name))
    return _render_merchants()


@bp.post("/bindings/<int:binding_id>/reject")
def binding_reject(binding_id: int) -> Response:
    binding = bindings.reject_binding(current_supplier(), binding_id)
    db.session.commit()
    notify(_("已拒绝 %(name)s 的绑定申请", name=binding.merchant.shop_name), "info")
    return _render_merchants()


@bp.post("/bindings/<int:binding_id>/end")
def binding_end(binding_id: int) -> Response:
    binding = get_or_404(Binding, current_supplier(), id=binding_id)
    cancelled = bindings.end_binding(binding, ROLE_SUPPLIER)
    db.session.commit()
    notify(_("已解除绑定，%(n)d 个未回传运单号的订单已取消分配", n=cancelled))
    return _render_merchants()


def print_form(supplier: Supplier, formdata: object = None) -> SupplierPrintForm:
    form = SupplierPrintForm(
        formdata=formdata, pick_order=supplier.pick_order, print_order=supplier.print_order
    )
    form.pick_order.choices = [(v, str(label)) for v, label in PICK_ORDER_LABELS]
    form.print_order.choices = [(v, str(label)) for v, label in PRINT_ORDER_LABELS]
    return form


def _render_settings(
    profile_form: SupplierProfileForm | None = None,
    status: int = 200,
    print_settings: SupplierPrintForm | None = None,
) -> Response:
    supplier = current_supplier()
    return render(
        "supplier/settings.html",
        {
            "profile-section": "supplier/_profile_section.html",
            "print-section": "supplier/_print_settings_section.html",
        },
        status=status,
        print_form=print_settings or print_form(supplier),
        supplier=supplier,
        profile_form=profile_form
        or SupplierProfileForm(
            formdata=None,
            factory_name=supplier.factory_name,
            contact_name=supplier.contact_name,
            contact_phone=supplier.contact_phone,
        ),
        token_form=TokenForm(formdata=None),
        tokens=accounts.list_api_tokens(current_user._get_current_object()),
        new_token=None,
    )


@bp.get("/settings")
def settings() -> Response:
    return _render_settings()


@bp.post("/settings/profile")
def settings_profile() -> Response:
    form = SupplierProfileForm()
    if form.validate_on_submit():
        try:
            accounts.update_supplier_profile(
                current_supplier(),
                form.factory_name.data,
                form.contact_name.data or "",
                form.contact_phone.data or "",
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("厂家信息已保存"))
            return _render_settings()
    return _render_settings(form, status=422)


@bp.post("/settings/printing")
def settings_printing() -> Response:
    """打单设置: how pick lists are sorted and the order labels come out in (each job may
    choose another)."""
    supplier = current_supplier()
    form = print_form(supplier, formdata=request.form)
    if not form.validate_on_submit():
        return _render_settings(status=422, print_settings=form)
    update_print_settings(
        supplier, pick_order=form.pick_order.data, print_order=form.print_order.data
    )
    db.session.commit()
    notify(_("打单设置已保存"))
    return _render_settings()
