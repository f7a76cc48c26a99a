"""The factory desk's reads: masked orders by tab, counts, goods summary, parcel groups.

Supplier code paths select only masked columns — ciphertexts are never even loaded — and every
query is scoped by the supplier in the query itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from portal.domain.bindings import normalize_shop_id
from portal.domain.counting import capped_count
from portal.domain.formatting import SHANGHAI
from portal.domain.orders import rules
from portal.domain.orders.rules import DUE_SOON_WINDOW, FACTORY_TO_SHIP, OVERDUE
from portal.domain.orders.search import order_search, sku_filter
from portal.extensions import db
from portal.models import (
    Assignment,
    Binding,
    Merchant,
    Order,
    OrderLine,
    PrintJob,
    PrintJobOrder,
    Supplier,
    User,
)
from portal.models.bindings import BINDING_ACTIVE
from portal.models.orders import (
    ASSIGNMENT_CANCELLED,
    AT_FACTORY_STAGES,
    STAGE_ASSIGNED,
    STAGE_DISPATCHED,
    STAGE_RETURNED,
)

TAB_TO_PRINT = "to_print"
TAB_PRINTED = "printed"
TAB_RETURNED = "returned"
TAB_DISPATCHED = "dispatched"
TAB_CANCELLED = "cancelled"
TABS = (TAB_TO_PRINT, TAB_PRINTED, TAB_RETURNED, TAB_DISPATCHED, TAB_CANCELLED)
# The API's stages over the desk's tabs: "assigned" is 待打印 + 已打印; no stage is every order
# the supplier currently holds. The desk's tab names are accepted as they are.
STAGE_TABS: dict[str | None, tuple[str, ...]] = {
    None: (TAB_TO_PRINT, TAB_PRINTED, TAB_RETURNED, TAB_DISPATCHED),
    "assigned": (TAB_TO_PRINT, TAB_PRINTED),
    **{tab: (tab,) for tab in TABS},
}
API_STAGES = tuple(stage for stage in STAGE_TABS if stage)

DUE_FILTERS = ("soon", "overdue")
SORT_RECEIVER = "receiver"  # same-receiver orders next to each other, to merge parcels

# What a supplier may see of an order: no ciphertext, no blind index.
MASKED_COLUMNS = (
    Order.id,
    Order.merchant_id,
    Order.order_no,
    Order.platform_status,
    Order.after_sale_active,
    Order.audit_hold,
    Order.address_change_pending,
    Order.address_changed_at,
    Order.address_complete,
    Order.stage,
    Order.promise_ship_at,
    Order.paid_at,
    Order.assigned_at,
    Order.goods_id,
    Order.goods_name,
    Order.spec,
    Order.sku_code,
    Order.sku_key,
    Order.quantity,
    Order.line_count,
    Order.buyer_note,
    Order.factory_note_mask,
    Order.name_mask,
    Order.phone_mask,
    Order.detail_mask,
    Order.province,
    Order.city,
    Order.district,
    Order.receiver_key,
    Order.print_count,
    Order.last_printed_at,
    Order.courier,
    Order.tracking_no,
    Order.returned_at,
    Order.dispatched_at,
    Order.tracking_corrections,
    Merchant.shop_name.label("merchant_name"),
    # The order's merchant: on the factory side an order is (merchant, number) (DESIGN §10.6).
    User.shop_id.label("merchant_shop_id"),
)


@dataclass(frozen=True)
class SupplierFilters:
    tab: str = TAB_TO_PRINT
    merchant_id: int | None = None
    sku: str = ""
    assigned_from: date | None = None
    assigned_to: date | None = None
    due: str = ""  # "" | "soon" (within DUE_SOON) | "overdue"
    q: str = ""  # order number
    group: str = ""  # a receiver_key: only the orders to that one receiver
    sort: str = ""  # "" (承诺发货时间 first) | SORT_RECEIVER


# The supplier in a query: its id, or SUPPLIER_ID in the statements built once per process
# (the desk's pages), which name it with `.params(supplier_id=…)` — building one took longer
# than running it.
SupplierId = int | BindParameter[int]
SUPPLIER_ID = "supplier_id"


def _current(supplier: Supplier) -> ColumnElement[bool]:
    return Order.supplier_id == supplier.id


def tab_condition(supplier: Supplier, tab: str) -> ColumnElement[bool]:
    return _tab_condition(supplier.id, tab)


def _tab_condition(supplier_id: SupplierId, tab: str) -> ColumnElement[bool]:
    current = Order.supplier_id == supplier_id
    if tab == TAB_TO_PRINT:
        return and_(current, Order.stage == STAGE_ASSIGNED, Order.print_count == 0)
    if tab == TAB_PRINTED:
        return and_(current, Order.stage == STAGE_ASSIGNED, Order.print_count > 0)
    if tab == TAB_RETURNED:
        return and_(current, Order.stage == STAGE_RETURNED)
    if tab == TAB_DISPATCHED:
        return and_(current, Order.stage == STAGE_DISPATCHED)
    raise ValueError(tab)


def _filters(filters: SupplierFilters, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.merchant_id:
        conditions.append(Order.merchant_id == filters.merchant_id)
    if filters.sku:
        conditions.append(sku_filter(filters.sku))
    if filters.assigned_from:
        start = datetime.combine(filters.assigned_from, time.min, tzinfo=SHANGHAI)
        conditions.append(Order.assigned_at >= start)
    if filters.assigned_to:
        end = datetime.combine(filters.assigned_to + timedelta(days=1), time.min, tzinfo=SHANGHAI)
        conditions.append(Order.assigned_at < end)
    if filters.due == "overdue":
        conditions.append(OVERDUE.sql(now))
    elif filters.due == "soon":
        conditions.append(DUE_SOON_WINDOW.sql(now))
    # Order number parts and SKU codes only: a factory never searches buyers.
    search = order_search(filters.q)
    if search is not None:
        conditions.append(search)
    if filters.group:
        conditions.append(Order.receiver_key == filters.group)
    return conditions


def _cancelled_for(supplier_id: SupplierId) -> tuple[ColumnElement[bool], ...]:
    """This supplier's cancelled assignments of orders that are not (again) with it."""
    return (
        Assignment.supplier_id == supplier_id,
        Assignment.status == ASSIGNMENT_CANCELLED,
        or_(Order.supplier_id.is_(None), Order.supplier_id != supplier_id),
    )


