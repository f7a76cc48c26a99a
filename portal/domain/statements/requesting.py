"""Statements: requesting one (rate-limited per merchant–supplier pair), retry, regenerate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI
from portal.domain.statements.clock import day_start, now_utc, shanghai_day
from portal.extensions import db
from portal.jobs import queue
from portal.models import (
    Binding,
    Merchant,
    Statement,
    StatementEvent,
    StatementPair,
    Supplier,
    User,
)
from portal.models.bindings import BINDING_ACTIVE, BINDING_ENDED
from portal.models.settlement import (
    REVIEW_DISPUTED,
    REVIEW_PENDING,
    STATEMENT_EVENT_REGENERATED,
    STATEMENT_EVENT_REQUESTED,
    STATEMENT_EVENT_RETRIED,
    STATEMENT_FAILED,
    STATEMENT_MIN_INTERVAL_MINUTES,
    STATEMENT_QUEUED,
    STATEMENT_READY,
    STATEMENT_SLOTS_PER_DAY,
)

log = logging.getLogger(__name__)

BUILD_STATEMENT = "statements.build"
STORE_STATEMENT_XLSX = "statements.store_xlsx"

MIN_INTERVAL = timedelta(minutes=STATEMENT_MIN_INTERVAL_MINUTES)

MAX_PERIOD_DAYS = 366

MAX_DISPUTE_REASON = 500


@dataclass(frozen=True)
class RateLimit:
    """Why a statement cannot be requested now, and when it can."""

    limit: str  # "daily" (3 a day used) | "interval" (10 minutes since the last)
    next_allowed_at: datetime

    def retry_after(self, now: datetime) -> int:
        return max(1, int((self.next_allowed_at - now).total_seconds() + 0.999))


def lock_pair(merchant_id: int, supplier_id: int) -> None:
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
    lock_pair(merchant.id, supplier.id)
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
    record_event(statement, STATEMENT_EVENT_REQUESTED, actor)
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
    lock_pair(statement.merchant_id, statement.supplier_id)
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
    record_event(statement, kind, actor)
    return statement


def queue_build(statement_id: int) -> None:
    """Hand the statement to the workers; if the queue is down, the sweep enqueues it later."""
    try:
        queue.enqueue(BUILD_STATEMENT, statement_id)
    except Exception as exc:
        log.warning("statement %s not enqueued (%s); a sweep will retry", statement_id, exc)


def queue_store_xlsx(statement_id: int) -> None:
    """Hand a built statement's XLSX to the workers; without it a download writes the file
    from the lines, as before files were stored."""
    try:
        queue.enqueue(STORE_STATEMENT_XLSX, statement_id)
    except Exception as exc:
        log.warning("statement %s XLSX not enqueued (%s)", statement_id, exc)


def record_event(statement: Statement, kind: str, actor: User | None, note: str = "") -> None:
    db.session.add(
        StatementEvent(
            statement_id=statement.id,
            kind=kind,
            actor_id=actor.id if actor else None,
            note=note[:MAX_DISPUTE_REASON],
        )
    )
