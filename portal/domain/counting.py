"""Counts that stay cheap at a million orders: a count stops at the configured COUNT_CAP
(a count above it is shown as "10000+" by portal.web.pagination.count_label)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, func, literal_column, select

from portal.extensions import db


def count_cap() -> int:
    return int(current_app.config["COUNT_CAP"])


def capped_count(query: Select[Any]) -> int:
    """How many rows `query` has, counting no further than cap + 1 (i.e. "more than cap").

    `query` is a plain select of the rows to count (its columns do not matter): it is counted
    as `SELECT count(*) FROM (SELECT 1 … LIMIT cap + 1)`, which stops after cap + 1 rows.
    """
    limited = query.with_only_columns(literal_column("1")).order_by(None).limit(count_cap() + 1)
    return int(db.session.scalar(select(func.count()).select_from(limited.subquery())) or 0)


def count_label(count: int) -> str:
    """A count as the desk shows it: exact up to the cap, "10000+" above it."""
    cap = count_cap()
    return _("%(n)d+", n=cap) if count > cap else str(count)
