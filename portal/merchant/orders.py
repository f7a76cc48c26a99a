"""Merchant order desk (订单): tabs with counts, filters, batch assign, cancel and dispatch
(发货), the batch-shipping export, order detail.

The desk follows the factory's work without a reload: the tab counts poll, and the list asks
every 30 s whether the orders it shows have changed; it never replaces itself under the user
(a ticked selection, an open refusal list), it offers a refresh instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from flask import Response, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.domain import accounts, allocation, bindings, dispatch, staff, tracking
from portal.domain.authz import get_or_404
from portal.domain.dispatch import dispatch_refusal_message
from portal.domain.errors import DomainError, message_for
from portal.domain.formatting import (
    CANCEL_REASON_LABELS,
    EVENT_LABELS,
    PLATFORM_STATUS_LABELS,
    SHANGHAI,
    STAGE_LABELS,
    shanghai_days,
)
from portal.domain.keyring import current_keyring
from portal.domain.orders import queries, rules
from portal.domain.orders.edits import EDITABLE_STAGES, edit_receiver, set_note
from portal.domain.orders.inputs import RECEIVER_FIELDS, InputError, parse_receiver_patch
from portal.domain.orders.lines import GoodsLine, lines_by_order
from portal.domain.orders.queries import OrderFilters, PrintLine, Receiver, TrackingNumber
from portal.domain.orders.rules import assign_blockers
from portal.domain.tracking import ParcelMates
from portal.extensions import db, htmx
from portal.merchant.order_row import merchant_order_row
from portal.merchant.views import bp
from portal.models import Merchant, Order, OrderEvent, ReturnAddress
from portal.models.base import utcnow
from portal.models.orders import (
    STAGE_RETURNED,
    STAGE_UNASSIGNED,
)
from portal.web.args import date_arg, id_arg, text_arg
from portal.web.desk import (
    FLAG_LABELS,
    HOLD_LABELS,
    ORDERS_CHANGED,
    PER_PAGE,
    Desk,
    Outcome,
    UrlTemplate,
    date_range,
    flag_arg,
    outcome_for,
    refuse,
    row_words,
    selected_order_nos,
    translated,
)
from portal.web.downloads import FILE_TYPES, dispatch_export_response
from portal.web.gate import current_merchant, current_user_may
from portal.web.htmx import (
    hx_redirect,
    is_targeted_htmx,
    is_targeting,
    notify,
    render,
    with_trigger,
)
from portal.web.pagination import CountedPagination, PageArgs, page_args

# The list's update notice: it polls the counts URL with this HX-Target and what it shows.
UPDATES_TARGET = "order-updates"
SEEN_TOKEN = re.compile(r"([0-9]{1,18})\.([0-9a-f]{1,16})")

TAB_LABELS = (
    (queries.TAB_UNASSIGNED, _l("待分配")),
    (queries.TAB_ASSIGNED, _l("已分配")),
    (queries.TAB_RETURNED, _l("已回传")),
    (queries.TAB_DISPATCHED, _l("已发货")),
    (queries.TAB_EXCEPTIONS, _l("异常")),
    (queries.TAB_ALL, _l("全部")),
)
# Which batch actions make sense on which tab (the service refuses the rest anyway): nothing
# under 异常 can be assigned, but an assigned order whose address changed can be taken back.
ASSIGN_TABS = {queries.TAB_UNASSIGNED, queries.TAB_ALL}
CANCEL_TABS = {queries.TAB_ASSIGNED, queries.TAB_EXCEPTIONS, queries.TAB_ALL}
DISPATCH_TABS = {queries.TAB_RETURNED, queries.TAB_ALL}

# Dispatch refusals in words that fit dispatching (the shared table says 「…不能分配」 for holds);
# the codes stay the same everywhere, the API sends these messages too.
CONFIRM_HOLDS_LABEL = _l("包含售后中/审核中的订单，我已确认仍要发货")


# --- parsing ----------------------------------------------------------------------------------


def parse_filters(values: Mapping[str, str]) -> OrderFilters:
    """The desk's filters from query arguments or the hidden inputs of a batch post."""
    tab = values.get("tab", "")
    paid_from, paid_to = date_range(values, "paid_from", "paid_to")
    return OrderFilters(
        tab=tab if tab in queries.TABS else queries.TAB_UNASSIGNED,
        supplier_id=id_arg(values.get("supplier_id")),
        paid_from=paid_from,
        paid_to=paid_to,
        sku=text_arg(values.get("sku"), 200),
        q=text_arg(values.get("q"), 64),
        flag=flag_arg(values.get("flag")),
    )


