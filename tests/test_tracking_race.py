"""The merchant cancels an assignment while the factory returns its tracking number.

Exactly one of them wins each order, on SQLite and on PostgreSQL: either the order is back with
the merchant (unassigned, no parcels, the assignment cancelled, the factory told
`assignment_cancelled`), or it is returned (tracking number stored, assignment still active,
the merchant told `tracking_returned`) — never both, never neither, never half of one.

The races run for real, as in test_order_concurrency: two threads or two spawned processes, each
with its own app, session and connection, released together by a barrier, over many rounds of
fresh orders; each side works through the orders one transaction per order from opposite ends
(so they meet in the middle), or in one batch each. Where the interleaving matters, hooks
between a side's read and its compare-and-set make it happen every time instead of by luck.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.domain import allocation, tracking
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import (
    Assignment,
    Merchant,
    Order,
    OrderEvent,
    OrderParcel,
    Parcel,
    Supplier,
    User,
)
from tests.factories import demo_order
from tests.test_order_concurrency import (
    BARRIER_TIMEOUT,
    ProcessPair,
    Runner,
    _load,
    postgres_only,
)
from tests.test_order_rules import Shop, bound_shop

ROUNDS = 8
PER_ROUND = 20
COURIER = "ZTO"


def round_order_no(round_no: int, index: int) -> str:
    return f"261121-5{round_no:04d}{index:010d}"


def tracking_no_for(round_no: int, index: int) -> str:
    return f"77{round_no:04d}{index:06d}"  # 12 digits: the shape ZTO uses


# --------------------------------------------------------------------------- jobs
# Each job loads what it needs, ends that transaction (on SQLite an open one holds the write
# lock), waits at the barrier, then works: one commit per order, or one for the whole batch.


def _batches(items: Sequence[Any], one_by_one: bool) -> list[list[Any]]:
    return [[item] for item in items] if one_by_one else [list(items)]


def merchant_cancels(
    barrier: Any, merchant_id: int, user_id: int, order_nos: list[str], one_by_one: bool
) -> dict[str, Any]:
    merchant, actor = _load(Merchant, merchant_id), _load(User, user_id)
    db.session.commit()
    barrier.wait()
    done: list[str] = []
    refused: list[tuple[str, str]] = []
    for batch in _batches(order_nos, one_by_one):
        result = allocation.cancel_assignments(merchant, batch, actor)
        db.session.commit()
        done += result.done
        refused += [(r.order_no, r.code) for r in result.refused]
    return {"done": done, "refused": refused}


def factory_returns(
    barrier: Any, supplier_id: int, items: list[tuple[str, str]], one_by_one: bool
) -> dict[str, Any]:
    supplier = _load(Supplier, supplier_id)
    db.session.commit()
    barrier.wait()
    returned: list[str] = []
    refused: list[tuple[str, str]] = []
    for batch in _batches(items, one_by_one):
        result = return_tracking(
            supplier, [TrackingItem(no, COURIER, number) for no, number in batch], None
        )
        db.session.commit()
        returned += result.returned
        refused += [(r.order_no, r.code) for r in result.refused]
    return {"returned": returned, "refused": refused}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def process_pair() -> Iterator[ProcessPair]:
    pair = ProcessPair()
    yield pair
    pair.close()


@pytest.fixture(params=("threads", "processes"))
def run_together(request: pytest.FixtureRequest, app: Flask) -> Runner:
    if request.param == "processes":
        return Runner(app, request.getfixturevalue("process_pair"))
    return Runner(app)


@pytest.fixture
def shop(app_ctx: Flask, factory: Any) -> Shop:
    return bound_shop(factory)


def assigned_round(shop: Shop, round_no: int, count: int = PER_ROUND) -> dict[str, str]:
    """Fresh orders assigned to the shop's factory: order number → the number it will return."""
    numbers = {round_order_no(round_no, i): tracking_no_for(round_no, i) for i in range(count)}
    upsert_orders(current_keyring(), shop.merchant, [demo_order(no) for no in numbers])
    result = allocation.assign_orders(shop.merchant, list(numbers), shop.supplier, shop.actor)
    db.session.commit()
    assert len(result.done) == count, result.refused
    return numbers


