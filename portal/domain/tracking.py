"""Suppliers return tracking numbers (回传运单号) and may take a return back until dispatch.

A batch is claimed with one compare-and-set per chunk (`stage IN (assigned, returned) AND
supplier_id = :me`), so a merchant cancelling the assignment at the same moment either wins
before us (we refuse `assignment_cancelled`) or loses to us (it sees `tracking_returned`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from portal.domain.allocation import chunks, is_bound, lock_orders
from portal.domain.bindings import normalize_shop_id
from portal.domain.couriers import (
    MAX_EXTRA_TRACKING_NOS,
    TrackingWarning,
    find_courier,
    format_warning,
    is_valid_tracking_no,
    normalize_tracking_no,
)
from portal.domain.dispatch import auto_dispatch_returned
from portal.domain.errors import DomainError
from portal.domain.imports.tabular import RowError
from portal.domain.imports.tracking_file import TrackingRow
from portal.domain.orders.rules import TRACKING_RETURNABLE
from portal.domain.webhooks import store_tracking_changed_webhook
from portal.extensions import db
from portal.models import (
    Assignment,
    Merchant,
    Order,
    OrderEvent,
    OrderParcel,
    Parcel,
    PrintJob,
    PrintJobOrder,
    Supplier,
    User,
)
from portal.models.base import utcnow
from portal.models.orders import (
    ASSIGNMENT_CANCELLED,
    EVENT_TRACKING_CANCELLED,
    EVENT_TRACKING_CHANGED,
    EVENT_TRACKING_RETURNED,
    STAGE_ASSIGNED,
    STAGE_DISPATCHED,
    STAGE_RETURNED,
)
from portal.models.printing import JOB_VOIDED


@dataclass(frozen=True)
class TrackingItem:
    order_no: str
    courier: str
    tracking_no: str
    extra_tracking_nos: tuple[str, ...] = ()
    row: int | None = None
    # Needed only when two of the factory's merchants use this order number (DESIGN §10.6).
    merchant_shop_id: str = ""


@dataclass(frozen=True)
class TrackingRefusal:
    order_no: str
    code: str
    row: int | None = None
    tracking_no: str = ""


@dataclass
class TrackingResult:
    returned: list[str] = field(default_factory=list)
    refused: list[TrackingRefusal] = field(default_factory=list)
    warnings: list[TrackingWarning] = field(default_factory=list)


@dataclass(frozen=True)
class _Prepared:
    item: TrackingItem
    courier: str
    numbers: tuple[str, ...]  # primary first


class TrackingRaceError(DomainError):
    """Another request stored one of these numbers for a different receiver meanwhile: the
    whole request is refused (and rolled back) as a duplicate, to be sent again."""

    def __init__(self, number: str) -> None:
        super().__init__(
            "duplicate_tracking_no",
            f"运单号 {number} 刚被其他订单使用，本次提交未保存，请核对后重试",
            number=number,
        )
        self.number = number


def _prepare(item: TrackingItem, result: TrackingResult) -> _Prepared | None:
    def refuse(code: str, number: str = "") -> None:
        result.refused.append(TrackingRefusal(item.order_no, code, item.row, number))

    courier = find_courier(item.courier)
    if courier is None:
        refuse("unknown_courier")
        return None
    primary = normalize_tracking_no(item.tracking_no)
    extras = [normalize_tracking_no(n) for n in item.extra_tracking_nos]
    extras = [n for n in dict.fromkeys(extras) if n and n != primary]
    if len(extras) > MAX_EXTRA_TRACKING_NOS:
        refuse("too_many_tracking_nos")
        return None
    numbers = (primary, *extras)
    for number in numbers:
        if not is_valid_tracking_no(number):
            refuse("invalid_tracking_no", number)
            return None
    for number in numbers:
        warning = format_warning(courier, number)
        if warning:
            result.warnings.append(replace(warning, order_no=item.order_no, row=item.row))
    return _Prepared(item, courier.code, numbers)


AMBIGUOUS = "ambiguous_order_no"
OrderRef = tuple[str, str]  # (order number, merchant shop ID or "")


def find_orders_for_supplier(
    supplier: Supplier, refs: Iterable[OrderRef], *, returning: bool = False
) -> dict[OrderRef, Order | None]:
    """The supplier's current orders named by (number, merchant shop ID).

    On the factory side an order is (merchant, number): a number alone names an order only
    while one of the factory's merchants uses it. A reference naming orders of several
    merchants maps to None (refused as ambiguous_order_no); one naming none is absent.

    `returning` (a tracking number is being returned for it): a number alone is ambiguous too
    while another merchant's order of that number was taken back from the factory — the parcel
    whose number comes in may be that order's, made and labelled before it was taken back.
    """
    refs = list(dict.fromkeys((no, normalize_shop_id(shop)) for no, shop in refs))
    numbers = list({no for no, _shop in refs})
    candidates: dict[str, list[tuple[Order, str]]] = {}
    for chunk in chunks(numbers):
        rows = db.session.execute(
            select(Order, User.shop_id)
            .join(Merchant, Merchant.id == Order.merchant_id)
            .join(User, User.id == Merchant.user_id)
            .where(Order.supplier_id == supplier.id, Order.order_no.in_(chunk))
        )
        for order, shop_id in rows:
            candidates.setdefault(order.order_no, []).append((order, shop_id))
    bare = [no for no, shop in refs if not shop and len(candidates.get(no, ())) == 1]
    taken_back = _cancelled_merchants(supplier, bare) if returning and bare else {}
    found: dict[OrderRef, Order | None] = {}
    for no, shop in refs:
        matches = [order for order, shop_id in candidates.get(no, []) if shop in ("", shop_id)]
        if not shop and matches and taken_back.get(no, set()) - {matches[0].merchant_id}:
            found[(no, shop)] = None
        elif matches:
            found[(no, shop)] = matches[0] if len(matches) == 1 else None
    return found


def get_order_for_supplier(
    supplier: Supplier, order_no: str, merchant_shop_id: str = "", *, returning: bool = False
) -> Order:
    """One current order of the supplier by number (and merchant when two share it);
    `returning` as for find_orders_for_supplier."""
    ref = (order_no, normalize_shop_id(merchant_shop_id))
    found = find_orders_for_supplier(supplier, [ref], returning=returning)
    if ref not in found:
        raise DomainError("not_found")
    order = found[ref]
    if order is None:
        raise DomainError(AMBIGUOUS)
    return order


def _cancelled_merchants(supplier: Supplier, order_nos: Sequence[str]) -> dict[str, set[int]]:
    """Order number → the merchants whose order of that number was taken back from (or by)
    the supplier: its cancelled assignments."""
    found: dict[str, set[int]] = {}
    for chunk in chunks(list(order_nos)):
        rows = db.session.execute(
            select(Order.order_no, Order.merchant_id)
            .join(Assignment, Assignment.order_id == Order.id)
            .where(
                Assignment.supplier_id == supplier.id,
                Assignment.status == ASSIGNMENT_CANCELLED,
                Order.order_no.in_(chunk),
            )
        )
        for order_no, merchant_id in rows:
            found.setdefault(order_no, set()).add(merchant_id)
    return found


def cancelled_for_supplier(supplier: Supplier, order_nos: Sequence[str]) -> set[str]:
    """The numbers among these of which the supplier has a cancelled assignment."""
    return set(_cancelled_merchants(supplier, order_nos))


def _existing_parcels(numbers: Iterable[str]) -> dict[str, Parcel]:
    parcels: dict[str, Parcel] = {}
    for chunk in chunks(list(numbers)):
        for parcel in db.session.scalars(select(Parcel).where(Parcel.tracking_no.in_(chunk))):
            parcels[parcel.tracking_no] = parcel
    return parcels


def _label_mates(supplier: Supplier, order_ids: Sequence[int]) -> dict[int, list[int]]:
    """Merged parcels: order id → the other orders printed on the same label, by the latest
    job that merged it (voided jobs printed nothing that will ship)."""
    if not order_ids:
        return {}
    label = func.coalesce(func.nullif(PrintJobOrder.label_seq, 0), PrintJobOrder.seq)
    mine: dict[int, tuple[int, int]] = {}
    for chunk in chunks(list(order_ids)):
        rows = db.session.execute(
            select(PrintJobOrder.order_id, PrintJobOrder.job_id, label)
            .join(PrintJob, PrintJob.id == PrintJobOrder.job_id)
            .where(
                PrintJobOrder.order_id.in_(chunk),
                PrintJob.supplier_id == supplier.id,
                PrintJob.merge_parcels.is_(True),
                PrintJob.status != JOB_VOIDED,
            )
        )
        for order_id, job_id, seq in rows:
            if order_id not in mine or job_id > mine[order_id][0]:
                mine[order_id] = (job_id, seq)
    if not mine:
        return {}
    groups: dict[tuple[int, int], list[int]] = {}
    for job_id in {job for job, _seq in mine.values()}:
        for order_id, seq in db.session.execute(
            select(PrintJobOrder.order_id, label).where(PrintJobOrder.job_id == job_id)
        ):
            groups.setdefault((job_id, seq), []).append(order_id)
    return {
        order_id: [other for other in groups[key] if other != order_id]
        for order_id, key in mine.items()
        if len(groups.get(key, ())) > 1
    }


def with_merged_parcels(
    supplier: Supplier,
    items: Sequence[TrackingItem],
    found: Mapping[OrderRef, Order | None] | None = None,
) -> list[TrackingItem]:
    """The items, and for an order printed on a merged label the other orders on that label
    still waiting for their number: one parcel, one tracking number for all of them. `found`:
    the items' orders when the caller has read them already (find_orders_for_supplier)."""
    if found is None:
        found = find_orders_for_supplier(supplier, [_ref(item) for item in items], returning=True)
    by_order = {order.id: item for item in items if (order := found.get(_ref(item))) is not None}
    mates = _label_mates(supplier, list(by_order))
    wanted = {mate for ids in mates.values() for mate in ids} - set(by_order)
    if not wanted:
        return list(items)
    rows = db.session.execute(
        select(Order.id, Order.order_no, User.shop_id)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .join(User, User.id == Merchant.user_id)
        .where(
            Order.id.in_(wanted), Order.supplier_id == supplier.id, Order.stage == STAGE_ASSIGNED
        )
    )
    waiting = {order_id: (order_no, shop_id) for order_id, order_no, shop_id in rows}
    expanded = list(items)
    for order_id, item in by_order.items():
        for mate in mates.get(order_id, ()):
            if mate in waiting:
                order_no, shop_id = waiting.pop(mate)
                expanded.append(
                    TrackingItem(
                        order_no,
                        item.courier,
                        item.tracking_no,
                        item.extra_tracking_nos,
                        item.row,
                        shop_id or "",
                    )
                )
    return expanded


