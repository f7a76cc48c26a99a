"""A Hypothesis state machine over the whole order workflow, driving the real services.

Two merchants and two suppliers (merchant 0 bound to both, merchant 1 to supplier 1 only, the
binding of merchant 0 with supplier 1 ending and starting again), a few order numbers each and
three receivers. Rules import orders (toggling after-sale, audit hold, platform cancellation and
the receiver), assign, cancel, acknowledge address changes, print (with and without pre-printed
numbers, confirmed or voided), return and take back tracking numbers, dispatch (with and
without confirming holds), request and build statements on an injected clock.

After every step the invariants of DESIGN §4–§7 must hold:
- at most one active assignment per order; the order's stage agrees with its supplier, its
  assignment, its tracking number and its parcels;
- a parcel hangs only on orders of its own supplier, merchant and receiver (so a cancelled
  assignment never keeps the supplier's parcels, and a tracking number is never shared by two
  receivers);
- an order is with a supplier only through a binding (still active while the order waits for
  its tracking number); a never-bound pair never has an assignment;
- statements: at most 3 per pair and Shanghai day, at least 10 minutes apart; a built statement
  lists exactly the supplier's orders returned in its period;
- the supplier desk's masked rows (supplier_orders.orders_query, every tab) carry no plaintext.
Several rules also check their own outcome against a model (the rate limit, §4.2's automatic
cancellation and print block, the dispatch and print refusals), and the run must reach every
interesting path (returns, confirmed print jobs, dispatches, statements with lines, refusals).

What it found, each fixed in portal/domain/tracking.py with a regression test at the end: a second
factory could hang its order on another factory's parcel; a return taken back after the binding
ended put the order back to `assigned` without a binding; re-returning a parcel shared with
another order after the buyer moved raised TrackingRaceError (a 500 in the API).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise

from flask import current_app
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text

from portal.domain import accounts, allocation, bindings
from portal.domain.dispatch import dispatch_orders
from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.printing.jobs import (
    confirm_print_job,
    create_print_job,
    render_print_job,
    void_print_job,
)
from portal.domain.statements.build import build_statement
from portal.domain.statements.clock import shanghai_day
from portal.domain.statements.requesting import request_statement
from portal.domain.supplier_orders import MASKED_COLUMNS, TABS, SupplierFilters, orders_query
from portal.domain.tracking import TrackingItem, cancel_return, return_tracking
from portal.extensions import db
from portal.models import (
    Assignment,
    Binding,
    Merchant,
    Order,
    OrderParcel,
    Parcel,
    PrintJob,
    Statement,
    StatementLine,
    Supplier,
    User,
)
from portal.models.base import utcnow
from portal.models.orders import (
    ASSIGNMENT_ACTIVE,
    ASSIGNMENT_CANCELLED,
    STAGE_ASSIGNED,
    STAGE_DISPATCHED,
    STAGE_RETURNED,
    STAGE_UNASSIGNED,
)
from portal.models.printing import JOB_PENDING
from tests.factories import demo_order
from tests.test_statements import Clock
from tests.test_supplier_plaintext import DETAILS, NAMES, PHONES, leaks

MERCHANTS = 2
SUPPLIERS = 2
ORDERS_PER_MERCHANT = 4  # 8 order numbers in all
BOUND = {(0, 0), (0, 1), (1, 1)}  # (merchant, supplier); (1, 0) is never bound
RECEIVERS = [
    (NAMES[0], PHONES[0], DETAILS[0]),
    (NAMES[1], PHONES[1], DETAILS[2]),
    (NAMES[2], PHONES[2], DETAILS[3]),
]
# A small pool, so numbers collide: across receivers (refused) and for one receiver (shared).
TRACKING_POOL = [f"SF10000000000{n:02d}" for n in range(1, 11)]
STATUSES = ["awaiting_shipment"] * 5 + ["cancelled", "shipped"]
STATUS_TEXT = {"awaiting_shipment": "待发货", "cancelled": "已取消", "shipped": "已发货，待签收"}
RARE = st.sampled_from([False, False, False, True])
MERCHANT_IDX = st.integers(0, MERCHANTS - 1)
SUPPLIER_IDX = st.integers(0, SUPPLIERS - 1)
ORDER_IDX = st.integers(0, ORDERS_PER_MERCHANT - 1)
ORDER_BATCH = st.lists(ORDER_IDX, min_size=1, max_size=3, unique=True)
ALL_ORDERS = [(m, i) for m in range(MERCHANTS) for i in range(ORDERS_PER_MERCHANT)]
FOCUSED = st.sampled_from([True, True, True, False])


# What the examples reached, summed over the run: the test checks the interesting paths ran.
REACHED: Counter[str] = Counter()


def order_no(merchant: int, index: int) -> str:
    return f"261121-{merchant}{index:014d}"


def reset_database() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name != "alembic_version"]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


class Workflow(RuleBasedStateMachine):
    """One example = a fresh database, then up to `stateful_step_count` rules."""

    def __init__(self) -> None:
        super().__init__()
        reset_database()
        REACHED["examples"] += 1
        self.clock = Clock(utcnow().replace(microsecond=0))
        current_app.config["CLOCK"] = self.clock
        self.merchant_ids: list[int] = []
        self.supplier_ids: list[int] = []
        self.user_ids: dict[tuple[str, int], int] = {}
        self.shop_ids: dict[int, str] = {}
        for i in range(MERCHANTS):
            user = accounts.create_user(f"merchant{i}", "correct-horse-9")
            merchant = accounts.become_merchant(
                user,
                accounts.MerchantProfileInput(
                    f"店{i}", "王发货", "13800138000", "浙江省", "杭州市", "余杭区", "文一西路 1 号"
                ),
            )
            db.session.flush()
            accounts.add_return_address(
                merchant,
                accounts.AddressInput("退货", "13800138000", "北京市", "北京市", "朝阳区", "x 路"),
                make_default=True,
            )
            # Merchant 1 dispatches automatically when the tracking number comes back.
            accounts.update_merchant_settings(
                merchant, label_style="full" if i else "private", auto_dispatch=bool(i)
            )
            self.merchant_ids.append(merchant.id)
            self.user_ids[("m", i)] = user.id
        for i in range(SUPPLIERS):
            user = accounts.create_user(f"supplier{i}", "correct-horse-9")
            supplier = accounts.become_supplier(user, f"厂{i}", "李厂长", "13900139000")
            db.session.flush()
            self.supplier_ids.append(supplier.id)
            self.shop_ids[i] = user.shop_id
            self.user_ids[("s", i)] = user.id
        for m, s in sorted(BOUND):
            self._bind(m, s)
        for m in range(MERCHANTS):
            # Every order exists from the start, awaiting shipment; imports then change them.
            rows = [
                self.order_row(m, i, RECEIVERS[i % len(RECEIVERS)], "awaiting_shipment")
                for i in range(ORDERS_PER_MERCHANT)
            ]
            assert upsert_orders(current_keyring(), self.merchant(m), rows).created == len(rows)
        # …and some start with a supplier: merchant 0's first two with supplier 0, its third
        # with supplier 1, merchant 1's first two with supplier 1.
        for m, s, indexes in ((0, 0, [0, 1]), (0, 1, [2]), (1, 1, [0, 1])):
            numbers = [order_no(m, i) for i in indexes]
            done = allocation.assign_orders(self.merchant(m), numbers, self.supplier(s), None)
            assert done.done == numbers
        db.session.commit()
        # Model: orders whose buyer moved after their number came back. Their parcel keeps the
        # receiver it was labelled for (§4.2 only warns at dispatch) until it is re-filed.
        self.moved: set[int] = set()
        # Model: successful statement requests per pair (for the rate limit's verdicts).
        self.statement_times: dict[tuple[int, int], list[datetime]] = defaultdict(list)

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def order_row(
        m: int,
        index: int,
        receiver: tuple[str, str, str],
        status: str,
        after_sale: bool = False,
        audit: bool = False,
    ) -> object:
        name, phone, detail = receiver
        return demo_order(
            order_no(m, index),
            platform_status=status,
            platform_status_text=STATUS_TEXT[status],
            after_sale_status="退款中" if after_sale else "",
            after_sale_active=after_sale,
            audit_hold=audit,
            receiver_name=name,
            receiver_phone=phone,
            detail=detail,
        )

    def merchant(self, i: int) -> Merchant:
        return db.session.get(Merchant, self.merchant_ids[i])

    def supplier(self, i: int) -> Supplier:
        return db.session.get(Supplier, self.supplier_ids[i])

    def user(self, role: str, i: int) -> User:
        return db.session.get(User, self.user_ids[(role, i)])

    def _bind(self, m: int, s: int) -> None:
        binding = bindings.apply_for_binding(self.merchant(m), self.shop_ids[s])
        bindings.accept_binding(self.supplier(s), binding.id)

    def order(self, m: int, index: int) -> Order | None:
        return db.session.scalar(
            select(Order).where(
                Order.merchant_id == self.merchant_ids[m], Order.order_no == order_no(m, index)
            )
        )

    def orders_of(self, merchant_id: int) -> dict[str, Order]:
        return {
            o.order_no: o
            for o in db.session.scalars(select(Order).where(Order.merchant_id == merchant_id))
        }

    def current(self, *conditions: object) -> list[tuple[int, int]]:
        """(merchant index, order index) of the orders matching `conditions`."""
        merchants = {merchant_id: m for m, merchant_id in enumerate(self.merchant_ids)}
        return sorted(
            (merchants[merchant_id], int(number[-14:]))
            for merchant_id, number in db.session.execute(
                select(Order.merchant_id, Order.order_no).where(*conditions)
            )
        )

    @staticmethod
    def pick(data: st.DataObject, focus: list[tuple[int, int]], max_size: int = 3) -> list:
        """Mostly orders in the state the action needs (focus), sometimes any order at all."""
        pool = focus if focus and data.draw(FOCUSED, label="focused") else ALL_ORDERS
        return data.draw(
            st.lists(st.sampled_from(pool), min_size=1, max_size=max_size, unique=True),
            label="orders",
        )

    def attempt(self, action) -> object:
        """Run a service call as a request would: commit on success, roll back a refusal."""
        try:
            result = action()
        except DomainError as error:
            db.session.rollback()
            return error
        db.session.commit()
        return result

    def binding_active(self, merchant_id: int, supplier_id: int) -> bool:
        return (
            db.session.scalar(
                select(func.count())
                .select_from(Binding)
                .where(
                    Binding.merchant_id == merchant_id,
                    Binding.supplier_id == supplier_id,
                    Binding.status == "active",
                )
            )
            > 0
        )

    # --- rules: the merchant ------------------------------------------------------------------

    @rule(
        m=MERCHANT_IDX,
        indexes=ORDER_BATCH,
        receiver=st.integers(0, len(RECEIVERS) - 1),
        status=st.sampled_from(STATUSES),
        after_sale=RARE,
        audit=RARE,
    )
    def import_orders(self, m, indexes, receiver, status, after_sale, audit):
        merchant = self.merchant(m)
        before = {}
        for i in indexes:
            order = self.order(m, i)
            before[i] = (order.stage, order.receiver_key) if order else None
        rows = [
            self.order_row(m, i, RECEIVERS[receiver], status, after_sale, audit) for i in indexes
        ]
        result = self.attempt(lambda: upsert_orders(current_keyring(), merchant, rows))
        assert not isinstance(result, DomainError) and not result.rejected, result
        for i in indexes:
            order = self.order(m, i)
            was = before[i]
            if (
                was
                and was[0] in (STAGE_RETURNED, STAGE_DISPATCHED)
                and was[1] != order.receiver_key
            ):
                self.moved.add(order.id)
            if was is None or was[0] != STAGE_ASSIGNED:
                continue
            # §4.2: an assignment without tracking is taken back by a hold or a cancellation,
            # and a changed receiver blocks printing until acknowledged.
            if after_sale or audit or status == "cancelled":
                assert order.stage == STAGE_UNASSIGNED and order.supplier_id is None, i
                REACHED["assignment cancelled by the platform"] += 1
            elif was[1] != order.receiver_key:
                assert order.address_change_pending, i
                REACHED["address changed after assignment"] += 1

    @rule(s=SUPPLIER_IDX, toggle_binding=RARE, data=st.data())
    def assign(self, s, toggle_binding, data):
        if toggle_binding:
            self.end_or_renew_binding()
        picked = self.pick(data, self.current(Order.stage == STAGE_UNASSIGNED))
        m = picked[0][0]
        numbers = [order_no(mm, i) for mm, i in picked if mm == m]
        merchant, supplier = self.merchant(m), self.supplier(s)
        bound = self.binding_active(merchant.id, supplier.id)
        result = self.attempt(
            lambda: allocation.assign_orders(merchant, numbers, supplier, self.user("m", m))
        )
        if not bound:
            assert not result.done and {r.code for r in result.refused} == {"not_bound"}
            REACHED["assignment to an unbound supplier refused"] += 1
        REACHED["assigned"] += len(result.done)
        for number in result.done:
            order = self.orders_of(merchant.id)[number]
            assert (order.stage, order.supplier_id) == (STAGE_ASSIGNED, supplier.id)

    @precondition(lambda self: self.current(Order.stage == STAGE_ASSIGNED))
    @rule(data=st.data())
    def cancel_assignments(self, data):
        picked = self.pick(data, self.current(Order.stage == STAGE_ASSIGNED))
        m = picked[0][0]
        numbers = [order_no(mm, i) for mm, i in picked if mm == m]
        merchant = self.merchant(m)
        result = self.attempt(
            lambda: allocation.cancel_assignments(merchant, numbers, self.user("m", m))
        )
        for refusal in result.refused:
            assert refusal.code in ("not_found", "not_assigned", "tracking_returned", "dispatched")

    @precondition(lambda self: self.current(Order.address_change_pending))
    @rule(data=st.data())
    def acknowledge_address(self, data):
        [(m, index)] = self.pick(data, self.current(Order.address_change_pending), 1)
        order = self.order(m, index)
        if order is None:
            return
        merchant = self.merchant(m)
        self.attempt(lambda: allocation.acknowledge_address(merchant, order, self.user("m", m)))
        assert not self.order(m, index).address_change_pending

    @precondition(lambda self: self.current(Order.stage == STAGE_RETURNED))
    @rule(confirm_holds=st.booleans(), data=st.data())
    def dispatch(self, confirm_holds, data):
        picked = self.pick(data, self.current(Order.stage == STAGE_RETURNED))
        m = picked[0][0]
        numbers = [order_no(mm, i) for mm, i in picked if mm == m]
        merchant = self.merchant(m)
        states = {
            n: (o.stage, o.platform_status, o.after_sale_active, o.audit_hold)
            for n, o in self.orders_of(merchant.id).items()
        }
        result = self.attempt(
            lambda: dispatch_orders(
                merchant, numbers, self.user("m", m), confirm_holds=confirm_holds
            )
        )
        assert not isinstance(result, DomainError), result
        REACHED["dispatched"] += len(result.dispatched)
        for number in result.dispatched:
            stage, status, after_sale, audit = states[number]
            assert stage == STAGE_RETURNED and status != "cancelled", number
            assert confirm_holds or not (after_sale or audit), number
        for refusal in result.refused:
            stage = states.get(refusal.order_no, (None,))[0]
            assert stage != STAGE_RETURNED or refusal.code in (
                "not_awaiting_shipment",
                "after_sale",
                "audit_hold",
            ), refusal

    def end_or_renew_binding(self) -> None:
        """The one optional pair: merchant 0 and supplier 1 part and bind again."""
        merchant, supplier = self.merchant(0), self.supplier(1)
        if self.binding_active(merchant.id, supplier.id):
            binding = db.session.scalar(
                select(Binding).where(
                    Binding.merchant_id == merchant.id,
                    Binding.supplier_id == supplier.id,
                    Binding.status == "active",
                )
            )
            self.attempt(lambda: bindings.end_binding(binding, "merchant"))
            REACHED["binding ended"] += 1
            assert not db.session.scalar(
                select(func.count())
                .select_from(Order)
                .where(
                    Order.merchant_id == merchant.id,
                    Order.supplier_id == supplier.id,
                    Order.stage == STAGE_ASSIGNED,
                )
            )
        else:
            self.attempt(lambda: self._bind(0, 1))

    # --- rules: the supplier ------------------------------------------------------------------

    @rule(
        s=SUPPLIER_IDX,
        start=st.one_of(st.just(""), st.sampled_from(TRACKING_POOL)),
        render=st.booleans(),
        decision=st.sampled_from(["confirm", "void", "later"]),
        data=st.data(),
    )
    def print_orders(self, s, start, render, decision, data):
        supplier = self.supplier(s)
        picked = self.pick(data, self.current(Order.supplier_id == supplier.id))
        numbers = [order_no(m, i) for m, i in picked]
        result = self.attempt(
            lambda: create_print_job(supplier, numbers, "SF", "100x180", start, self.user("s", s))
        )
        if isinstance(result, DomainError):
            assert result.code == "duplicate_tracking_no", result.code
            return
        REACHED["printed"] += len(result.printed)
        REACHED["print refused"] += len(result.refused)
        for number in result.printed:
            order = db.session.scalar(
                select(Order).where(Order.supplier_id == supplier.id, Order.order_no == number)
            )
            assert order is not None and order.stage in (STAGE_ASSIGNED, STAGE_RETURNED)
            if order.stage == STAGE_ASSIGNED:  # blockers apply until the number comes back
                assert not (order.address_change_pending or order.after_sale_active), number
                assert not order.audit_hold, number
        if result.job is None:
            return
        job = db.session.get(PrintJob, result.job.id)
        if render:
            rendered = self.attempt(
                lambda: render_print_job(current_keyring(), supplier, job, self.user("s", s))
            )
            if not isinstance(rendered, DomainError):
                assert rendered.pdf().startswith(b"%PDF")
        if job.status == JOB_PENDING and decision != "later":
            self.decide_job(s, job.id, decision)

    @rule(s=SUPPLIER_IDX, decision=st.sampled_from(["confirm", "void"]))
    def decide_pending_job(self, s, decision):
        job_id = db.session.scalar(
            select(PrintJob.id).where(
                PrintJob.supplier_id == self.supplier_ids[s], PrintJob.status == JOB_PENDING
            )
        )
        if job_id is not None:
            self.decide_job(s, job_id, decision)

    def decide_job(self, s: int, job_id: int, decision: str) -> None:
        supplier, job = self.supplier(s), db.session.get(PrintJob, job_id)
        if decision == "void":
            self.attempt(lambda: void_print_job(job))
        else:
            confirmed = self.attempt(lambda: confirm_print_job(supplier, job, self.user("s", s)))
            if not isinstance(confirmed, DomainError):
                REACHED["returned by a confirmed print job"] += len(confirmed.returned)
                self.moved -= set(
                    db.session.scalars(
                        select(Order.id).where(
                            Order.supplier_id == supplier.id,
                            Order.order_no.in_(confirmed.returned),
                        )
                    )
                )

    @rule(
        s=SUPPLIER_IDX,
        numbers=st.lists(st.sampled_from(TRACKING_POOL), min_size=2, max_size=2, unique=True),
        extra=st.one_of(st.just(()), st.tuples(st.sampled_from(TRACKING_POOL))),
        data=st.data(),
    )
    def return_tracking_numbers(self, s, numbers, extra, data):
        supplier = self.supplier(s)
        picked = self.pick(data, self.current(Order.supplier_id == supplier.id), 2)
        items = [
            TrackingItem(order_no(*which), "SF", number, extra if n == 0 else ())
            for n, (which, number) in enumerate(zip(picked, numbers, strict=False))
        ]
        result = self.attempt(lambda: return_tracking(supplier, items, self.user("s", s)))
        assert not isinstance(result, DomainError), result
        REACHED["returned"] += len(result.returned)
        for refusal in result.refused:
            REACHED[f"return refused: {refusal.code}"] += 1
        codes = {refusal.code for refusal in result.refused}
        REACHED["duplicate tracking number refused"] += "duplicate_tracking_no" in codes
        sent = {item.order_no: item.tracking_no for item in items}
        for which in picked:
            order = self.order(*which)
            if order.order_no in result.returned:
                self.moved.discard(order.id)
                assert order.supplier_id == supplier.id, order.order_no
                assert order.tracking_no == sent[order.order_no], order.order_no
                assert order.stage in (STAGE_RETURNED, STAGE_DISPATCHED), order.order_no

    @precondition(lambda self: self.current(Order.stage == STAGE_RETURNED))
    @rule(s=SUPPLIER_IDX, data=st.data())
    def take_back_tracking(self, s, data):
        supplier = self.supplier(s)
        focus = self.current(Order.supplier_id == supplier.id, Order.stage == STAGE_RETURNED)
        [which] = self.pick(data, focus, 1)
        outcome = self.attempt(lambda: cancel_return(supplier, order_no(*which)))
        if not isinstance(outcome, DomainError):
            order = self.order(*which)
            assert order.stage == STAGE_ASSIGNED and order.tracking_no == ""
            self.moved.discard(order.id)
            REACHED["return taken back"] += 1

    # --- rules: statements and the clock ------------------------------------------------------

    @rule(minutes=st.sampled_from([1, 5, 9, 10, 11, 60, 60 * 7, 60 * 13]))
    def advance_clock(self, minutes):
        self.clock.advance(minutes=minutes)

    @rule(pair=st.sampled_from(sorted(BOUND)), days_back=st.integers(0, 2))
    def request_and_build_statement(self, pair, days_back):
        m, s = pair
        now = self.clock()
        start = shanghai_day(utcnow()) - timedelta(days=days_back)
        end = shanghai_day(now)
        merchant = self.merchant(m)
        supplier_id = self.supplier_ids[s]
        earlier = self.statement_times[pair]
        allowed = (not earlier or now - earlier[-1] >= timedelta(minutes=10)) and sum(
            shanghai_day(t) == shanghai_day(now) for t in earlier
        ) < 3
        statement = self.attempt(
            lambda: request_statement(merchant, supplier_id, start, end, self.user("m", m))
        )
        if isinstance(statement, DomainError):
            assert statement.code == "statement_rate_limited" and not allowed, statement.code
            REACHED["statement refused by the rate limit"] += 1
            return
        assert allowed, f"a statement past the rate limit was accepted at {now}"
        earlier.append(now)
        statement_id = statement.id
        build_statement(statement_id)
        db.session.expire_all()
        built = db.session.get(Statement, statement_id)
        assert built.status == "ready", (built.status, built.error)
        listed = set(
            db.session.scalars(
                select(StatementLine.order_id).where(StatementLine.statement_id == statement_id)
            )
        )
        expected = {
            o.id
            for o in self.orders_of(merchant.id).values()
            if o.supplier_id == supplier_id
            and o.stage in (STAGE_RETURNED, STAGE_DISPATCHED)
            and start <= o.returned_at.astimezone(SHANGHAI).date() <= end
        }
        assert listed == expected
        assert built.line_count == len(expected)
        REACHED["statement built"] += 1
        REACHED["statement lines"] += len(expected)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def one_active_assignment_per_order(self):
        REACHED["steps"] += 1
        doubled = db.session.execute(
            select(Assignment.order_id)
            .where(Assignment.status == ASSIGNMENT_ACTIVE)
            .group_by(Assignment.order_id)
            .having(func.count() > 1)
        ).all()
        assert not doubled, doubled

    @invariant()
    def stage_agrees_with_supplier_assignment_and_tracking(self):
        active = {
            a.order_id: a
            for a in db.session.scalars(
                select(Assignment).where(Assignment.status == ASSIGNMENT_ACTIVE)
            )
        }
        parcels = defaultdict(list)
        for order_id, parcel, primary in db.session.execute(
            select(OrderParcel.order_id, Parcel, OrderParcel.is_primary).join(
                Parcel, Parcel.id == OrderParcel.parcel_id
            )
        ):
            parcels[order_id].append((parcel, primary))
        for order in db.session.scalars(select(Order)):
            where = f"{order.order_no} ({order.stage})"
            assignment = active.get(order.id)
            attached = parcels.get(order.id, [])
            if order.stage == STAGE_UNASSIGNED:
                assert order.supplier_id is None and assignment is None, where
                assert not attached and order.tracking_no == "", where
                assert order.dispatched_at is None, where
                continue
            assert order.supplier_id is not None, where
            assert assignment is not None and assignment.supplier_id == order.supplier_id, where
            if order.stage == STAGE_ASSIGNED:
                assert not attached and order.tracking_no == "" and order.returned_at is None, where
                assert order.dispatched_at is None, where
            else:
                assert order.tracking_no and order.returned_at is not None, where
                primary = [p.tracking_no for p, is_primary in attached if is_primary]
                assert primary == [order.tracking_no], (where, primary)
                assert len(attached) <= 11, where
                if order.stage == STAGE_RETURNED:
                    assert order.dispatched_at is None, where
                else:
                    assert order.stage == STAGE_DISPATCHED, where
                    assert order.dispatched_at is not None, where
                    assert order.return_address_id is not None, where
            for parcel, _primary in attached:
                # A parcel belongs to the supplier holding the order, for this receiver only:
                # a cancelled assignment keeps nothing, two receivers never share a number.
                assert parcel.supplier_id == order.supplier_id, (where, parcel.tracking_no)
                assert parcel.merchant_id == order.merchant_id, (where, parcel.tracking_no)
                assert parcel.receiver_key == order.receiver_key or order.id in self.moved, (
                    where,
                    parcel.tracking_no,
                )

    @invariant()
    def cancelled_assignments_are_not_current(self):
        for order_id, supplier_id in db.session.execute(
            select(Assignment.order_id, Assignment.supplier_id).where(
                Assignment.status == ASSIGNMENT_CANCELLED
            )
        ):
            order = db.session.get(Order, order_id)
            if order.supplier_id == supplier_id:
                # Only as a later, new assignment to the same supplier.
                assert db.session.scalar(
                    select(func.count())
                    .select_from(Assignment)
                    .where(
                        Assignment.order_id == order_id,
                        Assignment.status == ASSIGNMENT_ACTIVE,
                        Assignment.supplier_id == supplier_id,
                    )
                ), order.order_no

    @invariant()
    def orders_go_only_to_bound_suppliers(self):
        pairs = {
            (b.merchant_id, b.supplier_id): b.status
            for b in db.session.scalars(select(Binding).order_by(Binding.id))
        }
        never = (self.merchant_ids[1], self.supplier_ids[0])
        assert never not in pairs
        for merchant_id, supplier_id in db.session.execute(
            select(Assignment.merchant_id, Assignment.supplier_id).distinct()
        ):
            assert (merchant_id, supplier_id) in pairs, (merchant_id, supplier_id)
        for order in db.session.scalars(select(Order).where(Order.supplier_id.is_not(None))):
            status = pairs.get((order.merchant_id, order.supplier_id))
            assert status in ("active", "ended"), order.order_no
            if order.stage == STAGE_ASSIGNED:
                assert status == "active", order.order_no

    @invariant()
    def tracking_numbers_are_unique_across_receivers(self):
        """One number, one receiver: the parcel's, which every order carrying it had when the
        number came back. (A buyer who changes the address after that keeps the parcel: §4.2
        only warns the merchant at dispatch.)"""
        owners: dict[str, set[tuple[int, str]]] = defaultdict(set)
        for parcel in db.session.scalars(select(Parcel)):
            owners[parcel.tracking_no].add((parcel.merchant_id, parcel.receiver_key))
        carried = db.session.execute(
            select(Parcel.tracking_no, Order)
            .join(OrderParcel, OrderParcel.parcel_id == Parcel.id)
            .join(Order, Order.id == OrderParcel.order_id)
        ).all()
        carried += db.session.execute(
            select(Order.tracking_no, Order).where(Order.tracking_no != "")
        ).all()
        for number, order in carried:
            if order.id not in self.moved:
                owners[number].add((order.merchant_id, order.receiver_key))
        shared = {n: o for n, o in owners.items() if len(o) > 1}
        assert not shared, shared

    @invariant()
    def statements_respect_the_rate_limit(self):
        times: dict[tuple[int, int], list[datetime]] = defaultdict(list)
        for statement in db.session.scalars(
            select(Statement).where(Statement.status != "failed").order_by(Statement.requested_at)
        ):
            times[(statement.merchant_id, statement.supplier_id)].append(statement.requested_at)
        for pair, moments in times.items():
            per_day: dict[object, int] = defaultdict(int)
            for moment in moments:
                per_day[shanghai_day(moment)] += 1
            assert max(per_day.values()) <= 3, (pair, per_day)
            for earlier, later in pairwise(moments):
                assert later - earlier >= timedelta(minutes=10), (pair, earlier, later)

    @invariant()
    def supplier_rows_are_masked(self):
        columns = {column.key for column in MASKED_COLUMNS}
        assert not {c for c in columns if c.endswith("_enc") or c == "phone_index"}
        now = self.clock()
        for supplier_id in self.supplier_ids:
            supplier = db.session.get(Supplier, supplier_id)
            for tab in TABS:
                rows = db.session.execute(orders_query(supplier, SupplierFilters(tab=tab), now))
                for row in rows:
                    # The receiver key is an opaque HMAC (hex) and times are not text: by
                    # chance either may hold five digits of a phone, so only text is searched
                    # (and that without shop IDs: tests/incidental_digits.py).
                    # No receiver data at all once the binding with the merchant ended.
                    if row.bound:
                        assert re.fullmatch(r"[0-9a-f]{32}", row.receiver_key), row.order_no
                    else:
                        assert not (row.receiver_key or row.name_mask or row.province), row
                    text = " ".join(
                        value
                        for key, value in row._mapping.items()
                        if isinstance(value, str) and key != "receiver_key"
                    )
                    found = leaks(text)
                    assert not found, (tab, row.order_no, found)

    def teardown(self) -> None:
        db.session.rollback()


def test_workflow_keeps_its_invariants(app_ctx):
    REACHED.clear()
    try:
        run_state_machine_as_test(
            Workflow,
            settings=settings(
                max_examples=40,
                stateful_step_count=30,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        app_ctx.config.pop("CLOCK", None)
    missed = [
        path
        for path in (
            "assigned",
            "assignment cancelled by the platform",
            "address changed after assignment",
            "assignment to an unbound supplier refused",
            "printed",
            "print refused",
            "returned",
            "returned by a confirmed print job",
            "duplicate tracking number refused",
            "return taken back",
            "dispatched",
            "binding ended",
            "statement built",
            "statement lines",
            "statement refused by the rate limit",
        )
        if not REACHED[path]
    ]
    assert not missed, f"paths never reached: {missed}; reached: {dict(REACHED)}"


def test_the_invariants_catch_a_broken_world(app_ctx):
    """Each invariant fails on the breakage it is about (the machine is not vacuous)."""
    machine = Workflow()
    try:
        order_id = db.session.scalar(select(Order.id).where(Order.stage == STAGE_ASSIGNED))
        breakages = [
            (
                Order.__table__.update().where(Order.id == order_id).values(tracking_no="SF1"),
                machine.stage_agrees_with_supplier_assignment_and_tracking,
            ),
            (
                Order.__table__.update().where(Order.id == order_id).values(name_mask=NAMES[0]),
                machine.supplier_rows_are_masked,
            ),
            (
                Binding.__table__.update().values(status="ended"),
                machine.orders_go_only_to_bound_suppliers,
            ),
        ]
        for statement, check in breakages:
            check()  # holds before
            db.session.execute(statement)
            try:
                check()
            except AssertionError:
                pass
            else:
                raise AssertionError(f"{check.__name__} missed the breakage")
            db.session.rollback()
        now = machine.clock()
        for minutes in (0, 5):
            db.session.add(
                Statement(
                    merchant_id=machine.merchant_ids[0],
                    supplier_id=machine.supplier_ids[0],
                    period_start=shanghai_day(now),
                    period_end=shanghai_day(now),
                    day=shanghai_day(now),
                    slot=minutes // 5 + 1,
                    requested_at=now + timedelta(minutes=minutes),
                    status="ready",
                )
            )
        db.session.flush()
        try:
            machine.statements_respect_the_rate_limit()
        except AssertionError:
            pass
        else:
            raise AssertionError("two statements 5 minutes apart passed")
    finally:
        db.session.rollback()
        current_app.config.pop("CLOCK", None)


def test_re_returning_a_shared_number_after_the_receiver_moved_is_refused(app, factory):
    """Regression (found by the machine): orders A and B to one receiver share a parcel; A's
    buyer then changes the address; returning A's number again used to raise
    TrackingRaceError (a 500 in the API). It is refused as a number of another receiver."""
    m_user, s_user = factory.merchant(), factory.supplier()
    token = factory.token(s_user)
    numbers = ["261121-r00000000000001", "261121-r00000000000002"]
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        supplier = db.session.get(Supplier, s_user.supplier.id)
        binding = bindings.apply_for_binding(merchant, s_user.shop_id)
        bindings.accept_binding(supplier, binding.id)
        upsert_orders(current_keyring(), merchant, [demo_order(n) for n in numbers])
        assert allocation.assign_orders(merchant, numbers, supplier, None).done == numbers
        items = [TrackingItem(n, "SF", "SF1234567890123") for n in numbers]
        assert return_tracking(supplier, items, None).returned == numbers
        upsert_orders(current_keyring(), merchant, [demo_order(numbers[0], detail="人民路1号")])
        db.session.commit()
    client = app.test_client()
    response = client.post(
        "/api/v1/supplier/tracking",
        json={
            "items": [{"order_no": numbers[0], "courier": "SF", "tracking_no": "SF1234567890123"}]
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["returned"] == []
    assert [r["code"] for r in response.json["refused"]] == ["duplicate_tracking_no"]
    with app.app_context():
        kept = db.session.scalars(select(Order.tracking_no).order_by(Order.order_no)).all()
        assert kept == ["SF1234567890123", "SF1234567890123"]  # nothing changed
    # The order alone on its parcel may take the number along to its new receiver.
    with app.app_context():
        supplier = db.session.get(Supplier, s_user.supplier.id)
        cancel_return(supplier, numbers[1])
        db.session.commit()
    response = client.post(
        "/api/v1/supplier/tracking",
        json={
            "items": [{"order_no": numbers[0], "courier": "SF", "tracking_no": "SF1234567890123"}]
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200 and response.json["returned"] == [numbers[0]]


def test_a_return_cannot_be_taken_back_after_the_binding_ended(app_ctx, factory):
    """Regression (found by the machine): the binding ends while an order is returned, so the
    order stays with the merchant to dispatch (DESIGN §3); taking its number back used to put
    it back to `assigned` with a supplier no longer bound — printable, with no binding."""
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    supplier = db.session.get(Supplier, s_user.supplier.id)
    binding = bindings.apply_for_binding(merchant, s_user.shop_id)
    bindings.accept_binding(supplier, binding.id)
    number = "261121-e00000000000001"
    upsert_orders(current_keyring(), merchant, [demo_order(number)])
    assert allocation.assign_orders(merchant, [number], supplier, None).done
    assert return_tracking(supplier, [TrackingItem(number, "SF", "SF1234567890123")], None).returned
    assert bindings.end_binding(binding, "merchant") == 0
    db.session.commit()
    try:
        cancel_return(supplier, number)
    except DomainError as error:
        assert error.code == "binding_not_active"
    else:
        raise AssertionError("the return was taken back without a binding")
    db.session.rollback()
    order = db.session.scalar(select(Order).where(Order.order_no == number))
    assert (order.stage, order.supplier_id, order.tracking_no) == (
        STAGE_RETURNED,
        supplier.id,
        "SF1234567890123",
    )


def test_two_suppliers_never_share_a_parcel(app_ctx, factory):
    """Regression (found by the machine): one merchant's orders to one receiver, with two
    factories. A parcel is shipped by one factory, yet the second could return the first one's
    tracking number and hang its order on the other factory's parcel."""
    m_user, s_users = factory.merchant(), [factory.supplier(), factory.supplier()]
    merchant = db.session.get(Merchant, m_user.merchant.id)
    suppliers = []
    for s_user in s_users:
        supplier = db.session.get(Supplier, s_user.supplier.id)
        bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
        suppliers.append(supplier)
    numbers = ["261121-t00000000000001", "261121-t00000000000002"]
    upsert_orders(current_keyring(), merchant, [demo_order(n) for n in numbers])  # one receiver
    for number, supplier in zip(numbers, suppliers, strict=True):
        assert allocation.assign_orders(merchant, [number], supplier, None).done
    first = return_tracking(suppliers[0], [TrackingItem(numbers[0], "SF", "SF1234567890123")], None)
    assert first.returned == [numbers[0]]
    second = return_tracking(
        suppliers[1], [TrackingItem(numbers[1], "SF", "SF1234567890123")], None
    )
    assert second.returned == []
    assert [(r.order_no, r.code) for r in second.refused] == [(numbers[1], "duplicate_tracking_no")]
    # The same factory may still put both orders of the receiver into one parcel.
    assert allocation.cancel_assignments(merchant, [numbers[1]], None).done
    assert allocation.assign_orders(merchant, [numbers[1]], suppliers[0], None).done
    again = return_tracking(suppliers[0], [TrackingItem(numbers[1], "SF", "SF1234567890123")], None)
    assert again.returned == [numbers[1]]
