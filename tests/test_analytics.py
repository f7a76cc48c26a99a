"""Shipping analytics: every figure of both reports equals a direct computation over the orders.

Random orders around the edges that matter (midnight, the shop's cut-off, the period's first
and last day, "now"), the worker's roll-ups built from scratch, then changed orders applied
incrementally: the reports must match an independent count over the orders each time.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from portal.domain import analytics
from portal.extensions import db
from portal.models import (
    AnalyticsDaily,
    AnalyticsOrderFacts,
    AnalyticsProgress,
    AnalyticsReturnHours,
    AnalyticsReturnHoursMonthly,
    Binding,
    Merchant,
    Order,
    Supplier,
)
from portal.models.bindings import BINDING_ACTIVE
from portal.models.orders import STAGE_ASSIGNED, STAGE_DISPATCHED, STAGE_RETURNED

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A fixed calendar for the generated data: never today's date. Day 0 is the first of a month
# after a whole month (February 2031: days -28 … -1), so periods cover whole months too.
BASE_DAY = date(2031, 3, 1)
WINDOW_DAYS = 6
FIRST_DAY = -40


def local(day_offset: int, moment: time) -> datetime:
    return datetime.combine(BASE_DAY + timedelta(days=day_offset), moment, tzinfo=SHANGHAI)


def edge_times(cutoff: int) -> st.SearchStrategy[time]:
    """Times of day on and around midnight and the cut-off, or anywhere."""
    cut = datetime.combine(BASE_DAY, time.min) + timedelta(minutes=cutoff)
    edges = [
        time.min,
        time(0, 0, 0, 1),
        time(23, 59, 59, 999999),
        (cut - timedelta(microseconds=1)).time(),
        cut.time(),
        (cut + timedelta(seconds=1)).time(),
    ]
    anywhere = st.builds(
        time,
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
        st.sampled_from([0, 1, 500000, 999999]),
    )
    return st.one_of(st.sampled_from(edges), anywhere)


def moments(cutoff: int) -> st.SearchStrategy[datetime]:
    days = st.one_of(st.integers(-1, WINDOW_DAYS), st.sampled_from([-29, -28, -15, -1]))
    return st.builds(local, days, edge_times(cutoff))


def gaps() -> st.SearchStrategy[timedelta]:
    """How long a step took: nothing, a tenth of an hour ± 1 µs, hours, days."""
    return st.one_of(
        st.sampled_from(
            [
                timedelta(0),
                timedelta(minutes=3),
                timedelta(minutes=3, microseconds=-1),
                timedelta(minutes=6),
                timedelta(hours=16),
                timedelta(hours=9, minutes=57),  # 9.95 h: the last tenth, and the first hour
                timedelta(hours=10, minutes=29, seconds=59),
            ]
        ),
        st.builds(timedelta, seconds=st.integers(0, 3 * 86400)),
    )


@st.composite
def scenario(draw: Any) -> dict[str, Any]:
    cutoff = draw(st.sampled_from([0, 16 * 60, 23 * 60 + 59, 9 * 60 + 30]))
    today = draw(st.integers(-1, WINDOW_DAYS))
    now = local(today, draw(edge_times(cutoff)))
    orders = []
    for _ in range(draw(st.integers(0, 25))):
        owner = draw(st.sampled_from(["m1", "m1", "m1", "m2"]))
        supplier = draw(st.sampled_from(["s1", "s1", "s2", None]))
        paid = draw(st.one_of(st.none(), moments(cutoff)))
        promise = draw(st.one_of(st.none(), moments(cutoff)))
        assigned = returned = dispatched = None
        if supplier:
            assigned = draw(moments(cutoff))
            if draw(st.booleans()):
                returned = assigned + draw(gaps())
                if draw(st.booleans()):
                    dispatched = returned + draw(gaps())
        orders.append(
            {
                "merchant": owner,
                "supplier": supplier,
                "paid_at": paid,
                "promise_ship_at": promise,
                "assigned_at": assigned,
                "returned_at": returned,
                "dispatched_at": dispatched,
                "after_sale_active": draw(st.booleans()),
            }
        )
    first = draw(
        st.one_of(
            st.integers(-1, today),
            st.integers(FIRST_DAY, today),
            st.sampled_from([FIRST_DAY, -29, -28, -27]),  # around February's edges
        )
    )
    last = draw(
        st.one_of(st.integers(first, WINDOW_DAYS), st.integers(max(first, -1), WINDOW_DAYS))
    )
    changes = draw(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(CHANGES)), max_size=6))
    return {
        "cutoff": cutoff,
        "now": now,
        "orders": orders,
        "start": BASE_DAY + timedelta(days=first),
        "end": BASE_DAY + timedelta(days=last),
        "changes": changes,
    }


CHANGES = ("return", "unreturn", "dispatch", "cancel", "reassign", "after_sale", "repromise")


# --- the direct computation ------------------------------------------------------------------


def day_of(moment: datetime | None) -> date | None:
    return moment.astimezone(SHANGHAI).date() if moment else None


def expected(
    orders: list[Order],
    cutoffs: dict[int, int],
    side: str,
    owner: int,
    start: date,
    end: date,
    now: datetime,
) -> dict[str, Any]:
    partner_key = "supplier_id" if side == "merchant_id" else "merchant_id"
    mine = [o for o in orders if getattr(o, side) == owner and o.supplier_id is not None]
    today = day_of(now)

    def in_period(moment: datetime | None) -> bool:
        return moment is not None and start <= day_of(moment) <= end

    def figures(group: list[Order]) -> dict[str, Any]:
        returned = [o for o in group if in_period(o.returned_at)]
        same_day_met = same_day_decided = overdue = promise_decided = 0
        for o in group:
            if in_period(o.paid_at):
                paid_day = day_of(o.paid_at)
                cut = datetime.combine(paid_day, time.min, tzinfo=SHANGHAI) + timedelta(
                    minutes=cutoffs[o.merchant_id]
                )
                if o.paid_at < cut:
                    deadline = datetime.combine(
                        paid_day + timedelta(days=1), time.min, tzinfo=SHANGHAI
                    )
                else:
                    deadline = cut + timedelta(days=1)
                if o.returned_at is not None or now >= deadline:
                    same_day_decided += 1
                    same_day_met += o.returned_at is not None and o.returned_at < deadline
            if in_period(o.promise_ship_at):
                if o.returned_at is not None:
                    promise_decided += 1
                    overdue += o.returned_at >= o.promise_ship_at
                elif now >= o.promise_ship_at:
                    promise_decided += 1
                    overdue += 1
        hours = sorted(
            Fraction(max(0, (o.returned_at - o.assigned_at) // timedelta(microseconds=1)))
            / 3_600_000_000
            for o in returned
        )

        def bucket(value: Fraction) -> int:
            """In tenths: to 0.1 h under 10 h, to the whole hour beyond."""
            tenths = math.floor(value * 10 + Fraction(1, 2))
            return tenths if tenths < 100 else math.floor(value + Fraction(1, 2)) * 10

        def percentile(share: float) -> float | None:
            if not hours:
                return None
            return bucket(hours[math.ceil(share * len(hours)) - 1]) / 10

        histogram: dict[int, int] = {}
        for value in hours:
            histogram[bucket(value)] = histogram.get(bucket(value), 0) + 1

        def rate(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        return {
            "assigned": sum(in_period(o.assigned_at) for o in group),
            "returned": len(returned),
            "dispatched": sum(in_period(o.dispatched_at) for o in group),
            "same_day_rate": rate(same_day_met, same_day_decided),
            "overdue": overdue,
            "overdue_rate": rate(overdue, promise_decided),
            "on_time_rate": rate(promise_decided - overdue, promise_decided),
            "return_hours_p50": percentile(0.5),
            "return_hours_p90": percentile(0.9),
            "after_sale_rate": rate(sum(o.after_sale_active for o in returned), len(returned)),
            "hours": histogram,
        }

    partners = {getattr(o, partner_key) for o in mine}
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    daily = {}
    for day in days:

        def on(moment: datetime | None, day: date = day) -> bool:
            return moment is not None and day_of(moment) == day

        one_day = expected_day(mine, day, now, on)
        daily[day] = one_day
    assert today is not None
    return {
        "items": {p: figures([o for o in mine if getattr(o, partner_key) == p]) for p in partners},
        "total": figures(mine),
        "daily": daily,
    }


def expected_day(mine: list[Order], day: date, now: datetime, on: Any) -> dict[str, Any]:
    decided = late = 0
    for o in mine:
        if on(o.promise_ship_at):
            if o.returned_at is not None:
                decided += 1
                late += o.returned_at >= o.promise_ship_at
            elif now >= o.promise_ship_at:
                decided += 1
                late += 1
    return {
        "assigned": sum(bool(on(o.assigned_at)) for o in mine),
        "dispatched": sum(bool(on(o.dispatched_at)) for o in mine),
        "on_time_rate": (decided - late) / decided if decided else None,
    }


def figures_of(counts: analytics.Counts) -> dict[str, Any]:
    return {
        "assigned": counts.assigned,
        "returned": counts.returned,
        "dispatched": counts.dispatched,
        "same_day_rate": counts.same_day_rate,
        "overdue": counts.overdue,
        "overdue_rate": counts.overdue_rate,
        "on_time_rate": counts.on_time_rate,
        "return_hours_p50": counts.return_hours_p50,
        "return_hours_p90": counts.return_hours_p90,
        "after_sale_rate": counts.after_sale_rate,
        "hours": {tenths: n for tenths, n in counts.hours.items() if n},
    }


# --- the property ----------------------------------------------------------------------------


def _setup(app: Flask, factory: Any) -> dict[str, int]:
    ids = {}
    with app.app_context():
        for key in ("m1", "m2"):
            ids[key] = factory.merchant().merchant.id
        for key in ("s1", "s2", "s3"):
            ids[key] = factory.supplier().supplier.id
        # s3 is bound but has no orders: it is listed with empty figures.
        for merchant in ("m1", "m2"):
            for supplier in ("s1", "s2", "s3"):
                db.session.add(
                    Binding(
                        merchant_id=ids[merchant], supplier_id=ids[supplier], status=BINDING_ACTIVE
                    )
                )
        db.session.commit()
    return ids


def _reset(ids: dict[str, int], cutoff: int) -> None:
    for model in (
        AnalyticsOrderFacts,
        AnalyticsDaily,
        AnalyticsReturnHours,
        AnalyticsReturnHoursMonthly,
        AnalyticsProgress,
    ):
        db.session.execute(delete(model))
    db.session.execute(delete(Order))
    db.session.execute(
        update(Merchant).where(Merchant.id == ids["m1"]).values(same_day_cutoff=cutoff)
    )
    db.session.commit()


def _insert(ids: dict[str, int], orders: list[dict[str, Any]]) -> None:
    for number, values in enumerate(orders):
        stage = (
            STAGE_DISPATCHED
            if values["dispatched_at"]
            else STAGE_RETURNED
            if values["returned_at"]
            else STAGE_ASSIGNED
            if values["supplier"]
            else "unassigned"
        )
        db.session.add(
            Order(
                merchant_id=ids[values["merchant"]],
                order_no=f"A-{number}",
                platform_status="awaiting_shipment",
                stage=stage,
                supplier_id=ids[values["supplier"]] if values["supplier"] else None,
                **{k: values[k] for k in values if k not in ("merchant", "supplier")},
            )
        )
    db.session.commit()


def _change(ids: dict[str, int], changes: list[tuple[int, str]], now: datetime) -> None:
    """Change orders the way the services do (every UPDATE moves updated_at)."""
    orders = db.session.scalars(select(Order).order_by(Order.id)).all()
    for index, change in changes:
        if not orders:
            return
        order = orders[index % len(orders)]
        if change == "return" and order.supplier_id and order.returned_at is None:
            order.returned_at, order.stage = now, STAGE_RETURNED
        elif change == "unreturn" and order.returned_at and order.dispatched_at is None:
            order.returned_at, order.stage = None, STAGE_ASSIGNED
        elif change == "dispatch" and order.returned_at and order.dispatched_at is None:
            order.dispatched_at, order.stage = max(now, order.returned_at), STAGE_DISPATCHED
        elif change == "cancel" and order.supplier_id and order.returned_at is None:
            order.supplier_id, order.assigned_at, order.stage = None, None, "unassigned"
        elif change == "reassign" and order.supplier_id is None:
            order.supplier_id, order.assigned_at, order.stage = ids["s2"], now, STAGE_ASSIGNED
        elif change == "after_sale":
            order.after_sale_active = not order.after_sale_active
        elif change == "repromise":
            order.promise_ship_at = now + timedelta(hours=index - 15)
        db.session.flush()
    db.session.commit()


def _check(ids: dict[str, int], data: dict[str, Any]) -> None:
    orders = db.session.scalars(select(Order)).all()
    cutoffs = {m: c for m, c in db.session.execute(select(Merchant.id, Merchant.same_day_cutoff))}
    now, start, end = data["now"], data["start"], data["end"]
    merchant = db.session.get(Merchant, ids["m1"])
    supplier = db.session.get(Supplier, ids["s1"])
    for side, owner, report in (
        ("merchant_id", ids["m1"], analytics.supplier_report(merchant, start, end, now)),
        ("supplier_id", ids["s1"], analytics.merchant_report(supplier, start, end, now)),
    ):
        want = expected(orders, cutoffs, side, owner, start, end, now)
        got = {item.partner_id: figures_of(item.counts) for item in report.items}
        for partner_id, figures in want["items"].items():
            assert got[partner_id] == figures, (side, partner_id)
        # Partners listed without orders of the period have nothing counted.
        for partner_id in set(got) - set(want["items"]):
            assert got[partner_id]["assigned"] == 0
            assert got[partner_id]["return_hours_p50"] is None
        assert figures_of(report.total) == want["total"]
        assert [d.day for d in report.daily] == list(want["daily"])
        for day in report.daily:
            got_day = figures_of(day.counts)
            assert {k: got_day[k] for k in ("assigned", "dispatched", "on_time_rate")} == want[
                "daily"
            ][day.day], day.day


@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=scenario())
def test_reports_equal_a_direct_computation(app: Flask, factory: Any, data: dict) -> None:
    ids = _ids_once(app, factory)
    with app.app_context():
        _reset(ids, data["cutoff"])
        _insert(ids, data["orders"])
        analytics.refresh()
        _check(ids, data)
        # The worker's next pass applies only the changes, taking old contributions out.
        _change(ids, data["changes"], data["now"])
        analytics.refresh()
        _check(ids, data)


def _ids_once(app: Flask, factory: Any) -> dict[str, int]:
    cached = app.config.setdefault("_analytics_ids", {})
    if not cached:
        cached.update(_setup(app, factory))
    return cached


def test_a_first_pass_spread_over_sweeps_adds_up(
    app: Flask, factory: Any, monkeypatch: Any
) -> None:
    """The worker's sweeps read a few chunks each; together they count every order once."""
    ids = _setup(app, factory)
    now = local(3, time(12))
    orders = [
        {
            "merchant": "m1",
            "supplier": "s1" if n % 3 else "s2",
            "paid_at": local(n % 4, time(15, 59)),
            "promise_ship_at": local(1 + n % 3, time(10)),
            "assigned_at": local(n % 4, time(16, 30)),
            "returned_at": local(n % 4, time(18, n)) if n % 2 else None,
            "dispatched_at": None,
            "after_sale_active": n == 3,
        }
        for n in range(9)
    ]
    monkeypatch.setattr(analytics, "CHUNK", 2)
    with app.app_context():
        _reset(ids, 16 * 60)
        _insert(ids, orders)
        passes = 0
        while True:
            passes += 1
            if analytics.refresh(max_chunks=2) == 0:
                break
        assert passes == 4  # 9 orders, 4 a pass: three passes that count, one that finds none
        data = {"now": now, "start": BASE_DAY, "end": BASE_DAY + timedelta(days=3)}
        _check(ids, data)