@dataclass(frozen=True)
class ParcelMates:
    """The merchant's other orders travelling in an order's parcel(s): a merged parcel, or
    orders to one receiver returned with one number — one parcel to the merchant."""

    count: int  # how many other orders share it
    order_nos: list[str]  # the first of them by order number, at most the `shown` asked for


@cache
def _parcel_mates_query() -> Select[Any]:
    """The parcel mates of `order_ids` among `merchant_id`'s orders, at most `shown` numbers
    per order (with how many there are), built once: a desk page with tracking numbers asks."""
    mine = aliased(OrderParcel, name="mine")
    other = aliased(OrderParcel, name="other")
    pairs = (
        select(mine.order_id.label("order_id"), Order.order_no.label("mate_no"))
        .join(other, and_(other.parcel_id == mine.parcel_id, other.order_id != mine.order_id))
        .join(Order, Order.id == other.order_id)
        .where(
            mine.order_id.in_(bindparam("order_ids", expanding=True)),
            Order.merchant_id == bindparam("merchant_id"),
        )
        .distinct()  # two orders sharing two parcels are still one mate
        .subquery("pairs")
    )
    ranked = select(
        pairs.c.order_id,
        pairs.c.mate_no,
        func.count().over(partition_by=pairs.c.order_id).label("mates"),
        func.row_number()
        .over(partition_by=pairs.c.order_id, order_by=pairs.c.mate_no)
        .label("rank"),
    ).subquery("ranked")
    return (
        select(ranked.c.order_id, ranked.c.mate_no, ranked.c.mates)
        .where(ranked.c.rank <= bindparam("shown"))
        .order_by(ranked.c.order_id, ranked.c.rank)
    )