def filter_args(filters: OrderFilters) -> dict[str, object]:
    """The filters (without tab and page) as URL arguments, so links keep them."""
    args = {
        "supplier_id": filters.supplier_id,
        "paid_from": filters.paid_from.isoformat() if filters.paid_from else None,
        "paid_to": filters.paid_to.isoformat() if filters.paid_to else None,
        "sku": filters.sku,
        "q": filters.q,
        "flag": filters.flag,
    }
    # Flag 0 (grey) is a filter too.
    return {name: value for name, value in args.items() if value or value == 0}


DESK = Desk.of("merchant", TAB_LABELS, filter_args, count_tones={queries.TAB_EXCEPTIONS: "danger"})
bp.add_app_template_global(merchant_order_row)


# --- what the templates show ------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    order: Any  # an Order, or on a desk page a row of queries.DESK_ROW_COLUMNS + supplier_name
    receiver: Receiver
    deadline: str  # "", "warn" (due within rules.DUE_SOON) or "danger" (past due)
    tracking: list[TrackingNumber]  # returned tracking numbers, primary first
    return_address: ReturnAddress | None = None  # the one chosen when it was dispatched
    lines: list[GoodsLine] = field(default_factory=list)  # every goods line (DESIGN §10.2)
    # The other orders sharing its tracking number (a merged parcel), or None.
    parcel: ParcelMates | None = None

    @cached_property
    def version(self) -> str:
        """The row as shown: the update notice compares it with the order as it is now."""
        return version_token(self.order.id, self.order.updated_at)

    @cached_property
    def can_dispatch(self) -> bool:
        """Returned and not cancelled: dispatchable now, or once its holds are confirmed."""
        return dispatch.dispatch_blocker(self.order, confirm_holds=True) is None

    @cached_property
    def hold_labels(self) -> list[str]:
        """The holds (售后中, 审核中) a dispatch of this order must confirm."""
        return [str(HOLD_LABELS[code]) for code in dispatch.dispatch_holds(self.order)]

    @cached_property
    def dispatch_confirm(self) -> str:
        """The question a one-click dispatch asks first, or "" when the order has no hold."""
        holds = self.hold_labels
        if not holds:
            return ""
        return _(
            "订单 %(no)s %(holds)s，确认仍要发货？", no=self.order.order_no, holds="、".join(holds)
        )


@dataclass(frozen=True)
class HistoryLine:
    event: OrderEvent
    label: str
    reason: str
    supplier_name: str
    actor_name: str


def deadline_state(order: Order, now: datetime) -> str:
    """The merchant's part is done once dispatched (or when the platform no longer waits)."""
    return rules.deadline_state(order, now, rules.MERCHANT_TO_SHIP)


# How many of a merged parcel's other order numbers a row's badge names (the drawer: all).
ROW_PARCEL_MATES = 5
DRAWER_PARCEL_MATES = 50


