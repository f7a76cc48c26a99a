"""对账单: rate-limited requests, an idempotent streamed build by a worker, review by both sides.

Requesting (seed 004, DESIGN §7): per merchant–supplier pair at most 3 a day (Asia/Shanghai) and
at least 10 minutes apart, also across midnight. The check and the insert run in one transaction
that first locks the pair — `SELECT … FOR UPDATE` on its statement_pairs row on PostgreSQL; on
SQLite every writing transaction is `BEGIN IMMEDIATE` — and the unique (pair, day, slot)
constraint backs it. A statement whose build failed for a system reason gives its slot back.

Building: a worker claims the statement (queued → building, with a fencing token), deletes any
lines a crashed attempt left, and streams the orders in keyset batches: each batch is priced,
inserted and committed with a heartbeat, so memory stays flat in the line count. Totals come
from one aggregate over the lines at the end. The XLSX is then written once (XlsxWriter in
constant-memory mode) and stored with the statement: a download sends it as stored. The CSV
streams from the lines on download (plain rows in keyset batches), as does the XLSX of a
statement built before files were stored.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Any

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from portal.couriers import find_courier
from portal.errors import DomainError
from portal.extensions import db
from portal.formatting import SHANGHAI, yuan
from portal.jobs import queue
from portal.models import (
    Binding,
    Merchant,
    Order,
    Price,
    Statement,
    StatementAdjustment,
    StatementEvent,
    StatementFile,
    StatementLine,
    StatementPair,
    Supplier,
    SupplierSkuCode,
    User,
)
from portal.models.base import utcnow
from portal.models.bindings import BINDING_ACTIVE, BINDING_ENDED
from portal.models.orders import STAGE_DISPATCHED, STAGE_RETURNED
from portal.models.settlement import (
    REVIEW_CONFIRMED,
    REVIEW_DISPUTED,
    REVIEW_PENDING,
    REVIEW_SETTLED,
    STATEMENT_BUILDING,
    STATEMENT_EVENT_ADJUSTED,
    STATEMENT_EVENT_ANSWERED,
    STATEMENT_EVENT_BUILT,
    STATEMENT_EVENT_CONFIRMED,
    STATEMENT_EVENT_DISPUTED,
    STATEMENT_EVENT_FAILED,
    STATEMENT_EVENT_REGENERATED,
    STATEMENT_EVENT_REQUESTED,
    STATEMENT_EVENT_RETRIED,
    STATEMENT_EVENT_SETTLED,
    STATEMENT_FAILED,
    STATEMENT_MIN_INTERVAL_MINUTES,
    STATEMENT_QUEUED,
    STATEMENT_READY,
    STATEMENT_SLOTS_PER_DAY,
)
from portal.spreadsheets import csv_chunks, spooled, write_xlsx
from portal.tracking import tracking_numbers_for

log = logging.getLogger(__name__)

BUILD_STATEMENT = "statements.build"
MIN_INTERVAL = timedelta(minutes=STATEMENT_MIN_INTERVAL_MINUTES)
MAX_PERIOD_DAYS = 366
BUILD_BATCH = 5000  # orders per committed batch; STATEMENT_BATCH_SIZE overrides
# A building statement whose heartbeat is older than this was abandoned by a crashed worker
# (STATEMENT_STALE_SECONDS overrides).
STALE_AFTER = timedelta(minutes=2)
# Given up (and its slot returned) when still not built this long after the request.
GIVE_UP_AFTER = timedelta(hours=1)
MAX_DISPUTE_REASON = 500
MAX_ADJUSTMENT_REASON = 200
# An adjustment is a correction, not a second statement: at most ±1 000 000 yuan.
MAX_ADJUSTMENT_FEN = 100_000_000
ACTIVE_STATUSES = (STATEMENT_QUEUED, STATEMENT_BUILDING)
# Review states in which the statement's lines count as payable (an order is paid once).
PAYABLE_REVIEWS = (REVIEW_CONFIRMED, REVIEW_SETTLED)


# --- the clock (injectable: tests move through days) -----------------------------------------


def now_utc() -> datetime:
    """The current time, or the app's CLOCK (a callable returning an aware datetime)."""
    clock: Callable[[], datetime] | None = (
        current_app.config.get("CLOCK") if has_app_context() else None
    )
    return clock() if clock is not None else utcnow()