def parcel_mates_by_order(
    merchant: Merchant, order_ids: Sequence[int], shown: int = 5
) -> dict[int, ParcelMates]:
    """The parcel mates of these orders (only those that have any): one query for a page.

    From the orders' own order_parcels rows (primary key) to the other rows of the same parcels
    (ix_order_parcels_parcel_id) and their orders (primary key), the merchant's only; at most
    `shown` numbers per order come back however many orders share one parcel."""
    if not order_ids:
        return {}
    rows = db.session.execute(
        _parcel_mates_query(),
        {"order_ids": list(order_ids), "merchant_id": merchant.id, "shown": shown},
    )
    found: dict[int, ParcelMates] = {}
    for order_id, mate_no, mates in rows:
        found.setdefault(order_id, ParcelMates(int(mates), [])).order_nos.append(mate_no)
    return found


def return_tracking(
    supplier: Supplier, items: Sequence[TrackingItem], actor: User | None
) -> TrackingResult:
    """Record tracking numbers; each refused item is named with its code, the rest go in.
    A number for an order of a merged label goes to every order on that label."""
    # The orders are read once: for the merged labels' mates, then for the items themselves.
    orders = find_orders_for_supplier(supplier, [_ref(item) for item in items], returning=True)
    given = len(items)
    items = with_merged_parcels(supplier, items, orders)
    if len(items) > given:
        mates = find_orders_for_supplier(supplier, map(_ref, items[given:]), returning=True)
        orders = {**orders, **mates}
    result = TrackingResult()
    prepared = [p for p in (_prepare(item, result) for item in items) if p is not None]
    missing = [p.item.order_no for p in prepared if _ref(p.item) not in orders]
    cancelled = cancelled_for_supplier(supplier, missing) if missing else set()
    parcels = _existing_parcels(n for p in prepared for n in p.numbers)

    # Numbers claimed in this batch: tracking_no → (merchant_id, receiver_key, supplier_id)
    claimed: dict[str, tuple[int, str, int]] = {}
    accepted: list[tuple[_Prepared, Order]] = []
    for p in prepared:
        if orders.get(_ref(p.item), False) is None:
            result.refused.append(TrackingRefusal(p.item.order_no, AMBIGUOUS, p.item.row))
            continue
        order = orders.get(_ref(p.item))
        if order is None:
            code = "assignment_cancelled" if p.item.order_no in cancelled else "not_assigned"
            result.refused.append(TrackingRefusal(p.item.order_no, code, p.item.row))
            continue
        if code := TRACKING_RETURNABLE.blocker(order):
            result.refused.append(TrackingRefusal(p.item.order_no, code, p.item.row))
            continue
        owner = (order.merchant_id, order.receiver_key, supplier.id)
        clash = None
        for number in p.numbers:
            parcel = parcels.get(number)
            other = (
                (parcel.merchant_id, parcel.receiver_key, parcel.supplier_id)
                if parcel
                else claimed.get(number)
            )
            # The same number on another order is one parcel only for the same receiver, shipped
            # by the same factory (two factories never share a parcel).
            if other is not None and (other != owner or not order.receiver_key):
                already_ours = parcel is not None and _parcel_is_only_on(parcel, order)
                if not already_ours:
                    clash = number
                    break
        if clash:
            result.refused.append(
                TrackingRefusal(p.item.order_no, "duplicate_tracking_no", p.item.row, clash)
            )
            continue
        for number in p.numbers:
            claimed[number] = owner
        accepted.append((p, order))

    won = _claim(supplier, [order.id for _p, order in accepted])
    stored: list[tuple[_Prepared, Order]] = []
    for p, order in accepted:
        if order.id not in won:
            result.refused.append(
                TrackingRefusal(p.item.order_no, "assignment_cancelled", p.item.row)
            )
            continue
        stored.append((p, order))
        result.returned.append(p.item.order_no)
    now = utcnow()
    _store_numbers(supplier, stored, now)
    _record_events(
        supplier,
        [(order, "") for _p, order in stored],
        EVENT_TRACKING_RETURNED,
        actor,
        now,
    )
    # Hook (portal.domain.dispatch): merchants with auto-dispatch on have the orders just returned
    # dispatched at once, in this same transaction (held orders and merchants without a return
    # address are left returned for a person).
    if stored:
        auto_dispatch_returned(supplier, [order.id for _p, order in stored])
    return result


