"""Concurrent allocation: two batches, a merchant and the platform acting on the same orders.

The races run for real: two threads (each with its own app context, session and connection) and
two spawned processes (each creating its own app on the same database and key file), released
together by a barrier. They run on the SQLite file database of the test and, with
PORTAL_TEST_DATABASE_URL, on PostgreSQL. Whoever wins, the end state must be one of the
serialisable outcomes; the tests check the invariants that hold for every one of them.

Where the interleaving matters (a batch that read the orders before another batch changed them),
a hook between the read and the compare-and-set makes it happen every time instead of by luck.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError

from portal import create_app
from portal.domain import allocation
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Assignment, Merchant, Order, OrderEvent, Supplier, User
from tests.conftest import PG_URL, config
from tests.factories import demo_order
from tests.test_order_rules import HOLDS, Shop, bound_shop, second_supplier

BARRIER_TIMEOUT = 60  # seconds; only reached when the other side has crashed
MODES = ("threads", "processes")
AFTER_SALE = HOLDS["after_sale"].changes


def order_no(index: int) -> str:
    return f"261121-4{index:014d}"


# --------------------------------------------------------------------------- jobs
# A job runs inside an app context: it loads what it needs, ends that transaction (on SQLite
# an open transaction holds the write lock and would keep the other side from the barrier),
# waits at the barrier, then does its one unit of work and commits. Results must pickle.


def _load(model: type, ident: int) -> Any:
    obj = db.session.get(model, ident)
    db.session.expunge(obj)
    return obj


def assign_job(
    barrier: Any, merchant_id: int, supplier_id: int, user_id: int, order_nos: list[str]
) -> dict[str, Any]:
    merchant, supplier, actor = (
        _load(Merchant, merchant_id),
        _load(Supplier, supplier_id),
        _load(User, user_id),
    )
    db.session.commit()
    barrier.wait()
    result = allocation.assign_orders(merchant, order_nos, supplier, actor)
    db.session.commit()
    return {"done": result.done, "refused": [(r.order_no, r.code) for r in result.refused]}


def cancel_job(
    barrier: Any, merchant_id: int, user_id: int, order_nos: list[str]
) -> dict[str, Any]:
    merchant, actor = _load(Merchant, merchant_id), _load(User, user_id)
    db.session.commit()
    barrier.wait()
    result = allocation.cancel_assignments(merchant, order_nos, actor)
    db.session.commit()
    return {"done": result.done, "refused": [(r.order_no, r.code) for r in result.refused]}


def after_sale_import_job(barrier: Any, merchant_id: int, order_nos: list[str]) -> dict[str, Any]:
    merchant = _load(Merchant, merchant_id)
    # The export lists orders newest first: the reverse of how they were created.
    rows = [demo_order(no, **AFTER_SALE) for no in reversed(order_nos)]
    db.session.commit()
    barrier.wait()
    result = upsert_orders(current_keyring(), merchant, rows)
    db.session.commit()
    return {"updated": result.updated, "cancelled": result.cancelled_assignments}


Job = Callable[..., dict[str, Any]]


def _run_job(app: Flask, barrier: Any, job: Job, kwargs: dict[str, Any]) -> dict[str, Any]:
    with app.app_context():
        try:
            return job(barrier, **kwargs)
        except BaseException:
            barrier.abort()  # the other side fails fast instead of waiting for us
            raise
        finally:
            db.session.remove()


def _process_main(barrier: Any, inbox: Any, outbox: Any) -> None:
    """A spawned worker: for each job, its own app (engine, connection) on the test's database.

    The process lives for the whole module because importing the portal is the slow part.
    """
    while (message := inbox.get()) is not None:
        database_url, keys_file, job, kwargs = message
        try:
            app = create_app(
                config(SQLALCHEMY_DATABASE_URI=database_url, KEYS_FILE=keys_file, CREATE_KEYS=False)
            )
            try:
                outbox.put((True, _run_job(app, barrier, job, kwargs)))
            finally:
                with app.app_context():
                    db.engine.dispose()
        except BaseException:
            barrier.abort()
            outbox.put((False, traceback.format_exc()))


class ProcessPair:
    """Two spawned processes sharing a barrier, each running one job at a time."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(2, timeout=BARRIER_TIMEOUT)
        self.channels = [(context.Queue(), context.Queue()) for _ in range(2)]
        self.processes = [
            context.Process(target=_process_main, args=(self.barrier, inbox, outbox), daemon=True)
            for inbox, outbox in self.channels
        ]
        for process in self.processes:
            process.start()

    def run(self, app: Flask, jobs: Sequence[tuple[Job, dict[str, Any]]]) -> list[dict]:
        self.barrier.reset()  # a failed run leaves it broken
        url, keys = app.config["SQLALCHEMY_DATABASE_URI"], app.config["KEYS_FILE"]
        for (inbox, _), (job, kwargs) in zip(self.channels, jobs, strict=True):
            inbox.put((url, keys, job, kwargs))
        answers, errors = [], []
        for process, (_, outbox) in zip(self.processes, self.channels, strict=True):
            try:
                ok, value = outbox.get(timeout=3 * BARRIER_TIMEOUT)
            except queue.Empty:
                ok, value = (
                    False,
                    f"process {process.pid} did not answer (alive: {process.is_alive()})",
                )
            (answers if ok else errors).append(value)
        assert not errors, "\n".join(errors)
        return answers

    def close(self) -> None:
        for inbox, _ in self.channels:
            inbox.put(None)
        for process in self.processes:
            process.join(timeout=BARRIER_TIMEOUT)
            if process.is_alive():
                process.kill()


