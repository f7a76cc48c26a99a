"""API plumbing: bearer authentication, role gates, JSON body parsing and list answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import Select

from portal.accounts import api_token_for
from portal.errors import DomainError
from portal.extensions import db
from portal.models import User
from portal.models.base import utcnow
from portal.pagination import (
    encode_cursor,
    exact_count,
    keyset_args,
    keyset_page,
    page_args,
    paginate,
)
from portal.ratelimit import check_api_rate
from portal.security import check_storable

PUBLIC_ENDPOINTS = {"api.openapi"}


def authenticate_request() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    record = api_token_for(token.strip()) if scheme.lower() == "bearer" else None
    if record is None:
        raise DomainError("unauthorized")
    check_api_rate(record.id, utcnow())
    user = record.user
    g.api_user = user
    g.profile = user.merchant or user.supplier
    if g.profile is None:
        raise DomainError("role_required")
    db.session.commit()  # persist last_used_at of a writing request, if it changed
    return None


def install_api_role_gate(bp: Blueprint, role: str) -> None:
    @bp.before_request
    def api_role_gate() -> None:
        if api_user().role != role:
            raise DomainError("forbidden")


def api_user() -> User:
    return g.api_user


def json_body(*, per_item_text_checks: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a clear 400.

    Text no column can hold (NUL, lone surrogates) refuses the whole request, unless the
    endpoint validates each item itself and reports such an item as one refusal among the
    rest (`per_item_text_checks`, the order upsert).
    """
    if not request.is_json:
        raise DomainError("invalid_request", "请求体必须是 JSON（Content-Type: application/json）")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nesting deeper than the decoder's limit is a bad request, not a crash
        body = None
    if not isinstance(body, dict):
        raise DomainError("invalid_request", "请求体必须是 JSON 对象")
    if not per_item_text_checks:
        check_storable(_strings_in(body))
    return body


def _strings_in(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON document, keys included (iteratively: no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def string_field(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise DomainError("validation_error", f"缺少字段 {name}", field=name)
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DomainError("validation_error", f"字段 {name} 必须是字符串", field=name)
    return str(value)


def list_answer(query: Select[Any], serialize: Callable[[Any], dict[str, Any]]) -> Response:
    return page_answer(query, lambda items: [serialize(item) for item in items])


def page_answer(
    query: Select[Any], serialize_page: Callable[[list[Any]], list[dict[str, Any]]]
) -> Response:
    """Like list_answer, for items serialized a page at a time (one query for the page's extras)."""
    args = page_args(50, current_app.config["API_MAX_PER_PAGE"], strict=True)
    result = paginate(query, args)
    return jsonify(
        items=serialize_page(list(result.items)),
        page=args.page,
        per_page=args.per_page,
        total=result.total,
    )


def walk_answer(
    query: Select[Any],
    key: Any,
    row_key: Callable[[Any], int],
    serialize_page: Callable[[list[Any]], list[dict[str, Any]]],
    *,
    entities: bool,
    page_query: Select[Any] | None = None,
) -> Response:
    """A list by cursor when the client walks (`after`), else by page (page_answer).

    By cursor: `{"items", "per_page", "next_after"}` — pass next_after back as `after` until
    it is null; `total` only with `count=exact` (a count reads every matching row). Rows come
    by `key` ascending (an id), so an ERP walks a million orders with one index range per page.
    `entities`: the query selects ORM entities (take each row's first element);
    `page_query`: the query as page_answer needs it, when it differs.
    """
    args = keyset_args(50, current_app.config["API_MAX_PER_PAGE"])
    if args is None:
        return page_answer(query if page_query is None else page_query, serialize_page)
    rows, more = keyset_page(query, key, args)
    items = [row[0] for row in rows] if entities else rows
    body: dict[str, Any] = {
        "items": serialize_page(items),
        "per_page": args.per_page,
        "next_after": encode_cursor(row_key(items[-1])) if more else None,
    }
    if args.exact:
        body["total"] = exact_count(query)
    return jsonify(body)


def items_answer(items: Iterable[Any], serialize: Callable[[Any], dict[str, Any]]) -> Response:
    return jsonify(items=[serialize(item) for item in items])
