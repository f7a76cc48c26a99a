"""Merchant order desk (订单): tabs with counts, filters, batch assign and cancel, order detail.

The desk follows the factory's work without a reload: the tab counts poll, and the list asks
every 30 s whether the orders it shows have changed; it never replaces itself under the user
(a ticked selection, an open refusal list), it offers a refresh instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Response, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from portal import allocation, bindings
from portal.allocation import BatchResult
from portal.authz import current_merchant
from portal.errors import message_for
from portal.extensions import db, htmx
from portal.formatting import CANCEL_REASON_LABELS, EVENT_LABELS
from portal.htmx import hx_redirect, is_targeted_htmx, no_swap, notify, render, with_trigger
from portal.keyring import current_keyring
from portal.merchant.views import bp
from portal.models import Merchant, Order, OrderEvent, Supplier, User
from portal.models.base import utcnow
from portal.models.bindings import BINDING_ACTIVE, BINDING_ENDED
from portal.models.orders import PLATFORM_AWAITING, STAGE_DISPATCHED, STAGE_UNASSIGNED
from portal.orders import queries
from portal.orders.queries import OrderFilters, PrintLine, Receiver, TrackingNumber
from portal.orders.rules import assign_blockers
from portal.pagination import PageArgs, page_args, paginate
from portal.web_args import date_arg, id_arg, text_arg

PER_PAGE = 50
# Orders this close to 承诺发货时间 are highlighted; past it they are late (the merchant pays).
DEADLINE_WARNING = timedelta(hours=12)
# A batch over thousands of orders may refuse thousands: the panel lists the first ones.
MAX_SHOWN_REFUSALS = 200
# htmx event that makes the tab counts fetch themselves again.
ORDERS_CHANGED = "ordersChanged"
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

DESK_PARTIALS = {
    "order-desk": "merchant/_orders_desk.html",
    "order-list": "merchant/_orders_list.html",
}


# --- parsing ----------------------------------------------------------------------------------


def parse_filters(values: Mapping[str, str]) -> OrderFilters:
    """The desk's filters from query arguments or the hidden inputs of a batch post."""
    tab = values.get("tab", "")
    paid_from, paid_to = date_arg(values.get("paid_from")), date_arg(values.get("paid_to"))
    if paid_from and paid_to and paid_from > paid_to:
        paid_from, paid_to = paid_to, paid_from
    return OrderFilters(
        tab=tab if tab in queries.TABS else queries.TAB_UNASSIGNED,
        supplier_id=id_arg(values.get("supplier_id")),
        paid_from=paid_from,
        paid_to=paid_to,
        sku=text_arg(values.get("sku"), 200),
        q=text_arg(values.get("q"), 64),
    )


def filter_args(filters: OrderFilters) -> dict[str, object]:
    """The filters (without tab and page) as URL arguments, so links keep them."""
    args = {
        "supplier_id": filters.supplier_id,
        "paid_from": filters.paid_from.isoformat() if filters.paid_from else None,
        "paid_to": filters.paid_to.isoformat() if filters.paid_to else None,
        "sku": filters.sku,
        "q": filters.q,
    }
    return {name: value for name, value in args.items() if value}


# --- what the templates show ------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    order: Order
    receiver: Receiver
    deadline: str  # "", "warn" (due within DEADLINE_WARNING) or "danger" (past due)
    tracking: list[TrackingNumber]  # returned tracking numbers, primary first

    @property
    def version(self) -> str:
        """The row as shown: the update notice compares it with the order as it is now."""
        return version_token(self.order.id, self.order.updated_at)


@dataclass(frozen=True)
class RefusalLine:
    order_no: str
    message: str


@dataclass(frozen=True)
class BatchOutcome:
    summary: str
    done_count: int
    refused_count: int
    reasons: list[tuple[str, int]]
    refusals: list[RefusalLine]


@dataclass(frozen=True)
class HistoryLine:
    event: OrderEvent
    label: str
    reason: str
    supplier_name: str
    actor_name: str


def deadline_state(order: Order, now: datetime) -> str:
    """How close an order that still has to ship is to its 承诺发货时间."""
    if (
        order.promise_ship_at is None
        or order.stage == STAGE_DISPATCHED
        or order.platform_status != PLATFORM_AWAITING
    ):
        return ""
    if order.promise_ship_at <= now:
        return "danger"
    if order.promise_ship_at <= now + DEADLINE_WARNING:
        return "warn"
    return ""