def _ref(item: TrackingItem) -> OrderRef:
    return (item.order_no, normalize_shop_id(item.merchant_shop_id))


def _parcel_is_only_on(parcel: Parcel, order: Order) -> bool:
    """The order's own parcel, carried by no other order: returning its number again re-files
    it under the order's current receiver. A parcel another order shares stays that receiver's
    (the buyer of this order moved after the number came back): the number is refused."""
    carriers = db.session.scalars(
        select(OrderParcel.order_id).where(OrderParcel.parcel_id == parcel.id)
    ).all()
    return set(carriers) == {order.id}


def _claim(supplier: Supplier, order_ids: list[int]) -> set[int]:
    """Compare-and-set: only orders still assigned to this supplier (and not dispatched).

    Rows are locked in id order, chunk by chunk, like every other writer of orders: a file
    lists orders in any order, and claiming them in that order deadlocks (PostgreSQL) against
    a merchant cancelling the same orders at the same time.
    """
    won: set[int] = set()
    now = utcnow()
    for chunk in chunks(sorted(order_ids)):
        lock_orders(chunk)
        won.update(
            db.session.scalars(
                update(Order)
                .where(
                    Order.id.in_(chunk),
                    Order.supplier_id == supplier.id,
                    TRACKING_RETURNABLE.sql(),
                )
                .values(stage=STAGE_RETURNED, returned_at=now, updated_at=now)
                .returning(Order.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
    return won


def _store_numbers(
    supplier: Supplier, stored: Sequence[tuple[_Prepared, Order]], now: object
) -> None:
    """File the numbers of a whole batch, set-based: a handful of statements per 900 orders.

    Each order's old parcels are detached; parcels are inserted once per number (an existing
    one — the same parcel for the same receiver, checked before the claim — is kept), then
    linked to their orders, and the orders get their primary number.
    """
    if not stored:
        return
    order_ids = [order.id for _p, order in stored]
    for chunk in chunks(order_ids):
        _detach_parcels(list(chunk))
    owners: dict[str, tuple[int, str, int]] = {}
    new_parcels: list[dict[str, object]] = []
    for p, order in stored:
        for number in p.numbers:
            if number not in owners:
                owners[number] = (order.merchant_id, order.receiver_key, supplier.id)
                new_parcels.append(
                    {
                        "tracking_no": number,
                        "courier": p.courier,
                        "merchant_id": order.merchant_id,
                        "supplier_id": supplier.id,
                        "receiver_key": order.receiver_key,
                        "created_at": now,
                    }
                )
    insert_new = _insert_ignoring_duplicates(Parcel.__table__)
    for chunk in chunks(new_parcels, 500):
        db.session.execute(insert_new, list(chunk))
    parcel_ids: dict[str, int] = {}
    for chunk in chunks(list(owners)):
        rows = db.session.execute(
            select(
                Parcel.tracking_no,
                Parcel.id,
                Parcel.merchant_id,
                Parcel.receiver_key,
                Parcel.supplier_id,
            ).where(Parcel.tracking_no.in_(chunk))
        )
        for number, parcel_id, merchant_id, receiver_key, supplier_id in rows:
            # Another request filed this number for a different receiver (or factory) meanwhile.
            if (merchant_id, receiver_key, supplier_id) != owners[number]:
                raise TrackingRaceError(number)
            parcel_ids[number] = parcel_id
    links = [
        {"order_id": order.id, "parcel_id": parcel_ids[number], "is_primary": i == 0}
        for p, order in stored
        for i, number in enumerate(p.numbers)
    ]
    for chunk in chunks(links, 900):
        db.session.execute(insert(OrderParcel.__table__), list(chunk))
    table = Order.__table__
    db.session.execute(
        update(table)
        .where(table.c.id == bindparam("order_id"))
        .values(courier=bindparam("new_courier"), tracking_no=bindparam("new_tracking_no")),
        [
            {"order_id": order.id, "new_courier": p.courier, "new_tracking_no": p.numbers[0]}
            for p, order in stored
        ],
    )


def _insert_ignoring_duplicates(table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING in the dialect at hand (PostgreSQL or SQLite)."""
    if db.engine.dialect.name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


def _detach_parcels(order_ids: list[int]) -> None:
    """Unlink an order's parcels and delete parcels that no order carries any more."""
    parcel_ids = db.session.scalars(
        select(OrderParcel.parcel_id).where(OrderParcel.order_id.in_(order_ids))
    ).all()
    if not parcel_ids:
        return
    db.session.execute(delete(OrderParcel).where(OrderParcel.order_id.in_(order_ids)))
    still_used = set(
        db.session.scalars(
            select(OrderParcel.parcel_id).where(OrderParcel.parcel_id.in_(parcel_ids))
        )
    )
    orphans = [pid for pid in parcel_ids if pid not in still_used]
    if orphans:
        db.session.execute(delete(Parcel).where(Parcel.id.in_(orphans)))


def _record_events(
    supplier: Supplier,
    orders: Sequence[tuple[Order, str]],
    kind: str,
    actor: User | None,
    now: datetime,
) -> None:
    """The orders' histories name who returned or took back a number (one insert)."""
    if not orders:
        return
    db.session.execute(
        insert(OrderEvent),
        [
            {
                "order_id": order.id,
                "merchant_id": order.merchant_id,
                "supplier_id": supplier.id,
                "kind": kind,
                "actor_id": actor.id if actor else None,
                "note": note[:200],
                "created_at": now,
            }
            for order, note in orders
        ],
    )


def cancel_return(
    supplier: Supplier,
    order_no: str,
    merchant_shop_id: str = "",
    actor: User | None = None,
    *,
    with_label: bool = False,
) -> None:
    """Take a returned tracking number back; impossible once the merchant dispatched.
    `with_label`: also from the other orders of its merged label still carrying that number
    (undoing a scan takes back what the scan returned) — all of them or none: one of them
    dispatched refuses the whole undo, as for the order itself (that parcel has left)."""
    order = get_order_for_supplier(supplier, order_no, merchant_shop_id)
    if order.stage == STAGE_DISPATCHED:
        raise DomainError("dispatched")
    # After the binding ended a returned order stays with the merchant to dispatch (DESIGN §3):
    # taken back, it would be an assignment without a binding. The lock orders us with ending.
    if not is_bound(db.session.get(Merchant, order.merchant_id), supplier, lock=True):
        raise DomainError("binding_not_active")
    orders = [order]
    if with_label and order.tracking_no:
        mates = _label_mates(supplier, [order.id]).get(order.id, [])
        carrying = db.session.scalars(
            select(Order)
            .where(
                Order.id.in_(mates),
                Order.merchant_id == order.merchant_id,
                Order.supplier_id == supplier.id,
                Order.stage.in_((STAGE_RETURNED, STAGE_DISPATCHED)),
                Order.tracking_no == order.tracking_no,
            )
            .order_by(Order.order_no)
        ).all()
        _refuse_dispatched_parcel(
            order, [mate for mate in carrying if mate.stage == STAGE_DISPATCHED]
        )
        orders += carrying
    ids = [each.id for each in orders]
    # Compare-and-set on every order of the parcel: a dispatch in between leaves its order out,
    # and then the savepoint takes the others back too.
    with db.session.begin_nested():
        changed = set(
            db.session.scalars(
                update(Order)
                .where(
                    Order.id.in_(ids),
                    Order.supplier_id == supplier.id,
                    Order.stage == STAGE_RETURNED,
                )
                .values(stage=STAGE_ASSIGNED, courier="", tracking_no="", returned_at=None)
                .returning(Order.id)
            ).all()
        )
        if changed != set(ids):  # raised inside: the savepoint is rolled back
            if order.id not in changed:
                raise DomainError("not_returned")
            left = [each.id for each in orders if each.id not in changed]
            shipped = db.session.scalars(
                select(Order).where(Order.id.in_(left), Order.stage == STAGE_DISPATCHED)
            ).all()
            _refuse_dispatched_parcel(order, list(shipped))
            raise DomainError("not_returned")
    _detach_parcels(ids)
    _record_events(
        supplier, [(each, "") for each in orders], EVENT_TRACKING_CANCELLED, actor, utcnow()
    )


def _refuse_dispatched_parcel(order: Order, shipped: Sequence[Order]) -> None:
    """A merged parcel one of whose orders the merchant dispatched cannot be taken back."""
    if shipped:
        numbers = "、".join(each.order_no for each in shipped)
        raise DomainError(
            "dispatched",
            _(
                "运单号 %(tracking_no)s 是合并包裹，其中订单 %(order_nos)s 已由商家发货，"
                "不能撤销；包裹内的订单均未改动",
                tracking_no=order.tracking_no,
                order_nos=numbers,
            ),
            order_nos=[each.order_no for each in shipped],
        )


def tracking_numbers_for(order_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """(courier, tracking_no) per order, primary first — one query for a whole page."""
    numbers: dict[int, list[tuple[str, str]]] = {}
    for chunk in chunks(list(order_ids)):
        for order_id, courier, tracking_no in db.session.execute(
            _tracking_numbers(), {"order_ids": chunk}
        ):
            numbers.setdefault(order_id, []).append((courier, tracking_no))
    return numbers


@cache
def _tracking_numbers() -> Select[Any]:
    """(order id, courier, number) of the orders `order_ids`: built once, every desk page of
    returned or dispatched orders asks."""
    return (
        select(OrderParcel.order_id, Parcel.courier, Parcel.tracking_no)
        .join(Parcel, Parcel.id == OrderParcel.parcel_id)
        .where(OrderParcel.order_id.in_(bindparam("order_ids", expanding=True)))
        .order_by(OrderParcel.order_id, OrderParcel.is_primary.desc(), Parcel.id)
    )


FILE_BATCH = 1000


def return_tracking_file(
    supplier: Supplier, rows: Iterable[TrackingRow | RowError], actor: User | None
) -> TrackingResult:
    """Batch return from a CSV/XLSX (订单号, 快递公司, 快递单号): bad rows are refused with
    their row number, the good ones go in, one set-based batch per thousand rows."""
    total = TrackingResult()
    batch: list[TrackingItem] = []

    def flush() -> None:
        result = return_tracking(supplier, batch, actor)
        total.returned += result.returned
        total.refused += result.refused
        total.warnings += result.warnings
        batch.clear()

    for row in rows:
        if isinstance(row, RowError):
            total.refused.append(TrackingRefusal(row.order_no, row.code, row.row))
            continue
        batch.append(
            TrackingItem(
                row.order_no,
                row.courier,
                row.tracking_no,
                row.extra_tracking_nos,
                row.row,
                row.merchant_shop_id,
            )
        )
        if len(batch) >= FILE_BATCH:
            flush()
    if batch:
        flush()
    return total


def scan_lookup(supplier: Supplier, code: str, merchant_shop_id: str = "") -> Order | None:
    """What a barcode scanner typed: a tracking number of this supplier's, or an order number
    (of the chosen merchant when two use it: ambiguous_order_no otherwise)."""
    text = (code or "").strip()
    if not text:
        return None
    number = normalize_tracking_no(text)
    order = db.session.scalar(
        select(Order)
        .join(OrderParcel, OrderParcel.order_id == Order.id)
        .join(Parcel, Parcel.id == OrderParcel.parcel_id)
        .where(Parcel.tracking_no == number, Order.supplier_id == supplier.id)
        .limit(1)
    )
    if order is not None:
        return order
    try:
        # A scanned order number waits for its tracking number: as for a return.
        return get_order_for_supplier(supplier, text, merchant_shop_id, returning=True)
    except DomainError as error:
        if error.code == AMBIGUOUS:
            raise
        return None


# --- corrections after dispatch (seed 001: within 5 days of dispatch, at most twice) -----------

CORRECTION_WINDOW = timedelta(days=5)
MAX_CORRECTIONS = 2


@dataclass(frozen=True)
class Correction:
    order_no: str
    corrections_left: int
    warnings: list[TrackingWarning]


def correction_refusal(order: Order, now: datetime) -> str | None:
    """Why this dispatched order's number can no longer be corrected, or None."""
    if order.stage != STAGE_DISPATCHED:
        return "not_dispatched"
    if order.tracking_corrections >= MAX_CORRECTIONS:
        return "tracking_change_limit"
    if order.dispatched_at is None or now > order.dispatched_at + CORRECTION_WINDOW:
        return "tracking_change_window"
    return None


def correct_tracking(
    supplier: Supplier,
    order_no: str,
    courier_name: str,
    tracking_no: str,
    actor: User | None,
    now: datetime,
    merchant_shop_id: str = "",
) -> Correction:
    """Replace a dispatched order's tracking number (the factory typed it wrong).

    One compare-and-set decides (still dispatched by us, fewer than two corrections, inside the
    window), so two corrections racing never make three. The old and the new number go in the
    order's history, the order carries the new one (the dispatch export reads it) and the
    merchant's webhook gets `orders.tracking_changed`. A number two of the supplier's
    merchants use needs `merchant_shop_id` (ambiguous_order_no).
    """
    order = get_order_for_supplier(supplier, order_no, merchant_shop_id)
    refusal = correction_refusal(order, now)
    if refusal:
        raise DomainError(refusal)
    # Like printing: once the binding ended the factory changes nothing of that merchant's.
    if not is_bound(db.session.get(Merchant, order.merchant_id), supplier, lock=True):
        raise DomainError("not_bound")
    result = TrackingResult()
    prepared = _prepare(TrackingItem(order_no, courier_name, tracking_no), result)
    if prepared is None:
        [refused] = result.refused
        raise DomainError(refused.code, field="tracking_no" if refused.tracking_no else "courier")
    number = prepared.numbers[0]
    previous = (order.courier, order.tracking_no)
    if previous == (prepared.courier, number):
        raise DomainError("tracking_unchanged", field="tracking_no")
    owner = (order.merchant_id, order.receiver_key, supplier.id)
    parcel = _existing_parcels([number]).get(number)
    if parcel is not None and (
        (parcel.merchant_id, parcel.receiver_key, parcel.supplier_id) != owner
        or not order.receiver_key
    ):
        raise DomainError("duplicate_tracking_no", field="tracking_no", number=number)
    # The number is the parcel's: every order that went in it (one receiver) gets the new one.
    orders = [order, *_parcel_sharers(supplier, order)]
    for sharer in orders[1:]:
        if refusal := correction_refusal(sharer, now):
            raise DomainError(refusal)
    numbers = tracking_numbers_for([o.id for o in orders])
    stored = [
        # each order's extra parcels stay its own
        (
            replace(
                prepared,
                numbers=(number, *[n for _c, n in numbers.get(o.id, [])[1:] if n != number]),
            ),
            o,
        )
        for o in orders
    ]

    ids = sorted(o.id for o in orders)
    lock_orders(ids)
    changed = dict(
        db.session.execute(
            update(Order)
            .where(
                Order.id.in_(ids),
                Order.supplier_id == supplier.id,
                Order.stage == STAGE_DISPATCHED,
                Order.tracking_corrections < MAX_CORRECTIONS,
                Order.dispatched_at >= now - CORRECTION_WINDOW,
            )
            .values(tracking_corrections=Order.tracking_corrections + 1, updated_at=now)
            .returning(Order.id, Order.tracking_corrections)
            .execution_options(synchronize_session=False)
        ).all()
    )
    if len(changed) != len(ids):
        # Another correction (or a second tab) got there first: say which limit it hit.
        late = next(o for o in orders if o.id not in changed)
        db.session.refresh(late)
        raise DomainError(correction_refusal(late, now) or "tracking_change_limit")
    _store_numbers(supplier, stored, now)
    note = f"{previous[0]} {previous[1]} → {prepared.courier} {number}"[:200]
    db.session.execute(
        insert(OrderEvent),
        [
            {
                "order_id": o.id,
                "merchant_id": o.merchant_id,
                "kind": EVENT_TRACKING_CHANGED,
                "actor_id": actor.id if actor else None,
                "supplier_id": supplier.id,
                "reason": "",
                "note": note,
                "created_at": now,
            }
            for o in orders
        ],
    )
    merchant = db.session.get(Merchant, order.merchant_id)
    for o in orders:
        store_tracking_changed_webhook(
            merchant, o.id, o.order_no, previous, (prepared.courier, number), now
        )
    db.session.refresh(order)
    return Correction(order.order_no, MAX_CORRECTIONS - changed[order.id], result.warnings)


def _parcel_sharers(supplier: Supplier, order: Order) -> list[Order]:
    """The supplier's other orders carrying this order's primary parcel."""
    return list(
        db.session.scalars(
            select(Order)
            .join(OrderParcel, OrderParcel.order_id == Order.id)
            .join(Parcel, Parcel.id == OrderParcel.parcel_id)
            .where(
                Parcel.tracking_no == order.tracking_no,
                Order.supplier_id == supplier.id,
                Order.id != order.id,
            )
            .order_by(Order.id)
        )
    )