# What a factory sees of the receiver: only while it is bound to the order's merchant. Once the
# binding ends it keeps what statements need (goods, numbers, times), not who got the parcel.
RECEIVER_COLUMNS = frozenset(
    {"buyer_note", "name_mask", "phone_mask", "detail_mask", "province", "city", "district"}
    | {"receiver_key", "factory_note_mask"}
)


def masked_select(supplier: Supplier) -> Select[Any]:
    """MASKED_COLUMNS of orders with their merchant, receiver columns blank ("") where the
    supplier is no longer actively bound to that merchant; `bound` says which."""
    return _masked_select(supplier.id)


def _masked_select(supplier_id: SupplierId) -> Select[Any]:
    active = aliased(Binding)
    bound = active.id.is_not(None)
    columns = [
        case((bound, column), else_="").label(column.key)
        if column.key in RECEIVER_COLUMNS
        else column
        for column in MASKED_COLUMNS
    ]
    # Outer joins, though every order has a merchant and every merchant a user: SQLite never
    # starts a join at the right side of a LEFT JOIN, so the page is read from orders by an index
    # in the page's order. As inner joins, at 1M orders it began at merchants and walked each
    # one's orders of the tab, then sorted them all: the 已打印 tab took 13 ms of SQL, not 0.7.
    return (
        select(*columns, bound.label("bound"))
        .select_from(Order)
        .outerjoin(Merchant, Merchant.id == Order.merchant_id)
        .outerjoin(User, User.id == Merchant.user_id)
        .outerjoin(
            active,
            and_(
                active.merchant_id == Order.merchant_id,
                active.supplier_id == supplier_id,
                active.status == BINDING_ACTIVE,
            ),
        )
    )


def _cancelled_select(supplier_id: SupplierId) -> Select[Any]:
    return (
        _masked_select(supplier_id)
        .add_columns(
            Assignment.id.label("assignment_id"),
            Assignment.cancel_reason,
            Assignment.cancelled_at,
        )
        .join(Assignment, Assignment.order_id == Order.id)
        .where(*_cancelled_for(supplier_id))
    )


def orders_query(supplier: Supplier, filters: SupplierFilters, now: datetime) -> Select[Any]:
    """Masked rows for one tab. The cancelled tab lists this supplier's cancelled assignments
    whose order is not (again) with this supplier, with the reason to show "do not ship"."""
    query = _tab_rows(filters.tab, filters.sort)
    conditions = _filters(filters, now)
    if conditions:
        query = query.where(*conditions)
    return query.params({SUPPLIER_ID: supplier.id})