def order_rows(merchant: Merchant, orders: list[Order], now: datetime) -> list[OrderRow]:
    # Decrypts each order: callers pass only the orders they show, never a whole result set.
    # Tracking numbers come in one query for all of them, not one per row.
    keyring = current_keyring()
    tracking = queries.tracking_for_orders(merchant, orders)
    return [
        OrderRow(
            order,
            queries.receiver_for_merchant(keyring, merchant, order),
            deadline_state(order, now),
            tracking.get(order.id, []),
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


def batch_outcome(summary: str, result: BatchResult) -> BatchOutcome:
    messages = {code: message_for(code) for code in {r.code for r in result.refused}}
    reasons = Counter(messages[r.code] for r in result.refused)
    return BatchOutcome(
        summary=summary,
        done_count=len(result.done),
        refused_count=len(result.refused),
        reasons=reasons.most_common(),
        refusals=[
            RefusalLine(r.order_no, messages[r.code]) for r in result.refused[:MAX_SHOWN_REFUSALS]
        ],
    )


def supplier_choices(merchant: Merchant) -> tuple[list[Supplier], list[Supplier]]:
    """Suppliers to filter by (bound now or before) and to assign to (active bindings only)."""
    known: dict[int, Supplier] = {}
    active: dict[int, Supplier] = {}
    for binding in bindings.bindings_for_merchant(merchant):
        if binding.status in (BINDING_ACTIVE, BINDING_ENDED):
            known.setdefault(binding.supplier_id, binding.supplier)
        if binding.status == BINDING_ACTIVE:
            active[binding.supplier_id] = binding.supplier

    def by_name(suppliers: dict[int, Supplier]) -> list[Supplier]:
        return sorted(suppliers.values(), key=lambda s: (s.factory_name, s.id))

    return by_name(known), by_name(active)


def desk_context(
    merchant: Merchant,
    filters: OrderFilters,
    page_number: int = 1,
    *,
    outcome: BatchOutcome | None = None,
    assign_to: int | None = None,
) -> dict[str, object]:
    keyring = current_keyring()
    page = paginate(
        queries.orders_query(keyring, merchant, filters), PageArgs(page_number, PER_PAGE)
    )
    now = utcnow()
    filter_suppliers, assign_suppliers = supplier_choices(merchant)
    return {
        "filters": filters,
        "args": filter_args(filters),
        "tabs": TAB_LABELS,
        "counts": queries.tab_counts(keyring, merchant, filters),
        "page": page,
        "rows": order_rows(merchant, list(page.items), now),
        "filter_suppliers": filter_suppliers,
        "assign_suppliers": assign_suppliers,
        "can_assign": filters.tab in ASSIGN_TABS,
        "can_cancel": filters.tab in CANCEL_TABS,
        "assign_to": assign_to,
        "outcome": outcome,
    }


def order_history_lines(merchant: Merchant, order: Order) -> list[HistoryLine]:
    events = queries.order_history(merchant, order)
    supplier_ids = {e.supplier_id for e in events if e.supplier_id}
    actor_ids = {e.actor_id for e in events if e.actor_id}
    # Two lookups for the whole history, not one per event.
    suppliers = (
        dict(
            db.session.execute(
                select(Supplier.id, Supplier.factory_name).where(Supplier.id.in_(supplier_ids))
            ).all()
        )
        if supplier_ids
        else {}
    )
    actors = (
        dict(db.session.execute(select(User.id, User.username).where(User.id.in_(actor_ids))).all())
        if actor_ids
        else {}
    )
    return [
        HistoryLine(
            event=e,
            label=str(EVENT_LABELS.get(e.kind, e.kind)),
            reason=str(CANCEL_REASON_LABELS.get(e.reason, e.reason)) if e.reason else "",
            supplier_name=suppliers.get(e.supplier_id, "") if e.supplier_id else "",
            actor_name=actors.get(e.actor_id, "") if e.actor_id else _("系统"),
        )
        for e in events
    ]


def detail_context(merchant: Merchant, order: Order) -> dict[str, object]:
    [row] = order_rows(merchant, [order], utcnow())
    blockers = assign_blockers(order) if order.stage == STAGE_UNASSIGNED else []
    prints: list[PrintLine] = queries.print_history(merchant, order) if order.print_count else []
    return {
        "order": order,
        "receiver": row.receiver,
        "row": row,
        "tracking": row.tracking,
        "prints": prints,
        "assign_blockers": [message_for(code) for code in blockers],
        "history": order_history_lines(merchant, order),
    }


# --- views ------------------------------------------------------------------------------------


def desk_url(filters: OrderFilters, page: int = 1) -> str:
    return url_for(
        "merchant.order_list",
        tab=filters.tab,
        page=page if page > 1 else None,
        **filter_args(filters),
    )


@bp.get("/orders")
def order_list() -> Response:
    filters = parse_filters(request.args)
    page = page_args(PER_PAGE, PER_PAGE).page
    response = render(
        "merchant/orders.html", DESK_PARTIALS, **desk_context(current_merchant(), filters, page)
    )
    if is_targeted_htmx():
        if htmx.target == "order-list":
            # The update notice's refresh: same address, fresh rows; the counts follow.
            return with_trigger(response, ORDERS_CHANGED)
        # The filter form sends empty fields too: history gets the tidy address instead.
        response.headers["HX-Push-Url"] = desk_url(filters, page)
    return response


@bp.get("/orders/counts")
def order_counts() -> Response:
    """The tab bar alone: it polls this every 30 s and after every batch action.

    The list's update notice polls it too (HX-Target order-updates, with the rows it shows).
    """
    merchant = current_merchant()
    filters = parse_filters(request.args)
    if is_targeted_htmx() and htmx.target == UPDATES_TARGET:
        return _order_updates(merchant, filters)
    return render(
        "merchant/_orders_tabs.html",
        filters=filters,
        args=filter_args(filters),
        tabs=TAB_LABELS,
        counts=queries.tab_counts(current_keyring(), merchant, filters),
    )


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
        "merchant/_orders_updates.html", changed=changed, refresh_url=desk_url(filters, page)
    )


def _selected_order_nos(merchant: Merchant, filters: OrderFilters) -> list[str]:
    if request.form.get("all_matching") == "1":
        # "Select all N matching": the same filters the list showed, resolved by the server.
        return list(
            db.session.scalars(queries.order_ids_query(current_keyring(), merchant, filters))
        )
    return request.form.getlist("order_no")


def _refuse(message: str) -> Response:
    notify(message, "error")
    return no_swap(422)


def _batch_answer(
    merchant: Merchant,
    filters: OrderFilters,
    outcome: BatchOutcome,
    assign_to: int | None = None,
) -> Response:
    notify(outcome.summary, "warning" if outcome.refused_count else "success")
    response = render(
        "merchant/orders.html",
        DESK_PARTIALS,
        **desk_context(merchant, filters, outcome=outcome, assign_to=assign_to),
    )
    # The list is back on page 1: keep the address bar in step with it.
    response.headers["HX-Replace-Url"] = desk_url(filters)
    return with_trigger(response, ORDERS_CHANGED)


@bp.post("/orders/assign")
def order_assign() -> Response:
    merchant = current_merchant()
    filters = parse_filters(request.form)
    order_nos = _selected_order_nos(merchant, filters)
    if not order_nos:
        return _refuse(message_for("nothing_selected"))
    assign_to = id_arg(request.form.get("assign_to"))
    if assign_to is None:
        return _refuse(_("请选择要分配的厂家"))
    _known, active = supplier_choices(merchant)
    supplier = next((s for s in active if s.id == assign_to), None)
    result = allocation.assign_orders(
        merchant, order_nos, supplier, current_user._get_current_object()
    )
    db.session.commit()
    summary = _("已分配 %(n)d 单", n=len(result.done))
    if supplier is not None and result.done:
        summary = _("已分配 %(n)d 单给 %(name)s", n=len(result.done), name=supplier.factory_name)
    return _batch_answer(merchant, filters, batch_outcome(summary, result), assign_to)


@bp.post("/orders/cancel")
def order_cancel() -> Response:
    merchant = current_merchant()
    filters = parse_filters(request.form)
    order_nos = _selected_order_nos(merchant, filters)
    if not order_nos:
        return _refuse(message_for("nothing_selected"))
    result = allocation.cancel_assignments(merchant, order_nos, current_user._get_current_object())
    db.session.commit()
    summary = _("已取消分配 %(n)d 单", n=len(result.done))
    return _batch_answer(merchant, filters, batch_outcome(summary, result))


@bp.get("/orders/<order_no>")
def order_detail(order_no: str) -> Response:
    merchant = current_merchant()
    order = queries.get_order_for_merchant(merchant, order_no)
    context = detail_context(merchant, order)
    if is_targeted_htmx():
        return render("merchant/_order_detail.html", **context)
    # A direct load: the desk with the drawer already open.
    return render("merchant/orders.html", **desk_context(merchant, OrderFilters()), **context)


@bp.post("/orders/<order_no>/acknowledge-address")
def order_acknowledge_address(order_no: str) -> Response:
    merchant = current_merchant()
    order = queries.get_order_for_merchant(merchant, order_no)
    if allocation.acknowledge_address(merchant, order, current_user._get_current_object()):
        db.session.commit()
        notify(_("已确认新地址，厂家可以重新打印面单"))
    else:
        notify(message_for("no_address_change"), "warning")
    if not is_targeted_htmx():
        return hx_redirect(url_for("merchant.order_detail", order_no=order.order_no))
    row_target = f"row-{order.id}"
    response = render(
        "merchant/_order_detail.html",
        {row_target: "merchant/_orders_row.html"},
        # From the drawer, the list row behind it is refreshed out of band.
        oob_row=htmx.target != row_target,
        **detail_context(merchant, order),
    )
    return with_trigger(response, ORDERS_CHANGED)
