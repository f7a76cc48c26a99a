"""Statements: the build, worker side (claimed, priced in batches, stale ones requeued)."""

from __future__ import annotations

import logging
from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy import and_, delete, func, select, update

from portal.domain.orders.lines import lines_by_order
from portal.domain.statements.clock import day_start, now_utc
from portal.domain.statements.files import store_statement_xlsx
from portal.domain.statements.queries import ACTIVE_STATUSES, statement_totals
from portal.domain.statements.requesting import (
    BUILD_STATEMENT,
    STORE_STATEMENT_XLSX,
    queue_build,
    queue_store_xlsx,
    record_event,
)
from portal.domain.statements.review import PAYABLE_REVIEWS
from portal.domain.tracking import tracking_numbers_for
from portal.extensions import db
from portal.jobs import queue
from portal.models import (
    Order,
    Price,
    Statement,
    StatementEvent,
    StatementFile,
    StatementLine,
)
from portal.models.orders import STAGE_DISPATCHED, STAGE_RETURNED
from portal.models.settlement import (
    STATEMENT_BUILDING,
    STATEMENT_EVENT_BUILT,
    STATEMENT_EVENT_FAILED,
    STATEMENT_FAILED,
    STATEMENT_QUEUED,
    STATEMENT_READY,
)

log = logging.getLogger(__name__)

BUILD_BATCH = 5000  # orders per committed batch; STATEMENT_BATCH_SIZE overrides

# A building statement whose heartbeat is older than this was abandoned by a crashed worker
# (STATEMENT_STALE_SECONDS overrides).
STALE_AFTER = timedelta(minutes=2)

# Given up (and its slot returned) when still not built this long after the request.
GIVE_UP_AFTER = timedelta(hours=1)


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
                Order.goods_id,
                Order.goods_name,
                Order.spec,
                Order.sku_code,
                Order.sku_key,
                Order.quantity,
                Order.line_count,
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
        goods = lines_by_order(rows)
        lines = []
        for row in rows:
            # A statement line per order line, each at its SKU's price (DESIGN §10.2); the
            # order's amount beside every one of them.
            order_lines = []
            for item in goods[row.id]:
                unit = prices.price_at(item.sku_key, row.returned_at)
                order_lines.append(
                    {
                        "statement_id": statement_id,
                        "order_id": row.id,
                        "order_no": row.order_no,
                        "line_no": item.line_no,
                        "goods_name": item.goods_name,
                        "spec": item.spec,
                        "sku_key": item.sku_key,
                        "quantity": item.quantity,
                        "unit_price_fen": unit,
                        "amount_fen": unit * item.quantity if unit is not None else None,
                        "courier": row.courier,
                        "tracking_nos": " ".join(n for _c, n in numbers.get(row.id, []))[:400],
                        "returned_at": row.returned_at,
                        "already_in_statement_id": billed.get(row.id),
                    }
                )
            amounts = [line["amount_fen"] for line in order_lines]
            total = None if None in amounts else sum(amounts)  # type: ignore[arg-type]
            for line in order_lines:
                line["order_amount_fen"] = total
            lines += order_lines
        # A Core executemany: one INSERT per batch (unpriced lines do not split it), none of
        # the ORM's per-row bookkeeping; every column is given, so no default is involved.
        db.session.execute(StatementLine.__table__.insert(), lines)
        _still_ours(statement_id, token)
        db.session.commit()
        last_id = rows[-1].id
    _still_ours(
        statement_id,
        token,
        **statement_totals(statement_id),
        status=STATEMENT_READY,
        finished_at=now_utc(),
        error="",
    )
    record_event(statement, STATEMENT_EVENT_BUILT, None)
    db.session.commit()
    # Ready now (the CSV streams from the lines); the XLSX follows as a job of its own, so the
    # statement is on both sides' pages while the file is written.
    queue_store_xlsx(statement_id)


@queue.task(STORE_STATEMENT_XLSX)
def store_xlsx(statement_id: int) -> None:
    """The task body: write a ready statement's XLSX once and store it. Should writing it
    fail, a download writes it from the lines instead, as before files were stored."""
    statement = db.session.get(Statement, statement_id)
    if statement is None or statement.status != STATEMENT_READY:
        return
    try:
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
    # One compare-and-set for all of them: a sweeper running at once moves none twice.
    requeued = sorted(
        db.session.scalars(
            update(Statement)
            .where(stale)
            .values(status=STATEMENT_QUEUED, heartbeat_at=now)
            .returning(Statement.id)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    for statement_id in requeued:
        queue_build(statement_id)
    return requeued
