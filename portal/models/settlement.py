"""Settlement: prices per (merchant, SKU) with history, statements with their lines and review."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import Merchant, Supplier
from portal.models.base import Base, UTCDateTime, utcnow

# How a statement is built (the worker moves it along).
STATEMENT_QUEUED = "queued"
STATEMENT_BUILDING = "building"
STATEMENT_READY = "ready"
STATEMENT_FAILED = "failed"
STATEMENT_STATUSES = (STATEMENT_QUEUED, STATEMENT_BUILDING, STATEMENT_READY, STATEMENT_FAILED)

# How the two sides reconcile a built statement.
REVIEW_PENDING = "pending"
REVIEW_CONFIRMED = "confirmed"
REVIEW_DISPUTED = "disputed"
REVIEW_SETTLED = "settled"
REVIEW_STATUSES = (REVIEW_PENDING, REVIEW_CONFIRMED, REVIEW_DISPUTED, REVIEW_SETTLED)

# Rate limit (seed 004): per pair, at most this many a day, at least this far apart.
STATEMENT_SLOTS_PER_DAY = 3
STATEMENT_MIN_INTERVAL_MINUTES = 10


class Price(Base):
    """A settlement price in force from `effective_from` until the next one for the same SKU."""

    __tablename__ = "prices"
    __table_args__ = (
        UniqueConstraint("supplier_id", "merchant_id", "sku_key", "effective_from"),
        Index("ix_prices_merchant_supplier", "merchant_id", "supplier_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sku_key: Mapped[str] = mapped_column(String(200))
    price_fen: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatementPair(Base):
    """One row per merchant–supplier pair: the row a statement request locks (PostgreSQL)."""

    __tablename__ = "statement_pairs"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)


class Statement(Base):
    """对账单: one supplier's returned orders of one merchant over a date range."""

    __tablename__ = "statements"
    __table_args__ = (
        # The rate limit held by the database: a pair has slots 1–3 per Asia/Shanghai day. A
        # failed build gives its slot back by setting it to NULL (NULLs never collide).
        UniqueConstraint("merchant_id", "supplier_id", "day", "slot"),
        Index("ix_statements_merchant_id", "merchant_id", "id"),
        Index("ix_statements_supplier_id", "supplier_id", "id"),
        Index("ix_statements_pair_requested", "merchant_id", "supplier_id", "requested_at"),
        Index("ix_statements_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    day: Mapped[date] = mapped_column(Date)  # Asia/Shanghai day of the request
    slot: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    status: Mapped[str] = mapped_column(String(10), default=STATEMENT_QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(String(300), default="")

    line_count: Mapped[int] = mapped_column(Integer, default=0)
    # The amount due: priced lines not already in a confirmed or settled statement, plus the
    # merchant's adjustments.
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    quantity_total: Mapped[int] = mapped_column(Integer, default=0)
    missing_price_count: Mapped[int] = mapped_column(Integer, default=0)
    # Lines whose order is already payable in another (confirmed or settled) statement.
    already_billed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    adjustment_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    review_status: Mapped[str] = mapped_column(String(10), default=REVIEW_PENDING)
    dispute_reason: Mapped[str] = mapped_column(String(500), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    merchant: Mapped[Merchant] = relationship()
    supplier: Mapped[Supplier] = relationship()


class StatementLine(Base):
    """One order line on a statement (DESIGN §10.2: a line per order line), priced per SKU at
    the price in force when the order's tracking was returned."""

    __tablename__ = "statement_lines"
    __table_args__ = (
        # A rebuilt statement (worker crashed mid-way) can never hold an order line twice.
        UniqueConstraint("statement_id", "order_id", "line_no"),
        # Which statements already hold an order (a line is payable in one statement only).
        Index("ix_statement_lines_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    order_no: Mapped[str] = mapped_column(String(40))
    # The order's line (1 for single-item orders) and the order's amount over all its lines
    # (None when a line has no price), shown beside each of its lines.
    line_no: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    order_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    goods_name: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[str] = mapped_column(String(100), default="")
    sku_key: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price_fen: Mapped[int | None] = mapped_column(Integer)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    courier: Mapped[str] = mapped_column(String(10), default="")
    tracking_nos: Mapped[str] = mapped_column(String(400), default="")
    returned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the order is already in the amount due of this confirmed or settled statement:
    # the line is listed (「已在对账单 #N」) but not counted.
    already_in_statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"))


class StatementAdjustment(Base):
    """A correction by the merchant after a dispute: a signed amount with its reason."""

    __tablename__ = "statement_adjustments"
    __table_args__ = (Index("ix_statement_adjustments_statement_id", "statement_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatementFile(Base):
    """A statement's spreadsheet, written once by the worker when it builds the statement and
    sent as stored (an XLSX of 100 000 lines takes seconds to write, and is ~4 MB)."""

    __tablename__ = "statement_files"

    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), primary_key=True
    )
    file_format: Mapped[str] = mapped_column(String(8), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Statement event kinds (both sides see who did what, when)
STATEMENT_EVENT_REQUESTED = "requested"
STATEMENT_EVENT_BUILT = "built"
STATEMENT_EVENT_FAILED = "failed"
STATEMENT_EVENT_RETRIED = "retried"
STATEMENT_EVENT_CONFIRMED = "confirmed"
STATEMENT_EVENT_DISPUTED = "disputed"
STATEMENT_EVENT_SETTLED = "settled"
STATEMENT_EVENT_ANSWERED = "answered"
STATEMENT_EVENT_ADJUSTED = "adjusted"
STATEMENT_EVENT_REGENERATED = "regenerated"
STATEMENT_EVENT_KINDS = (
    STATEMENT_EVENT_REQUESTED,
    STATEMENT_EVENT_BUILT,
    STATEMENT_EVENT_FAILED,
    STATEMENT_EVENT_RETRIED,
    STATEMENT_EVENT_CONFIRMED,
    STATEMENT_EVENT_DISPUTED,
    STATEMENT_EVENT_SETTLED,
    STATEMENT_EVENT_ANSWERED,
    STATEMENT_EVENT_ADJUSTED,
    STATEMENT_EVENT_REGENERATED,
)


class StatementEvent(Base):
    __tablename__ = "statement_events"
    __table_args__ = (Index("ix_statement_events_statement_id", "statement_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"))
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
