"""Each order rule's SQL condition and its Python check agree, for every combination of the
columns the rules read (stage × platform status × flags × 承诺发货时间 around the edges)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from portal.domain.orders import rules
from portal.extensions import db
from portal.models import Order
from portal.models.base import utcnow
from portal.models.orders import (
    ASSIGNABLE,
    NEEDS_ATTENTION,
    PLATFORM_AWAITING,
    PLATFORM_CANCELLED,
    STAGES,
)
from portal.models.rules import Rule, Window

FLAGS = ("after_sale_active", "audit_hold", "address_complete", "address_change_pending")
PLATFORM_STATUSES = (PLATFORM_AWAITING, PLATFORM_CANCELLED, "pending_payment")
# 承诺发货时间 relative to now: none, well past, just past, exactly now, just ahead, the
# due-soon edge itself and just beyond it, far ahead.
EDGE = rules.DUE_SOON
OFFSETS = (
    None,
    -timedelta(days=1),
    -timedelta(seconds=1),
    timedelta(0),
    timedelta(seconds=1),
    EDGE,
    EDGE + timedelta(seconds=1),
    timedelta(days=3),
)

RULES: dict[str, Rule] = {
    "assignable": rules.ASSIGNABLE_RULE,
    "printable": rules.PRINTABLE_RULE,
    "print_holds": rules.PRINT_HOLDS,
    "tracking_returnable": rules.TRACKING_RETURNABLE,
    "cancellable": rules.CANCELLABLE,
    "dispatchable": rules.DISPATCHABLE,
    "dispatch_holds": rules.DISPATCH_HOLDS,
    "merchant_to_ship": rules.MERCHANT_TO_SHIP,
    "factory_to_ship": rules.FACTORY_TO_SHIP,
}
WINDOWS: dict[str, Window] = {
    "overdue": rules.OVERDUE,
    "due_soon": rules.DUE_SOON_WINDOW,
    "due_within": rules.DUE_WITHIN,
}


@pytest.fixture
def states(app_ctx, factory):
    """One order per combination, loaded back as ORM objects; `now` is the time they hang on."""
    merchant_id = factory.merchant().merchant.id
    now = utcnow().replace(microsecond=0)
    rows = []
    combos = itertools.product(STAGES, PLATFORM_STATUSES, *[(False, True)] * len(FLAGS))
    for i, (stage, platform_status, *flags) in enumerate(combos):
        offset = OFFSETS[i % len(OFFSETS)]
        rows.append(
            {
                "merchant_id": merchant_id,
                "order_no": f"R{i:05d}",
                "stage": stage,
                "platform_status": platform_status,
                "promise_ship_at": None if offset is None else now + offset,
                **dict(zip(FLAGS, flags, strict=True)),
            }
        )
    # Every offset against every stage too (the combos above cycle offsets through them).
    for j, (stage, offset) in enumerate(itertools.product(STAGES, OFFSETS)):
        rows.append(
            {
                "merchant_id": merchant_id,
                "order_no": f"W{j:05d}",
                "stage": stage,
                "platform_status": PLATFORM_AWAITING,
                "promise_ship_at": None if offset is None else now + offset,
                **dict.fromkeys(FLAGS, False),
            }
        )
    db.session.execute(insert(Order), rows)
    db.session.commit()
    orders = db.session.scalars(select(Order).where(Order.merchant_id == merchant_id)).all()
    assert len(orders) == len(rows)
    return merchant_id, orders, now


def _matching(merchant_id: int, condition) -> set[str]:
    return set(
        db.session.scalars(
            select(Order.order_no).where(Order.merchant_id == merchant_id, condition)
        )
    )


@pytest.mark.parametrize("name", RULES)
def test_rule_sql_and_python_agree(states, name):
    merchant_id, orders, _now = states
    rule = RULES[name]
    by_sql = _matching(merchant_id, rule.sql())
    by_python = {o.order_no for o in orders if rule.allows(o)}
    assert by_sql == by_python
    assert 0 < len(by_sql) < len(orders)  # the states exercise both sides of the rule
    if rule.codes:  # a refusal rule: it names only its own codes
        for order in orders:
            assert set(rule.blockers(order)) <= set(rule.codes)


@pytest.mark.parametrize("name", WINDOWS)
def test_deadline_window_sql_and_python_agree(states, name):
    merchant_id, orders, now = states
    window = WINDOWS[name]
    by_sql = _matching(merchant_id, window.sql(now))
    by_python = {o.order_no for o in orders if window.holds(o, now)}
    assert by_sql == by_python and 0 < len(by_sql) < len(orders)


def test_deadline_edge_is_one_for_both_desks(states):
    """At 承诺发货时间 itself an order is overdue on both desks; DUE_SOON ahead it is due soon."""
    _merchant_id, orders, now = states
    waiting = [o for o in orders if o.order_no.startswith("W") and o.promise_ship_at]
    for order in waiting:
        offset = order.promise_ship_at - now
        expected = "danger" if offset <= timedelta(0) else "warn" if offset <= EDGE else ""
        for to_ship in (rules.MERCHANT_TO_SHIP, rules.FACTORY_TO_SHIP):
            shown = rules.deadline_state(order, now, to_ship)
            assert shown == (expected if to_ship.allows(order) else ""), order.order_no


def test_desk_tabs_are_the_rules(states):
    """The 待分配 tab (and its partial index) is the assignability rule; 异常 never lists an
    order the rule would assign (an unassigned order never has an address change pending)."""
    merchant_id, orders, _now = states
    assignable = _matching(merchant_id, ASSIGNABLE)
    assert assignable == {o.order_no for o in orders if rules.assign_blocker(o) is None}
    possible = {o.order_no for o in orders if not o.address_change_pending}
    assert not assignable & _matching(merchant_id, NEEDS_ATTENTION) & possible


def test_refusal_codes_come_from_the_rules():
    assert set(rules.ASSIGN_BLOCKERS) == set(rules.ASSIGNABLE_RULE.codes)
    assert set(rules.PRINT_BLOCKERS) <= set(rules.PRINT_REFUSALS)
    assert set(rules.DISPATCHABLE.codes) | set(rules.DISPATCH_HOLDS.codes) <= set(
        rules.DISPATCH_REFUSALS
    )
    assert set(rules.CANCELLABLE.codes) <= set(rules.CANCEL_REFUSALS)
    assert set(rules.TRACKING_RETURNABLE.codes) <= set(rules.TRACKING_REFUSALS)
