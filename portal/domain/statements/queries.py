"""Statements: reading them, tenant-scoped (lists, events, lines), and their totals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import (
    Merchant,
    Statement,
    StatementAdjustment,
    StatementEvent,
    StatementLine,
    Supplier,
    User,
)
from portal.models.settlement import (
    STATEMENT_BUILDING,
    STATEMENT_QUEUED,
)

READ_BATCH = 5000  # lines per query when a statement's lines are read back

ACTIVE_STATUSES = (STATEMENT_QUEUED, STATEMENT_BUILDING)


# --- reading (tenant-scoped) -----------------------------------------------------------------


def statements_query_for_merchant(
    merchant: Merchant,
    supplier_id: int | None = None,
    *,
    supplier_shop_id: str = "",
    status: str | None = None,
    review_status: str | None = None,
) -> Select[tuple[Statement]]:
    """The merchant's statements, newest first, both shops loaded: all, or one supplier's (by
    id, or by shop ID — an unknown one matches nothing), in a status or a review status."""
    query = select(Statement).where(Statement.merchant_id == merchant.id)
    if supplier_id:
        query = query.where(Statement.supplier_id == supplier_id)
    return _listed(query, Statement.supplier_id, Supplier, supplier_shop_id, status, review_status)


def statements_query_for_supplier(
    supplier: Supplier,
    merchant_id: int | None = None,
    *,
    merchant_shop_id: str = "",
    status: str | None = None,
    review_status: str | None = None,
) -> Select[tuple[Statement]]:
    """The supplier's statements, as statements_query_for_merchant from the other side."""
    query = select(Statement).where(Statement.supplier_id == supplier.id)
    if merchant_id:
        query = query.where(Statement.merchant_id == merchant_id)
    return _listed(query, Statement.merchant_id, Merchant, merchant_shop_id, status, review_status)


def _listed(
    query: Select[tuple[Statement]],
    party_column: Any,
    party: type[Merchant] | type[Supplier],
    shop_id: str,
    status: str | None,
    review_status: str | None,
) -> Select[tuple[Statement]]:
    if status:
        query = query.where(Statement.status == status)
    if review_status:
        query = query.where(Statement.review_status == review_status)
    if shop_id:
        query = query.where(
            party_column.in_(
                select(party.id).join(User, User.id == party.user_id).where(User.shop_id == shop_id)
            )
        )
    return query.options(
        joinedload(Statement.merchant).joinedload(Merchant.user),
        joinedload(Statement.supplier).joinedload(Supplier.user),
    ).order_by(Statement.id.desc())


def statement_merchants(supplier: Supplier) -> list[Merchant]:
    """The merchants that have requested statements from this supplier (its list's filter)."""
    return list(
        db.session.scalars(
            select(Merchant)
            .where(
                Merchant.id.in_(
                    select(Statement.merchant_id).where(Statement.supplier_id == supplier.id)
                )
            )
            .order_by(Merchant.shop_name, Merchant.id)
        )
    )


def statement_events(statement: Statement) -> list[StatementEvent]:
    return list(
        db.session.scalars(
            select(StatementEvent)
            .where(StatementEvent.statement_id == statement.id)
            .order_by(StatementEvent.id)
        )
    )


def lines_query(statement: Statement) -> Select[tuple[StatementLine]]:
    """A statement's lines in order, as entities (a detail page's page of them)."""
    return (
        select(StatementLine)
        .where(StatementLine.statement_id == statement.id)
        .order_by(StatementLine.id)
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
