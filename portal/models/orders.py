"""Orders, their assignments to suppliers, and the audit trail of every change."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    and_,
    false,
    literal_column,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import Supplier
from portal.models.base import Base, UTCDateTime, utcnow
from portal.models.rules import Must, Rule, Window

# Order stages (DESIGN §4.3)
STAGE_UNASSIGNED = "unassigned"
STAGE_ASSIGNED = "assigned"
STAGE_RETURNED = "returned"
STAGE_DISPATCHED = "dispatched"
STAGES = (STAGE_UNASSIGNED, STAGE_ASSIGNED, STAGE_RETURNED, STAGE_DISPATCHED)
# With the factory and not yet dispatched: to print or to pack, its number returned or not.
AT_FACTORY_STAGES = (STAGE_ASSIGNED, STAGE_RETURNED)

# Platform status (DESIGN §8.2)
PLATFORM_AWAITING = "awaiting_shipment"
PLATFORM_CANCELLED = "cancelled"

# Assignment status
ASSIGNMENT_ACTIVE = "active"
ASSIGNMENT_CANCELLED = "cancelled"

# Why an assignment was cancelled
CANCEL_MANUAL = "manual"
CANCEL_AFTER_SALE = "after_sale"
CANCEL_AUDIT = "audit_hold"
CANCEL_ORDER_CANCELLED = "cancelled"
CANCEL_BINDING_ENDED = "binding_ended"
CANCEL_REASONS = (
    CANCEL_MANUAL,
    CANCEL_AFTER_SALE,
    CANCEL_AUDIT,
    CANCEL_ORDER_CANCELLED,
    CANCEL_BINDING_ENDED,
)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("uq_orders_merchant_order_no", "merchant_id", "order_no", unique=True),
        # The order desk: one merchant's orders by stage, newest first.
        Index("ix_orders_merchant_stage_id", "merchant_id", "stage", "id"),
        Index("ix_orders_merchant_supplier_stage", "merchant_id", "supplier_id", "stage", "id"),
        Index("ix_orders_merchant_phone_index", "merchant_id", "phone_index"),
        Index("ix_orders_merchant_name_index", "merchant_id", "name_index"),
        Index("ix_orders_merchant_paid_at", "merchant_id", "paid_at"),
        # The batch-shipping export: a merchant's dispatches since a time.
        Index("ix_orders_merchant_dispatched_at", "merchant_id", "dispatched_at"),
        # The analytics worker reads the orders changed since its last pass.
        Index("ix_orders_updated_at", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    order_no: Mapped[str] = mapped_column(String(40))

    platform_status: Mapped[str] = mapped_column(String(20))
    platform_status_text: Mapped[str] = mapped_column(String(30), default="")
    after_sale_status: Mapped[str] = mapped_column(String(100), default="")
    after_sale_active: Mapped[bool] = mapped_column(Boolean, default=False)
    audit_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promise_ship_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    buyer_note: Mapped[str] = mapped_column(String(500), default="")
    merchant_note: Mapped[str] = mapped_column(String(500), default="")
    # The merchant's own note to the factory (DESIGN §10.2), and as the factory sees it: phone-
    # and name-like text masked at write time, so supplier code paths never read the note.
    factory_note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    factory_note_mask: Mapped[str] = mapped_column(String(400), default="", server_default="")
    # The merchant's flag colour (0 grey … 5 purple), for its own desk only.
    flag: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")

    # Receiver: ciphertexts (AES-GCM, row identity as associated data) and masks made at write
    # time, so supplier code paths never decrypt. Province/city/district are not secret.
    name_enc: Mapped[str] = mapped_column(Text, default="")
    phone_enc: Mapped[str] = mapped_column(Text, default="")
    detail_enc: Mapped[str] = mapped_column(Text, default="")
    name_mask: Mapped[str] = mapped_column(String(16), default="")
    phone_mask: Mapped[str] = mapped_column(String(24), default="")
    detail_mask: Mapped[str] = mapped_column(String(8), default="")
    province: Mapped[str] = mapped_column(String(50), default="")
    city: Mapped[str] = mapped_column(String(50), default="")
    district: Mapped[str] = mapped_column(String(50), default="")
    phone_index: Mapped[str] = mapped_column(String(64), default="")
    # Blind index of the receiver's full name (privacy.name_index), for search by name.
    name_index: Mapped[str] = mapped_column(String(64), default="", server_default="")
    receiver_key: Mapped[str] = mapped_column(String(32), default="")
    # The receiver_key of the platform's own receiver, as the last import or API upsert brought
    # it; the merchant's correction (orders.edits) changes receiver_key only. While the platform
    # sends the same receiver, a later import keeps the correction.
    platform_receiver_key: Mapped[str] = mapped_column(String(32), default="", server_default="")
    address_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    # A province, city or district the division table does not know (经济技术开发区 …): kept
    # as the platform gave it and shown to the merchant as 地区未核验, never blocking.
    region_unverified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # The first goods line, copied from order_lines (DESIGN §10.2: an order has 1–50): what
    # single-line orders need comes from the order row alone; `line_count` says when a page
    # must load the order's other lines (one query for the page, OrderLine).
    line_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    goods_id: Mapped[str] = mapped_column(String(64), default="")
    goods_name: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[str] = mapped_column(String(100), default="")
    style_id: Mapped[str] = mapped_column(String(64), default="")
    sku_code: Mapped[str] = mapped_column(String(64), default="")
    goods_code: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    # Settlement prices are keyed by the SKU code, else goods id + spec (DESIGN §7).
    sku_key: Mapped[str] = mapped_column(String(200), default="")

    goods_total_fen: Mapped[int | None] = mapped_column(Integer)
    paid_fen: Mapped[int | None] = mapped_column(Integer)
    merchant_received_fen: Mapped[int | None] = mapped_column(Integer)
    platform_tracking_no: Mapped[str] = mapped_column(String(64), default="")
    platform_courier: Mapped[str] = mapped_column(String(50), default="")

    # Keyed digest of everything imported: an unchanged re-import is detected without decrypting.
    content_hash: Mapped[str] = mapped_column(String(64), default="")

    # Allocation state, kept on the order so desks filter and count by index.
    stage: Mapped[str] = mapped_column(String(12), default=STAGE_UNASSIGNED)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Receiver data changed after assignment and the merchant has not acknowledged it yet.
    address_change_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the merchant last accepted a changed receiver (acknowledged, or edited it): the
    # factory sees 地址已修改 until it prints the label again.
    address_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Printing and the returned tracking number (the factory desk).
    print_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    courier: Mapped[str] = mapped_column(String(10), default="", server_default="")
    tracking_no: Mapped[str] = mapped_column(String(32), default="", server_default="")
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Corrections of the tracking number after dispatch (seed 001: at most two).
    tracking_corrections: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Dispatch (发货) by the merchant on the platform.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    return_address_id: Mapped[int | None] = mapped_column(ForeignKey("return_addresses.id"))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    supplier: Mapped[Supplier | None] = relationship()

    @property
    def supplier_name(self) -> str:
        """The assigned factory's name ("" when unassigned); a desk row has it as a column."""
        return self.supplier.factory_name if self.supplier else ""


