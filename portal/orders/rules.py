"""Order rules (DESIGN §4.2): why an order cannot be assigned or printed, as stable codes."""

from __future__ import annotations

from typing import Protocol

from portal.models.orders import (
    PLATFORM_AWAITING,
    STAGE_ASSIGNED,
    STAGE_DISPATCHED,
    STAGE_RETURNED,
)


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
