"""Order rules (DESIGN §4.2): why an order cannot be assigned or printed, as stable codes."""

from __future__ import annotations

from typing import Any

from portal.models.orders import (
    ASSIGNABLE_RULE,
    CANCELLABLE,
    DISPATCH_HOLDS,
    DISPATCHABLE,
    DUE_SOON,
    DUE_SOON_WINDOW,
    DUE_WITHIN,
    FACTORY_TO_SHIP,
    MERCHANT_TO_SHIP,
    OVERDUE,
    PRINT_HOLDS,
    PRINTABLE_RULE,
    STAGE_ASSIGNED,
    TRACKING_RETURNABLE,
    deadline_state,
)

__all__ = [
    "ASSIGNABLE_RULE",
    "CANCELLABLE",
    "DISPATCHABLE",
    "DISPATCH_HOLDS",
    "DUE_SOON",
    "DUE_SOON_WINDOW",
    "DUE_WITHIN",
    "FACTORY_TO_SHIP",
    "MERCHANT_TO_SHIP",
    "OVERDUE",
    "PRINTABLE_RULE",
    "PRINT_HOLDS",
    "TRACKING_RETURNABLE",
    "deadline_state",
]

# Every code an order may be refused with, per action (the API's enums are these tuples): the
# rules' own codes (portal.models.orders), then the ones the services add (binding, lookup).
ASSIGN_BLOCKERS = ASSIGNABLE_RULE.codes
ASSIGN_REFUSALS = (*ASSIGN_BLOCKERS, "not_bound", "not_found")
CANCEL_REFUSALS = ("not_found", *CANCELLABLE.codes)
PRINT_BLOCKERS = PRINT_HOLDS.codes
PRINT_REFUSALS = (
    "not_assigned",
    "ambiguous_order_no",
    "assignment_cancelled",
    "not_bound",
    *PRINTABLE_RULE.codes,
)
TRACKING_REFUSALS = (
    "unknown_courier",
    "invalid_tracking_no",
    "too_many_tracking_nos",
    "duplicate_tracking_no",
    "not_assigned",
    "ambiguous_order_no",
    *TRACKING_RETURNABLE.codes,
)
DISPATCH_REFUSALS = (
    "not_found",
    "assignment_cancelled",
    *DISPATCHABLE.codes,
    *DISPATCH_HOLDS.codes,
)

assign_blocker = ASSIGNABLE_RULE.blocker  # the first reason against assignment, or None
assign_blockers = ASSIGNABLE_RULE.blockers  # every current reason (for display)
print_blockers = PRINT_HOLDS.blockers  # only while assigned and no tracking number returned


def address_changed_since_print(order: Any) -> bool:
    """地址已修改: the merchant accepted a new receiver on an assigned order and the factory
    has not printed its label since (accepting sends a printed label back to 待打印)."""
    return (
        order.stage == STAGE_ASSIGNED
        and order.address_changed_at is not None
        and not order.print_count
    )