# --- Order rules (DESIGN §4.2): each written once, its SQL condition and Python check from the
# same definition (portal.models.rules); the refusal codes and the API's enums are their codes.

_STAGE = Order.stage
_NO_AFTER_SALE = Must(Order.after_sale_active, (False,), "after_sale")
_NO_AUDIT_HOLD = Must(Order.audit_hold, (False,), "audit_hold")

# 待分配: an order that can be assigned right now (binding is checked separately).
ASSIGNABLE_RULE = Rule(
    (
        Must(_STAGE, (STAGE_UNASSIGNED,), "already_assigned", {STAGE_DISPATCHED: "dispatched"}),
        Must(Order.platform_status, (PLATFORM_AWAITING,), "not_awaiting_shipment"),
        _NO_AFTER_SALE,
        _NO_AUDIT_HOLD,
        Must(Order.address_complete, (True,), "address_incomplete"),
    )
)

# What stops a label while the order is assigned and no tracking number is returned yet.
PRINT_HOLDS = Rule(
    (
        _NO_AFTER_SALE,
        _NO_AUDIT_HOLD,
        Must(Order.address_change_pending, (False,), "address_changed"),
    ),
    when=Must(_STAGE, (STAGE_ASSIGNED,)),
)
# A label may be printed (or printed again) until the order is dispatched, holds permitting
# (the supplier's assignment and binding are checked separately).
PRINTABLE_RULE = Rule((Must(_STAGE, (STAGE_DISPATCHED,), "dispatched", negate=True), PRINT_HOLDS))