def shanghai_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    """Asia/Shanghai midnight at the start of `day`, in UTC."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)


# --- requesting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """Why a statement cannot be requested now, and when it can."""

    limit: str  # "daily" (3 a day used) | "interval" (10 minutes since the last)
    next_allowed_at: datetime

    def retry_after(self, now: datetime) -> int:
        return max(1, int((self.next_allowed_at - now).total_seconds() + 0.999))


def _lock_pair(merchant_id: int, supplier_id: int) -> None:
    """Serialise statement requests of one pair across processes and machines."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            pg_insert(StatementPair)
            .values(merchant_id=merchant_id, supplier_id=supplier_id)
            .on_conflict_do_nothing()
        )
        db.session.execute(
            select(StatementPair.merchant_id)
            .where(
                StatementPair.merchant_id == merchant_id,
                StatementPair.supplier_id == supplier_id,
            )
            .with_for_update()
        )
    # SQLite: the transaction began with BEGIN IMMEDIATE and holds the database's write lock.


def rate_limit(
    merchant_id: int, supplier_id: int, now: datetime, *, ignore: int | None = None
) -> tuple[int | None, RateLimit | None]:
    """The free slot of today for this pair, or the limit that stops a request at `now`.

    Call with the pair locked. Failed statements hold no slot and do not count for the
    10-minute rule; `ignore` leaves one statement out (the one being retried).
    """
    pair = and_(Statement.merchant_id == merchant_id, Statement.supplier_id == supplier_id)
    others = [Statement.id != ignore] if ignore is not None else []
    last = db.session.scalar(
        select(func.max(Statement.requested_at)).where(
            pair, Statement.status != STATEMENT_FAILED, *others
        )
    )
    if last is not None and now < last + MIN_INTERVAL:
        return None, RateLimit("interval", last + MIN_INTERVAL)
    today = shanghai_day(now)
    used = set(
        db.session.scalars(
            select(Statement.slot).where(
                pair, Statement.day == today, Statement.slot.is_not(None), *others
            )
        )
    )
    free = [s for s in range(1, STATEMENT_SLOTS_PER_DAY + 1) if s not in used]
    if not free:
        tomorrow = day_start(today + timedelta(days=1))
        return None, RateLimit("daily", tomorrow)
    return free[0], None


def _refuse(limit: RateLimit, now: datetime) -> DomainError:
    shown = limit.next_allowed_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
    if limit.limit == "daily":
        message = _(
            "该厂家今天已生成 %(n)d 份对账单（每天最多 %(n)d 份），%(at)s 后可再生成",
            n=STATEMENT_SLOTS_PER_DAY,
            at=shown,
        )
    else:
        message = _(
            "两次生成对账单需间隔 %(m)d 分钟，%(at)s 后可再生成",
            m=STATEMENT_MIN_INTERVAL_MINUTES,
            at=shown,
        )
    return DomainError(
        "statement_rate_limited",
        message,
        limit=limit.limit,
        retry_after=limit.retry_after(now),
        next_allowed_at=limit.next_allowed_at.isoformat(),
    )


def statement_suppliers(merchant: Merchant) -> list[Supplier]:
    """Suppliers a merchant can reconcile with: bound now or before (work done stays billable)."""
    return list(
        db.session.scalars(
            select(Supplier)
            .join(Binding, Binding.supplier_id == Supplier.id)
            .where(
                Binding.merchant_id == merchant.id,
                Binding.status.in_((BINDING_ACTIVE, BINDING_ENDED)),
            )
            .distinct()
            .order_by(Supplier.factory_name, Supplier.id)
        )
    )


def _check_supplier(merchant: Merchant, supplier_id: int) -> Supplier:
    supplier = next((s for s in statement_suppliers(merchant) if s.id == supplier_id), None)
    if supplier is None:
        raise DomainError("not_bound", field="supplier")
    return supplier


def check_period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    if start is None or end is None:
        raise DomainError("invalid_period", field="period")
    if start > end:
        start, end = end, start
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise DomainError("invalid_period", field="period")
    if start > today:
        raise DomainError("invalid_period", field="period")
    return start, end


def request_statement(
    merchant: Merchant,
    supplier_id: int,
    start: date | None,
    end: date | None,
    actor: User | None,
    now: datetime | None = None,
) -> Statement:
    """Create the statement as queued (flushed, not committed; call queue_build after commit)."""
    now = now or now_utc()
    supplier = _check_supplier(merchant, supplier_id)
    start, end = check_period(start, end, shanghai_day(now))
    _lock_pair(merchant.id, supplier.id)
    slot, limit = rate_limit(merchant.id, supplier.id, now)
    if limit is not None:
        raise _refuse(limit, now)
    statement = Statement(
        merchant_id=merchant.id,
        supplier_id=supplier.id,
        period_start=start,
        period_end=end,
        day=shanghai_day(now),
        slot=slot,
        requested_at=now,
        requested_by=actor.id if actor else None,
        status=STATEMENT_QUEUED,
    )
    try:
        with db.session.begin_nested():
            db.session.add(statement)
            db.session.flush()
    except IntegrityError:
        # Another process took the slot between our check and insert (only possible where the
        # pair lock is not exclusive): the constraint refuses; report the daily limit.
        tomorrow = day_start(shanghai_day(now) + timedelta(days=1))
        raise _refuse(RateLimit("daily", tomorrow), now) from None
    _event(statement, STATEMENT_EVENT_REQUESTED, actor)
    return statement


