"""Shipping analytics (seeds 002, 003): how fast and how reliably each factory ships.

Figures per merchant–factory pair over a period of Asia/Shanghai days (both ends included):

- assigned / returned / dispatched: orders assigned, tracking numbers returned, orders
  dispatched on the period's days (an assignment later cancelled no longer counts).
- same_day_rate: of the orders paid on the period's days, the share whose tracking number came
  back the same day when paid before the shop's cut-off (default 16:00), else before the next
  day's cut-off. An order not returned yet counts only once its deadline has passed.
- overdue / overdue_rate: orders whose 承诺发货时间 falls on the period's days and whose tracking
  number came back after it, or has not come back and the time has passed; the rate is over
  the orders already decided (returned, or past the time). The daily on_time_rate is its
  complement per day.
- return_hours_p50 / p90: hours from assignment to the returned tracking number (to 0.1 h),
  over the orders returned on the period's days; nearest-rank percentiles.
- after_sale_rate: of the orders returned on the period's days, the share with an after-sale.

The worker keeps per-order facts and daily roll-ups current (`refresh`, a sweeper every minute):
each changed order's old contribution is taken out of the roll-ups and its new one put in, so
a year of figures is a sum over a few hundred rows. Only today's overdue count reads per-order
facts (open orders whose time passed since midnight).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, select, tuple_, union_all

from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI
from portal.domain.orders.rules import OVERDUE
from portal.domain.statements.clock import now_utc
from portal.domain.statements.requesting import check_period
from portal.domain.supplier_orders import workload_by_merchant
from portal.extensions import db, dialect_insert
from portal.jobs import queue
from portal.models import (
    AnalyticsDaily,
    AnalyticsOrderFacts,
    AnalyticsProgress,
    AnalyticsReturnHours,
    AnalyticsReturnHoursMonthly,
    Binding,
    Merchant,
    Order,
    Statement,
    Supplier,
    User,
)
from portal.models.analytics import (
    PAID_MET,
    PAID_MISSED,
    PAID_OPEN_AFTER,
    PAID_OPEN_BEFORE,
    PROMISE_LATE,
    PROMISE_ON_TIME,
    PROMISE_OPEN,
)
from portal.models.bindings import BINDING_ACTIVE
from portal.models.settlement import STATEMENT_READY

# Orders read and applied per transaction, and at most per sweep (a minute apart).
CHUNK = 2000
CHUNKS_PER_SWEEP = 50
# Each pass re-reads the changes of this long before the last one: an order written just
# before a pass but committed after it (its updated_at is the write time) is not missed.
MARGIN = timedelta(minutes=2)
PROGRESS_ID = 1
MICROSECOND = timedelta(microseconds=1)
TENTH_MICROS = 360_000_000  # a tenth of an hour
HOUR_MICROS = 10 * TENTH_MICROS
FINE_TENTHS = 100  # latencies under 10 h keep their tenths


# --- what one order counts for ---------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """One order's contribution to its pair's roll-ups (AnalyticsOrderFacts as a value)."""

    merchant_id: int
    supplier_id: int
    assigned_day: date | None = None
    returned_day: date | None = None
    return_tenths: int | None = None
    after_sale: bool = False
    dispatched_day: date | None = None
    paid_day: date | None = None
    paid_kind: str | None = None
    promise_day: date | None = None
    promise_kind: str | None = None
    open_promise_at: datetime | None = None

    def contributions(self) -> Iterable[tuple[str, tuple[Any, ...], str]]:
        """(table, key, counter) triples this order adds one to."""
        pair = (self.merchant_id, self.supplier_id)
        if self.assigned_day:
            yield "daily", (*pair, self.assigned_day), "assigned"
        if self.returned_day:
            yield "daily", (*pair, self.returned_day), "returned"
            if self.after_sale:
                yield "daily", (*pair, self.returned_day), "after_sale"
            if self.return_tenths is not None:
                yield "hours", (*pair, self.returned_day, self.return_tenths), "orders"
                month = self.returned_day.replace(day=1)
                yield "hours_month", (*pair, month, self.return_tenths), "orders"
        if self.dispatched_day:
            yield "daily", (*pair, self.dispatched_day), "dispatched"
        if self.paid_day and self.paid_kind:
            yield "daily", (*pair, self.paid_day), f"paid_{self.paid_kind}"
        if self.promise_day and self.promise_kind:
            yield "daily", (*pair, self.promise_day), f"promise_{self.promise_kind}"


def local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def cutoff_at(day: date, cutoff_minutes: int) -> datetime:
    return local_midnight(day) + timedelta(minutes=cutoff_minutes)


def same_day_deadline(paid_at: datetime, cutoff_minutes: int) -> tuple[datetime, bool]:
    """(the instant the tracking number must be back before, paid before the cut-off?)."""
    day = local_day(paid_at)
    if paid_at < cutoff_at(day, cutoff_minutes):
        return local_midnight(day + timedelta(days=1)), True
    return cutoff_at(day + timedelta(days=1), cutoff_minutes), False


def return_tenths(assigned_at: datetime, returned_at: datetime) -> int:
    """Hours from assignment to return in tenths: to 0.1 h under 10 h, to the whole hour
    beyond (so a period's histogram stays a few hundred rows), rounded half up, never < 0."""
    micros = max(0, (returned_at - assigned_at) // MICROSECOND)
    tenths = (micros + TENTH_MICROS // 2) // TENTH_MICROS
    if tenths < FINE_TENTHS:
        return tenths
    return (micros + HOUR_MICROS // 2) // HOUR_MICROS * 10


def facts_of(order: Any, cutoff_minutes: int) -> Facts | None:
    """What an order (anything with Order's attributes) counts for; None without a factory."""
    if order.supplier_id is None:
        return None
    returned_at: datetime | None = order.returned_at
    values: dict[str, Any] = {}
    if order.assigned_at is not None:
        values["assigned_day"] = local_day(order.assigned_at)
    if returned_at is not None:
        values["returned_day"] = local_day(returned_at)
        values["after_sale"] = bool(order.after_sale_active)
        if order.assigned_at is not None:
            values["return_tenths"] = return_tenths(order.assigned_at, returned_at)
    if order.dispatched_at is not None:
        values["dispatched_day"] = local_day(order.dispatched_at)
    if order.paid_at is not None:
        deadline, before_cutoff = same_day_deadline(order.paid_at, cutoff_minutes)
        values["paid_day"] = local_day(order.paid_at)
        if returned_at is None:
            values["paid_kind"] = PAID_OPEN_BEFORE if before_cutoff else PAID_OPEN_AFTER
        else:
            values["paid_kind"] = PAID_MET if returned_at < deadline else PAID_MISSED
    if order.promise_ship_at is not None:
        values["promise_day"] = local_day(order.promise_ship_at)
        if returned_at is None:
            values["promise_kind"] = PROMISE_OPEN
            values["open_promise_at"] = order.promise_ship_at
        elif OVERDUE.contains(order.promise_ship_at, returned_at):
            # Returned when the desks already showed it overdue (the edge is OVERDUE's).
            values["promise_kind"] = PROMISE_LATE
        else:
            values["promise_kind"] = PROMISE_ON_TIME
    return Facts(order.merchant_id, order.supplier_id, **values)


# --- keeping the roll-ups current (the worker) -----------------------------------------------

_FACT_FIELDS = tuple(Facts.__dataclass_fields__)
_ORDER_COLUMNS = (
    Order.id,
    Order.merchant_id,
    Order.supplier_id,
    Order.assigned_at,
    Order.returned_at,
    Order.dispatched_at,
    Order.paid_at,
    Order.promise_ship_at,
    Order.after_sale_active,
    Order.updated_at,
)


def _lock_progress() -> AnalyticsProgress:
    """The progress row, locked: one pass applies its deltas at a time, across processes.
    (SQLite: the worker's transaction began IMMEDIATE and holds the write lock already.)"""
    db.session.execute(
        dialect_insert(AnalyticsProgress).values(id=PROGRESS_ID).on_conflict_do_nothing()
    )
    return db.session.scalars(
        select(AnalyticsProgress)
        .where(AnalyticsProgress.id == PROGRESS_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _apply(order_rows: Sequence[Any]) -> int:
    """Bring these orders' facts and their roll-up counters up to date; the number changed.
    Call with the progress row locked."""
    ids = [row.id for row in order_rows]
    cutoffs = _cutoffs({row.merchant_id for row in order_rows})
    old_rows = db.session.scalars(
        select(AnalyticsOrderFacts).where(AnalyticsOrderFacts.order_id.in_(ids))
    ).all()
    old = {row.order_id: Facts(**{f: getattr(row, f) for f in _FACT_FIELDS}) for row in old_rows}
    deltas: dict[tuple[str, tuple[Any, ...]], dict[str, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    upserts: list[dict[str, Any]] = []
    removed: list[int] = []
    for row in order_rows:
        before, after = old.get(row.id), facts_of(row, cutoffs[row.merchant_id])
        if before == after:
            continue
        for facts, sign in ((before, -1), (after, 1)):
            if facts is not None:
                for table, key, counter in facts.contributions():
                    deltas[table, key][counter] += sign
        if after is None:
            removed.append(row.id)
        else:
            upserts.append({"order_id": row.id, **after.__dict__})
    _add_counts(deltas)
    if removed:
        db.session.execute(
            delete(AnalyticsOrderFacts).where(AnalyticsOrderFacts.order_id.in_(removed))
        )
    if upserts:
        statement = dialect_insert(AnalyticsOrderFacts)
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=[AnalyticsOrderFacts.order_id],
                set_={f: statement.excluded[f] for f in _FACT_FIELDS},
            ),
            upserts,
        )
    db.session.expire_all()
    return len(upserts) + len(removed)


_TABLES = {
    "daily": (AnalyticsDaily, ("merchant_id", "supplier_id", "day")),
    "hours": (AnalyticsReturnHours, ("merchant_id", "supplier_id", "day", "tenths")),
    "hours_month": (AnalyticsReturnHoursMonthly, ("merchant_id", "supplier_id", "month", "tenths")),
}
_DAILY_COUNTERS = (
    "assigned",
    "returned",
    "after_sale",
    "dispatched",
    "paid_met",
    "paid_missed",
    "paid_open_before",
    "paid_open_after",
    "promise_on_time",
    "promise_late",
    "promise_open",
)


def _add_counts(deltas: dict[tuple[str, tuple[Any, ...]], dict[str, int]]) -> None:
    """Add the deltas to the roll-up rows, creating missing ones (one upsert per table)."""
    for table_name, (model, key_names) in _TABLES.items():
        counters = _DAILY_COUNTERS if table_name == "daily" else ("orders",)
        rows = [
            {**dict(zip(key_names, key, strict=True)), **{c: changes.get(c, 0) for c in counters}}
            for (name, key), changes in sorted(deltas.items(), key=lambda item: item[0][1])
            if name == table_name and any(changes.values())
        ]
        if not rows:
            continue
        statement = dialect_insert(model)
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=list(key_names),
                set_={c: getattr(model, c) + statement.excluded[c] for c in counters},
            ),
            rows,
        )


def refresh(now: datetime | None = None, max_chunks: int | None = None) -> int:
    """Apply every order changed since the last pass (all orders on the first); commits per
    chunk. With `max_chunks`, stops after that many and the next pass goes on from there (the
    first pass over a million orders is spread over several sweeps instead of holding the
    worker's sweeper for minutes). Returns how many orders' facts changed."""
    started = now or now_utc()
    progress = _lock_progress()
    since = progress.scanned_until - MARGIN if progress.scanned_until else None
    db.session.commit()
    changed, chunks = 0, 0
    after: tuple[datetime, int] | None = None
    reached = started  # where the next pass may start, less MARGIN
    while True:
        if max_chunks is not None and chunks >= max_chunks:
            # Unfinished: the next pass starts at the last change read (re-reading that
            # instant's orders changes nothing).
            reached = after[0] + MARGIN if after else started
            break
        _lock_progress()
        # The orders alone (the shops' cut-offs are read per chunk): joined to the merchants,
        # SQLite's planner walked every order of each shop instead of the updated_at index.
        query = select(*_ORDER_COLUMNS)
        if since is not None:
            query = query.where(Order.updated_at >= since)
        if after is not None:
            query = query.where(tuple_(Order.updated_at, Order.id) > after)
        rows = db.session.execute(query.order_by(Order.updated_at, Order.id).limit(CHUNK)).all()
        if not rows:
            break
        changed += _apply(rows)
        chunks += 1
        after = (rows[-1].updated_at, rows[-1].id)
        db.session.commit()
    progress = _lock_progress()
    # Only forward: a pass that ran alongside may have read further.
    if progress.scanned_until is None or progress.scanned_until < reached:
        progress.scanned_until = reached
    db.session.commit()
    return changed


def rebuild_merchant(merchant_id: int) -> int:
    """Recompute one merchant's facts (its cut-off changed): all its orders, by id."""
    changed, after = 0, 0
    while True:
        _lock_progress()
        rows = db.session.execute(
            select(*_ORDER_COLUMNS)
            .where(Order.merchant_id == merchant_id, Order.id > after)
            .order_by(Order.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        changed += _apply(rows)
        after = rows[-1].id
        db.session.commit()
    db.session.commit()
    return changed


REBUILD_MERCHANT = "analytics.rebuild_merchant"


@queue.task(REBUILD_MERCHANT)
def rebuild_merchant_job(merchant_id: int) -> None:
    rebuild_merchant(merchant_id)


@queue.sweeper
def keep_analytics_current() -> None:
    """Sweepers run when a worker starts and every minute."""
    refresh(max_chunks=CHUNKS_PER_SWEEP)


def cutoff_time(merchant: Merchant) -> time:
    return time(*divmod(merchant.same_day_cutoff, 60))


def schedule_rebuild(merchant: Merchant) -> None:
    """After a committed cut-off change: the worker recounts the merchant's orders."""
    queue.enqueue(REBUILD_MERCHANT, merchant.id)


def set_cutoff(merchant: Merchant, cutoff_minutes: int) -> bool:
    """Change the shop's same-day cut-off; True when the figures need recomputing (the caller
    commits, then enqueues `analytics.rebuild_merchant`)."""
    if not 0 <= cutoff_minutes < 24 * 60:
        raise DomainError("validation_error", field="same_day_cutoff")
    changed = merchant.same_day_cutoff != cutoff_minutes
    merchant.same_day_cutoff = cutoff_minutes
    return changed


# --- reading: the figures of a period --------------------------------------------------------


@dataclass
class Counts:
    """Raw counts of one partner (or one day, or everything); rates are derived."""

    assigned: int = 0
    returned: int = 0
    dispatched: int = 0
    after_sale: int = 0
    same_day_met: int = 0
    same_day_decided: int = 0
    overdue: int = 0
    promise_decided: int = 0
    hours: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: Counts) -> None:
        for name in (
            "assigned",
            "returned",
            "dispatched",
            "after_sale",
            "same_day_met",
            "same_day_decided",
            "overdue",
            "promise_decided",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for tenths, orders in other.hours.items():
            self.hours[tenths] += orders

    @property
    def same_day_rate(self) -> float | None:
        return ratio(self.same_day_met, self.same_day_decided)

    @property
    def overdue_rate(self) -> float | None:
        return ratio(self.overdue, self.promise_decided)

    @property
    def on_time_rate(self) -> float | None:
        return ratio(self.promise_decided - self.overdue, self.promise_decided)

    @property
    def after_sale_rate(self) -> float | None:
        return ratio(self.after_sale, self.returned)

    @property
    def return_hours_p50(self) -> float | None:
        return percentile_hours(self.hours, 0.5)

    @property
    def return_hours_p90(self) -> float | None:
        return percentile_hours(self.hours, 0.9)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile_hours(histogram: dict[int, int], share: float) -> float | None:
    """Nearest-rank percentile of a {tenths of an hour: orders} histogram, in hours."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = math.ceil(share * total), 0
    for tenths in sorted(histogram):
        seen += histogram[tenths]
        if seen >= rank:
            return tenths / 10
    raise AssertionError("unreachable")


@dataclass
class PartnerFigures:
    """One factory (merchant side) or one merchant (factory side) over the period."""

    partner_id: int
    shop_id: str
    shop_name: str
    counts: Counts
    statement_count: int = 0
    statement_fen: int = 0
    workload: dict[str, int] | None = None


@dataclass
class DayFigures:
    day: date
    counts: Counts


@dataclass
class Report:
    start: date
    end: date
    items: list[PartnerFigures]
    daily: list[DayFigures]
    total: Counts


@dataclass(frozen=True)
class _Side:
    """Which column names the viewer and which the partner, in every analytics table."""

    owner: str  # "merchant_id" | "supplier_id"
    partner: str


MERCHANT_SIDE = _Side("merchant_id", "supplier_id")
SUPPLIER_SIDE = _Side("supplier_id", "merchant_id")


def supplier_report(
    merchant: Merchant, start: date | None, end: date | None, now: datetime | None = None
) -> Report:
    """The merchant's factories over [start, end] (Asia/Shanghai days)."""
    return _report(MERCHANT_SIDE, merchant.id, start, end, now or now_utc())


def merchant_report(
    supplier: Supplier, start: date | None, end: date | None, now: datetime | None = None
) -> Report:
    """The factory's merchants over [start, end], with today's workload per merchant."""
    report = _report(SUPPLIER_SIDE, supplier.id, start, end, now or now_utc())
    workload = workload_by_merchant(supplier, now or now_utc())
    for item in report.items:
        item.workload = workload.get(item.partner_id, {"to_print": 0, "soon": 0, "overdue": 0})
    return report


def _column(model: type, name: str) -> ColumnElement[Any]:
    return getattr(model, name)


def _report(
    side: _Side, owner_id: int, start: date | None, end: date | None, now: datetime
) -> Report:
    now = now.astimezone(UTC)
    today = local_day(now)
    start, end = check_period(start, end, today)
    by_partner = _partner_counts(side, owner_id, start, end, now)
    by_day = _day_counts(side, owner_id, start, end, today)
    if start <= today <= end:
        for partner_id, overdue in _overdue_today(side, owner_id, now).items():
            late = Counts(overdue=overdue, promise_decided=overdue)
            by_partner[partner_id].add(late)
            by_day[today].add(late)
    for partner_id, tenths, orders in _return_hours(side, owner_id, start, end):
        if orders:
            by_partner[partner_id].hours[tenths] += int(orders)

    partner_ids = set(by_partner) | _bound_partners(side, owner_id)
    names = _partner_names(side, partner_ids)
    statements = _statement_totals(side, owner_id, start, end)
    items = []
    total = Counts()
    for partner_id in sorted(partner_ids, key=lambda pid: (names[pid][1], pid)):
        counts = by_partner[partner_id]
        total.add(counts)
        count, fen = statements.get(partner_id, (0, 0))
        shop_id, shop_name = names[partner_id]
        items.append(PartnerFigures(partner_id, shop_id, shop_name, counts, count, fen))
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    daily = [DayFigures(day, by_day.get(day, Counts())) for day in days]
    return Report(start, end, items, daily, total)


def _sum(column: Any, condition: ColumnElement[bool] | None = None) -> Any:
    if condition is None:
        return func.coalesce(func.sum(column), 0)
    return func.coalesce(func.sum(case((condition, column), else_=0)), 0)


def _partner_counts(
    side: _Side, owner_id: int, start: date, end: date, now: datetime
) -> dict[int, Counts]:
    """The period's roll-ups summed per partner. Open orders count once their deadline passed:
    paid before the cut-off on a day before today, after it on a day before yesterday (or
    yesterday, once today's cut-off passed); 承诺发货时间 on a day before today."""
    today = local_day(now)
    yesterday = today - timedelta(days=1)
    daily = AnalyticsDaily
    partner = _column(daily, side.partner)
    rows = db.session.execute(
        select(
            partner,
            _sum(daily.assigned),
            _sum(daily.returned),
            _sum(daily.dispatched),
            _sum(daily.after_sale),
            _sum(daily.paid_met),
            _sum(daily.paid_missed),
            _sum(daily.paid_open_before, daily.day < today),
            _sum(daily.paid_open_after, daily.day < yesterday),
            _sum(daily.paid_open_after, daily.day == yesterday),
            _sum(daily.promise_on_time),
            _sum(daily.promise_late),
            _sum(daily.promise_open, daily.day < today),
        )
        .where(_column(daily, side.owner) == owner_id, daily.day.between(start, end))
        .group_by(partner)
    ).all()
    merchant_ids = {owner_id} if side is MERCHANT_SIDE else {row[0] for row in rows}
    cutoffs = _cutoffs(merchant_ids)
    counts: dict[int, Counts] = defaultdict(Counts)
    for row in rows:
        partner_id, assigned, returned, dispatched, after_sale, met, missed = row[:7]
        open_before, open_after, open_after_yesterday, on_time, late, overdue_open = row[7:]
        merchant_id = owner_id if side is MERCHANT_SIDE else partner_id
        if now >= cutoff_at(today, cutoffs[merchant_id]):
            open_after += open_after_yesterday
        counts[partner_id] = Counts(
            assigned=assigned,
            returned=returned,
            dispatched=dispatched,
            after_sale=after_sale,
            same_day_met=met,
            same_day_decided=met + missed + open_before + open_after,
            overdue=late + overdue_open,
            promise_decided=on_time + late + overdue_open,
        )
    return counts


def _day_counts(
    side: _Side, owner_id: int, start: date, end: date, today: date
) -> dict[date, Counts]:
    """Each day's assigned, dispatched and 承诺发货时间 figures, all partners together."""
    daily = AnalyticsDaily
    rows = db.session.execute(
        select(
            daily.day,
            _sum(daily.assigned),
            _sum(daily.dispatched),
            _sum(daily.promise_on_time),
            _sum(daily.promise_late),
            _sum(daily.promise_open, daily.day < today),
        )
        .where(_column(daily, side.owner) == owner_id, daily.day.between(start, end))
        .group_by(daily.day)
    )
    counts: dict[date, Counts] = defaultdict(Counts)
    for day, assigned, dispatched, on_time, late, overdue_open in rows:
        counts[day] = Counts(
            assigned=assigned,
            dispatched=dispatched,
            overdue=late + overdue_open,
            promise_decided=on_time + late + overdue_open,
        )
    return counts


def _return_hours(side: _Side, owner_id: int, start: date, end: date) -> list[Any]:
    """(partner, tenths, orders) over the period: whole months from the monthly histogram,
    the days before and after them from the daily one."""
    first_month = start if start.day == 1 else _next_month(start)
    after_months = _month_start(end + timedelta(days=1))
    parts = []
    if first_month < after_months:
        monthly = AnalyticsReturnHoursMonthly
        parts.append(
            select(_column(monthly, side.partner), monthly.tenths, monthly.orders).where(
                _column(monthly, side.owner) == owner_id,
                monthly.month >= first_month,
                monthly.month < after_months,
            )
        )
        edges = [(start, first_month - timedelta(days=1)), (after_months, end)]
    else:
        edges = [(start, end)]
    hours = AnalyticsReturnHours
    for first, last in edges:
        if first <= last:
            parts.append(
                select(_column(hours, side.partner), hours.tenths, hours.orders).where(
                    _column(hours, side.owner) == owner_id, hours.day.between(first, last)
                )
            )
    both = union_all(*parts).subquery()
    partner, tenths, orders = both.c
    return list(
        db.session.execute(select(partner, tenths, func.sum(orders)).group_by(partner, tenths))
    )


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _overdue_today(side: _Side, owner_id: int, now: datetime) -> dict[int, int]:
    """Open orders whose 承诺发货时间 passed today, by partner."""
    partner = _column(AnalyticsOrderFacts, side.partner)
    rows = db.session.execute(
        select(partner, func.count())
        .where(
            _column(AnalyticsOrderFacts, side.owner) == owner_id,
            AnalyticsOrderFacts.open_promise_at >= local_midnight(local_day(now)),
            OVERDUE.sql(now, AnalyticsOrderFacts.open_promise_at),
        )
        .group_by(partner)
    )
    return {partner_id: int(count) for partner_id, count in rows}


def _bound_partners(side: _Side, owner_id: int) -> set[int]:
    partner = _column(Binding, side.partner)
    return set(
        db.session.scalars(
            select(partner).where(
                _column(Binding, side.owner) == owner_id, Binding.status == BINDING_ACTIVE
            )
        )
    )


def _cutoffs(merchant_ids: set[int]) -> dict[int, int]:
    """merchant id → its same-day cut-off."""
    if not merchant_ids:
        return {}
    rows = db.session.execute(
        select(Merchant.id, Merchant.same_day_cutoff).where(Merchant.id.in_(merchant_ids))
    )
    return {merchant_id: cutoff for merchant_id, cutoff in rows}


def _partner_names(side: _Side, partner_ids: set[int]) -> dict[int, tuple[str, str]]:
    if not partner_ids:
        return {}
    profile = Supplier if side is MERCHANT_SIDE else Merchant
    name = Supplier.factory_name if side is MERCHANT_SIDE else Merchant.shop_name
    rows = db.session.execute(
        select(profile.id, User.shop_id, name)
        .join(User, User.id == profile.user_id)
        .where(profile.id.in_(partner_ids))
    )
    return {pid: (shop_id or "", shop_name) for pid, shop_id, shop_name in rows}


def _statement_totals(
    side: _Side, owner_id: int, start: date, end: date
) -> dict[int, tuple[int, int]]:
    """Statements built for each partner that were requested on the period's days."""
    partner = _column(Statement, side.partner)
    rows = db.session.execute(
        select(partner, func.count(), func.coalesce(func.sum(Statement.total_fen), 0))
        .where(
            _column(Statement, side.owner) == owner_id,
            Statement.status == STATEMENT_READY,
            Statement.day.between(start, end),
        )
        .group_by(partner)
    )
    return {pid: (int(count), int(fen)) for pid, count, fen in rows}
