"""Pagination, the one place: page arguments from a request, a paginated query, and counts
that stay cheap at a million orders.

A desk counts its tabs on every view and every 30 s poll. An exact count of 已发货 walks every
index entry of a big merchant (hundreds of thousands), so desk counts stop at COUNT_CAP: a
count above it is shown as "10000+" and that tab's pages are walked with 上一页/下一页 past the
last counted page. Every count reads at most COUNT_CAP + 1 index entries (config COUNT_CAP).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy import Select, func, literal_column, select

from portal.domain.counting import count_cap, count_label
from portal.domain.errors import DomainError
from portal.extensions import db


@dataclass(frozen=True)
class PageArgs:
    page: int
    per_page: int


def page_args(default_per_page: int, max_per_page: int, *, strict: bool = False) -> PageArgs:
    """Read `page` and `per_page`; strict (the API) refuses bad values, the UI clamps them."""
    values = []
    for name, default in (("page", 1), ("per_page", default_per_page)):
        raw = request.args.getlist(name)
        if not raw:
            values.append(default)
            continue
        text = raw[-1].strip()
        if not text.isascii() or not text.isdigit() or len(raw) > 1 or int(text) < 1:
            if strict:
                raise DomainError("validation_error", field=name)
            values.append(default)
            continue
        values.append(int(text))
    page, per_page = values
    if per_page > max_per_page:
        if strict:
            raise DomainError("validation_error", field="per_page")
        per_page = max_per_page
    return PageArgs(page=min(page, 1_000_000), per_page=per_page)


class CountedPagination(SelectPagination):
    """A page whose total the caller counted already (with capped_count).

    It reads one row more than the page to know whether a next page exists, so a capped total
    ("10000+") still pages on: `pages` is then a lower bound and `capped` is true.
    """

    def __init__(self, query: Select[Any], args: PageArgs, total: int, *, rows: bool) -> None:
        self._counted = total
        self._rows = rows
        self._more = False
        self.cap = count_cap()
        super().__init__(
            select=query,
            session=db.session(),
            page=args.page,
            per_page=args.per_page,
            max_per_page=args.per_page,
            error_out=False,
        )

    def _query_items(self) -> list[Any]:
        query = self._query_args["select"].limit(self.per_page + 1).offset(self._query_offset)
        result = self._query_args["session"].execute(query)
        items = list(result.all() if self._rows else result.unique().scalars())
        self._more = len(items) > self.per_page
        return items[: self.per_page]

    def _query_count(self) -> int:
        return self._counted

    @property
    def capped(self) -> bool:
        return (self.total or 0) > self.cap

    @property
    def total_label(self) -> str:
        return count_label(self.total or 0)

    @property
    def pages(self) -> int:
        if not self.capped:
            return super().pages
        return max(math.ceil(self.cap / self.per_page), self.page + (1 if self._more else 0))

    @property
    def has_next(self) -> bool:
        return self._more


def paginate(query: Select[Any], args: PageArgs) -> Any:
    return db.paginate(
        query, page=args.page, per_page=args.per_page, max_per_page=args.per_page, error_out=False
    )


class _RowPagination(SelectPagination):
    """db.paginate for a select of several columns: whole rows, where it keeps the first column."""

    def _query_items(self) -> list[Any]:
        query = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        return list(self._query_args["session"].execute(query).all())


def paginate_rows(query: Select[Any], args: PageArgs) -> Any:
    return _RowPagination(
        select=query,
        session=db.session(),
        page=args.page,
        per_page=args.per_page,
        max_per_page=args.per_page,
        error_out=False,
    )


# --- keyset paging (the API's sync walk) ------------------------------------------------------

CURSOR_PREFIX = "k1:"
EXAMPLE = "2026-11-21T10:00:00+08:00"


@dataclass(frozen=True)
class KeysetArgs:
    """`after` (a cursor from the previous answer's next_after; empty starts the walk),
    `per_page`, and whether an exact total was asked for (`count=exact`)."""

    after: int
    per_page: int
    exact: bool


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{key}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int:
    if not text:
        return 0
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    number = raw.removeprefix(CURSOR_PREFIX)
    if not raw.startswith(CURSOR_PREFIX) or not number.isdigit() or len(number) > 18:
        raise DomainError("validation_error", _("after 不是有效的翻页游标"), field="after")
    return int(number)


def keyset_args(default_per_page: int, max_per_page: int) -> KeysetArgs | None:
    """The keyset arguments when the request walks by cursor (`after` given), else None."""
    if "after" not in request.args:
        if "count" in request.args:
            count_arg()  # still checked
        return None
    per_page = page_args(default_per_page, max_per_page, strict=True).per_page
    return KeysetArgs(decode_cursor(request.args["after"].strip()), per_page, count_arg())


def count_arg() -> bool:
    value = request.args.get("count", "")
    if value not in ("", "exact"):
        raise DomainError("validation_error", _("count 只能是 exact"), field="count")
    return value == "exact"


def keyset_page(query: Select[Any], key: Any, args: KeysetArgs) -> tuple[list[Any], bool]:
    """One page of rows after the cursor by `key` ascending, and whether more follow. `key`
    is a unique, never-changing column (an id), so rows that change while a client walks keep
    their place: each is seen once."""
    rows = list(
        db.session.execute(
            query.where(key > args.after).order_by(None).order_by(key).limit(args.per_page + 1)
        ).all()
    )
    more = len(rows) > args.per_page
    return rows[: args.per_page], more


def exact_count(query: Select[Any]) -> int:
    """count(*) of a query (only when a client asks for it: it reads every matching row)."""
    counted = query.with_only_columns(literal_column("1")).order_by(None).subquery()
    return int(db.session.scalar(select(func.count()).select_from(counted)) or 0)


def since_arg(name: str = "updated_since") -> datetime | None:
    """An ISO 8601 time with its UTC offset, or None when not given; anything else is a 422."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        example = "2026-11-21T10:00:00+08:00"
        message = _(
            "%(name)s 必须是带时区的 ISO 8601 时间，如 %(example)s", name=name, example=example
        )
        raise DomainError("validation_error", message, field=name)
    return moment
