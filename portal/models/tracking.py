"""Parcels (tracking numbers) returned by suppliers, and the orders each parcel carries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime, utcnow


class Parcel(Base):
    """One tracking number. Unique: two orders share it only when they go to one receiver."""

    __tablename__ = "parcels"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True)
    courier: Mapped[str] = mapped_column(String(10))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    receiver_key: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderParcel(Base):
    __tablename__ = "order_parcels"
    __table_args__ = (Index("ix_order_parcels_parcel_id", "parcel_id"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), primary_key=True)
    # The main tracking number (the one dispatched to the platform); others are extra parcels.
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
