"""The factory desk's reads: masked orders by tab, counts, goods summary, parcel groups.

Supplier code paths select only masked columns — ciphertexts are never even loaded — and every
query is scoped by the supplier in the query itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select

from portal.bindings import bindings_for_supplier
from portal.extensions import db
from portal.formatting import SHANGHAI
from portal.models import Assignment, Merchant, Order, Supplier
from portal.models.orders import (
    ASSIGNMENT_CANCELLED,
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

# What a supplier may see of an order: no ciphertext, no blind index.
MASKED_COLUMNS = (
    Order.id,
    Order.merchant_id,
    Order.order_no,
    Order.platform_status,
    Order.after_sale_active,
    Order.audit_hold,
    Order.address_change_pending,
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
    Order.buyer_note,
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
    Merchant.shop_name.label("merchant_name"),
)


@dataclass(frozen=True)
class SupplierFilters:
    tab: str = TAB_TO_PRINT
    merchant_id: int | None = None
    sku: str = ""
    assigned_from: date | None = None
    assigned_to: date | None = None
    due: str = ""  # "" | "soon" (within 12 h) | "overdue"
    q: str = ""  # order number


def _current(supplier: Supplier) -> ColumnElement[bool]:
    return Order.supplier_id == supplier.id


def tab_condition(supplier: Supplier, tab: str) -> ColumnElement[bool]:
    if tab == TAB_TO_PRINT:
        return and_(_current(supplier), Order.stage == STAGE_ASSIGNED, Order.print_count == 0)
    if tab == TAB_PRINTED:
        return and_(_current(supplier), Order.stage == STAGE_ASSIGNED, Order.print_count > 0)
    if tab == TAB_RETURNED:
        return and_(_current(supplier), Order.stage == STAGE_RETURNED)
    if tab == TAB_DISPATCHED:
        return and_(_current(supplier), Order.stage == STAGE_DISPATCHED)
    raise ValueError(tab)


def _filters(filters: SupplierFilters, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.merchant_id:
        conditions.append(Order.merchant_id == filters.merchant_id)
    if filters.sku:
        conditions.append(or_(Order.sku_code == filters.sku, Order.sku_key == filters.sku))
    if filters.assigned_from:
        start = datetime.combine(filters.assigned_from, time.min, tzinfo=SHANGHAI)
        conditions.append(Order.assigned_at >= start)
    if filters.assigned_to:
        end = datetime.combine(filters.assigned_to + timedelta(days=1), time.min, tzinfo=SHANGHAI)
        conditions.append(Order.assigned_at < end)
    if filters.due == "overdue":
        conditions.append(Order.promise_ship_at < now)
    elif filters.due == "soon":
        conditions.append(Order.promise_ship_at.between(now, now + timedelta(hours=12)))
    if filters.q.strip():
        conditions.append(Order.order_no == filters.q.strip())
    return conditions


def orders_query(supplier: Supplier, filters: SupplierFilters, now: datetime) -> Select[Any]:
    """Masked rows for one tab. The cancelled tab lists this supplier's cancelled assignments
    whose order is not (again) with this supplier, with the reason to show "do not ship"."""
    base = select(*MASKED_COLUMNS).join(Merchant, Merchant.id == Order.merchant_id)
    if filters.tab == TAB_CANCELLED:
        return (
            base.add_columns(Assignment.cancel_reason, Assignment.cancelled_at)
            .join(Assignment, Assignment.order_id == Order.id)
            .where(
                Assignment.supplier_id == supplier.id,
                Assignment.status == ASSIGNMENT_CANCELLED,
                or_(Order.supplier_id.is_(None), Order.supplier_id != supplier.id),
                *_filters(filters, now),
            )
            .order_by(Assignment.id.desc())
        )
    return base.where(tab_condition(supplier, filters.tab), *_filters(filters, now)).order_by(
        Order.promise_ship_at.asc().nulls_last(), Order.id
    )


def tab_counts(supplier: Supplier, filters: SupplierFilters, now: datetime) -> dict[str, int]:
    current_tabs = [t for t in TABS if t != TAB_CANCELLED]
    row = db.session.execute(
        select(
            *[
                func.coalesce(func.sum(case((tab_condition(supplier, t), 1), else_=0)), 0).label(t)
                for t in current_tabs
            ]
        ).where(_current(supplier), *_filters(filters, now))
    ).one()
    counts = {t: int(getattr(row, t)) for t in current_tabs}
    counts[TAB_CANCELLED] = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Order, Order.id == Assignment.order_id)
        .where(
            Assignment.supplier_id == supplier.id,
            Assignment.status == ASSIGNMENT_CANCELLED,
            or_(Order.supplier_id.is_(None), Order.supplier_id != supplier.id),
            *_filters(filters, now),
        )
    )
    return counts


@dataclass(frozen=True)
class GoodsLine:
    goods_name: str
    spec: str
    sku_key: str
    quantity: int
    orders: int


def goods_summary(supplier: Supplier, filters: SupplierFilters, now: datetime) -> list[GoodsLine]:
    """How many of each spec to make or pick: everything still to ship (assigned, unreturned)."""
    rows = db.session.execute(
        select(
            Order.goods_name,
            Order.spec,
            Order.sku_key,
            func.sum(Order.quantity),
            func.count(),
        )
        .where(_current(supplier), Order.stage == STAGE_ASSIGNED, *_filters(filters, now))
        .group_by(Order.goods_name, Order.spec, Order.sku_key)
        .order_by(func.sum(Order.quantity).desc())
    )
    return [GoodsLine(name, spec, key, int(qty), int(n)) for name, spec, key, qty, n in rows]


def receiver_group_sizes(supplier: Supplier, receiver_keys: list[str]) -> dict[str, int]:
    """How many of the supplier's unshipped orders go to each receiver (to merge parcels)."""
    keys = [k for k in set(receiver_keys) if k]
    if not keys:
        return {}
    rows = db.session.execute(
        select(Order.receiver_key, func.count())
        .where(
            _current(supplier),
            Order.stage.in_((STAGE_ASSIGNED, STAGE_RETURNED)),
            Order.receiver_key.in_(keys),
        )
        .group_by(Order.receiver_key)
    )
    return {key: int(count) for key, count in rows}


def bound_merchants(supplier: Supplier) -> list[Merchant]:
    return [b.merchant for b in bindings_for_supplier(supplier, "active")]