def race_jobs(shop: Shop, numbers: dict[str, str], one_by_one: bool) -> list[tuple[Any, dict]]:
    """The merchant from the oldest order up, the factory from the newest down."""
    order_nos = list(numbers)
    return [
        (
            merchant_cancels,
            {
                "merchant_id": shop.merchant.id,
                "user_id": shop.actor.id,
                "order_nos": order_nos,
                "one_by_one": one_by_one,
            },
        ),
        (
            factory_returns,
            {
                "supplier_id": shop.supplier.id,
                "items": [(no, numbers[no]) for no in reversed(order_nos)],
                "one_by_one": one_by_one,
            },
        ),
    ]


# --------------------------------------------------------------------------- the invariants


def check_one_winner(
    shop: Shop, numbers: dict[str, str], merchant: dict[str, Any], factory: dict[str, Any]
) -> tuple[int, int]:
    """Every order was won by exactly one side, both sides say so, and the rows agree."""
    cancelled, returned = set(merchant["done"]), set(factory["returned"])
    assert not cancelled & returned, f"both won {sorted(cancelled & returned)}"
    assert cancelled | returned == set(numbers), "an order was won by neither side"
    merchant_refused, factory_refused = dict(merchant["refused"]), dict(factory["refused"])
    assert set(merchant_refused) == returned and set(factory_refused) == cancelled
    assert set(merchant_refused.values()) <= {"tracking_returned"}, merchant_refused
    assert set(factory_refused.values()) <= {"assignment_cancelled", "not_assigned"}

    db.session.expire_all()
    orders = {
        o.order_no: o
        for o in db.session.scalars(select(Order).where(Order.order_no.in_(list(numbers))))
    }
    ids = [o.id for o in orders.values()]
    parcels: dict[int, list[str]] = {}
    for order_id, number in db.session.execute(
        select(OrderParcel.order_id, Parcel.tracking_no)
        .join(Parcel, Parcel.id == OrderParcel.parcel_id)
        .where(OrderParcel.order_id.in_(ids))
    ):
        parcels.setdefault(order_id, []).append(number)
    assignments: dict[int, list[tuple[str, str | None]]] = {}
    for order_id, status, reason in db.session.execute(
        select(Assignment.order_id, Assignment.status, Assignment.cancel_reason)
        .where(Assignment.order_id.in_(ids))
        .order_by(Assignment.id)
    ):
        assignments.setdefault(order_id, []).append((status, reason))
    cancel_events = Counter(
        db.session.scalars(
            select(OrderEvent.order_id).where(
                OrderEvent.order_id.in_(ids), OrderEvent.kind == "assignment_cancelled"
            )
        ).all()
    )

    for no, number in numbers.items():
        order = orders[no]
        state = (order.stage, order.supplier_id, order.courier, order.tracking_no)
        if no in cancelled:
            assert state == ("unassigned", None, "", ""), (no, state)
            assert order.returned_at is None and order.assigned_at is None, no
            assert no not in parcels and order.id not in parcels, (no, parcels.get(order.id))
            assert assignments[order.id] == [("cancelled", "manual")], (no, assignments)
            assert cancel_events[order.id] == 1, no
        else:
            assert state == ("returned", shop.supplier.id, COURIER, number), (no, state)
            assert order.returned_at is not None, no
            assert parcels.get(order.id) == [number], (no, parcels.get(order.id))
            assert assignments[order.id] == [("active", None)], (no, assignments[order.id])
            assert cancel_events[order.id] == 0, no
    # no parcel is left behind without an order to carry it
    orphans = db.session.scalar(
        select(func.count())
        .select_from(Parcel)
        .outerjoin(OrderParcel, OrderParcel.parcel_id == Parcel.id)
        .where(OrderParcel.order_id.is_(None))
    )
    assert orphans == 0
    return len(cancelled), len(returned)


# --------------------------------------------------------------------------- the race


