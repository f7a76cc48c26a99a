"""Lenient parsing of query and form arguments for the web desks: junk becomes "not given".

Filters come from links people edit and forms they half-fill; a bad value is ignored rather
than refused, but never reaches a query in a shape the database cannot take.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

from werkzeug.routing import IntegerConverter

from portal.models.base import MAX_ID

# Far-off years are typing errors, and date.max + 1 day would overflow.
DATE_RANGE = (date(2000, 1, 1), date(2100, 12, 31))


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: an id beyond the column range is a 404, not a database error
    (PostgreSQL refuses an INTEGER parameter above 2**31 - 1, SQLite one above 2**63 - 1)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def text_arg(value: str | None, limit: int) -> str:
    """NFKC-normalised (full-width digits and letters), stripped, cut to `limit`."""
    return unicodedata.normalize("NFKC", value or "").strip()[:limit]


def id_arg(value: str | None) -> int | None:
    text = text_arg(value, 12)
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def date_arg(value: str | None) -> date | None:
    try:
        day = date.fromisoformat(text_arg(value, 10))
    except ValueError:
        return None
    return day if DATE_RANGE[0] <= day <= DATE_RANGE[1] else None