def retry_statement(merchant: Merchant, statement: Statement, actor: User | None) -> Statement:
    """A failed statement queued again: it needs a slot under the same limits."""
    if statement.status != STATEMENT_FAILED:
        raise DomainError("statement_not_failed")
    return _queue_again(
        statement,
        Statement.status == STATEMENT_FAILED,
        "statement_not_failed",
        STATEMENT_EVENT_RETRIED,
        actor,
        wait_for_self=False,
    )


def regenerate_statement(merchant: Merchant, statement: Statement, actor: User | None) -> Statement:
    """Build a statement again (after prices were fixed, say): under the same limits — at least
    10 minutes after the last request of the pair, this statement's included — and the factory
    reviews it again. Not once it is confirmed or settled."""
    assert statement.merchant_id == merchant.id
    if statement.status != STATEMENT_READY:
        raise DomainError("statement_not_ready")
    if statement.review_status not in (REVIEW_PENDING, REVIEW_DISPUTED):
        raise DomainError("statement_review_closed")
    return _queue_again(
        statement,
        and_(
            Statement.status == STATEMENT_READY,
            Statement.review_status.in_((REVIEW_PENDING, REVIEW_DISPUTED)),
        ),
        "statement_review_closed",
        STATEMENT_EVENT_REGENERATED,
        actor,
        wait_for_self=True,
    )