@pytest.mark.parametrize("one_by_one", [True, False], ids=["order-by-order", "batches"])
def test_cancel_and_return_race_has_exactly_one_winner_per_order(
    shop: Shop, run_together: Runner, one_by_one: bool
) -> None:
    tally = Counter()
    for round_no in range(ROUNDS):
        numbers = assigned_round(shop, round_no)
        jobs = race_jobs(shop, numbers, one_by_one)
        db.session.commit()  # on SQLite an open transaction here would lock both sides out
        merchant, factory = run_together(jobs)
        cancelled, returned = check_one_winner(shop, numbers, merchant, factory)
        tally.update(cancelled=cancelled, returned=returned)
    print(f"outcomes over {ROUNDS} rounds: {dict(tally)}")  # shown with -s: who won how often


# --------------------------------------------------------------------------- forced interleavings


def test_factory_returns_between_the_merchants_read_and_its_cancel(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merchant read the orders as assigned; the factory returns one before the cancel."""
    numbers = assigned_round(shop, 0, count=3)
    taken, *free = numbers
    original = allocation.load_states

    def factory_acts_now(*args: Any, **kwargs: Any) -> Any:
        states = original(*args, **kwargs)
        monkeypatch.setattr(allocation, "load_states", original)
        result = return_tracking(
            shop.supplier, [TrackingItem(taken, COURIER, numbers[taken])], None
        )
        assert result.returned == [taken]
        return states

    monkeypatch.setattr(allocation, "load_states", factory_acts_now)
    result = allocation.cancel_assignments(shop.merchant, list(numbers), shop.actor)
    db.session.commit()
    merchant = {"done": result.done, "refused": [(r.order_no, r.code) for r in result.refused]}
    factory = {"returned": [taken], "refused": [(no, "assignment_cancelled") for no in free]}
    assert merchant["refused"] == [(taken, "tracking_returned")]
    assert check_one_winner(shop, numbers, merchant, factory) == (2, 1)


def test_merchant_cancels_between_the_factorys_read_and_its_claim(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The factory read the orders as its own; the merchant takes one back before the claim:
    nothing of the return may stay on it (no parcel, no number, no returned stage)."""
    numbers = assigned_round(shop, 0, count=3)
    taken, *free = numbers
    original = tracking.find_orders_for_supplier

    def merchant_acts_now(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        monkeypatch.setattr(tracking, "find_orders_for_supplier", original)
        assert allocation.cancel_assignments(shop.merchant, [taken], shop.actor).done == [taken]
        return found

    monkeypatch.setattr(tracking, "find_orders_for_supplier", merchant_acts_now)
    result = return_tracking(
        shop.supplier, [TrackingItem(no, COURIER, number) for no, number in numbers.items()], None
    )
    db.session.commit()
    factory = {
        "returned": result.returned,
        "refused": [(r.order_no, r.code) for r in result.refused],
    }
    merchant = {"done": [taken], "refused": [(no, "tracking_returned") for no in free]}
    assert factory["refused"] == [(taken, "assignment_cancelled")]
    assert check_one_winner(shop, numbers, merchant, factory) == (1, 2)


@postgres_only
@pytest.mark.parametrize("count", [PER_ROUND, 2000])
def test_both_read_before_either_writes(
    shop: Shop, app: Flask, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: both compare-and-sets run against orders the other side is taking.

    With 2000 orders each side needs several statements (chunks of 900), and the factory's
    list comes newest first: unless both lock rows in one global (id) order, each holds rows
    the other waits for and the database aborts one of them as a deadlock.
    """
    numbers = assigned_round(shop, 0, count=count)
    jobs = race_jobs(shop, numbers, one_by_one=False)
    db.session.commit()
    both_read = threading.Barrier(2, timeout=BARRIER_TIMEOUT)
    waited = threading.local()

    def read_then_wait(original: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            found = original(*args, **kwargs)
            if not getattr(waited, "done", False):  # only each side's first read
                waited.done = True
                both_read.wait()
            return found

        return wrapper

    monkeypatch.setattr(allocation, "load_states", read_then_wait(allocation.load_states))
    monkeypatch.setattr(
        tracking, "find_orders_for_supplier", read_then_wait(tracking.find_orders_for_supplier)
    )
    merchant, factory = Runner(app)(jobs)
    check_one_winner(shop, numbers, merchant, factory)