def stage_orders_query(
    supplier: Supplier,
    stage: str | None,
    now: datetime,
    *,
    merchant_shop_id: str = "",
    q: str = "",
    updated_since: datetime | None = None,
) -> Select[Any]:
    """Masked rows of a stage (STAGE_TABS) in the desk's order — the cancelled stage lists its
    assignments, newest first, with when each was assigned —; of one merchant by shop ID (an
    unknown or never-bound one simply matches nothing), by order number or SKU code, changed
    at or after a time."""
    tabs = STAGE_TABS[stage]
    if len(tabs) == 1:
        query = orders_query(supplier, SupplierFilters(tab=tabs[0]), now)
        if tabs[0] == TAB_CANCELLED:
            query = query.add_columns(Assignment.assigned_at.label("assignment_assigned_at"))
    else:  # several tabs at once: the same masked columns and order as the single tabs
        query = (
            masked_select(supplier)
            .where(or_(*(tab_condition(supplier, tab) for tab in tabs)))
            .order_by(Order.promise_ship_at.asc().nulls_last(), Order.id)
        )
    shop_id = normalize_shop_id(merchant_shop_id)
    if shop_id:
        query = query.where(User.shop_id == shop_id)
    search = order_search(q)
    if search is not None:
        query = query.where(search)
    if updated_since is not None:
        query = query.where(Order.updated_at >= updated_since)
    return query


@cache
def _tab_rows(tab: str, sort: str) -> Select[Any]:
    """A tab's masked rows in its order, for the supplier SUPPLIER_ID names: built once."""
    supplier_id = bindparam(SUPPLIER_ID)
    if tab == TAB_CANCELLED:
        return _cancelled_select(supplier_id).order_by(Assignment.id.desc())
    by_deadline = (Order.promise_ship_at.asc().nulls_last(), Order.id)
    order_by = (Order.receiver_key, *by_deadline) if sort == SORT_RECEIVER else by_deadline
    return _masked_select(supplier_id).where(_tab_condition(supplier_id, tab)).order_by(*order_by)


def tab_of(row: Any) -> str:
    """Which tab lists a current order (cancelled assignments are listed by their own query)."""
    if row.stage == STAGE_ASSIGNED:
        return TAB_PRINTED if row.print_count else TAB_TO_PRINT
    return TAB_RETURNED if row.stage == STAGE_RETURNED else TAB_DISPATCHED


def order_refs_query(supplier: Supplier, filters: SupplierFilters, now: datetime) -> Select[Any]:
    """(order number, merchant shop ID) of the orders a tab lists, in its order ("select all
    N matching")."""
    return orders_query(supplier, filters, now).with_only_columns(Order.order_no, User.shop_id)


def order_refs(
    supplier: Supplier, filters: SupplierFilters, now: datetime, limit: int | None = None
) -> list[tuple[str, str]]:
    """All of them, or the first `limit` (a batch over its cap is refused: ask for one more)."""
    query = order_refs_query(supplier, filters, now)
    rows = db.session.execute(query if limit is None else query.limit(limit))
    return [(order_no, shop_id) for order_no, shop_id in rows]


def find_order_row(supplier: Supplier, order_no: str, merchant_shop_id: str = "") -> Any | None:
    """One order as the desk shows it: the supplier's current order, else its latest cancelled
    assignment of it (a row with `cancel_reason`); None when it was never this supplier's.
    With `merchant_shop_id`, only that merchant's order of the number."""
    shop = normalize_shop_id(merchant_shop_id)
    of_merchant = [User.shop_id == shop] if shop else []
    current = db.session.execute(
        masked_select(supplier)
        .where(_current(supplier), Order.order_no == order_no, *of_merchant)
        .limit(1)
    ).first()
    if current is not None:
        return current
    return db.session.execute(
        _cancelled_select(supplier.id)
        .where(Order.order_no == order_no, *of_merchant)
        .order_by(Assignment.id.desc())
        .limit(1)
    ).first()


def is_cancelled_row(row: Any) -> bool:
    """A row of the 已取消 tab (or find_order_row's fallback): a cancelled assignment."""
    return "assignment_id" in row._mapping  # (not _fields: it builds the tuple of names)


def deadline_state(row: Any, now: datetime) -> str:
    """Once the tracking number is returned the factory's part is done: only `assigned` counts."""
    return rules.deadline_state(row, now, rules.FACTORY_TO_SHIP)


def due_counts(supplier: Supplier, now: datetime) -> dict[str, int]:
    """Orders still to print or ship: how many are past 承诺发货时间, how many due soon."""
    by_merchant = workload_by_merchant(supplier, now).values()
    return {key: sum(counts[key] for counts in by_merchant) for key in ("overdue", "soon")}


def workload_by_merchant(supplier: Supplier, now: datetime) -> dict[int, dict[str, int]]:
    """Today's work per merchant: orders to print, due within DUE_SOON, past 承诺发货时间."""
    rows = db.session.execute(
        select(
            Order.merchant_id,
            func.sum(case((Order.print_count == 0, 1), else_=0)),
            func.sum(case((DUE_SOON_WINDOW.sql(now), 1), else_=0)),
            func.sum(case((OVERDUE.sql(now), 1), else_=0)),
        )
        # as written (a constant): the partial index ix_orders_supplier_stage_workload covers it
        .where(_current(supplier), FACTORY_TO_SHIP.sql())
        .group_by(Order.merchant_id)
    )
    return {
        merchant_id: {"to_print": int(to_print), "soon": int(soon), "overdue": int(overdue)}
        for merchant_id, to_print, soon, overdue in rows
    }


