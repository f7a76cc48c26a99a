"""Dispatch (发货): ship returned orders (the webhooks they trigger: portal.domain.webhooks; the
batch-shipping file: portal.domain.dispatch_export).

Dispatching is one compare-and-set per chunk of orders (`UPDATE orders … WHERE stage =
'returned' AND <still dispatchable> RETURNING …`), so a supplier taking its tracking number back
at the same moment (tracking.cancel_return, `WHERE stage = 'returned'`) either wins before us
(we refuse `not_returned`) or loses to us (it is refused `dispatched`) — never both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.engine import Row

from portal.domain import accounts
from portal.domain.allocation import Refusal, chunks, load_states, lock_orders, unique
from portal.domain.couriers import platform_courier_name
from portal.domain.errors import DomainError, message_for
from portal.domain.orders.rules import DISPATCH_HOLDS, DISPATCHABLE
from portal.domain.webhooks import store_dispatch_webhooks
from portal.extensions import db, insert_rows
from portal.models import Assignment, Merchant, Order, OrderEvent, ReturnAddress, Supplier, User
from portal.models.base import MAX_ID, utcnow
from portal.models.orders import (
    ASSIGNMENT_CANCELLED,
    EVENT_DISPATCHED,
    STAGE_DISPATCHED,
    STAGE_RETURNED,
    STAGE_UNASSIGNED,
)

# --- dispatching -----------------------------------------------------------------------------


@dataclass
class DispatchResult:
    dispatched: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)  # webhook deliveries created

    def merge(self, other: DispatchResult) -> None:
        self.dispatched += other.dispatched
        self.refused += other.refused
        self.deliveries += other.deliveries


DISPATCH_REFUSAL_MESSAGES = {
    "after_sale": _l("售后中，需确认后才能发货"),
    "audit_hold": _l("平台审核中，需确认后才能发货"),
    "not_returned": _l("厂家还没有回传运单号"),
    "not_assigned": _l("订单还没有分配给厂家"),
    "not_awaiting_shipment": _l("订单已取消，不能发货"),
}


def dispatch_refusal_message(code: str) -> str:
    """A dispatch refusal in Chinese: the dispatch wording where it differs, else the shared one."""
    message = DISPATCH_REFUSAL_MESSAGES.get(code)
    return str(message) if message is not None else message_for(code)


def dispatch_blocker(
    state: Any, confirm_holds: bool, assignment_cancelled: bool = False
) -> str | None:
    """The reason an order cannot be dispatched now, or None.

    `state` has stage, platform_status, after_sale_active and audit_hold (an Order or a row).
    Holds (after-sale, audit) block only until the merchant confirms them explicitly.
    """
    code = DISPATCHABLE.blocker(state)
    if code is None and not confirm_holds:
        code = DISPATCH_HOLDS.blocker(state)
    if code == "not_assigned" and assignment_cancelled:
        return "assignment_cancelled"
    return code


def dispatch_holds(state: Any) -> list[str]:
    """Holds the merchant must confirm before dispatching (for the desk's confirmation)."""
    return DISPATCH_HOLDS.blockers(state)


def resolve_return_address(merchant: Merchant, return_address_id: object = None) -> ReturnAddress:
    """The merchant's chosen return address, else its default; refuses another's or none."""
    if return_address_id is not None:
        if isinstance(return_address_id, bool) or not isinstance(return_address_id, int):
            raise DomainError("validation_error", field="return_address_id")
        if not 0 < return_address_id <= MAX_ID:  # beyond the column: no such address
            raise DomainError("not_found", _("找不到该退货地址"), field="return_address_id")
        try:  # a current address only: a deleted one is kept for history, not for new dispatches
            return accounts.current_return_address(merchant, return_address_id)
        except DomainError:
            raise DomainError(
                "not_found", _("找不到该退货地址"), field="return_address_id"
            ) from None
    address = accounts.default_return_address(merchant)
    if address is None:
        raise DomainError("return_address_required", field="return_address_id")
    return address


def dispatch_orders(
    merchant: Merchant,
    order_nos: Sequence[str],
    actor: User | None,
    return_address_id: int | None = None,
    confirm_holds: bool = False,
    now: datetime | None = None,
) -> DispatchResult:
    """Dispatch the merchant's returned orders; every other order is refused with its code.

    Orders on hold (after-sale, audit) are dispatched only with `confirm_holds`. Flushes, never
    commits; webhook deliveries are enqueued when the caller's transaction commits.
    """
    address = resolve_return_address(merchant, return_address_id)
    notes = {"after_sale": _("已确认售后中发货"), "audit_hold": _("已确认审核中发货")}
    return _dispatch(merchant, order_nos, actor, address, confirm_holds, now or utcnow(), notes)


def auto_dispatch_returned(supplier: Supplier, order_ids: Sequence[int]) -> DispatchResult:
    """Dispatch at once the just-returned orders of merchants who switched auto-dispatch on.

    Uses each merchant's default return address; a merchant without one gets nothing
    dispatched. Holds are never confirmed automatically: after-sale and audit orders stay
    returned for a person to decide. Called by tracking.return_tracking in its transaction.
    """
    result = DispatchResult()
    by_merchant: dict[int, list[str]] = {}
    for chunk in chunks(list(dict.fromkeys(order_ids))):
        rows = db.session.execute(
            select(Order.merchant_id, Order.order_no)
            .join(Merchant, Merchant.id == Order.merchant_id)
            .where(
                Order.supplier_id == supplier.id,
                Order.id.in_(chunk),
                Order.stage == STAGE_RETURNED,
                Merchant.auto_dispatch.is_(True),
            )
        )
        for merchant_id, order_no in rows:
            by_merchant.setdefault(merchant_id, []).append(order_no)
    now = utcnow()
    for merchant_id, numbers in sorted(by_merchant.items()):
        merchant = db.session.get(Merchant, merchant_id)
        address = accounts.default_return_address(merchant) if merchant else None
        if merchant is None or address is None:
            continue  # stays returned: the merchant adds an address and dispatches by hand
        prefix = _("自动发货")
        result.merge(_dispatch(merchant, numbers, None, address, False, now, {}, prefix))
    return result


def _dispatch(
    merchant: Merchant,
    order_nos: Sequence[str],
    actor: User | None,
    address: ReturnAddress,
    confirm_holds: bool,
    now: datetime,
    hold_notes: dict[str, str],
    note_prefix: str = "",
) -> DispatchResult:
    result = DispatchResult()
    order_nos = unique(order_nos)
    states = load_states(merchant, order_nos)
    cancelled = _with_cancelled_assignment(
        [s.id for s in states.values() if s.stage == STAGE_UNASSIGNED]
    )
    candidates: dict[int, str] = {}
    for order_no in order_nos:
        state = states.get(order_no)
        code = (
            "not_found"
            if state is None
            else dispatch_blocker(state, confirm_holds, state.id in cancelled)
        )
        if code:
            result.refused.append(Refusal(order_no, code))
        else:
            candidates[state.id] = order_no
    won = _claim(merchant, list(candidates), actor, address, confirm_holds, now)
    lost = [order_no for order_id, order_no in candidates.items() if order_id not in won]
    if lost:
        # Changed since we read it: the supplier took its tracking number back, another tab
        # dispatched it, or the platform put it on hold. Say what stands in the way now.
        current = load_states(merchant, lost)
        for order_no in lost:
            state = current.get(order_no)
            code = "not_found" if state is None else dispatch_blocker(state, confirm_holds)
            result.refused.append(Refusal(order_no, code or "dispatched"))
    rows = [won[order_id] for order_id in candidates if order_id in won]
    result.dispatched = [row.order_no for row in rows]
    if rows:
        _record_events(merchant, rows, actor, now, hold_notes, note_prefix)
        result.deliveries = store_dispatch_webhooks(merchant, rows, now)
    return result


def _with_cancelled_assignment(order_ids: Sequence[int]) -> set[int]:
    """Unassigned orders that were assigned once and taken back (not merely never assigned)."""
    found: set[int] = set()
    for chunk in chunks(list(order_ids)):
        found.update(
            db.session.scalars(
                select(Assignment.order_id).where(
                    Assignment.order_id.in_(chunk), Assignment.status == ASSIGNMENT_CANCELLED
                )
            )
        )
    return found


def _claim(
    merchant: Merchant,
    order_ids: list[int],
    actor: User | None,
    address: ReturnAddress,
    confirm_holds: bool,
    now: datetime,
) -> dict[int, Row]:
    """Compare-and-set, one UPDATE … RETURNING per chunk: only orders still returned, not
    cancelled by the platform and (unless confirmed) not on hold move to dispatched."""
    won: dict[int, Row] = {}
    for chunk in chunks(sorted(order_ids)):
        lock_orders(chunk)
        query = update(Order).where(
            Order.merchant_id == merchant.id,
            Order.id.in_(chunk),
            DISPATCHABLE.sql(),
        )
        if not confirm_holds:
            query = query.where(DISPATCH_HOLDS.sql())
        rows = db.session.execute(
            query.values(
                stage=STAGE_DISPATCHED,
                dispatched_at=now,
                dispatched_by=actor.id if actor else None,
                return_address_id=address.id,
                updated_at=now,
            ).returning(
                Order.id,
                Order.order_no,
                Order.courier,
                Order.tracking_no,
                Order.supplier_id,
                Order.after_sale_active,
                Order.audit_hold,
            )
        ).all()
        won.update((row.id, row) for row in rows)
    return won


def _record_events(
    merchant: Merchant,
    rows: Sequence[Row],
    actor: User | None,
    now: datetime,
    hold_notes: dict[str, str],
    note_prefix: str,
) -> None:
    """One history event per dispatched order, inserted in one Core executemany."""
    actor_id = actor.id if actor else None

    def note(row: Row) -> str:
        parts = [note_prefix] if note_prefix else []
        parts += [hold_notes[code] for code in dispatch_holds(row) if code in hold_notes]
        parts.append(f"{platform_courier_name(row.courier)} {row.tracking_no}")
        return "；".join(parts)[:200]

    insert_rows(
        OrderEvent.__table__,
        [
            {
                "order_id": row.id,
                "merchant_id": merchant.id,
                "kind": EVENT_DISPATCHED,
                "actor_id": actor_id,
                "supplier_id": row.supplier_id,
                "reason": "",
                "note": note(row),
                "created_at": now,
            }
            for row in rows
        ],
    )