def order_rows(
    merchant: Merchant,
    orders: Sequence[Any],
    now: datetime,
    mates_shown: int = ROW_PARCEL_MATES,
    *,
    receiver_detail: bool = False,
) -> list[OrderRow]:
    # Decrypts each order: callers pass only the orders they show, never a whole result set.
    # A list row shows the receiver's name and phone; the drawer asks for the address line too.
    # Tracking numbers, their parcel mates and return addresses come in one query each for all
    # of them (none for a page without returned orders).
    keyring = current_keyring()
    numbers = queries.tracking_for_orders(merchant, orders)
    mates = tracking.parcel_mates_by_order(merchant, list(numbers), mates_shown)
    addresses = accounts.return_addresses_by_id(
        merchant, {o.return_address_id for o in orders if o.return_address_id}
    )
    lines = lines_by_order(orders)
    return [
        OrderRow(
            order,
            queries.receiver_for_merchant(keyring, merchant, order, detail=receiver_detail),
            deadline_state(order, now),
            numbers.get(order.id, []),
            addresses.get(order.return_address_id) if order.return_address_id else None,
            lines[order.id],
            mates.get(order.id),
        )
        for order in orders
    ]


def version_token(order_id: int, updated_at: datetime) -> str:
    """`<id>.<updated_at in µs, hex>`: every UPDATE of an order moves updated_at."""
    micros = int(updated_at.timestamp()) * 1_000_000 + updated_at.microsecond
    return f"{order_id}.{micros:x}"


def parse_seen(tokens: list[str]) -> dict[int, str]:
    """The rows a list showed (one `seen` token per row), as id → token; nonsense is dropped."""
    seen: dict[int, str] = {}
    for token in tokens[:PER_PAGE]:
        match = SEEN_TOKEN.fullmatch(token)
        if match:
            seen[int(match.group(1))] = token
    return seen


def changed_count(seen: dict[int, str], current: dict[int, str]) -> int:
    """How many orders on the page changed since it was shown.

    A row whose order moved on counts once; so do rows that left the page or came onto it —
    but a row leaving pulls one up from the next page, so the larger of the two is the news.
    """
    moved_on = sum(
        1 for order_id in seen.keys() & current.keys() if seen[order_id] != current[order_id]
    )
    gone, came = seen.keys() - current.keys(), current.keys() - seen.keys()
    return moved_on + max(len(gone), len(came))


def dispatch_outcome(result: dispatch.DispatchResult, at: datetime | None = None) -> Outcome:
    """The batch's answer; with `at` (the dispatch time of the batch) it offers the platform's
    batch-shipping file for exactly the orders it dispatched."""
    hint = ""
    if any(r.code in HOLD_LABELS for r in result.refused):
        hint = _(
            "如仍要发货售后中或审核中的订单，请勾选「%(label)s」后再次发货",
            label=CONFIRM_HOLDS_LABEL,
        )
    summary = _("已发货 %(n)d 单", n=len(result.dispatched))
    return outcome_for(
        summary,
        len(result.dispatched),
        result.refused,
        message=dispatch_refusal_message,
        hint=hint,
        dispatched_at=at if result.dispatched else None,
    )


ROW_TEXT = {
    "platform_pending": _l("平台待同步"),
    "platform_pending_hint": _l("已在这里发货，平台仍显示待发货：请把批量发货文件上传到平台"),
    "paid": _l("支付"),
    **HOLD_LABELS,
    "address_changed": _l("地址已变更"),
    "address_incomplete": _l("地址不完整"),
    "region_unverified": _l("地区未核验"),
    "region_unverified_hint": _l(
        "省、市或区县不在行政区划表中，已按平台原样保存，不影响分配和发货"
    ),
    "more_tracking": _l("另有 %(n)d 个运单号"),
    "merged_parcel": _l("合并包裹 · %(n)d 单"),
    "merged_parcel_title": _l("与订单 %(nos)s 同一包裹（同一运单号）"),
    "merged_parcel_title_more": _l("与订单 %(nos)s 等 %(n)d 单同一包裹（同一运单号）"),
    "printed_times": _l("已打印 %(n)d 次"),
    "not_printed": _l("未打印"),
    "dispatched": _l("发货"),
    "return_address": _l("退货地址"),
    "acknowledge": _l("确认新地址"),
    "cancel": _l("取消分配"),
    "cancel_confirm": _l("取消订单 %(no)s 的分配？"),
    "dispatch": _l("发货"),
    "add_return_address": _l("添加退货地址"),
}
PLATFORM_TONES = {
    "awaiting_shipment": "info",
    "pending_payment": "warning",
    "shipped": "muted",
    "completed": "muted",
    "cancelled": "danger",
}
STAGE_TONES = {
    "unassigned": "warning",
    "assigned": "info",
    "returned": "success",
    "dispatched": "muted",
}


