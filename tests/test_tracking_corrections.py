"""Tracking corrections after dispatch (seed 001): within 5 days of dispatch, at most twice.

The merchant sees old and new numbers in the history, the dispatch export carries the new one,
the webhook sends orders.tracking_changed, and two corrections racing never make three.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.domain import allocation, bindings, dispatch, dispatch_export
from portal.domain.errors import DomainError
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import (
    TrackingItem,
    correct_tracking,
    return_tracking,
    tracking_numbers_for,
)
from portal.extensions import db
from portal.models import Merchant, Order, OrderEvent, OrderParcel, Parcel, Supplier, User
from portal.models.base import utcnow
from tests import test_order_concurrency
from tests.factories import demo_order
from tests.test_dispatch import add_address, deliveries, order, order_no, returned, zto_for
from tests.test_order_concurrency import Runner, _load
from tests.test_order_rules import Shop, bound_shop

process_pair = test_order_concurrency.process_pair  # fixtures: two corrections at once
run_together = test_order_concurrency.run_together

NEW = "SF1234567890123"
NEWER = "YT1234567890123"


@pytest.fixture
def shop(app_ctx: Any, factory: Any) -> Shop:
    return bound_shop(factory)


def dispatched(shop: Shop, numbers: list[str], at: Any = None) -> list[str]:
    add_address(shop.merchant, default=True)
    returned(shop, numbers)
    result = dispatch.dispatch_orders(shop.merchant, numbers, shop.actor, now=at or utcnow())
    assert result.dispatched == numbers
    db.session.commit()
    return numbers


def correct(shop: Shop, number: str, courier: str, tracking_no: str, now: Any = None) -> int:
    user = db.session.get(User, shop.supplier.user_id)
    result = correct_tracking(shop.supplier, number, courier, tracking_no, user, now or utcnow())
    db.session.commit()
    return result.corrections_left


def refusal(shop: Shop, number: str, courier: str, tracking_no: str, now: Any = None) -> str:
    with pytest.raises(DomainError) as caught:
        correct(shop, number, courier, tracking_no, now)
    db.session.rollback()
    return caught.value.code


def test_a_correction_replaces_the_number_everywhere_the_merchant_looks(shop: Shop) -> None:
    shop.merchant.webhook_url, shop.merchant.webhook_secret = "http://127.0.0.1:9/h", "s" * 64
    [a] = dispatched(shop, [order_no(1)])
    old = zto_for(a)
    assert correct(shop, a, "顺丰", NEW) == 1

    fixed = order(shop, a)
    assert (fixed.courier, fixed.tracking_no, fixed.tracking_corrections) == ("SF", NEW, 1)
    parcels = db.session.execute(
        select(Parcel.tracking_no, OrderParcel.is_primary)
        .join(OrderParcel, OrderParcel.parcel_id == Parcel.id)
        .where(OrderParcel.order_id == fixed.id)
    ).all()
    assert parcels == [(NEW, True)]
    assert db.session.scalar(select(Parcel).where(Parcel.tracking_no == old)) is None
    [event] = db.session.scalars(
        select(OrderEvent).where(
            OrderEvent.order_id == fixed.id, OrderEvent.kind == "tracking_changed"
        )
    ).all()
    assert event.note == f"ZTO {old} → SF {NEW}"
    assert event.supplier_id == shop.supplier.id
    rows = list(dispatch_export.dispatch_export_rows(shop.merchant))
    assert rows[1:] == [[a, "顺丰速运", NEW]]
    changed = [d for d in deliveries() if d.event == "orders.tracking_changed"]
    [delivery] = changed
    payload = json.loads(delivery.payload)
    assert payload["orders"] == [
        {
            "order_no": a,
            "courier": "SF",
            "courier_name": "顺丰速运",
            "tracking_no": NEW,
            "extra_tracking_nos": [],
            "previous_courier": "ZTO",
            "previous_tracking_no": old,
        }
    ]
    # The old number is free again for another order.
    [b] = returned(shop, [order_no(2)], [TrackingItem(order_no(2), "ZTO", old)])
    assert order(shop, b).tracking_no == old


def test_at_most_two_corrections(shop: Shop) -> None:
    [a] = dispatched(shop, [order_no(1)])
    assert correct(shop, a, "SF", NEW) == 1
    assert correct(shop, a, "YTO", NEWER) == 0
    assert refusal(shop, a, "SF", "SF9999999999999") == "tracking_change_limit"
    assert order(shop, a).tracking_no == NEWER


def test_only_within_five_days_of_dispatch(shop: Shop) -> None:
    at = utcnow() - timedelta(days=10)
    [a, b] = dispatched(shop, [order_no(1), order_no(2)], at=at)
    assert correct(shop, a, "SF", NEW, now=at + timedelta(days=5)) == 1
    assert refusal(shop, b, "SF", NEWER, now=at + timedelta(days=5, seconds=1)) == (
        "tracking_change_window"
    )
    assert refusal(shop, b, "SF", NEWER) == "tracking_change_window"
    assert order(shop, b).tracking_no == zto_for(b)


def test_refusals_name_their_reason(shop: Shop, factory: Any) -> None:
    [a, b] = dispatched(shop, [order_no(1), order_no(2)])
    [c] = returned(shop, [order_no(3)])
    assert refusal(shop, c, "SF", NEW) == "not_dispatched"
    # b goes to the same receiver: one parcel for both is allowed. Another receiver's is not.
    assert correct(shop, a, "ZTO", zto_for(b)) == 1
    other = order_no(4)
    upsert_orders(current_keyring(), shop.merchant, [demo_order(other, receiver_name="李四")])
    allocation.assign_orders(shop.merchant, [other], shop.supplier, shop.actor)
    return_tracking(shop.supplier, [TrackingItem(other, "SF", NEWER)], None)
    db.session.commit()
    assert refusal(shop, a, "SF", NEWER) == "duplicate_tracking_no"
    assert refusal(shop, a, "ZTO", zto_for(b)) == "tracking_unchanged"
    assert refusal(shop, a, "SF", "12") == "invalid_tracking_no"
    assert refusal(shop, a, "火星快递", NEW) == "unknown_courier"
    assert refusal(shop, "261121-000", "SF", NEW) == "not_found"
    db.session.commit()
    stranger = db.session.get(Supplier, factory.supplier().supplier.id)
    with pytest.raises(DomainError) as caught:
        correct_tracking(stranger, a, "SF", NEW, None, utcnow())
    assert caught.value.code == "not_found"
    assert order(shop, a).tracking_corrections == 1
    for message_code in ("tracking_change_window", "tracking_change_limit"):
        assert DomainError(message_code).status == 409
        assert "运单号" in DomainError(message_code).message


def correct_job(barrier: Any, supplier_id: int, order_no: str, tracking_no: str) -> dict:
    supplier = _load(Supplier, supplier_id)
    db.session.commit()
    barrier.wait()
    try:
        left = correct_tracking(supplier, order_no, "SF", tracking_no, None, utcnow())
    except DomainError as error:
        db.session.rollback()
        return {"code": error.code}
    db.session.commit()
    return {"left": left.corrections_left}


def test_two_corrections_racing_for_the_last_one(shop: Shop, run_together: Runner) -> None:
    [a] = dispatched(shop, [order_no(1)])
    assert correct(shop, a, "YTO", NEWER) == 1
    jobs = [
        (correct_job, {"supplier_id": shop.supplier.id, "order_no": a, "tracking_no": number})
        for number in ("SF1000000000001", "SF1000000000002")
    ]
    db.session.commit()  # SQLite: an open transaction here would hold the write lock
    results = run_together(jobs)
    assert sorted(map(str, results)) == ["{'code': 'tracking_change_limit'}", "{'left': 0}"]
    final = order(shop, a)
    assert final.tracking_corrections == 2
    winner = "SF1000000000001" if results[0] == {"left": 0} else "SF1000000000002"
    assert final.tracking_no == winner
    events = db.session.scalars(
        select(OrderEvent.note).where(OrderEvent.kind == "tracking_changed")
    ).all()
    assert len(events) == 2 and events[1].endswith(winner)
    assert db.session.scalar(select(Merchant.id)) == shop.merchant.id


def test_the_order_keeps_its_number_in_a_fresh_read(shop: Shop) -> None:
    [a] = dispatched(shop, [order_no(1)])
    correct(shop, a, "SF", NEW)
    db.session.expire_all()
    assert db.session.scalar(select(Order.tracking_no).where(Order.order_no == a)) == NEW


def test_a_correction_keeps_the_extra_parcels(shop: Shop) -> None:
    add_address(shop.merchant, default=True)
    a = order_no(1)
    returned(shop, [a], [TrackingItem(a, "ZTO", zto_for(a), ("773099999999",))])
    dispatch.dispatch_orders(shop.merchant, [a], shop.actor, now=utcnow())
    db.session.commit()
    correct(shop, a, "ZTO", "773088888888")
    fixed = order(shop, a)
    assert tracking_numbers_for([fixed.id])[fixed.id] == [
        ("ZTO", "773088888888"),
        ("ZTO", "773099999999"),
    ]


def test_no_correction_after_the_binding_ended(shop: Shop) -> None:
    """Like printing: once the merchant ended the binding the factory changes nothing."""
    [a] = dispatched(shop, [order_no(1)])
    [binding] = bindings.bindings_for_merchant(shop.merchant, "active")
    bindings.end_binding(binding, "merchant")
    db.session.commit()
    assert refusal(shop, a, "顺丰", NEW) == "not_bound"
    assert order(shop, a).tracking_corrections == 0


def test_a_correction_follows_the_parcel_to_every_order_in_it(shop: Shop) -> None:
    """Two orders to one receiver went in one parcel: its corrected number is both orders'."""
    a, b = order_no(1), order_no(2)
    add_address(shop.merchant, default=True)
    returned(shop, [a, b], [TrackingItem(n, "ZTO", zto_for(a)) for n in (a, b)])
    assert dispatch.dispatch_orders(shop.merchant, [a, b], shop.actor).dispatched == [a, b]
    db.session.commit()
    assert correct(shop, a, "顺丰", NEW) == 1
    for number in (a, b):
        fixed = order(shop, number)
        assert (fixed.courier, fixed.tracking_no, fixed.tracking_corrections) == ("SF", NEW, 1)
        assert tracking_numbers_for([fixed.id])[fixed.id] == [("SF", NEW)]
    assert db.session.scalar(select(Parcel).where(Parcel.tracking_no == zto_for(a))) is None
    changed = db.session.scalars(
        select(OrderEvent.order_id).where(OrderEvent.kind == "tracking_changed")
    ).all()
    assert sorted(changed) == sorted(order(shop, n).id for n in (a, b))
