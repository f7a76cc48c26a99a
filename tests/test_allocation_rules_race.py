"""A rule firing while the merchant assigns by hand: every order ends with one factory.

Both sides run for real at once (threads, and spawned processes) on SQLite and, with
PORTAL_TEST_DATABASE_URL, on PostgreSQL, with the machinery of tests/test_order_concurrency.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from portal.domain import allocation_rules
from portal.domain.allocation_rules import RulesInput
from portal.extensions import db
from portal.models import Merchant, Order, OrderEvent, User
from portal.models.allocation import RULE_SHOP
from tests import test_order_concurrency
from tests.test_order_concurrency import (
    Runner,
    _load,
    active_assignments,
    assign_job,
    import_orders,
)
from tests.test_order_rules import Shop, second_supplier

shop = test_order_concurrency.shop  # fixtures: a bound pair, and jobs run at once
process_pair = test_order_concurrency.process_pair
run_together = test_order_concurrency.run_together


def apply_rules_job(barrier: Any, merchant_id: int, user_id: int) -> dict[str, Any]:
    merchant, actor = _load(Merchant, merchant_id), _load(User, user_id)
    db.session.commit()
    barrier.wait()
    result = allocation_rules.apply_rules(merchant, actor)
    db.session.commit()
    return {"assigned": result.assigned_total, "refused": [r.code for r in result.refused]}


def test_a_rule_and_a_person_assigning_at_once_leave_one_factory(
    shop: Shop, factory: Any, run_together: Runner
) -> None:
    other = second_supplier(factory, shop)
    numbers = import_orders(shop, 400, lambda i: {})
    allocation_rules.save_rules(shop.merchant, RulesInput(RULE_SHOP, shop.supplier.shop_id), None)
    db.session.commit()
    by_hand = numbers[100:][::-1]  # 300 orders, all of which the rule wants too
    ids = {"merchant_id": shop.merchant.id, "user_id": shop.actor.id}
    jobs = [
        (apply_rules_job, ids),
        (assign_job, {**ids, "supplier_id": other.id, "order_nos": by_hand}),
    ]
    db.session.commit()  # SQLite: an open transaction here would hold the write lock
    rule, person = run_together(jobs)
    assert rule["assigned"] + len(person["done"]) == 400
    assert set(rule["refused"]) <= {"already_assigned"}
    assert {code for _no, code in person["refused"]} <= {"already_assigned"}
    assignments = active_assignments()
    assert set(assignments) == set(numbers)
    by_person = set(person["done"])
    for number, rows in assignments.items():
        expected = other.id if number in by_person else shop.supplier.id
        assert rows == [(expected, expected, "active")], (number, rows)
    # One history line per order: the person's or the rule's, never both.
    kinds = db.session.execute(
        select(OrderEvent.order_id, OrderEvent.kind).where(
            OrderEvent.kind.in_(("assigned", "auto_assigned"))
        )
    ).all()
    assert Counter(Counter(order_id for order_id, _kind in kinds).values()) == {1: 400}
    assert Counter(kind for _id, kind in kinds) == Counter(
        {"assigned": len(by_person), "auto_assigned": 400 - len(by_person)}
    )
    stages = db.session.scalars(select(Order.stage)).all()
    assert set(stages) == {"assigned"}