def row_context(default_address: ReturnAddress | None) -> dict[str, object]:
    """What every row shares, built once per page (`d` of merchant_order_row)."""
    title = ""
    if default_address is not None:
        address = f"{default_address.contact_name} {default_address.full_address}"
        title = _("发货，退货地址：%(address)s", address=address)
    return {
        "d": {
            "text": row_words(ROW_TEXT),
            "platform_tones": PLATFORM_TONES,
            "stage_tones": STAGE_TONES,
            "platform_labels": translated(PLATFORM_STATUS_LABELS),
            "stage_labels": translated(STAGE_LABELS),
            "detail_url": UrlTemplate("merchant.order_detail", "order_no"),
            "acknowledge_url": UrlTemplate("merchant.order_acknowledge_address", "order_no"),
            "cancel_url": url_for("merchant.order_cancel"),
            "dispatch_batch_url": url_for("merchant.order_dispatch"),
            "addresses_url": url_for("merchant.settings", _anchor="addresses-section"),
            "default_address": default_address,
            "dispatch_title": title,
            "flag_labels": FLAG_LABELS,
            # The rows' buttons, asked once per page (the routes' gates ask again).
            "may": {
                "acknowledge": current_user_may("merchant.order_acknowledge_address"),
                "cancel": current_user_may("merchant.order_cancel"),
                "dispatch": current_user_may("merchant.order_dispatch"),
            },
        }
    }


def desk_page(
    merchant: Merchant, filters: OrderFilters, page_number: int
) -> tuple[dict[str, int], CountedPagination]:
    """The shown tab's count and its page of rows: the desk page's own SQL (bench/wsgi_bench.py
    sends it alone, to weigh the page against it)."""
    keyring = current_keyring()
    # Only the shown tab is counted here (its pages need it): the tab bar loads the others.
    counts = queries.tab_counts(keyring, merchant, filters, tabs=(filters.tab,))
    page = CountedPagination(
        queries.desk_rows_query(keyring, merchant, filters),
        PageArgs(page_number, PER_PAGE),
        counts[filters.tab],
        rows=True,
    )
    return counts, page


def desk_context(
    merchant: Merchant,
    filters: OrderFilters,
    page_number: int = 1,
    *,
    outcome: Outcome | None = None,
    assign_to: int | None = None,
    dispatch_address_id: int | None = None,
) -> dict[str, object]:
    counts, page = desk_page(merchant, filters, page_number)
    now = utcnow()
    filter_suppliers, assign_suppliers = bindings.supplier_choices(merchant)
    rows = order_rows(merchant, list(page.items), now)
    can_dispatch = filters.tab in DISPATCH_TABS
    # The return addresses are read only where something can be dispatched from this page.
    addresses = (
        accounts.list_return_addresses(merchant)
        if can_dispatch or any(row.can_dispatch for row in rows)
        else []
    )
    default_address = next((a for a in addresses if a.is_default), None)
    if dispatch_address_id not in {a.id for a in addresses}:
        dispatch_address_id = default_address.id if default_address else None
    return {
        **DESK.tabs_context(filters, counts),
        "page": page,
        "rows": rows,
        "filter_suppliers": filter_suppliers,
        "assign_suppliers": assign_suppliers,
        "can_assign": filters.tab in ASSIGN_TABS,
        "can_cancel": filters.tab in CANCEL_TABS,
        "can_dispatch": can_dispatch,
        "can_export": filters.tab == queries.TAB_DISPATCHED,
        "assign_to": assign_to,
        "return_addresses": addresses,
        "default_address": default_address,
        **row_context(default_address),
        "dispatch_address_id": dispatch_address_id,
        "confirm_holds_label": CONFIRM_HOLDS_LABEL,
        "export_day": now.astimezone(SHANGHAI).date().isoformat(),  # today in Shanghai
        "outcome": outcome,
        # An empty first tab without filters: no orders at all yet, or none left to assign?
        "no_orders_yet": (
            not rows
            and not filter_args(filters)
            and filters.tab == queries.TAB_UNASSIGNED
            and not queries.has_orders(merchant)
        ),
    }