@pytest.fixture(scope="module")
def process_pair() -> Iterator[ProcessPair]:
    pair = ProcessPair()
    yield pair
    pair.close()


class Runner:
    """Runs jobs at the same time, released by one barrier: in threads, or in the processes."""

    def __init__(self, app: Flask, processes: ProcessPair | None = None) -> None:
        self.app, self.processes = app, processes

    def __call__(self, jobs: Sequence[tuple[Job, dict[str, Any]]]) -> list[dict]:
        if self.processes is not None:
            return self.processes.run(self.app, jobs)
        barrier = threading.Barrier(len(jobs), timeout=BARRIER_TIMEOUT)
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [pool.submit(_run_job, self.app, barrier, job, kw) for job, kw in jobs]
            return [future.result() for future in futures]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def shop(app_ctx: Flask, factory: Any) -> Shop:
    return bound_shop(factory)


@pytest.fixture(params=MODES)
def run_together(request: pytest.FixtureRequest, app: Flask) -> Runner:
    if request.param == "processes":
        return Runner(app, request.getfixturevalue("process_pair"))
    return Runner(app)


def import_orders(shop: Shop, count: int, held: Callable[[int], dict[str, Any]]) -> list[str]:
    result = upsert_orders(
        current_keyring(),
        shop.merchant,
        [demo_order(order_no(i), **held(i)) for i in range(count)],
    )
    db.session.commit()
    assert result.created == count
    return [order_no(i) for i in range(count)]


# One order in 16 is on hold or incomplete: both batches must refuse those, whoever wins.
HOLD_CYCLE = (
    (AFTER_SALE, "after_sale"),
    (HOLDS["audit_hold"].changes, "audit_hold"),
    ({"district": ""}, "address_incomplete"),
)


