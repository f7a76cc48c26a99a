"""Print jobs: which orders a supplier printed, how, and every time the PDF was rendered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime, utcnow

JOB_PRINTED = "printed"  # labels rendered (no sequential numbers to confirm)
JOB_PENDING = "pending_confirmation"  # pre-printed paper numbers assigned, not yet confirmed
JOB_CONFIRMED = "confirmed"  # numbers recorded as returned tracking
JOB_VOIDED = "voided"
JOB_STATUSES = (JOB_PRINTED, JOB_PENDING, JOB_CONFIRMED, JOB_VOIDED)

# The order labels come out in: as the desk listed them, by SKU, or by 承诺发货时间.
PRINT_DESK = "desk"
PRINT_SKU = "sku"
PRINT_PROMISE = "promise"
PRINT_ORDERS = (PRINT_DESK, PRINT_SKU, PRINT_PROMISE)

# Packing slips (发货单): none, one after each order's label, or a PDF of their own.
SLIPS_NONE = ""
SLIPS_AFTER = "after"
SLIPS_SEPARATE = "separate"
PACKING_SLIPS = (SLIPS_NONE, SLIPS_AFTER, SLIPS_SEPARATE)


class PrintJob(Base):
    __tablename__ = "print_jobs"
    __table_args__ = (Index("ix_print_jobs_supplier_id", "supplier_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    courier: Mapped[str] = mapped_column(String(10))
    label_size: Mapped[str] = mapped_column(String(10))
    start_tracking_no: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(24), default=JOB_PRINTED)
    print_order: Mapped[str] = mapped_column(
        String(10), default=PRINT_DESK, server_default=PRINT_DESK
    )
    packing_slips: Mapped[str] = mapped_column(String(10), default=SLIPS_NONE, server_default="")
    # Orders of one merchant to one receiver share one label (and one tracking number).
    merge_parcels: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    order_count: Mapped[int] = mapped_column(Integer, default=0)
    render_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PrintJobOrder(Base):
    __tablename__ = "print_job_orders"
    __table_args__ = (Index("ix_print_job_orders_order_id", "order_id"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("print_jobs.id"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    # The sequential paper-waybill number given to this order by the job, if any.
    tracking_no: Mapped[str] = mapped_column(String(32), default="")
    # A merged parcel: the seq of the order whose label carries this one too (0: its own).
    label_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PrintRender(Base):
    """Audit: every render of a job's PDF (who, when, how many labels)."""

    __tablename__ = "print_renders"
    __table_args__ = (Index("ix_print_renders_job_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("print_jobs.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    label_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