def order_history_lines(merchant: Merchant, order: Order) -> list[HistoryLine]:
    events = queries.order_history(merchant, order)
    # Two lookups for the whole history, not one per event.
    suppliers = queries.event_supplier_names(merchant, events)
    actors = staff.actor_labels(e.actor_id for e in events if e.actor_id)
    return [
        HistoryLine(
            event=e,
            label=str(EVENT_LABELS.get(e.kind, e.kind)),
            reason=str(CANCEL_REASON_LABELS.get(e.reason, e.reason)) if e.reason else "",
            supplier_name=suppliers.get(e.supplier_id, "") if e.supplier_id else "",
            actor_name=staff.actor_label(actors, e.actor_id),
        )
        for e in events
    ]


def detail_context(merchant: Merchant, order: Order) -> dict[str, object]:
    [row] = order_rows(merchant, [order], utcnow(), DRAWER_PARCEL_MATES, receiver_detail=True)
    blockers = assign_blockers(order) if order.stage == STAGE_UNASSIGNED else []
    # A label printed before an address change is history even once back in 待打印.
    printed = order.print_count or order.last_printed_at
    prints: list[PrintLine] = queries.print_history(merchant, order) if printed else []
    default_address = (
        accounts.default_return_address(merchant) if order.stage == STAGE_RETURNED else None
    )
    return {
        "order": order,
        "receiver": row.receiver,
        "row": row,
        "tracking": row.tracking,
        "parcel_mates": row.parcel.order_nos if row.parcel else [],
        "prints": prints,
        "assign_blockers": [message_for(code) for code in blockers],
        "history": order_history_lines(merchant, order),
        "receiver_editable": order.stage in EDITABLE_STAGES,
        # One-click dispatch uses the default address: the drawer and the row show it.
        "default_address": default_address,
        **row_context(default_address),
    }


# --- views ------------------------------------------------------------------------------------


@bp.get("/orders")
def order_list() -> Response:
    filters = parse_filters(request.args)
    page = page_args(PER_PAGE, PER_PAGE).page
    # The update notice's refresh targets #order-list: same address, fresh rows.
    return DESK.list_response(filters, page, desk_context(current_merchant(), filters, page))


@bp.get("/orders/counts")
def order_counts() -> Response:
    """The tab bar alone: it polls this every 30 s and after every batch action.

    The list's update notice polls it too (HX-Target order-updates, with the rows it shows).
    """
    merchant = current_merchant()
    filters = parse_filters(request.args)
    if is_targeting(UPDATES_TARGET):
        return _order_updates(merchant, filters)
    counts = queries.tab_counts(current_keyring(), merchant, filters)
    return render("_partials/desk_tabs.html", **DESK.tabs_context(filters, counts))


def _order_updates(merchant: Merchant, filters: OrderFilters) -> Response:
    """「有 N 条订单状态更新」: the page as it is now against the rows the list showed."""
    page = page_args(PER_PAGE, PER_PAGE).page
    changed = 0
    # Only the list's own poll says what it shows (an empty list sends no row at all).
    if request.args.get("poll") == "list":
        seen = parse_seen(request.args.getlist("seen"))
        current = queries.page_versions(current_keyring(), merchant, filters, page, PER_PAGE)
        changed = changed_count(
            seen, {order_id: version_token(order_id, at) for order_id, at in current.items()}
        )
    return render(
        "merchant/_orders_updates.html", changed=changed, refresh_url=DESK.url(filters, page)
    )