def ineligible(index: int) -> tuple[dict[str, Any], str] | None:
    return HOLD_CYCLE[(index // 16) % 3] if index % 16 == 5 else None


def active_assignments() -> dict[str, list[tuple[int | None, int, str]]]:
    """order_no → [(orders.supplier_id, assignment supplier, status)] over every assignment."""
    db.session.expire_all()
    rows = db.session.execute(
        select(Order.order_no, Order.supplier_id, Assignment.supplier_id, Assignment.status)
        .join(Assignment, Assignment.order_id == Order.id)
        .order_by(Assignment.id)
    ).all()
    found: dict[str, list[tuple[int | None, int, str]]] = {}
    for number, order_supplier, assignment_supplier, status in rows:
        found.setdefault(number, []).append((order_supplier, assignment_supplier, status))
    return found


def check_batch_outcome(
    requests: Sequence[tuple[int, list[str]]],
    results: Sequence[dict[str, Any]],
    eligible: set[str],
    expected_refusals: dict[str, str],
) -> None:
    """The invariants of two overlapping batch assignments, whoever won which order."""
    done = [no for result in results for no in result["done"]]
    assert len(done) == len(set(done)), "an order was assigned by both batches"
    assert set(done) == eligible
    pairs = list(zip(requests, results, strict=True))
    winner = {no: supplier for (supplier, _), result in pairs for no in result["done"]}
    for (_supplier, requested), result in pairs:
        refused = dict(result["refused"])
        assert not set(refused) & set(result["done"])
        assert set(refused) | set(result["done"]) == set(requested)
        for no, code in refused.items():
            # Either refused for its own reason, or lost to the other batch.
            assert code == expected_refusals.get(no, "already_assigned"), (no, code)
            if code == "already_assigned":
                assert no in winner

    assignments = active_assignments()
    assert set(assignments) == eligible
    for no, rows in assignments.items():
        # Exactly one assignment, active, to the batch that reported it, matching the order.
        assert rows == [(winner[no], winner[no], "active")], (no, rows)
    stages = dict(db.session.execute(select(Order.order_no, Order.stage)).all())
    assert {no for no, stage in stages.items() if stage == "assigned"} == eligible
    events = db.session.scalars(select(OrderEvent.order_id).where(OrderEvent.kind == "assigned"))
    assert Counter(Counter(events.all()).values()) == {1: len(eligible)}


# --------------------------------------------------------------------------- batch vs batch


def assign_jobs(shop: Shop, requests: Sequence[tuple[int, list[str]]]) -> list[tuple[Job, dict]]:
    return [
        (
            assign_job,
            {
                "merchant_id": shop.merchant.id,
                "supplier_id": supplier_id,
                "user_id": shop.actor.id,
                "order_nos": requested,
            },
        )
        for supplier_id, requested in requests
    ]


def test_overlapping_batches_to_two_suppliers(
    shop: Shop, factory: Any, run_together: Runner
) -> None:
    other = second_supplier(factory, shop)
    count = 320
    numbers = import_orders(shop, count, lambda i: (ineligible(i) or ({}, ""))[0])
    refusals = {order_no(i): hit[1] for i in range(count) if (hit := ineligible(i))}
    eligible = set(numbers) - set(refusals)
    assert len(eligible) == 300
    # 0..259 and 60..319: 200 orders asked for by both, the second list in reverse.
    requests = [(shop.supplier.id, numbers[:260]), (other.id, numbers[60:][::-1])]
    assert len(set(requests[0][1]) & set(requests[1][1])) == 200
    jobs = assign_jobs(shop, requests)
    db.session.commit()

    results = run_together(jobs)
    check_batch_outcome(requests, results, eligible, refusals)


postgres_only = pytest.mark.skipif(
    not PG_URL,
    reason="SQLite serialises writers (BEGIN IMMEDIATE): nobody reads or writes while another "
    "holds the write lock, so forcing both to act at once would deadlock the test; the "
    "same-session stale-read tests cover the logic there",
)


@postgres_only
@pytest.mark.parametrize("count", [300, 2000])
def test_batches_that_both_read_before_writing(
    shop: Shop, factory: Any, app: Flask, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: both compare-and-sets run against orders the other batch is taking.

    With 2000 orders each batch needs several statements (chunks); the two lists come in
    opposite orders, which deadlocks unless rows are always locked in one global order.
    """
    other = second_supplier(factory, shop)
    numbers = import_orders(shop, count, lambda i: {})
    requests = [(shop.supplier.id, numbers), (other.id, numbers[::-1])]
    jobs = assign_jobs(shop, requests)
    db.session.commit()
    inner = threading.Barrier(2, timeout=BARRIER_TIMEOUT)
    waited = threading.local()
    original = allocation.load_states

    def load_then_wait(*args: Any, **kwargs: Any) -> Any:
        states = original(*args, **kwargs)
        if not getattr(waited, "done", False):  # only the first read of each batch
            waited.done = True
            inner.wait()
        return states

    monkeypatch.setattr(allocation, "load_states", load_then_wait)
    results = Runner(app)(jobs)
    check_batch_outcome(requests, results, set(numbers), {})


def test_an_order_taken_between_read_and_write_is_not_overwritten(
    shop: Shop, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic stale read: another actor changes orders after the batch has read them."""
    other = second_supplier(factory, shop)
    numbers = import_orders(shop, 6, lambda i: {})
    taken, on_hold, audited, *free = numbers
    original = allocation.load_states

    def concurrent_change(*args: Any, **kwargs: Any) -> Any:
        states = original(*args, **kwargs)
        monkeypatch.setattr(allocation, "load_states", original)
        # What another batch and a platform import would commit right now.
        assert allocation.assign_orders(shop.merchant, [taken], other, shop.actor).done == [taken]
        db.session.execute(
            update(Order).where(Order.order_no == on_hold).values(after_sale_active=True)
        )
        db.session.execute(update(Order).where(Order.order_no == audited).values(audit_hold=True))
        return states

    monkeypatch.setattr(allocation, "load_states", concurrent_change)
    result = allocation.assign_orders(shop.merchant, numbers, shop.supplier, shop.actor)
    db.session.commit()

    assert result.done == free
    assert {r.order_no: r.code for r in result.refused} == {
        taken: "already_assigned",
        on_hold: "after_sale",
        audited: "audit_hold",
    }
    assignments = active_assignments()
    assert assignments[taken] == [(other.id, other.id, "active")]
    assert on_hold not in assignments and audited not in assignments


# --------------------------------------------------------------------------- merchant vs platform


def assigned_orders(shop: Shop, count: int) -> list[str]:
    numbers = import_orders(shop, count, lambda i: {})
    assert allocation.assign_orders(shop.merchant, numbers, shop.supplier, shop.actor).done
    db.session.commit()
    return numbers


def test_merchant_cancel_races_after_sale_import(shop: Shop, run_together: Runner) -> None:
    count = 150
    numbers = assigned_orders(shop, count)
    merchant_id, user_id = shop.merchant.id, shop.actor.id
    db.session.commit()

    cancelled, imported = run_together(
        [
            (cancel_job, {"merchant_id": merchant_id, "user_id": user_id, "order_nos": numbers}),
            (after_sale_import_job, {"merchant_id": merchant_id, "order_nos": numbers}),
        ],
    )

    assert imported["updated"] == count
    assert len(cancelled["done"]) + imported["cancelled"] == count
    # The merchant is told the platform got there first, not that a tracking number exists.
    assert {code for _, code in cancelled["refused"]} <= {"not_assigned"}
    assert len(cancelled["refused"]) == imported["cancelled"]

    db.session.expire_all()
    orders = {o.order_no: o for o in db.session.scalars(select(Order))}
    reasons: dict[str, str] = {}
    for no in numbers:
        order = orders[no]
        assert (order.stage, order.supplier_id, order.after_sale_active) == (
            "unassigned",
            None,
            True,
        )
        rows = db.session.scalars(select(Assignment).where(Assignment.order_id == order.id)).all()
        assert [(a.status, a.supplier_id) for a in rows] == [("cancelled", shop.supplier.id)]
        reasons[no] = rows[0].cancel_reason
        events = db.session.scalars(
            select(OrderEvent.reason).where(
                OrderEvent.order_id == order.id, OrderEvent.kind == "assignment_cancelled"
            )
        ).all()
        assert events == [reasons[no]]
    assert {no for no, reason in reasons.items() if reason == "manual"} == set(cancelled["done"])
    assert Counter(reasons.values())["after_sale"] == imported["cancelled"]


def test_cancel_after_the_platform_took_the_order_back_says_so(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic stale read for cancel: the import or the factory acts after our read."""
    numbers = assigned_orders(shop, 3)
    by_platform, returned, mine = numbers
    original = allocation.load_states

    def concurrent_change(merchant: Merchant, order_nos: Sequence[str]) -> Any:
        states = original(merchant, order_nos)
        monkeypatch.setattr(allocation, "load_states", original)
        upsert_orders(current_keyring(), shop.merchant, [demo_order(by_platform, **AFTER_SALE)])
        db.session.execute(update(Order).where(Order.order_no == returned).values(stage="returned"))
        return states

    monkeypatch.setattr(allocation, "load_states", concurrent_change)
    result = allocation.cancel_assignments(shop.merchant, numbers, shop.actor)
    db.session.commit()
    assert result.done == [mine]
    assert {r.order_no: r.code for r in result.refused} == {
        by_platform: "not_assigned",
        returned: "tracking_returned",
    }
    reasons = db.session.execute(
        select(Order.order_no, Assignment.cancel_reason).join(
            Assignment, Assignment.order_id == Order.id
        )
    ).all()
    assert sorted(reasons) == sorted(
        [(by_platform, "after_sale"), (returned, None), (mine, "manual")]
    )


def test_the_database_refuses_a_second_active_assignment(shop: Shop) -> None:
    """The last line of defence if a compare-and-set were ever lost: a partial unique index."""
    [number] = assigned_orders(shop, 1)
    order_id = db.session.scalar(select(Order.id).where(Order.order_no == number))
    duplicate = Assignment(
        order_id=order_id, merchant_id=shop.merchant.id, supplier_id=shop.supplier.id
    )
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(duplicate)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 1


@postgres_only
def test_import_and_cancel_writing_at_once_do_not_deadlock(
    shop: Shop, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the merchant's cancel starts writing while the import is writing.

    The export lists orders newest first; the import must still lock rows in id order, as
    cancel does, or each would hold rows the other waits for.
    """
    count = 900
    numbers = assigned_orders(shop, count)
    merchant_id, user_id = shop.merchant.id, shop.actor.id
    db.session.commit()
    import_writing = threading.Event()

    def signal_import_update(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE orders SET platform_status"):
            import_writing.set()

    original = allocation.load_states

    def read_then_wait_for_import(*args: Any, **kwargs: Any) -> Any:
        states = original(*args, **kwargs)
        assert import_writing.wait(BARRIER_TIMEOUT)
        return states

    monkeypatch.setattr(allocation, "load_states", read_then_wait_for_import)
    event.listen(db.engine, "before_cursor_execute", signal_import_update)
    try:
        cancelled, imported = Runner(app)(
            [
                (
                    cancel_job,
                    {"merchant_id": merchant_id, "user_id": user_id, "order_nos": numbers},
                ),
                (after_sale_import_job, {"merchant_id": merchant_id, "order_nos": numbers}),
            ]
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", signal_import_update)
    assert len(cancelled["done"]) + imported["cancelled"] == count
    assert {code for _, code in cancelled["refused"]} <= {"not_assigned"}
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == count
