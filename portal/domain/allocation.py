"""Assigning orders to bound suppliers and cancelling assignments, set-based and race-safe.

Every transition is a compare-and-set: `UPDATE orders … WHERE stage = :from AND <still
eligible> RETURNING id`, one statement per chunk of orders. Two batches, two tabs, or a
merchant and the platform acting at once can never leave an order with two suppliers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, case, insert, literal, select, update

from portal.domain.orders.rules import CANCELLABLE, assign_blocker
from portal.extensions import db, insert_rows
from portal.models import Assignment, Binding, Merchant, Order, OrderEvent, Supplier, User
from portal.models.base import utcnow
from portal.models.bindings import BINDING_ACTIVE
from portal.models.orders import (
    ASSIGNABLE,
    ASSIGNMENT_ACTIVE,
    ASSIGNMENT_CANCELLED,
    CANCEL_BINDING_ENDED,
    CANCEL_MANUAL,
    EVENT_ADDRESS_ACKNOWLEDGED,
    EVENT_ASSIGNED,
    EVENT_ASSIGNMENT_CANCELLED,
    STAGE_ASSIGNED,
    STAGE_UNASSIGNED,
)

CHUNK = 900  # bound parameters per IN list, comfortably inside every backend's limit
# The columns of a history line, in the order INSERT … SELECT fills them.
EVENT_COLUMNS = [
    "order_id",
    "merchant_id",
    "kind",
    "actor_id",
    "supplier_id",
    "reason",
    "note",
    "created_at",
]


@dataclass(frozen=True)
class Refusal:
    order_no: str
    code: str


@dataclass
class BatchResult:
    done: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def chunks(items: Sequence, size: int = CHUNK) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def lock_orders(order_ids: Sequence[int]) -> None:
    """Lock these order rows in id order before a compare-and-set changes them (PostgreSQL).

    An UPDATE locks rows in whatever order its plan visits them, and a batch larger than one
    chunk locks chunk by chunk: two overlapping batches (or a batch and an import) could each
    hold rows the other waits for. Every writer taking rows in ascending id order, chunks
    included, cannot deadlock. SQLite needs none of this: its writers are serialised.
    """
    db.session.execute(
        select(Order.id).where(Order.id.in_(order_ids)).order_by(Order.id).with_for_update()
    ).all()


def unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def is_bound(merchant: Merchant, supplier: Supplier, *, lock: bool = False) -> bool:
    """An active binding; `lock` holds its row so ending the binding waits for us (PostgreSQL)."""
    query = select(Binding.id).where(
        Binding.merchant_id == merchant.id,
        Binding.supplier_id == supplier.id,
        Binding.status == BINDING_ACTIVE,
    )
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query) is not None


def load_states(merchant: Merchant, order_nos: Sequence[str]) -> dict[str, object]:
    states = {}
    for chunk in chunks(order_nos):
        for row in db.session.execute(
            select(
                Order.id,
                Order.order_no,
                Order.stage,
                Order.platform_status,
                Order.after_sale_active,
                Order.audit_hold,
                Order.address_complete,
                Order.address_change_pending,
            ).where(Order.merchant_id == merchant.id, Order.order_no.in_(chunk))
        ):
            states[row.order_no] = row
    return states


def assign_orders(
    merchant: Merchant,
    order_nos: Sequence[str],
    supplier: Supplier | None,
    actor: User | None,
    *,
    event: str = EVENT_ASSIGNED,
    reason: str = "",
) -> BatchResult:
    """Assign the eligible orders to `supplier`; every other order is refused with its code.

    An allocation rule assigns through here too, recording its own `event` and `reason`.
    """
    result = BatchResult()
    order_nos = unique(order_nos)
    if supplier is None or not is_bound(merchant, supplier, lock=True):
        result.refused = [Refusal(no, "not_bound") for no in order_nos]
        return result
    states = load_states(merchant, order_nos)
    eligible: dict[int, str] = {}
    for order_no in order_nos:
        state = states.get(order_no)
        code = "not_found" if state is None else assign_blocker(state)
        if code:
            result.refused.append(Refusal(order_no, code))
        else:
            eligible[state.id] = order_no
    now = utcnow()
    won: list[int] = []
    for chunk in chunks(sorted(eligible)):
        lock_orders(chunk)
        won += db.session.scalars(
            update(Order)
            .where(
                Order.merchant_id == merchant.id,
                Order.id.in_(chunk),
                ASSIGNABLE,  # compare-and-set: still eligible right now
            )
            .values(
                stage=STAGE_ASSIGNED,
                supplier_id=supplier.id,
                assigned_at=now,
                address_change_pending=False,
                # A new assignment starts 待打印: labels printed for an earlier one do not count.
                print_count=0,
                last_printed_at=None,
                updated_at=now,
            )
            .returning(Order.id)
        ).all()
    won_set = set(won)
    lost = [order_no for order_id, order_no in eligible.items() if order_id not in won_set]
    if lost:
        # Changed since we read it (another batch, tab or import): say what stands in the way
        # now — an after-sale that just arrived is not "already assigned".
        current = load_states(merchant, lost)
        for order_no in lost:
            state = current.get(order_no)
            code = "not_found" if state is None else assign_blocker(state)
            result.refused.append(Refusal(order_no, code or "already_assigned"))
    result.done = [eligible[order_id] for order_id in eligible if order_id in won_set]
    record_assignments(merchant.id, won, supplier.id, actor, now, event=event, reason=reason)
    return result


def record_assignments(
    merchant_id: int,
    order_ids: Sequence[int],
    supplier_id: int,
    actor: User | None,
    now: datetime,
    *,
    event: str = EVENT_ASSIGNED,
    reason: str = "",
) -> None:
    """The assignment rows and history lines of orders just given to `supplier_id`: copied
    from the order rows by the database (INSERT … SELECT per chunk), no Python per row."""
    actor_id = actor.id if actor else None
    table = Assignment.__table__
    for chunk in chunks(order_ids):
        db.session.execute(
            insert(table).from_select(
                ["order_id", "merchant_id", "supplier_id", "status", "assigned_at", "assigned_by"],
                select(
                    Order.id,
                    Order.merchant_id,
                    literal(supplier_id, Integer),
                    literal(ASSIGNMENT_ACTIVE, table.c.status.type),
                    literal(now, table.c.assigned_at.type),
                    literal(actor_id, Integer),
                ).where(Order.merchant_id == merchant_id, Order.id.in_(chunk)),
            )
        )
    _record(merchant_id, order_ids, event, actor_id, supplier_id, reason, now)


def _record(
    merchant_id: int,
    order_ids: Sequence[int],
    kind: str,
    actor_id: int | None,
    supplier_id: int | None,
    reason: str,
    now: datetime,
    suppliers: dict[int, int] | None = None,
) -> None:
    """One history event per order. With one supplier for all, the database copies the rows
    from the orders (INSERT … SELECT per chunk); `suppliers` per order: one Core INSERT."""
    table = OrderEvent.__table__
    if suppliers is None:
        for chunk in chunks(order_ids):
            db.session.execute(
                insert(table).from_select(
                    EVENT_COLUMNS,
                    select(
                        Order.id,
                        Order.merchant_id,
                        literal(kind, table.c.kind.type),
                        literal(actor_id, Integer),
                        literal(supplier_id, Integer),
                        literal(reason, table.c.reason.type),
                        literal("", table.c.note.type),
                        literal(now, table.c.created_at.type),
                    ).where(Order.merchant_id == merchant_id, Order.id.in_(chunk)),
                )
            )
        return
    insert_rows(
        table,
        [
            {
                "order_id": order_id,
                "merchant_id": merchant_id,
                "kind": kind,
                "actor_id": actor_id,
                "supplier_id": suppliers.get(order_id),
                "reason": reason,
                "note": "",
                "created_at": now,
            }
            for order_id in order_ids
        ],
    )


def cancel_assignments_where(
    merchant_id: int,
    order_ids: Sequence[int],
    reason: str,
    actor: User | None,
    condition: ColumnElement[bool] | None = None,
    supplier_id: int | None = None,
) -> list[int]:
    """Cancel the active assignments of these orders that have no tracking number yet.

    Returns the ids of the orders taken back. Returned or dispatched orders are untouched.
    """
    now = utcnow()
    taken_back: list[int] = []
    for chunk in chunks(sorted(order_ids)):
        lock_orders(chunk)
        query = update(Order).where(
            Order.merchant_id == merchant_id,
            Order.id.in_(chunk),
            CANCELLABLE.sql(),
        )
        if condition is not None:
            query = query.where(condition)
        if supplier_id is not None:
            query = query.where(Order.supplier_id == supplier_id)
        taken_back += db.session.scalars(
            query.values(
                stage=STAGE_UNASSIGNED,
                supplier_id=None,
                assigned_at=None,
                address_change_pending=False,
                updated_at=now,
            ).returning(Order.id)
        ).all()
    if not taken_back:
        return []
    suppliers: dict[int, int] = {}
    for chunk in chunks(taken_back):
        suppliers.update(
            db.session.execute(
                update(Assignment)
                .where(Assignment.order_id.in_(chunk), Assignment.status == ASSIGNMENT_ACTIVE)
                .values(
                    status=ASSIGNMENT_CANCELLED,
                    cancelled_at=now,
                    cancel_reason=reason,
                    cancelled_by=actor.id if actor else None,
                )
                .returning(Assignment.order_id, Assignment.supplier_id)
            ).all()
        )
    _record(
        merchant_id,
        taken_back,
        EVENT_ASSIGNMENT_CANCELLED,
        actor.id if actor else None,
        None,
        reason,
        now,
        suppliers,
    )
    return taken_back


def cancel_assignments(merchant: Merchant, order_nos: Sequence[str], actor: User) -> BatchResult:
    """The merchant takes orders back (取消分配) until a tracking number has been returned."""
    result = BatchResult()
    order_nos = unique(order_nos)
    states = load_states(merchant, order_nos)
    candidates: dict[int, str] = {}
    for order_no in order_nos:
        state = states.get(order_no)
        if state is None:
            result.refused.append(Refusal(order_no, "not_found"))
        elif code := CANCELLABLE.blocker(state):
            result.refused.append(Refusal(order_no, code))
        else:
            candidates[state.id] = order_no
    won = set(cancel_assignments_where(merchant.id, list(candidates), CANCEL_MANUAL, actor))
    lost = [order_no for order_id, order_no in candidates.items() if order_id not in won]
    # Changed since we read it: the platform took it back (after-sale, audit, cancellation),
    # or the supplier returned the tracking number meanwhile. Report which.
    current = load_states(merchant, lost) if lost else {}
    for order_id, order_no in candidates.items():
        if order_id in won:
            result.done.append(order_no)
        else:
            state = current.get(order_no)
            code = "not_found" if state is None else CANCELLABLE.blocker(state)
            result.refused.append(Refusal(order_no, code or "not_assigned"))
    return result


def cancel_for_binding_end(merchant_id: int, supplier_id: int) -> int:
    """Ending a binding takes back every order of the pair that has no tracking number yet."""
    order_ids = db.session.scalars(
        select(Order.id).where(
            Order.merchant_id == merchant_id,
            Order.supplier_id == supplier_id,
            CANCELLABLE.sql(),
        )
    ).all()
    return len(
        cancel_assignments_where(
            merchant_id, order_ids, CANCEL_BINDING_ENDED, None, supplier_id=supplier_id
        )
    )


def accepted_address_values(now: datetime) -> dict[str, object]:
    """What the merchant accepting a changed receiver does to the order, in SQL.

    Printing is unblocked; on an assigned order the factory sees 地址已修改 and a label already
    printed goes back to 待打印, to be printed again with the new address. An import's change
    the merchant acknowledges and the merchant's own edit both end here.
    """
    assigned = Order.stage == STAGE_ASSIGNED
    return {
        "address_change_pending": False,
        "address_changed_at": case((assigned, now), else_=Order.address_changed_at),
        "print_count": case((assigned, 0), else_=Order.print_count),
        "updated_at": now,
    }


def acknowledge_address(merchant: Merchant, order: Order, actor: User) -> bool:
    """The merchant confirms the buyer's new address; the supplier may print again."""
    now = utcnow()
    changed = db.session.execute(
        update(Order)
        .where(
            Order.id == order.id,
            Order.merchant_id == merchant.id,
            Order.address_change_pending.is_(True),
        )
        .values(accepted_address_values(now))
    ).rowcount
    if changed:
        _record(
            merchant.id,
            [order.id],
            EVENT_ADDRESS_ACKNOWLEDGED,
            actor.id,
            order.supplier_id,
            "",
            now,
        )
    db.session.refresh(order)
    return bool(changed)