# The factory may return (or return again) tracking numbers of its assigned or returned orders.
TRACKING_RETURNABLE = Rule(
    (
        Must(
            _STAGE,
            AT_FACTORY_STAGES,
            "assignment_cancelled",
            {STAGE_DISPATCHED: "dispatched"},
        ),
    )
)

# The merchant may take an assignment back (取消分配) until a tracking number is returned.
CANCELLABLE = Rule(
    (
        Must(
            _STAGE,
            (STAGE_ASSIGNED,),
            "not_assigned",
            {STAGE_RETURNED: "tracking_returned", STAGE_DISPATCHED: "dispatched"},
        ),
    )
)

# 发货: returned and not cancelled by the platform; the holds block until the merchant confirms.
DISPATCHABLE = Rule(
    (
        Must(
            _STAGE,
            (STAGE_RETURNED,),
            "not_assigned",
            {STAGE_DISPATCHED: "dispatched", STAGE_ASSIGNED: "not_returned"},
        ),
        Must(Order.platform_status, (PLATFORM_CANCELLED,), "not_awaiting_shipment", negate=True),
    )
)
DISPATCH_HOLDS = Rule((_NO_AFTER_SALE, _NO_AUDIT_HOLD))

# Who still has to act before 承诺发货时间: the merchant until dispatched (while the platform
# waits), the factory until it returns the tracking number.
MERCHANT_TO_SHIP = Rule(
    (
        Must(_STAGE, (STAGE_DISPATCHED,), negate=True),
        Must(Order.platform_status, (PLATFORM_AWAITING,)),
    )
)
FACTORY_TO_SHIP = Rule((Must(_STAGE, (STAGE_ASSIGNED,)),))

# The deadline edge, the same on both desks: 已超时 from 承诺发货时间 on (at it included),
# 即将超时 within DUE_SOON before it; 「到期」 lists count both.
DUE_SOON = timedelta(hours=12)
OVERDUE = Window(Order.promise_ship_at, until=timedelta(0))
DUE_SOON_WINDOW = Window(Order.promise_ship_at, until=DUE_SOON, after=timedelta(0))
DUE_WITHIN = Window(Order.promise_ship_at, until=DUE_SOON)


def deadline_state(order: object, now: datetime, to_ship: Rule) -> str:
    """How close an order someone still has to ship is to its 承诺发货时间: "" (not pressing,
    or nothing left to do), "warn" (due soon) or "danger" (overdue)."""
    if not to_ship.allows(order):
        return ""
    if OVERDUE.holds(order, now):
        return "danger"
    return "warn" if DUE_SOON_WINDOW.holds(order, now) else ""


ASSIGNABLE = ASSIGNABLE_RULE.sql()

# 异常: held (after-sale, audit), address changed, or awaiting with an incomplete address.
NEEDS_ATTENTION = and_(
    Must(_STAGE, (STAGE_DISPATCHED,), negate=True).sql(),
    or_(
        Must(Order.after_sale_active, (True,)).sql(),
        Must(Order.audit_hold, (True,)).sql(),
        Must(Order.address_change_pending, (True,)).sql(),
        and_(
            Must(_STAGE, (STAGE_UNASSIGNED,)).sql(),
            Must(Order.platform_status, (PLATFORM_AWAITING,)).sql(),
            Must(Order.address_complete, (False,)).sql(),
        ),
    ),
)

