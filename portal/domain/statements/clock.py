"""Statements: the clock (injectable: tests move through days)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

from flask import current_app, has_app_context

from portal.domain.formatting import SHANGHAI
from portal.models.base import utcnow


def now_utc() -> datetime:
    """The current time, or the app's CLOCK (a callable returning an aware datetime)."""
    clock: Callable[[], datetime] | None = (
        current_app.config.get("CLOCK") if has_app_context() else None
    )
    return clock() if clock is not None else utcnow()


def shanghai_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def day_start(day: date) -> datetime:
    """Asia/Shanghai midnight at the start of `day`, in UTC."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)