def tab_counts(
    supplier: Supplier, filters: SupplierFilters, now: datetime, tabs: Iterable[str] = TABS
) -> dict[str, int]:
    """The tabs' counts under the filters (every tab, or those asked), each capped
    (portal.domain.counting.capped_count)."""
    conditions = _filters(filters, now)
    counts = {
        tab: capped_count(_tab_ids(tab).where(*conditions).params({SUPPLIER_ID: supplier.id}))
        for tab in tabs
        if tab != TAB_CANCELLED
    }
    if TAB_CANCELLED in tabs:
        counts[TAB_CANCELLED] = capped_count(
            select(Assignment.id)
            .join(Order, Order.id == Assignment.order_id)
            .where(*_cancelled_for(supplier.id), *_filters(filters, now))
        )
    return counts


@cache
def _tab_ids(tab: str) -> Select[Any]:
    return select(Order.id).where(_tab_condition(bindparam(SUPPLIER_ID), tab))


@dataclass(frozen=True)
class GoodsLine:
    goods_name: str
    spec: str
    sku_key: str
    quantity: int
    orders: int


def goods_summary(
    supplier: Supplier, filters: SupplierFilters, now: datetime, limit: int | None = None
) -> list[GoodsLine]:
    """How many of each spec to make or pick: every line of everything still to ship
    (assigned, unreturned), the specs with the most pieces first (`limit` of them)."""
    pieces = func.sum(OrderLine.quantity)
    rows = db.session.execute(
        select(
            OrderLine.goods_name,
            OrderLine.spec,
            OrderLine.sku_key,
            pieces,
            func.count(func.distinct(Order.id)),
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(_current(supplier), Order.stage == STAGE_ASSIGNED, *_filters(filters, now))
        .group_by(OrderLine.goods_name, OrderLine.spec, OrderLine.sku_key)
        .order_by(pieces.desc(), OrderLine.sku_key, OrderLine.goods_name, OrderLine.spec)
        .limit(limit)
    )
    return [GoodsLine(name, spec, key, int(qty), int(n)) for name, spec, key, qty, n in rows]


def receiver_group_sizes(supplier: Supplier, receiver_keys: list[str]) -> dict[str, int]:
    """How many of the supplier's unshipped orders go to each receiver (to merge parcels)."""
    keys = [k for k in set(receiver_keys) if k]
    if not keys:
        return {}
    rows = db.session.execute(_receiver_groups(), {SUPPLIER_ID: supplier.id, "keys": keys})
    return {key: int(count) for key, count in rows}


@cache
def _receiver_groups() -> Select[Any]:
    """Built once (every desk page asks): building it cost more than running it."""
    return (
        select(Order.receiver_key, func.count())
        .where(
            Order.supplier_id == bindparam(SUPPLIER_ID),
            Order.stage.in_(AT_FACTORY_STAGES),
            Order.receiver_key.in_(bindparam("keys", expanding=True)),
        )
        .group_by(Order.receiver_key)
    )


def bound_merchants(supplier: Supplier) -> list[Any]:
    """(id, shop_name) of the merchants the supplier is bound to now, newest binding first."""
    return list(db.session.execute(_bound_merchants(), {SUPPLIER_ID: supplier.id}))


@cache
def _bound_merchants() -> Select[Any]:
    return (
        select(Merchant.id, Merchant.shop_name)
        .join(Binding, Binding.merchant_id == Merchant.id)
        .where(Binding.supplier_id == bindparam(SUPPLIER_ID), Binding.status == BINDING_ACTIVE)
        .order_by(Binding.created_at.desc(), Binding.id.desc())
    )


def print_job_rows(supplier: Supplier, job: PrintJob) -> list[Any]:
    """A print job's orders in print order, masked, with the paper number the job gave each and
    whether the order is still this supplier's (an assignment cancelled since must not ship)."""
    return list(
        db.session.execute(
            masked_select(supplier)
            .add_columns(
                PrintJobOrder.seq,
                PrintJobOrder.tracking_no.label("job_tracking_no"),
                (Order.supplier_id == supplier.id).label("is_current"),
            )
            .join(PrintJobOrder, PrintJobOrder.order_id == Order.id)
            .join(PrintJob, PrintJob.id == PrintJobOrder.job_id)
            .where(PrintJobOrder.job_id == job.id, PrintJob.supplier_id == supplier.id)
            .order_by(PrintJobOrder.seq)
        )
    )


def print_jobs_query(supplier: Supplier) -> Select[Any]:
    return select(PrintJob).where(PrintJob.supplier_id == supplier.id).order_by(PrintJob.id.desc())