# The factory side's indexes hold assigned orders only (supplier_id set): every factory query
# names its supplier (`supplier_id = ?` implies IS NOT NULL, so both planners use them), and an
# import of new orders — none of them assigned yet — writes none of these six B-trees: at a
# million orders each was a random page write per new order.
AT_A_FACTORY = Order.supplier_id.is_not(None)
for _name, *_columns in (
    # The factory desk: a tab ordered by 承诺发货时间, and its 待打印/已打印 counts.
    ("ix_orders_supplier_stage_promise", "supplier_id", "stage", "promise_ship_at", "id"),
    ("ix_orders_supplier_stage_printed", "supplier_id", "stage", "print_count"),
    # The factory's lookups by order number (tracking return, scan, print): the unique
    # (merchant_id, order_no) cannot serve them, the number alone names no merchant.
    ("ix_orders_supplier_order_no", "supplier_id", "order_no"),
    # 同收件人 badges: a page's receivers looked up among the supplier's unshipped orders.
    ("ix_orders_supplier_receiver", "supplier_id", "receiver_key", "stage"),
    # Statements: one supplier's orders of one merchant by the time tracking came back.
    ("ix_orders_supplier_merchant_returned", "supplier_id", "merchant_id", "returned_at"),
    # The supplier's price list groups its orders by (merchant, SKU): an index-only scan.
    ("ix_orders_supplier_merchant_sku", "supplier_id", "merchant_id", "sku_key", "id"),
):
    Index(
        _name,
        *(Order.__table__.c[column] for column in _columns),
        sqlite_where=AT_A_FACTORY,
        postgresql_where=AT_A_FACTORY,
    )

# The factory's orders with several goods lines: the price list looks for SKUs on their later
# lines, and reads these entries (a few percent of the orders for most shops; none of a
# Pinduoduo shop's) instead of every one of the supplier's order rows to test line_count.
SEVERAL_LINES = Order.line_count > literal_column("1")
Index(
    "ix_orders_supplier_several_lines",
    Order.supplier_id,
    # Repeated from the condition: SQLite then reads these entries alone (covering) and
    # prefers them to the supplier's other indexes even without statistics.
    Order.line_count,
    Order.id,
    Order.sku_key,
    sqlite_where=and_(AT_A_FACTORY, SEVERAL_LINES),
    postgresql_where=and_(AT_A_FACTORY, SEVERAL_LINES),
)

# Partial indexes of the two flag-dependent desk tabs: they hold only the orders those tabs
# list, so their pages and counts read a few index entries instead of a merchant's whole
# backlog of table rows. The assignable one repeats its condition's columns: SQLite (3.40)
# prefers (merchant_id, stage, id) unless a partial index matches as many equality terms.
Index(
    "ix_orders_merchant_assignable",
    Order.merchant_id,
    Order.stage,
    Order.platform_status,
    Order.after_sale_active,
    Order.audit_hold,
    Order.address_complete,
    Order.id,
    sqlite_where=ASSIGNABLE,
    postgresql_where=ASSIGNABLE,
)
# The factory's open orders (assigned, not returned): the 数据 page's workload per merchant
# (to print, due soon, overdue) read from this index alone. Partial: a few percent of the orders,
# and no other query (the order-number lookup on an empty table, say) is planned on it.
Index(
    "ix_orders_supplier_stage_workload",
    Order.supplier_id,
    Order.stage,
    Order.merchant_id,
    Order.print_count,
    Order.promise_ship_at,
    sqlite_where=FACTORY_TO_SHIP.sql(),
    postgresql_where=FACTORY_TO_SHIP.sql(),
)
Index(
    "ix_orders_merchant_attention",
    Order.merchant_id,
    Order.supplier_id,
    Order.id,
    sqlite_where=NEEDS_ATTENTION,
    postgresql_where=NEEDS_ATTENTION,
)