def _queue_again(
    statement: Statement,
    allowed: Any,
    refusal: str,
    kind: str,
    actor: User | None,
    *,
    wait_for_self: bool,
) -> Statement:
    """Queue a statement for another build, taking a slot under the rate limits (it keeps its
    own slot of today). A failed one did not count for the interval; a rebuilt one does."""
    now = now_utc()
    _lock_pair(statement.merchant_id, statement.supplier_id)
    slot, limit = rate_limit(statement.merchant_id, statement.supplier_id, now, ignore=statement.id)
    if limit is None and wait_for_self and now < statement.requested_at + MIN_INTERVAL:
        limit = RateLimit("interval", statement.requested_at + MIN_INTERVAL)
    if limit is not None:
        raise _refuse(limit, now)
    changed = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, allowed)
        .values(
            status=STATEMENT_QUEUED,
            slot=slot,
            day=shanghai_day(now),
            requested_at=now,
            error="",
            started_at=None,
            heartbeat_at=None,
            finished_at=None,
            review_status=REVIEW_PENDING,
            reviewed_at=None,
            reviewed_by=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise DomainError(refusal)
    db.session.refresh(statement)
    _event(statement, kind, actor)
    return statement


def queue_build(statement_id: int) -> None:
    """Hand the statement to the workers; if the queue is down, the sweep enqueues it later."""
    try:
        queue.enqueue(BUILD_STATEMENT, statement_id)
    except Exception as exc:
        log.warning("statement %s not enqueued (%s); a sweep will retry", statement_id, exc)


def _event(statement: Statement, kind: str, actor: User | None, note: str = "") -> None:
    db.session.add(
        StatementEvent(
            statement_id=statement.id,
            kind=kind,
            actor_id=actor.id if actor else None,
            note=note[:MAX_DISPUTE_REASON],
        )
    )


# --- reading (tenant-scoped) -----------------------------------------------------------------


def statements_query_for_merchant(merchant: Merchant, supplier_id: int | None = None) -> Any:
    query = select(Statement).where(Statement.merchant_id == merchant.id)
    if supplier_id:
        query = query.where(Statement.supplier_id == supplier_id)
    return query.order_by(Statement.id.desc())


def statements_query_for_supplier(supplier: Supplier, merchant_id: int | None = None) -> Any:
    query = select(Statement).where(Statement.supplier_id == supplier.id)
    if merchant_id:
        query = query.where(Statement.merchant_id == merchant_id)
    return query.order_by(Statement.id.desc())


def statement_events(statement: Statement) -> list[StatementEvent]:
    return list(
        db.session.scalars(
            select(StatementEvent)
            .where(StatementEvent.statement_id == statement.id)
            .order_by(StatementEvent.id)
        )
    )


def has_active(statements: list[Statement]) -> bool:
    """Whether a list shown to a user should keep refreshing itself."""
    return any(s.status in ACTIVE_STATUSES for s in statements)


# The columns of a line as the files and the tests read them (plain rows, no entities).
_LINE_COLUMNS = (
    StatementLine.id,
    StatementLine.order_id,
    StatementLine.order_no,
    StatementLine.goods_name,
    StatementLine.spec,
    StatementLine.sku_key,
    StatementLine.quantity,
    StatementLine.unit_price_fen,
    StatementLine.amount_fen,
    StatementLine.courier,
    StatementLine.tracking_nos,
    StatementLine.returned_at,
    StatementLine.already_in_statement_id,
)


def iter_lines(statement: Statement, batch: int = BUILD_BATCH) -> Iterator[Row[Any]]:
    """The lines in order as rows (attribute access like a StatementLine), fetched in keyset
    batches: no entities in the session, and a batch is released before the next is read, so
    files of 100 000 lines stay flat."""
    last_id = 0
    while True:
        rows = db.session.execute(
            select(*_LINE_COLUMNS)
            .where(StatementLine.statement_id == statement.id, StatementLine.id > last_id)
            .order_by(StatementLine.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        last_id = rows[-1].id
        yield from rows
        del rows


# --- review ----------------------------------------------------------------------------------


def _review(
    statement: Statement,
    allowed_from: tuple[str, ...],
    to: str,
    kind: str,
    actor: User | None,
    note: str = "",
    **values: Any,
) -> Statement:
    if statement.status != STATEMENT_READY:
        raise DomainError("statement_not_ready")
    changed = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.review_status.in_(allowed_from))
        .values(review_status=to, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise DomainError("statement_review_closed")
    db.session.refresh(statement)
    _event(statement, kind, actor, note)
    return statement


def _overlap(statement: Statement) -> tuple[int, int] | None:
    """(how many, one statement id) of this statement's counted lines whose order is already
    counted in another confirmed or settled statement; None when there is none."""
    other = StatementLine.__table__.alias("other")
    row = db.session.execute(
        select(func.count(), func.min(other.c.statement_id))
        .select_from(StatementLine)
        .join(other, other.c.order_id == StatementLine.order_id)
        .join(Statement, Statement.id == other.c.statement_id)
        .where(
            StatementLine.statement_id == statement.id,
            StatementLine.already_in_statement_id.is_(None),
            other.c.statement_id != statement.id,
            other.c.already_in_statement_id.is_(None),
            Statement.merchant_id == statement.merchant_id,
            Statement.supplier_id == statement.supplier_id,
            Statement.review_status.in_(PAYABLE_REVIEWS),
        )
    ).one()
    return (int(row[0]), int(row[1])) if row[0] else None


def confirm_statement(supplier: Supplier, statement: Statement, actor: User | None) -> Statement:
    """The factory agrees. Under the pair's lock, so that of two overlapping statements
    confirmed at once only one counts an order: the other is refused (the merchant
    regenerates it, and those lines move outside its amount due)."""
    assert statement.supplier_id == supplier.id
    if statement.status == STATEMENT_READY:
        _lock_pair(statement.merchant_id, statement.supplier_id)
        overlap = _overlap(statement)
        if overlap is not None:
            count, other_id = overlap
            raise DomainError(
                "statement_overlaps",
                _(
                    "其中 %(n)d 单已计入已确认的对账单 #%(other)d，请商家重新生成本对账单后再确认",
                    n=count,
                    other=other_id,
                ),
                statement_id=other_id,
            )
    return _review(
        statement,
        (REVIEW_PENDING, REVIEW_DISPUTED),
        REVIEW_CONFIRMED,
        STATEMENT_EVENT_CONFIRMED,
        actor,
        reviewed_at=now_utc(),
        reviewed_by=actor.id if actor else None,
        dispute_reason="",
    )


def _clean_text(text: str | None, limit: int, required_code: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise DomainError(required_code, field="reason")
    if len(text) > limit:
        raise DomainError("field_too_long", field="reason")
    return text


def dispute_statement(
    supplier: Supplier, statement: Statement, reason: str, actor: User | None
) -> Statement:
    """The factory disagrees with a statement it has not confirmed; the merchant answers."""
    assert statement.supplier_id == supplier.id
    reason = _clean_text(reason, MAX_DISPUTE_REASON, "dispute_reason_required")
    return _review(
        statement,
        (REVIEW_PENDING,),
        REVIEW_DISPUTED,
        STATEMENT_EVENT_DISPUTED,
        actor,
        reason,
        reviewed_at=now_utc(),
        reviewed_by=actor.id if actor else None,
        dispute_reason=reason,
    )


def answer_dispute(
    merchant: Merchant, statement: Statement, note: str, actor: User | None
) -> Statement:
    """The merchant's reply to a dispute; the statement goes back to the factory to confirm."""
    assert statement.merchant_id == merchant.id
    note = _clean_text(note, MAX_DISPUTE_REASON, "answer_required")
    return _review(
        statement, (REVIEW_DISPUTED,), REVIEW_PENDING, STATEMENT_EVENT_ANSWERED, actor, note
    )


def add_adjustment(
    merchant: Merchant,
    statement: Statement,
    amount_fen: int,
    reason: str,
    actor: User | None,
) -> StatementAdjustment:
    """A correction line (signed, with its reason) on a statement not yet confirmed; it joins
    the amount due and the factory reviews the statement again."""
    assert statement.merchant_id == merchant.id
    reason = _clean_text(reason, MAX_ADJUSTMENT_REASON, "adjustment_reason_required")
    if amount_fen == 0 or abs(amount_fen) > MAX_ADJUSTMENT_FEN:
        raise DomainError("invalid_adjustment", field="amount")
    shown = ("+" if amount_fen > 0 else "-") + yuan(abs(amount_fen))
    _review(
        statement,
        (REVIEW_PENDING, REVIEW_DISPUTED),
        REVIEW_PENDING,
        STATEMENT_EVENT_ADJUSTED,
        actor,
        f"{shown} {reason}",
    )
    adjustment = StatementAdjustment(
        statement_id=statement.id,
        amount_fen=amount_fen,
        reason=reason,
        created_by=actor.id if actor else None,
    )
    db.session.add(adjustment)
    db.session.flush()
    _store_totals(statement.id)
    # The stored XLSX predates the adjustment: downloads write it from the lines again.
    db.session.execute(delete(StatementFile).where(StatementFile.statement_id == statement.id))
    db.session.refresh(statement)
    return adjustment


_SIGNED_YUAN = re.compile(r"[+-]?[0-9]+(\.[0-9]{1,2})?")


def parse_adjustment(text: str | None) -> int:
    """A signed amount in yuan as typed ("-12.50", "+3", "５元") → fen; 0 is refused."""
    cleaned = unicodedata.normalize("NFKC", text or "").strip().removeprefix("¥")
    cleaned = cleaned.removesuffix("元").replace(",", "").replace(" ", "")
    if not _SIGNED_YUAN.fullmatch(cleaned):
        raise DomainError("invalid_adjustment", field="amount")
    fen = int(Decimal(cleaned).scaleb(2))
    if fen == 0 or abs(fen) > MAX_ADJUSTMENT_FEN:
        raise DomainError("invalid_adjustment", field="amount")
    return fen


def statement_adjustments(statement: Statement) -> list[StatementAdjustment]:
    return list(
        db.session.scalars(
            select(StatementAdjustment)
            .where(StatementAdjustment.statement_id == statement.id)
            .order_by(StatementAdjustment.id)
        )
    )


def settle_statement(merchant: Merchant, statement: Statement, actor: User | None) -> Statement:
    """The merchant has paid: final. Only once the factory confirmed the statement."""
    assert statement.merchant_id == merchant.id
    if statement.status == STATEMENT_READY and statement.review_status in (
        REVIEW_PENDING,
        REVIEW_DISPUTED,
    ):
        raise DomainError("statement_not_confirmed")
    return _review(
        statement,
        (REVIEW_CONFIRMED,),
        REVIEW_SETTLED,
        STATEMENT_EVENT_SETTLED,
        actor,
        settled_at=now_utc(),
        settled_by=actor.id if actor else None,
    )


def waiting_count(column: Any, profile_id: int, reviews: tuple[str, ...]) -> int:
    """How many built statements of a merchant or supplier wait for that side to act."""
    return int(
        db.session.scalar(
            select(func.count()).where(
                column == profile_id,
                Statement.status == STATEMENT_READY,
                Statement.review_status.in_(reviews),
            )
        )
        or 0
    )


# --- building (worker side) ------------------------------------------------------------------


class _ClaimLost(Exception):
    """Another worker took the statement over (ours was declared stale): stop writing."""


def _claim(statement_id: int) -> datetime | None:
    """queued → building, atomically; the start time is this attempt's fencing token."""
    token = now_utc()
    claimed = db.session.execute(
        update(Statement)
        .where(Statement.id == statement_id, Statement.status == STATEMENT_QUEUED)
        .values(
            status=STATEMENT_BUILDING,
            started_at=token,
            heartbeat_at=token,
            attempts=Statement.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return token if claimed == 1 else None


def _still_ours(statement_id: int, token: datetime, **values: Any) -> None:
    changed = db.session.execute(
        update(Statement)
        .where(
            Statement.id == statement_id,
            Statement.status == STATEMENT_BUILDING,
            Statement.started_at == token,
        )
        .values(heartbeat_at=now_utc(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise _ClaimLost


class PriceBook:
    """A pair's price history in memory (SKUs × changes: small), looked up by time."""

    def __init__(self, merchant_id: int, supplier_id: int) -> None:
        self._history: dict[str, tuple[list[datetime], list[int]]] = {}
        rows = db.session.execute(
            select(Price.sku_key, Price.effective_from, Price.price_fen)
            .where(Price.merchant_id == merchant_id, Price.supplier_id == supplier_id)
            .order_by(Price.sku_key, Price.effective_from, Price.id)
        )
        for sku_key, effective_from, price_fen in rows:
            times, prices = self._history.setdefault(sku_key, ([], []))
            times.append(effective_from)
            prices.append(price_fen)

    def price_at(self, sku_key: str, moment: datetime) -> int | None:
        entry = self._history.get(sku_key)
        if entry is None:
            return None
        times, prices = entry
        index = bisect_right(times, moment) - 1
        return prices[index] if index >= 0 else None


def statement_orders_condition(statement: Statement) -> Any:
    """Exactly the orders a statement covers: assigned to its supplier, tracking returned in
    the period (Asia/Shanghai dates, both ends included)."""
    return and_(
        Order.merchant_id == statement.merchant_id,
        Order.supplier_id == statement.supplier_id,
        Order.stage.in_((STAGE_RETURNED, STAGE_DISPATCHED)),
        Order.returned_at >= day_start(statement.period_start),
        Order.returned_at < day_start(statement.period_end + timedelta(days=1)),
    )


def _setting(name: str, default: int) -> int:
    value = current_app.config.get(name) if has_app_context() else None
    return int(value) if value else default


def _build(statement: Statement, token: datetime) -> None:
    statement_id = statement.id
    batch = _setting("STATEMENT_BATCH_SIZE", BUILD_BATCH)
    db.session.execute(delete(StatementFile).where(StatementFile.statement_id == statement_id))
    db.session.execute(delete(StatementLine).where(StatementLine.statement_id == statement_id))
    _still_ours(statement_id, token)
    db.session.commit()
    prices = PriceBook(statement.merchant_id, statement.supplier_id)
    condition = statement_orders_condition(statement)
    last_id = 0
    while True:
        rows = db.session.execute(
            select(
                Order.id,
                Order.order_no,
                Order.goods_name,
                Order.spec,
                Order.sku_key,
                Order.quantity,
                Order.courier,
                Order.returned_at,
            )
            .where(condition, Order.id > last_id)
            .order_by(Order.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        order_ids = [row.id for row in rows]
        numbers = tracking_numbers_for(order_ids)
        billed = _billed_elsewhere(statement, order_ids)
        lines = []
        for row in rows:
            unit = prices.price_at(row.sku_key, row.returned_at)
            lines.append(
                {
                    "statement_id": statement_id,
                    "order_id": row.id,
                    "order_no": row.order_no,
                    "goods_name": row.goods_name,
                    "spec": row.spec,
                    "sku_key": row.sku_key,
                    "quantity": row.quantity,
                    "unit_price_fen": unit,
                    "amount_fen": unit * row.quantity if unit is not None else None,
                    "courier": row.courier,
                    "tracking_nos": " ".join(n for _c, n in numbers.get(row.id, []))[:400],
                    "returned_at": row.returned_at,
                    "already_in_statement_id": billed.get(row.id),
                }
            )
        # A Core executemany: one INSERT per batch (unpriced lines do not split it), none of
        # the ORM's per-row bookkeeping; every column is given, so no default is involved.
        db.session.execute(StatementLine.__table__.insert(), lines)
        _still_ours(statement_id, token)
        db.session.commit()
        last_id = rows[-1].id
    _still_ours(
        statement_id,
        token,
        **_totals(statement_id),
        status=STATEMENT_READY,
        finished_at=now_utc(),
        error="",
    )
    _event(statement, STATEMENT_EVENT_BUILT, None)
    db.session.commit()
    # Ready now (the CSV streams from the lines); the XLSX follows. Should writing it fail,
    # a download writes it from the lines instead, as before files were stored.
    try:
        db.session.refresh(statement)
        store_statement_xlsx(statement)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.error("statement %s: XLSX not stored: %s", statement_id, type(exc).__name__)


def _billed_elsewhere(statement: Statement, order_ids: list[int]) -> dict[int, int]:
    """order id → the confirmed or settled statement of the pair already counting it."""
    rows = db.session.execute(
        select(StatementLine.order_id, func.min(StatementLine.statement_id))
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(
            StatementLine.order_id.in_(order_ids),
            StatementLine.already_in_statement_id.is_(None),
            StatementLine.statement_id != statement.id,
            Statement.merchant_id == statement.merchant_id,
            Statement.supplier_id == statement.supplier_id,
            Statement.review_status.in_(PAYABLE_REVIEWS),
        )
        .group_by(StatementLine.order_id)
    )
    return {order_id: statement_id for order_id, statement_id in rows}


def _totals(statement_id: int) -> dict[str, int]:
    """The statement's figures from its lines and adjustments (one aggregate each)."""
    counted = StatementLine.already_in_statement_id.is_(None)
    lines = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(StatementLine.amount_fen).filter(counted), 0),
            func.coalesce(func.sum(StatementLine.quantity).filter(counted), 0),
            func.count().filter(counted, StatementLine.unit_price_fen.is_(None)),
            func.count().filter(StatementLine.already_in_statement_id.is_not(None)),
        ).where(StatementLine.statement_id == statement_id)
    ).one()
    adjustments = int(
        db.session.scalar(
            select(func.coalesce(func.sum(StatementAdjustment.amount_fen), 0)).where(
                StatementAdjustment.statement_id == statement_id
            )
        )
    )
    return {
        "line_count": int(lines[0]),
        "total_fen": int(lines[1]) + adjustments,
        "quantity_total": int(lines[2]),
        "missing_price_count": int(lines[3]),
        "already_billed_count": int(lines[4]),
        "adjustment_fen": adjustments,
    }


def _store_totals(statement_id: int) -> None:
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement_id)
        .values(**_totals(statement_id))
        .execution_options(synchronize_session=False)
    )


def fail_statement(statement_id: int, message: str, token: datetime | None = None) -> None:
    """A system failure: the statement shows 生成失败 and its rate-limit slot is free again."""
    conditions = [Statement.id == statement_id, Statement.status.in_(ACTIVE_STATUSES)]
    if token is not None:
        conditions.append(Statement.started_at == token)
    changed = db.session.execute(
        update(Statement)
        .where(*conditions)
        .values(status=STATEMENT_FAILED, slot=None, error=message[:300], finished_at=now_utc())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        db.session.execute(delete(StatementFile).where(StatementFile.statement_id == statement_id))
        db.session.execute(delete(StatementLine).where(StatementLine.statement_id == statement_id))
        db.session.add(
            StatementEvent(statement_id=statement_id, kind=STATEMENT_EVENT_FAILED, note=message)
        )
    db.session.commit()


@queue.task(BUILD_STATEMENT)
def build_statement(statement_id: int) -> None:
    """The task body: build once; a duplicate message or a finished statement does nothing."""
    token = _claim(statement_id)
    if token is None:
        return
    statement = db.session.get(Statement, statement_id)
    assert statement is not None
    try:
        _build(statement, token)
    except _ClaimLost:
        db.session.rollback()
        log.warning("statement %s was taken over by another worker", statement_id)
    except Exception as exc:
        db.session.rollback()
        log.error("statement %s failed: %s", statement_id, type(exc).__name__)
        fail_statement(statement_id, _("生成对账单时系统出错，可重试（不占用当天次数）"), token)


@queue.sweeper
def requeue_stale_statements(now: datetime | None = None) -> list[int]:
    """Enqueue again statements a crashed worker (or a lost queue message) left behind."""
    now = now or now_utc()
    stale_after = timedelta(seconds=_setting("STATEMENT_STALE_SECONDS", STALE_AFTER.seconds))
    last_sign_of_life = func.coalesce(Statement.heartbeat_at, Statement.requested_at)
    stale = and_(Statement.status.in_(ACTIVE_STATUSES), last_sign_of_life < now - stale_after)
    for statement_id in db.session.scalars(
        select(Statement.id).where(stale, Statement.requested_at < now - GIVE_UP_AFTER)
    ).all():
        fail_statement(statement_id, _("生成对账单多次中断，已停止，可重试（不占用当天次数）"))
    requeued: list[int] = []
    for statement_id in db.session.scalars(select(Statement.id).where(stale)).all():
        moved = db.session.execute(
            update(Statement)
            .where(Statement.id == statement_id, stale)
            .values(status=STATEMENT_QUEUED, heartbeat_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved == 1:
            requeued.append(statement_id)
    db.session.commit()
    for statement_id in requeued:
        queue_build(statement_id)
    return requeued


# --- files (written from the stored lines, streamed) -----------------------------------------


def statement_header() -> list[str]:
    return [
        _("订单号"),
        _("商品"),
        _("规格"),
        _("SKU"),
        _("数量"),
        _("结算单价(元)"),
        _("金额(元)"),
        _("快递公司"),
        _("运单号"),
        _("回传时间"),
        _("备注"),
        # Last, so the columns ERPs and spreadsheets already read by position stay put.
        _("厂家编码"),
    ]


def money(fen: int | None) -> Decimal | None:
    """Fen as yuan with two decimals: a number in the XLSX, "12.50" in the CSV."""
    return None if fen is None else Decimal(fen).scaleb(-2)


def statement_rows(statement: Statement) -> Iterator[list[object]]:
    """The statement as rows of cells: header, one row per line, the adjustments, the totals.

    Quantities are ints, money a Decimal of yuan (never a float), empty cells "", so the CSV
    and the XLSX agree cell for cell and a SUM over 金额 gives the amount due: lines already
    in another statement and lines without a price have no amount.
    """
    yield statement_header()
    missing = _("缺少结算价")
    couriers: dict[str, str] = {}  # code → name, looked up once per statement
    codes = supplier_codes(statement)
    for line in iter_lines(statement):
        courier = couriers.get(line.courier)
        if courier is None:
            courier = couriers[line.courier] = courier_name(line.courier)
        note, amount = "", line.amount_fen
        if line.already_in_statement_id is not None:
            note = _("已在对账单 #%(id)d，不计入合计", id=line.already_in_statement_id)
            amount = None
        elif line.unit_price_fen is None:
            note = missing
        yield [
            line.order_no,
            line.goods_name,
            line.spec,
            line.sku_key,
            line.quantity,
            _cell(money(line.unit_price_fen)),
            _cell(money(amount)),
            courier,
            line.tracking_nos,
            line.returned_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            note,
            codes.get(line.sku_key, ""),
        ]
    for adjustment in statement_adjustments(statement):
        yield [
            _("调整"),
            adjustment.reason,
            "",
            "",
            "",
            "",
            money(adjustment.amount_fen),
            "",
            "",
            adjustment.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            _("商家调整"),
            "",
        ]
    notes = []
    if statement.missing_price_count:
        notes.append(_("%(n)d 单缺少结算价，未计入合计", n=statement.missing_price_count))
    if statement.already_billed_count:
        notes.append(_("%(n)d 单已在其他对账单中，未计入合计", n=statement.already_billed_count))
    yield [
        _("合计"),
        _("%(n)d 单", n=statement.line_count),
        "",
        "",
        statement.quantity_total,
        "",
        money(statement.total_fen),
        "",
        "",
        "",
        "；".join(notes),
        "",
    ]


def supplier_codes(statement: Statement) -> dict[str, str]:
    """The factory's own codes (厂家编码, portal.sku_codes) for the pair's SKUs, by SKU key:
    shown beside the merchant's code on the statement, as they are when it is read."""
    return dict(
        db.session.execute(
            select(SupplierSkuCode.sku_key, SupplierSkuCode.supplier_code).where(
                SupplierSkuCode.supplier_id == statement.supplier_id,
                SupplierSkuCode.merchant_id == statement.merchant_id,
            )
        ).all()
    )


def _cell(value: object | None) -> object:
    return "" if value is None else value


def courier_name(code: str) -> str:
    found = find_courier(code) if code else None
    return found.name if found else code


def statement_filename(statement: Statement, extension: str) -> str:
    return (
        f"statement-{statement.id}-{statement.period_start:%Y%m%d}-"
        f"{statement.period_end:%Y%m%d}.{extension}"
    )


def statement_csv(statement: Statement) -> Iterator[str]:
    """CSV chunks (portal.spreadsheets), about 1 000 rows per chunk."""
    return csv_chunks(statement_rows(statement))


def statement_xlsx(statement: Statement, target: IO[bytes]) -> None:
    """The XLSX (portal.spreadsheets): amounts are numbers shown with two decimals."""
    write_xlsx(target, _("对账单"), statement_rows(statement))


def store_statement_xlsx(statement: Statement) -> int:
    """Write the statement's XLSX once and store it with the statement; its size in bytes."""
    with spooled(lambda target: statement_xlsx(statement, target)) as spool:
        content = spool.read()
    db.session.execute(
        delete(StatementFile).where(
            StatementFile.statement_id == statement.id, StatementFile.file_format == "xlsx"
        )
    )
    db.session.add(
        StatementFile(
            statement_id=statement.id, file_format="xlsx", content=content, size=len(content)
        )
    )
    db.session.flush()
    return len(content)


def stored_file(statement: Statement, file_format: str) -> bytes | None:
    """The stored file of a built statement, or None (none stored: write it from the lines)."""
    return db.session.scalar(
        select(StatementFile.content).where(
            StatementFile.statement_id == statement.id, StatementFile.file_format == file_format
        )
    )
