"""Order rules (DESIGN §4.2): why an order cannot be assigned or printed, as stable codes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from portal.models.orders import (
    PLATFORM_AWAITING,
    STAGE_ASSIGNED,
    STAGE_DISPATCHED,
    STAGE_RETURNED,
)

# Every code an order may be refused with, per action (the API's enums are these tuples).
ASSIGN_BLOCKERS = (
    "dispatched",
    "already_assigned",
    "not_awaiting_shipment",
    "after_sale",
    "audit_hold",
    "address_incomplete",
)
ASSIGN_REFUSALS = (*ASSIGN_BLOCKERS, "not_bound", "not_found")
CANCEL_REFUSALS = ("not_found", "not_assigned", "tracking_returned", "dispatched")
PRINT_BLOCKERS = ("after_sale", "audit_hold", "address_changed")
PRINT_REFUSALS = (
    "not_assigned",
    "ambiguous_order_no",
    "assignment_cancelled",
    "dispatched",
    "not_bound",
    *PRINT_BLOCKERS,
)
TRACKING_REFUSALS = (
    "unknown_courier",
    "invalid_tracking_no",
    "too_many_tracking_nos",
    "duplicate_tracking_no",
    "not_assigned",
    "ambiguous_order_no",
    "assignment_cancelled",
    "dispatched",
)
DISPATCH_REFUSALS = (
    "not_found",
    "not_assigned",
    "assignment_cancelled",
    "not_returned",
    "dispatched",
    "not_awaiting_shipment",
    "after_sale",
    "audit_hold",
)


# 「即将超时」: 承诺发货时间 within this window (both desks highlight it, factories filter by it).
DUE_SOON = timedelta(hours=12)


def deadline_state(promise_ship_at: datetime | None, now: datetime, *, to_ship: bool) -> str:
    """How close an order that someone still has to ship is to its 承诺发货时间: "" (not
    pressing, or nothing left to do), "warn" (within DUE_SOON) or "danger" (past due)."""
    if not to_ship or promise_ship_at is None:
        return ""
    if promise_ship_at <= now:
        return "danger"
    if promise_ship_at <= now + DUE_SOON:
        return "warn"
    return ""


class OrderState(Protocol):
    stage: str
    platform_status: str
    after_sale_active: bool
    audit_hold: bool
    address_complete: bool
    address_change_pending: bool


def assign_blocker(order: OrderState) -> str | None:
    """The first reason the order cannot be assigned, or None. Binding is checked separately."""
    if order.stage == STAGE_DISPATCHED:
        return "dispatched"
    if order.stage in (STAGE_ASSIGNED, STAGE_RETURNED):
        return "already_assigned"
    if order.platform_status != PLATFORM_AWAITING:
        return "not_awaiting_shipment"
    if order.after_sale_active:
        return "after_sale"
    if order.audit_hold:
        return "audit_hold"
    if not order.address_complete:
        return "address_incomplete"
    return None


def assign_blockers(order: OrderState) -> list[str]:
    """Every current reason against assignment (for display); empty when assignable."""
    blockers = []
    if order.stage == STAGE_DISPATCHED:
        blockers.append("dispatched")
    elif order.stage in (STAGE_ASSIGNED, STAGE_RETURNED):
        blockers.append("already_assigned")
    if order.platform_status != PLATFORM_AWAITING:
        blockers.append("not_awaiting_shipment")
    if order.after_sale_active:
        blockers.append("after_sale")
    if order.audit_hold:
        blockers.append("audit_hold")
    if not order.address_complete:
        blockers.append("address_incomplete")
    return blockers


def print_blockers(order: OrderState) -> list[str]:
    """Blockers apply only while the order is assigned and no tracking number is returned."""
    if order.stage != STAGE_ASSIGNED:
        return []
    blockers = []
    if order.after_sale_active:
        blockers.append("after_sale")
    if order.audit_hold:
        blockers.append("audit_hold")
    if order.address_change_pending:
        blockers.append("address_changed")
    return blockers
