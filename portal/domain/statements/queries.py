"""Statements: reading them, tenant-scoped (lists, events, lines), and their totals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row

from portal.extensions import db
from portal.models import (
    Merchant,
    Statement,
    StatementAdjustment,
    StatementEvent,
    StatementLine,
    Supplier,
)
from portal.models.settlement import (
    STATEMENT_BUILDING,
    STATEMENT_QUEUED,
)

READ_BATCH = 5000  # lines per query when a statement's lines are read back

ACTIVE_STATUSES = (STATEMENT_QUEUED, STATEMENT_BUILDING)


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
    StatementLine.order_amount_fen,
)


def iter_lines(statement: Statement, batch: int = READ_BATCH) -> Iterator[Row[Any]]:
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


def statement_totals(statement_id: int) -> dict[str, int]:
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


def store_totals(statement_id: int) -> None:
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement_id)
        .values(**statement_totals(statement_id))
        .execution_options(synchronize_session=False)
    )