def _selected_order_nos(merchant: Merchant, filters: OrderFilters) -> list[str]:
    return selected_order_nos(lambda: queries.order_ids_query(current_keyring(), merchant, filters))


def _batch_answer(
    merchant: Merchant,
    filters: OrderFilters,
    outcome: Outcome,
    assign_to: int | None = None,
    dispatch_address_id: int | None = None,
) -> Response:
    context = desk_context(
        merchant,
        filters,
        outcome=outcome,
        assign_to=assign_to,
        dispatch_address_id=dispatch_address_id,
    )
    return DESK.batch_response(filters, outcome, context)


@bp.post("/orders/assign")
def order_assign() -> Response:
    merchant = current_merchant()
    filters = parse_filters(request.form)
    order_nos = _selected_order_nos(merchant, filters)
    if not order_nos:
        return refuse(message_for("nothing_selected"))
    assign_to = id_arg(request.form.get("assign_to"))
    if assign_to is None:
        return refuse(_("请选择要分配的厂家"))
    supplier = next(
        (s for s in bindings.active_suppliers_for_merchant(merchant) if s.id == assign_to), None
    )
    result = allocation.assign_orders(
        merchant, order_nos, supplier, current_user._get_current_object()
    )
    db.session.commit()
    summary = _("已分配 %(n)d 单", n=len(result.done))
    if supplier is not None and result.done:
        summary = _("已分配 %(n)d 单给 %(name)s", n=len(result.done), name=supplier.factory_name)
    outcome = outcome_for(summary, len(result.done), result.refused)
    return _batch_answer(merchant, filters, outcome, assign_to)


@bp.post("/orders/cancel")
def order_cancel() -> Response:
    merchant = current_merchant()
    filters = parse_filters(request.form)
    order_nos = _selected_order_nos(merchant, filters)
    if not order_nos:
        return refuse(message_for("nothing_selected"))
    result = allocation.cancel_assignments(merchant, order_nos, current_user._get_current_object())
    db.session.commit()
    summary = _("已取消分配 %(n)d 单", n=len(result.done))
    outcome = outcome_for(summary, len(result.done), result.refused)
    return _batch_answer(merchant, filters, outcome)


def _confirmed_holds() -> bool:
    """The explicit 「…我已确认仍要发货」: a ticked checkbox, or a confirmed one-click."""
    return request.form.get("confirm_holds") == "1"


@bp.post("/orders/dispatch")
def order_dispatch() -> Response:
    merchant = current_merchant()
    filters = parse_filters(request.form)
    order_nos = _selected_order_nos(merchant, filters)
    if not order_nos:
        return refuse(message_for("nothing_selected"))
    address_id = id_arg(request.form.get("return_address_id"))
    # Every order of the batch gets this time: it names the batch for its shipping file.
    now = utcnow()
    # No return address at all: the service refuses (422, the toast says where to add one).
    result = dispatch.dispatch_orders(
        merchant,
        order_nos,
        current_user._get_current_object(),
        return_address_id=address_id,
        confirm_holds=_confirmed_holds(),
        now=now,
    )
    db.session.commit()
    return _batch_answer(
        merchant, filters, dispatch_outcome(result, now), dispatch_address_id=address_id
    )


@bp.get("/orders/<order_no>")
def order_detail(order_no: str) -> Response:
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    context = detail_context(merchant, order)
    if is_targeted_htmx():
        return render("merchant/_order_detail.html", **context)
    # A direct load: the desk with the drawer already open.
    return render("merchant/orders.html", **{**desk_context(merchant, OrderFilters()), **context})


@bp.post("/orders/<order_no>/acknowledge-address")
def order_acknowledge_address(order_no: str) -> Response:
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    if allocation.acknowledge_address(merchant, order, current_user._get_current_object()):
        db.session.commit()
        notify(_("已确认新地址，厂家可以重新打印面单"))
    else:
        notify(message_for("no_address_change"), "warning")
    return _order_answer(merchant, order)


