"""Merchant views: thin — parse, scoped load, service, commit, render."""

from __future__ import annotations

from flask import Blueprint, Response
from flask_babel import gettext as _
from flask_login import current_user

from portal.domain import accounts, analytics, bindings, webhooks
from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.domain.keyring import current_keyring
from portal.domain.orders import queries
from portal.domain.orders.rules import MERCHANT_TO_SHIP, deadline_state
from portal.domain.statements import review as statement_review
from portal.extensions import db
from portal.models import Binding, Statement
from portal.models.accounts import ROLE_MERCHANT
from portal.models.base import utcnow
from portal.models.bindings import BINDING_ACTIVE, BINDING_PENDING
from portal.models.settlement import REVIEW_CONFIRMED, REVIEW_DISPUTED
from portal.web.forms import (
    BindingApplyForm,
    EmptyForm,
    MerchantProfileForm,
    PreferencesForm,
    ReturnAddressForm,
    TokenForm,
    attach_error,
)
from portal.web.gate import current_merchant, install_role_gate
from portal.web.htmx import notify, render

bp = Blueprint("merchant", __name__, url_prefix="/merchant")
install_role_gate(bp, ROLE_MERCHANT)


@bp.get("/")
def dashboard() -> Response:
    merchant = current_merchant()
    links = bindings.bindings_for_merchant(merchant)
    keyring = current_keyring()
    now = utcnow()
    due = queries.due_orders(keyring, merchant, now)
    return render(
        "merchant/dashboard.html",
        merchant=merchant,
        active_count=sum(1 for b in links if b.status == BINDING_ACTIVE),
        pending_count=sum(1 for b in links if b.status == BINDING_PENDING),
        has_return_address=accounts.default_return_address(merchant) is not None,
        counts=queries.tab_counts(keyring, merchant, queries.OrderFilters()),
        due_count=due.count,
        late_count=due.late,
        due_orders=[(o, deadline_state(o, now, MERCHANT_TO_SHIP)) for o in due.first],
        now=now,
        disputed_statements=statement_review.waiting_count(
            Statement.merchant_id, merchant.id, (REVIEW_DISPUTED,)
        ),
        statements_to_settle=statement_review.waiting_count(
            Statement.merchant_id, merchant.id, (REVIEW_CONFIRMED,)
        ),
    )


def _render_suppliers(form: BindingApplyForm, status: int = 200) -> Response:
    merchant = current_merchant()
    return render(
        "merchant/suppliers.html",
        {"bindings": "merchant/_bindings.html", "binding-list": "merchant/_binding_list.html"},
        status=status,
        form=form,
        bindings=bindings.bindings_for_merchant(merchant),
        action_form=EmptyForm(),
    )


@bp.get("/suppliers")
def supplier_list() -> Response:
    return _render_suppliers(BindingApplyForm(formdata=None))


@bp.post("/suppliers")
def binding_apply() -> Response:
    form = BindingApplyForm()
    if form.validate_on_submit():
        try:
            binding = bindings.apply_for_binding(
                current_merchant(), form.supplier_shop_id.data, form.message.data or ""
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("已向 %(name)s 发送绑定申请", name=binding.supplier.factory_name))
            return _render_suppliers(BindingApplyForm(formdata=None))
    return _render_suppliers(form, status=422)


@bp.post("/bindings/<int:binding_id>/end")
def binding_end(binding_id: int) -> Response:
    binding = get_or_404(Binding, current_merchant(), id=binding_id)
    was_pending = binding.status == BINDING_PENDING
    cancelled = bindings.end_binding(binding, ROLE_MERCHANT)
    db.session.commit()
    if was_pending:
        notify(_("已撤回绑定申请"))
    else:
        notify(_("已解除绑定，取消了 %(n)d 个未回传运单号的分配", n=cancelled))
    return _render_suppliers(BindingApplyForm(formdata=None))


# --- settings ---------------------------------------------------------------------------------


def _profile_form(merchant: object) -> MerchantProfileForm:
    m = merchant
    return MerchantProfileForm(
        formdata=None,
        shop_name=m.shop_name,
        sender_name=m.sender_name,
        sender_phone=m.sender_phone,
        province=m.sender_province,
        city=m.sender_city,
        district=m.sender_district,
        detail=m.sender_detail,
    )


