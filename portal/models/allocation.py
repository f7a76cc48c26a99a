"""Allocation rules (自动分配): how a merchant's new eligible orders find their factory."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime, utcnow

# Modes (DESIGN §10.3)
RULE_MANUAL = "manual"  # every order is assigned by hand
RULE_SHOP = "shop"  # every new eligible order goes to one factory
RULE_SKU = "sku"  # by SKU code, else to the fallback factory, else it waits
RULE_MODES = (RULE_MANUAL, RULE_SHOP, RULE_SKU)


class AllocationRule(Base):
    """A merchant's mode and its factory (for `shop`, or the fallback for `sku`)."""

    __tablename__ = "allocation_rules"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10), default=RULE_MANUAL)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SkuAllocationRule(Base):
    """One SKU code of the merchant's and the factory its orders go to."""

    __tablename__ = "sku_allocation_rules"
    __table_args__ = (UniqueConstraint("merchant_id", "sku_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sku_code: Mapped[str] = mapped_column(String(64))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))


class SupplierSkuCode(Base):
    """The factory's own product code for one SKU of one merchant (keyed like its prices)."""

    __tablename__ = "supplier_sku_codes"
    __table_args__ = (
        UniqueConstraint("supplier_id", "merchant_id", "sku_key"),
        Index("ix_supplier_sku_codes_merchant_supplier", "merchant_id", "supplier_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sku_key: Mapped[str] = mapped_column(String(200))
    supplier_code: Mapped[str] = mapped_column(String(64))
    # 库位: where the factory keeps this SKU (its pick list can be sorted by it); "" when none.
    location: Mapped[str] = mapped_column(String(32), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