@bp.post("/orders/<order_no>/receiver")
def order_receiver_update(order_no: str) -> Response:
    """修改收货信息 from the drawer: checked, encrypted and masked as an import is."""
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    form = {name: request.form.get(name, "") for name in (*RECEIVER_FIELDS, "detail")}
    try:
        changes = parse_receiver_patch(form)
        changed = edit_receiver(
            current_keyring(), merchant, order, changes, current_user._get_current_object()
        )
    except (InputError, DomainError) as error:
        db.session.rollback()
        # The API's message names the JSON field; here the form shows which field.
        notify(
            message_for(error.code) if isinstance(error, InputError) else error.message, "warning"
        )
        return _order_answer(merchant, order, receiver_form=form)
    db.session.commit()
    notify(_("收货信息已保存") if changed else _("收货信息没有变化"))
    return _order_answer(merchant, order)


@bp.post("/orders/<order_no>/note")
def order_note_update(order_no: str) -> Response:
    """给厂家的备注 and the flag, from the drawer."""
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    try:
        set_note(
            current_keyring(),
            merchant,
            order,
            request.form.get("note", ""),
            flag_arg(request.form.get("flag")),
        )
    except DomainError as error:
        db.session.rollback()
        notify(error.message, "warning")
        return _order_answer(merchant, order)
    db.session.commit()
    notify(_("备注与旗帜已保存"))
    return _order_answer(merchant, order)


@bp.post("/orders/<order_no>/dispatch")
def order_dispatch_one(order_no: str) -> Response:
    """发货 from a row or the drawer, to the default return address; a held order only once
    the merchant confirmed (the button asks first and sends confirm_holds)."""
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    result = dispatch.dispatch_orders(
        merchant,
        [order.order_no],
        current_user._get_current_object(),
        confirm_holds=_confirmed_holds(),
    )
    db.session.commit()
    if result.dispatched:
        notify(_("订单 %(no)s 已发货", no=order.order_no))
    else:
        [refusal] = result.refused
        notify(dispatch_refusal_message(refusal.code), "warning")
    return _order_answer(merchant, order)


def _order_answer(
    merchant: Merchant, order: Order, receiver_form: Mapping[str, str] | None = None
) -> Response:
    """After an action on one order: its row (from the list) or the drawer with the row
    behind it refreshed out of band; without htmx, the order's page. `receiver_form` keeps
    a refused receiver edit's entries in its open form."""
    if not is_targeted_htmx():
        return hx_redirect(url_for("merchant.order_detail", order_no=order.order_no))
    row_target = f"row-{order.id}"
    response = render(
        "merchant/_order_detail.html",
        {row_target: "merchant/_orders_row.html"},
        # From the drawer, the list row behind it is refreshed out of band.
        oob_row=htmx.target != row_target,
        receiver_form=receiver_form,
        **detail_context(merchant, order),
    )
    return with_trigger(response, ORDERS_CHANGED)


# --- the platform's batch-shipping file (导出发货文件) ------------------------------------------


@bp.get("/orders/dispatch-export")
def dispatch_export() -> Response:
    """导出发货文件: dispatched between two Shanghai dates (both included; either may be left
    out, reversed dates are swapped), as CSV (the default) or XLSX."""
    file_format = request.args.get("format", "csv")
    if file_format not in FILE_TYPES:
        file_format = "csv"
    batch = batch_arg(request.args.get("batch"))
    if batch is not None:  # exactly the orders one 发货 dispatched (they share its time)
        return dispatch_export_response(
            current_merchant(), file_format, batch, batch + timedelta(microseconds=1)
        )
    since, until = date_arg(request.args.get("since")), date_arg(request.args.get("until"))
    if since and until and since > until:
        since, until = until, since
    return dispatch_export_response(current_merchant(), file_format, *shanghai_days(since, until))


def batch_arg(value: str | None) -> datetime | None:
    """A dispatch batch's time as the result panel's link carries it (ISO 8601, UTC)."""
    try:
        at = datetime.fromisoformat(text_arg(value, 40))
    except ValueError:
        return None
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