def test_the_deadline_edge_is_the_desks_one(app: Flask, factory: Any) -> None:
    """超时 from 承诺发货时间 on, as on both desks (portal.models.orders.OVERDUE): an order
    returned at that very moment is late, an open one whose time is now is overdue today (and
    the factory's workload beside it says so too); a microsecond earlier is on time."""
    ids = _setup(app, factory)
    now = local(3, time(12))
    promise = now
    base = {"merchant": "m1", "supplier": "s1", "paid_at": None, "dispatched_at": None}
    orders = [
        # returned exactly at 承诺发货时间; a microsecond before it; still open at it
        {
            **base,
            "promise_ship_at": promise - timedelta(hours=1),
            "assigned_at": local(3, time(9)),
            "returned_at": promise - timedelta(hours=1),
            "after_sale_active": False,
        },
        {
            **base,
            "promise_ship_at": promise,
            "assigned_at": local(3, time(9)),
            "returned_at": promise - timedelta(microseconds=1),
            "after_sale_active": False,
        },
        {
            **base,
            "promise_ship_at": promise,
            "assigned_at": local(3, time(9)),
            "returned_at": None,
            "after_sale_active": False,
        },
    ]
    with app.app_context():
        _reset(ids, 16 * 60)
        _insert(ids, orders)
        analytics.refresh()
        merchant = db.session.get(Merchant, ids["m1"])
        supplier = db.session.get(Supplier, ids["s1"])
        day = BASE_DAY + timedelta(days=3)
        [row] = [
            i
            for i in analytics.supplier_report(merchant, day, day, now).items
            if i.partner_id == ids["s1"]
        ]
        assert (row.counts.overdue, row.counts.promise_decided) == (2, 3)
        [row] = [
            i
            for i in analytics.merchant_report(supplier, day, day, now).items
            if i.partner_id == ids["m1"]
        ]
        assert (row.counts.overdue, row.counts.promise_decided) == (2, 3)
        assert row.workload is not None and row.workload["overdue"] == 1
        _check(ids, {"now": now, "start": day, "end": day})
