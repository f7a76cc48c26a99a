"""Shipping analytics: what each order contributes, and the daily roll-ups summed from it.

The worker keeps these current (portal.domain.analytics.refresh): the 数据 pages and the analytics
API read a year of figures from a few hundred roll-up rows instead of a million orders. Nothing
here is buyer data: ids, days, counts and hours only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime

# The same-day rule (seed 002): paid before the shop's cut-off → returned the same day; after
# it → by the next day's cut-off. An order still open before its deadline is not counted yet.
PAID_MET = "met"
PAID_MISSED = "missed"
PAID_OPEN_BEFORE = "open_before"  # paid before the cut-off, not returned yet
PAID_OPEN_AFTER = "open_after"  # paid after the cut-off, not returned yet
PAID_KINDS = (PAID_MET, PAID_MISSED, PAID_OPEN_BEFORE, PAID_OPEN_AFTER)

# 承诺发货时间: the tracking number came back by it, after it, or not yet.
PROMISE_ON_TIME = "on_time"
PROMISE_LATE = "late"
PROMISE_OPEN = "open"
PROMISE_KINDS = (PROMISE_ON_TIME, PROMISE_LATE, PROMISE_OPEN)


class AnalyticsOrderFacts(Base):
    """What one order currently counts for; the roll-ups are the sums of these rows.

    Kept so the worker can take an order's old contribution out of the roll-ups when the
    order changes (a cancelled assignment has no supplier any more on the order itself)."""

    __tablename__ = "analytics_order_facts"
    __table_args__ = (
        # Today's overdue count: open orders whose 承诺发货时间 has passed.
        Index("ix_analytics_order_facts_merchant_open", "merchant_id", "open_promise_at"),
        Index("ix_analytics_order_facts_supplier_open", "supplier_id", "open_promise_at"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    assigned_day: Mapped[date | None] = mapped_column(Date)
    returned_day: Mapped[date | None] = mapped_column(Date)
    # Hours from assignment to the returned tracking number, in tenths (0.1 h).
    return_tenths: Mapped[int | None] = mapped_column(Integer)
    after_sale: Mapped[bool] = mapped_column(Boolean, default=False)
    dispatched_day: Mapped[date | None] = mapped_column(Date)
    paid_day: Mapped[date | None] = mapped_column(Date)
    paid_kind: Mapped[str | None] = mapped_column(String(12))
    promise_day: Mapped[date | None] = mapped_column(Date)
    promise_kind: Mapped[str | None] = mapped_column(String(8))
    # 承诺发货时间 while the tracking number is not returned, else None.
    open_promise_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AnalyticsDaily(Base):
    """One merchant–factory pair's counts on one Asia/Shanghai day."""

    __tablename__ = "analytics_daily"
    __table_args__ = (Index("ix_analytics_daily_supplier", "supplier_id", "merchant_id", "day"),)

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    assigned: Mapped[int] = mapped_column(Integer, default=0)  # by assignment day
    returned: Mapped[int] = mapped_column(Integer, default=0)  # by return day
    after_sale: Mapped[int] = mapped_column(Integer, default=0)  # of those returned that day
    dispatched: Mapped[int] = mapped_column(Integer, default=0)  # by dispatch day
    # by payment day
    paid_met: Mapped[int] = mapped_column(Integer, default=0)
    paid_missed: Mapped[int] = mapped_column(Integer, default=0)
    paid_open_before: Mapped[int] = mapped_column(Integer, default=0)
    paid_open_after: Mapped[int] = mapped_column(Integer, default=0)
    # by the day of 承诺发货时间
    promise_on_time: Mapped[int] = mapped_column(Integer, default=0)
    promise_late: Mapped[int] = mapped_column(Integer, default=0)
    promise_open: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsReturnHours(Base):
    """How many of a pair's orders returned on a day took each number of tenths of an hour:
    exact percentiles over any period without reading the orders."""

    __tablename__ = "analytics_return_hours"
    __table_args__ = (
        # A period's days of one merchant's (one factory's) histogram, read from the index alone:
        # at a million orders the key's (merchant, supplier, day) order read the whole year.
        Index(
            "ix_analytics_return_hours_merchant_day",
            "merchant_id",
            "day",
            "supplier_id",
            "tenths",
            "orders",
        ),
        Index(
            "ix_analytics_return_hours_supplier",
            "supplier_id",
            "day",
            "merchant_id",
            "tenths",
            "orders",
        ),
    )

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tenths: Mapped[int] = mapped_column(Integer, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsReturnHoursMonthly(Base):
    """The same histogram per calendar month: a year's percentiles read twelve of these and
    the days of the partial months at the period's edges."""

    __tablename__ = "analytics_return_hours_monthly"
    __table_args__ = (
        Index("ix_analytics_return_hours_monthly_supplier", "supplier_id", "merchant_id", "month"),
    )

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    tenths: Mapped[int] = mapped_column(Integer, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsProgress(Base):
    """How far the worker has read the orders' changes (one row); also its lock."""

    __tablename__ = "analytics_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    scanned_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
