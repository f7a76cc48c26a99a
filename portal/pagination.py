"""Pagination, the one place: page arguments from a request and a paginated query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy import Select

from portal.errors import DomainError
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
