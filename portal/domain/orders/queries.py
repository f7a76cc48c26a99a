"""Reading orders for a merchant: the filtered desk query, stage counts, one order, history,
and what the factory did with it (returned tracking numbers, prints).

Every query here starts from `Order.merchant_id == merchant.id`: tenant scope is in the query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, case, false, func, select
from sqlalchemy.orm import joinedload

from portal.domain import staff
from portal.domain.bindings import supplier_id_by_shop_id
from portal.domain.counting import capped_count
from portal.domain.couriers import find_courier
from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI
from portal.domain.orders.search import order_search, sku_filter
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.receiver import reveal_receiver
from portal.domain.tracking import tracking_numbers_for
from portal.extensions import db
from portal.models import (
    Merchant,
    Order,
    OrderEvent,
    PrintJob,
    PrintJobOrder,
    PrintRender,
    Supplier,
)
from portal.models.orders import (
    ASSIGNABLE,
    DUE_WITHIN,
    FLAGGED,
    MERCHANT_TO_SHIP,
    NEEDS_ATTENTION,
    OVERDUE,
    STAGE_ASSIGNED,
    STAGE_DISPATCHED,
    STAGE_RETURNED,
)

TAB_ALL = "all"
TAB_UNASSIGNED = "unassigned"
TAB_ASSIGNED = "assigned"
TAB_RETURNED = "returned"
TAB_DISPATCHED = "dispatched"
TAB_EXCEPTIONS = "exceptions"
TABS = (TAB_UNASSIGNED, TAB_ASSIGNED, TAB_RETURNED, TAB_DISPATCHED, TAB_EXCEPTIONS, TAB_ALL)


def tab_condition(tab: str) -> ColumnElement[bool] | None:
    """What each desk tab shows. 待分配 lists only orders that can be assigned right now; it and
    异常 are written exactly as their partial indexes (portal.models.orders)."""
    if tab == TAB_UNASSIGNED:
        return ASSIGNABLE
    if tab == TAB_ASSIGNED:
        return Order.stage == STAGE_ASSIGNED
    if tab == TAB_RETURNED:
        return Order.stage == STAGE_RETURNED
    if tab == TAB_DISPATCHED:
        return Order.stage == STAGE_DISPATCHED
    if tab == TAB_EXCEPTIONS:
        return NEEDS_ATTENTION
    return None


@dataclass(frozen=True)
class OrderFilters:
    tab: str = TAB_UNASSIGNED
    supplier_id: int | None = None
    paid_from: date | None = None
    paid_to: date | None = None
    sku: str = ""
    q: str = ""
    flag: int | None = None  # the merchant's flag colour, 0–5
    updated_since: datetime | None = None  # changed at or after (an ERP syncing)


def _shanghai_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def filter_conditions(
    keyring: KeyRing, merchant: Merchant, filters: OrderFilters
) -> list[ColumnElement[bool]]:
    """Everything but the tab: the counts per tab share these."""
    conditions: list[ColumnElement[bool]] = [Order.merchant_id == merchant.id]
    if filters.supplier_id:
        conditions.append(Order.supplier_id == filters.supplier_id)
    if filters.paid_from:
        conditions.append(Order.paid_at >= _shanghai_midnight(filters.paid_from))
    if filters.paid_to:
        conditions.append(Order.paid_at < _shanghai_midnight(filters.paid_to + timedelta(days=1)))
    if filters.sku:
        conditions.append(sku_filter(filters.sku))
    if filters.flag is not None:
        conditions.append(Order.flag == filters.flag)
        if filters.flag:
            conditions.append(FLAGGED)  # as the partial index is written, so it is used
    if filters.updated_since is not None:
        conditions.append(Order.updated_at >= filters.updated_since)
    search = order_search(filters.q, keyring=keyring, merchant_id=merchant.id)
    if search is not None:
        conditions.append(search)
    return conditions


def desk_conditions(
    keyring: KeyRing, merchant: Merchant, filters: OrderFilters
) -> list[ColumnElement[bool]]:
    """The filters and the tab: exactly the orders the desk lists."""
    conditions = filter_conditions(keyring, merchant, filters)
    tab = tab_condition(filters.tab)
    if tab is not None:
        conditions.append(tab)
    return conditions


def orders_query(keyring: KeyRing, merchant: Merchant, filters: OrderFilters) -> Select[Any]:
    return (
        select(Order)
        .options(joinedload(Order.supplier))
        .where(*desk_conditions(keyring, merchant, filters))
        .order_by(Order.id.desc())
    )


# What a merchant desk row shows and its rules read (stage rules, receiver, goods, tracking,
# deadline, update notice): the page reads these as rows, not Order objects — loading 50 whole
# orders through the ORM was a fifth of the page (issue 15). The rows also carry
# `supplier_name`, which Order has as a property.
DESK_ROW_COLUMNS = (
    Order.id,
    Order.merchant_id,
    Order.order_no,
    Order.flag,
    Order.paid_at,
    Order.province,
    Order.city,
    Order.district,
    Order.stage,
    Order.platform_status,
    Order.platform_status_text,
    Order.after_sale_active,
    Order.after_sale_status,
    Order.audit_hold,
    Order.address_change_pending,
    Order.address_complete,
    Order.region_unverified,
    Order.supplier_id,
    Order.print_count,
    Order.last_printed_at,
    Order.dispatched_at,
    Order.promise_ship_at,
    Order.updated_at,
    Order.return_address_id,
    Order.name_enc,
    Order.phone_enc,
    Order.detail_enc,
    Order.line_count,
    Order.goods_id,
    Order.goods_name,
    Order.spec,
    Order.sku_code,
    Order.goods_code,
    Order.quantity,
    Order.sku_key,
)


def desk_rows_query(keyring: KeyRing, merchant: Merchant, filters: OrderFilters) -> Select[Any]:
    """orders_query as rows of DESK_ROW_COLUMNS and the supplier's name, for a desk page.

    An outer join: SQLite never starts a join at the right side of a LEFT JOIN, so the page is
    read from orders by an index in the page's order, whatever the planner thinks of suppliers.
    """
    return (
        select(*DESK_ROW_COLUMNS, Supplier.factory_name.label("supplier_name"))
        .outerjoin(Supplier, Supplier.id == Order.supplier_id)
        .where(*desk_conditions(keyring, merchant, filters))
        .order_by(Order.id.desc())
    )


def orders_of_supplier_shop_query(
    keyring: KeyRing, merchant: Merchant, filters: OrderFilters, supplier_shop_id: str
) -> Select[Any]:
    """The API's order list: rows of every order column, newest first, narrowed to the supplier
    with this shop ID when one is given: an unknown ID, or one that is no supplier, matches
    nothing, without saying more. Rows, not Order objects: a page of 50 through the ORM (with
    each supplier and its user joined) cost a third of the answer; the page's suppliers come
    in one query (bindings.shop_refs)."""
    supplier_id = supplier_id_by_shop_id(supplier_shop_id) if supplier_shop_id else None
    query = (
        select(*Order.__table__.columns)
        .where(*desk_conditions(keyring, merchant, replace(filters, supplier_id=supplier_id)))
        .order_by(Order.id.desc())
    )
    if supplier_shop_id and supplier_id is None:
        query = query.where(false())
    return query


def order_ids_query(keyring: KeyRing, merchant: Merchant, filters: OrderFilters) -> Select[Any]:
    """Ids and numbers of every order matching the filter (for 'select all matching')."""
    return (
        select(Order.order_no)
        .where(*desk_conditions(keyring, merchant, filters))
        .order_by(Order.id.desc())
    )


def page_versions(
    keyring: KeyRing, merchant: Merchant, filters: OrderFilters, page: int, per_page: int
) -> dict[int, datetime]:
    """id → updated_at of the orders on one desk page, as the list would show them now.

    Every UPDATE of an order sets updated_at (the column's onupdate), so this is enough to
    tell whether a page the merchant is looking at went stale — without decrypting anything.
    """
    rows = db.session.execute(
        select(Order.id, Order.updated_at)
        .where(*desk_conditions(keyring, merchant, filters))
        .order_by(Order.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return {order_id: updated_at for order_id, updated_at in rows}


def tab_counts(
    keyring: KeyRing, merchant: Merchant, filters: OrderFilters, tabs: Iterable[str] = TABS
) -> dict[str, int]:
    """The tabs' counts under the filters (every tab, or those asked), each capped
    (portal.domain.counting.capped_count): one bounded index range per tab, whatever the size of
    the merchant's history."""
    conditions = filter_conditions(keyring, merchant, filters)
    counts = {}
    for tab in tabs:
        condition = tab_condition(tab)
        where = conditions if condition is None else [*conditions, condition]
        counts[tab] = capped_count(select(Order.id).where(*where))
    return counts


def has_orders(merchant: Merchant) -> bool:
    """Whether the merchant has any order at all (an empty desk then says how to import)."""
    return (
        db.session.scalar(select(Order.id).where(Order.merchant_id == merchant.id).limit(1))
        is not None
    )


def assignable_count(merchant: Merchant) -> int:
    """The 待分配 tab's count without filters (capped like the tabs)."""
    return capped_count(
        select(Order.id).where(Order.merchant_id == merchant.id, tab_condition(TAB_UNASSIGNED))
    )


@dataclass(frozen=True)
class DueOrders:
    count: int  # still to ship, 承诺发货时间 past or within DUE_SOON
    late: int  # of them, past it
    first: list[Order]  # the most pressing, 承诺发货时间 first


def due_orders(keyring: KeyRing, merchant: Merchant, now: datetime, limit: int = 20) -> DueOrders:
    """The merchant's orders still to ship whose 承诺发货时间 is past or near (the dashboard):
    late dispatch costs money."""
    at_risk = (MERCHANT_TO_SHIP.sql(), DUE_WITHIN.sql(now))
    count, late = db.session.execute(
        select(
            func.count(), func.coalesce(func.sum(case((OVERDUE.sql(now), 1), else_=0)), 0)
        ).where(Order.merchant_id == merchant.id, *at_risk)
    ).one()
    first = db.session.scalars(
        orders_query(keyring, merchant, OrderFilters(tab=TAB_ALL))
        .where(*at_risk)
        .order_by(None)
        .order_by(Order.promise_ship_at, Order.id)
        .limit(limit)
    ).all()
    return DueOrders(int(count), int(late), list(first))


def order_history(merchant: Merchant, order: Order) -> list[OrderEvent]:
    return list(
        db.session.scalars(
            select(OrderEvent)
            .where(OrderEvent.merchant_id == merchant.id, OrderEvent.order_id == order.id)
            .order_by(OrderEvent.id)
        )
    )


def event_supplier_names(merchant: Merchant, events: list[OrderEvent]) -> dict[int, str]:
    """id → factory name of the suppliers these events of the merchant name: one lookup for a
    whole history, not one per event (none when no event names a supplier)."""
    ids = {e.id for e in events if e.supplier_id and e.merchant_id == merchant.id}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Supplier.id, Supplier.factory_name)
        .join(OrderEvent, OrderEvent.supplier_id == Supplier.id)
        .where(OrderEvent.merchant_id == merchant.id, OrderEvent.id.in_(ids))
        .distinct()
    )
    return {supplier_id: name for supplier_id, name in rows}