def render_settings(status: int = 200, **forms: object) -> Response:
    merchant = current_merchant()
    context = {
        "profile_form": _profile_form(merchant),
        "preferences_form": PreferencesForm(
            formdata=None,
            label_style=merchant.label_style,
            auto_dispatch=merchant.auto_dispatch,
            slip_prices=merchant.slip_prices,
            same_day_cutoff=analytics.cutoff_time(merchant),
        ),
        "address_form": ReturnAddressForm(formdata=None),
        "editing": None,  # the return address in the form, when it edits one
        "token_form": TokenForm(formdata=None),
        "action_form": EmptyForm(),
        # The webhook section (portal/merchant/webhook_views.py): URL as typed, its error, and a
        # new signing secret, shown only in the answer that generated it.
        "webhook_url_input": merchant.webhook_url,
        "webhook_error": None,
        "new_webhook_secret": None,
    }
    context.update(forms)
    return render(
        "merchant/settings.html",
        {
            "profile-section": "merchant/_profile_section.html",
            "preferences-section": "merchant/_preferences_section.html",
            "addresses-section": "merchant/_addresses_section.html",
            "webhook-section": "merchant/_webhook_section.html",
            "webhook-deliveries": "merchant/_webhook_deliveries.html",
        },
        status=status,
        merchant=merchant,
        addresses=accounts.list_return_addresses(merchant),
        tokens=accounts.list_api_tokens(current_user._get_current_object()),
        new_token=None,
        webhook_deliveries=webhooks.recent_deliveries(merchant),
        **context,
    )


@bp.get("/settings")
def settings() -> Response:
    return render_settings()


@bp.post("/settings/profile")
def settings_profile() -> Response:
    form = MerchantProfileForm()
    if form.validate_on_submit():
        try:
            accounts.update_merchant_profile(
                current_merchant(),
                form.to_input(),
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("店铺与发件信息已保存"))
            return render_settings()
    return render_settings(status=422, profile_form=form)


@bp.post("/settings/preferences")
def settings_preferences() -> Response:
    form = PreferencesForm()
    if form.validate_on_submit():
        merchant = current_merchant()
        accounts.update_merchant_settings(
            merchant,
            label_style=form.label_style.data,
            auto_dispatch=bool(form.auto_dispatch.data),
            slip_prices=bool(form.slip_prices.data),
        )
        cutoff = form.same_day_cutoff.data
        recount = cutoff is not None and analytics.set_cutoff(
            merchant, cutoff.hour * 60 + cutoff.minute
        )
        db.session.commit()
        if recount:
            analytics.schedule_rebuild(merchant)
        notify(_("设置已保存"))
        return render_settings()
    return render_settings(status=422, preferences_form=form)


def _address_input(form: ReturnAddressForm) -> accounts.AddressInput:
    return accounts.AddressInput(
        contact_name=form.contact_name.data,
        phone=form.phone.data,
        province=form.province.data,
        city=form.city.data,
        district=form.district.data or "",
        detail=form.detail.data,
    )


@bp.post("/settings/addresses")
def address_create() -> Response:
    form = ReturnAddressForm()
    if form.validate_on_submit():
        try:
            accounts.add_return_address(
                current_merchant(), _address_input(form), make_default=bool(form.make_default.data)
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("退货地址已添加"))
            return render_settings()
    return render_settings(status=422, address_form=form)


@bp.get("/settings/addresses/<int:address_id>/edit")
def address_edit(address_id: int) -> Response:
    """The addresses section with this address in the form (one form on the page at a time)."""
    address = accounts.current_return_address(current_merchant(), address_id)
    form = ReturnAddressForm(formdata=None, obj=address, make_default=address.is_default)
    return render_settings(address_form=form, editing=address)


@bp.post("/settings/addresses/<int:address_id>")
def address_update(address_id: int) -> Response:
    merchant = current_merchant()
    address = accounts.current_return_address(merchant, address_id)
    form = ReturnAddressForm()
    if form.validate_on_submit():
        try:
            accounts.update_return_address(
                merchant, address.id, _address_input(form), bool(form.make_default.data) or None
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("退货地址已保存；已发货订单仍按发货时的地址记录"))
            return render_settings()
    return render_settings(status=422, address_form=form, editing=address)


@bp.post("/settings/addresses/<int:address_id>/default")
def address_default(address_id: int) -> Response:
    accounts.set_default_return_address(current_merchant(), address_id)
    db.session.commit()
    notify(_("已设为默认退货地址"))
    return render_settings()


@bp.post("/settings/addresses/<int:address_id>/delete")
def address_delete(address_id: int) -> Response:
    accounts.delete_return_address(current_merchant(), address_id)
    db.session.commit()
    notify(_("退货地址已删除；已发货订单仍按发货时的地址记录"))
    return render_settings()
