"""Statements: review by both sides — confirm, dispute, answer, adjust, settle."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update

from portal.domain.errors import DomainError
from portal.domain.formatting import AmountError, parse_yuan, signed_yuan
from portal.domain.statements.clock import now_utc
from portal.domain.statements.queries import store_totals
from portal.domain.statements.requesting import MAX_DISPUTE_REASON, lock_pair, record_event
from portal.extensions import db
from portal.models import (
    Merchant,
    Statement,
    StatementAdjustment,
    StatementFile,
    StatementLine,
    Supplier,
    User,
)
from portal.models.settlement import (
    REVIEW_CONFIRMED,
    REVIEW_DISPUTED,
    REVIEW_PENDING,
    REVIEW_SETTLED,
    STATEMENT_EVENT_ADJUSTED,
    STATEMENT_EVENT_ANSWERED,
    STATEMENT_EVENT_CONFIRMED,
    STATEMENT_EVENT_DISPUTED,
    STATEMENT_EVENT_SETTLED,
    STATEMENT_READY,
)

MAX_ADJUSTMENT_REASON = 200

# An adjustment is a correction, not a second statement: at most ±1 000 000 yuan.
MAX_ADJUSTMENT_FEN = 100_000_000

# Review states in which the statement's lines count as payable (an order is paid once).
PAYABLE_REVIEWS = (REVIEW_CONFIRMED, REVIEW_SETTLED)


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
    record_event(statement, kind, actor, note)
    return statement


def _overlap(statement: Statement) -> tuple[int, int] | None:
    """(how many orders, one statement id) of this statement's counted lines whose order is
    already counted in another confirmed or settled statement; None when there is none. Orders,
    not lines: an order's lines meet each other's once per pair (a line per order line)."""
    other = StatementLine.__table__.alias("other")
    row = db.session.execute(
        select(func.count(StatementLine.order_id.distinct()), func.min(other.c.statement_id))
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
        lock_pair(statement.merchant_id, statement.supplier_id)
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


def _clean_text(text: str | None, limit: int, required_code: str, field: str = "reason") -> str:
    text = " ".join((text or "").split())
    if not text:
        raise DomainError(required_code, field=field)
    if len(text) > limit:
        raise DomainError("field_too_long", field=field)
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
    note = _clean_text(note, MAX_DISPUTE_REASON, "answer_required", "note")
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
    shown = signed_yuan(amount_fen)
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
    store_totals(statement.id)
    # The stored XLSX predates the adjustment: downloads write it from the lines again.
    db.session.execute(delete(StatementFile).where(StatementFile.statement_id == statement.id))
    db.session.refresh(statement)
    return adjustment


def parse_adjustment(text: str | None) -> int:
    """A signed amount in yuan as typed ("-12.50", "+3", "５元") → fen; 0 is refused."""
    try:
        fen = parse_yuan(text or "")
    except AmountError:
        raise DomainError("invalid_adjustment", field="amount") from None
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
