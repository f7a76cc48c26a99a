"""Merchant–supplier bindings (绑定): pending → active, or rejected; active → ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import Merchant, Supplier
from portal.models.base import Base, UTCDateTime, utcnow

BINDING_PENDING = "pending"
BINDING_ACTIVE = "active"
BINDING_REJECTED = "rejected"
BINDING_ENDED = "ended"
OPEN_STATUSES = (BINDING_PENDING, BINDING_ACTIVE)
BINDING_STATUSES = (BINDING_PENDING, BINDING_ACTIVE, BINDING_REJECTED, BINDING_ENDED)


class Binding(Base):
    __tablename__ = "bindings"
    __table_args__ = (
        # One open (pending or active) binding per pair; history rows may repeat.
        Index(
            "uq_bindings_open_pair",
            "merchant_id",
            "supplier_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'active')"),
            postgresql_where=text("status IN ('pending', 'active')"),
        ),
        Index("ix_bindings_supplier_status", "supplier_id", "status"),
        Index("ix_bindings_merchant_status", "merchant_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    status: Mapped[str] = mapped_column(String(10), default=BINDING_PENDING)
    message: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(16))

    merchant: Mapped[Merchant] = relationship()
    supplier: Mapped[Supplier] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