class OrderLine(Base):
    """One item of an order (DESIGN §10.2): 1 to 50 per order, numbered from 1 in file order.

    Line 1 is also copied onto the order row (goods_name, sku_key …). Prices, statements,
    备货汇总 and SKU rules work per line, so SKU lookups go through the merchant's index.
    """

    __tablename__ = "order_lines"
    __table_args__ = (
        Index("uq_order_lines_order_line", "order_id", "line_no", unique=True),
        Index("ix_order_lines_merchant_sku", "merchant_id", "sku_key", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    goods_id: Mapped[str] = mapped_column(String(64), default="")
    goods_name: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[str] = mapped_column(String(100), default="")
    style_id: Mapped[str] = mapped_column(String(64), default="")
    sku_code: Mapped[str] = mapped_column(String(64), default="")
    goods_code: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    sku_key: Mapped[str] = mapped_column(String(200), default="")


# The goods columns an order line and the order row (its line 1) share.
LINE_FIELDS = (
    "goods_id",
    "goods_name",
    "spec",
    "style_id",
    "sku_code",
    "goods_code",
    "quantity",
    "sku_key",
)
MAX_ORDER_LINES = 50


# The merchant desk's flag filter, over flagged orders only: a full (merchant, flag) index would
# tempt SQLite away from the partial indexes above. A filter on a colour repeats FLAGGED.
FLAGGED = Order.flag != literal_column("0")
Index(
    "ix_orders_merchant_flagged",
    Order.merchant_id,
    Order.flag,
    Order.id,
    sqlite_where=FLAGGED,
    postgresql_where=FLAGGED,
)


class Assignment(Base):
    """One allocation of an order to a supplier; cancelled ones stay visible to the supplier."""

    __tablename__ = "assignments"
    __table_args__ = (
        # At most one active assignment per order, guaranteed by the database.
        Index(
            "uq_assignments_active_order",
            "order_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_assignments_supplier_status_id", "supplier_id", "status", "id"),
        Index("ix_assignments_order_id", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    status: Mapped[str] = mapped_column(String(10), default=ASSIGNMENT_ACTIVE)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(20))
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    order: Mapped[Order] = relationship()
    supplier: Mapped[Supplier] = relationship()


# Order event kinds (the audit trail shown in an order's history)
EVENT_IMPORTED = "imported"
EVENT_UPDATED = "updated"
EVENT_ASSIGNED = "assigned"
EVENT_AUTO_ASSIGNED = "auto_assigned"  # by an allocation rule; `reason` names the rule
EVENT_ASSIGNMENT_CANCELLED = "assignment_cancelled"
EVENT_ADDRESS_CHANGED = "address_changed"
EVENT_ADDRESS_ACKNOWLEDGED = "address_acknowledged"
EVENT_RECEIVER_EDITED = "receiver_edited"  # by the merchant; `note` masks before → after
EVENT_AFTER_SALE = "after_sale"
EVENT_AUDIT_HOLD = "audit_hold"
EVENT_HOLD_LIFTED = "hold_lifted"
EVENT_CANCELLED = "order_cancelled"
EVENT_DISPATCHED = "dispatched"
EVENT_TRACKING_CHANGED = "tracking_changed"  # corrected after dispatch; `note` old → new
EVENT_TRACKING_RETURNED = "tracking_returned"
EVENT_TRACKING_CANCELLED = "tracking_cancelled"


class OrderEvent(Base):
    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(30))
    # Who: a user, or None for the system (an import or the platform's change).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    reason: Mapped[str] = mapped_column(String(30), default="")
    # A short, non-personal note (never buyer data): e.g. the new platform status text.
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportJob(Base):
    """An uploaded platform export being imported in the background, with its progress."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_merchant_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(200))
    # Whose export it is, told by its header row: "pdd" | "douyin".
    platform: Mapped[str] = mapped_column(String(60), default="", server_default="")
    # queued → running → done | failed
    status: Mapped[str] = mapped_column(String(10), default="queued")
    # The upload itself, kept in the database so any worker host can process it; cleared after.
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_assignments: Mapped[int] = mapped_column(Integer, default=0)
    # JSON list of {row, order_no, code, message}; the first 1000 refusals.
    rejections: Mapped[str] = mapped_column(Text, default="[]")
    error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportMapping(Base):
    """A merchant's saved column mapping for an export layout the portal does not know: which
    of the file's headers holds which order field. A later file with the same header set is
    read with it (portal.domain.imports.platform_export.detect_platform)."""

    __tablename__ = "import_mappings"
    __table_args__ = (
        Index("uq_import_mappings_merchant_headers", "merchant_id", "header_key", unique=True),
        Index("uq_import_mappings_merchant_name", "merchant_id", "name", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(String(40))
    # Digest of the file's normalised header set (platform_export.header_key).
    header_key: Mapped[str] = mapped_column(String(64))
    headers: Mapped[str] = mapped_column(Text)  # JSON list of the normalised headers
    fields: Mapped[str] = mapped_column(Text)  # JSON {order field (column name): header}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