class Receiver(NamedTuple):
    """Plain receiver data (a named tuple: a desk page makes 50)."""

    name: str
    phone: str
    detail: str


def receiver_for_merchant(
    keyring: KeyRing, merchant: Merchant, order: Any, *, detail: bool = True
) -> Receiver:
    """Plain receiver data: only ever for the owning merchant's views, exports and waybills.
    `order` is an Order or a row with its columns; without `detail`, detail is ""."""
    if order.merchant_id != merchant.id:
        raise DomainError("not_found")
    name, phone, address = reveal_receiver(
        keyring,
        merchant.id,
        order.order_no,
        order.name_enc,
        order.phone_enc,
        order.detail_enc,
        detail=detail,
    )
    return Receiver(name, phone, address)


# --- what the factory did: tracking numbers and prints --------------------------------------

TRACKED_STAGES = (STAGE_RETURNED, STAGE_DISPATCHED)


class TrackingNumber(NamedTuple):
    courier: str  # code, as stored
    courier_name: str  # the Chinese name the merchant knows
    tracking_no: str


def courier_name(code: str) -> str:
    courier = find_courier(code)
    return courier.name if courier else code


def tracking_for_orders(
    merchant: Merchant, orders: Sequence[Any]
) -> dict[int, list[TrackingNumber]]:
    """Returned tracking numbers (primary first) of these orders: one query for a whole page.

    Only returned or dispatched orders carry numbers, so a page without any costs no query.
    """
    ids = [o.id for o in orders if o.merchant_id == merchant.id and o.stage in TRACKED_STAGES]
    if not ids:
        return {}
    return {
        order_id: [TrackingNumber(code, courier_name(code), number) for code, number in numbers]
        for order_id, numbers in tracking_numbers_for(ids).items()
    }


@dataclass(frozen=True)
class PrintLine:
    printed_at: datetime
    job_id: int
    courier_name: str
    label_size: str
    label_count: int
    factory_name: str
    printed_by: str  # the member who printed (actor_labels)


MAX_PRINT_LINES = 20


def print_history(merchant: Merchant, order: Order) -> list[PrintLine]:
    """The latest renders of the print jobs that carry this order, newest first (one query).

    A render counts every job it re-rendered; an order blocked at that moment (after-sale,
    address change) was left out of that PDF but is still listed here.
    """
    rows = db.session.execute(
        select(
            PrintRender.created_at,
            PrintJob.id,
            PrintJob.courier,
            PrintJob.label_size,
            PrintRender.label_count,
            Supplier.factory_name,
            PrintRender.user_id,
        )
        .join(PrintJob, PrintJob.id == PrintRender.job_id)
        .join(PrintJobOrder, PrintJobOrder.job_id == PrintJob.id)
        .join(Order, Order.id == PrintJobOrder.order_id)
        .join(Supplier, Supplier.id == PrintRender.supplier_id)
        .where(Order.merchant_id == merchant.id, Order.id == order.id)
        .order_by(PrintRender.id.desc())
        .limit(MAX_PRINT_LINES)
    )
    rows = rows.all()
    actors = staff.actor_labels(row.user_id for row in rows)
    return [
        PrintLine(
            printed_at,
            job_id,
            courier_name(courier),
            size,
            count,
            factory_name,
            staff.actor_label(actors, user_id),
        )
        for printed_at, job_id, courier, size, count, factory_name, user_id in rows
    ]
