"""API endpoints for a supplier's settlement prices (结算价, DESIGN §7, §8.2).

Registered on the supplier API blueprint, so its role gate covers every route here. Same
service as the 结算价 page and its file import (portal.prices).

Decisions:

- JSON types are checked for the whole request: a field of the wrong type (a JSON number for
  the price, an object for the SKU key …) is a client bug and answers 422 ``validation_error``
  naming it (``items[3].price``); nothing is saved. Values of the right type are judged per
  item: a price that is no amount, an ``effective_from`` that is no time, an unbound merchant,
  an unknown SKU are refusals in ``refused``, and the other items go in.
- Each answered item carries ``index``, its position in ``items``, so a caller can match the
  answer to what it sent (a repeated SKU is refused under its own index).
- An unknown or never-bound ``merchant_shop_id`` filter gives an empty list, not an error:
  shop IDs cannot be probed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, current_app, jsonify, request
from sqlalchemy import Select, false

from portal import prices
from portal.api.base import api_user, json_body
from portal.api.serializers import iso
from portal.api.supplier import bp
from portal.authz import current_supplier
from portal.bindings import normalize_shop_id
from portal.errors import DomainError, message_for
from portal.extensions import db
from portal.models import Supplier
from portal.pagination import page_args, paginate_rows

MAX_PRICE_ITEMS = 1000
MAX_QUERY = 200  # q and sku_key: a SKU key is at most 200 characters
# An effective_from longer than any time format is not a time; refused without parsing it.
MAX_TIME_TEXT = 64
MISSING_VALUES = {"": False, "0": False, "1": True}


# --- the list ----------------------------------------------------------------------------------


def _query_arg(name: str) -> str:
    value = (request.args.get(name) or "").strip()
    if len(value) > MAX_QUERY:
        raise DomainError("validation_error", f"{name} 最多 {MAX_QUERY} 个字符", field=name)
    return value


def _list_query(supplier: Supplier) -> Select[Any]:
    missing = request.args.get("missing", "").strip()
    if missing not in MISSING_VALUES:
        raise DomainError("validation_error", "missing 必须是 0 或 1", field="missing")
    sku_key = _query_arg("sku_key")
    query_args: dict[str, Any] = {
        "missing_only": MISSING_VALUES[missing],
        "q": _query_arg("q"),
        "sku_key": sku_key or None,
    }
    merchant_id = None
    shop_id = normalize_shop_id(request.args.get("merchant_shop_id"))
    if shop_id:
        merchants = prices.price_merchants(supplier)
        merchant_id = next((row.id for row in merchants if row.shop_id == shop_id), None)
        if merchant_id is None:
            # Unknown, not a merchant, or never bound: the same empty answer.
            return prices.price_rows(supplier, **query_args).where(false())
    return prices.price_rows(supplier, merchant_id, **query_args)


def price_item(row: Any) -> dict[str, Any]:
    """A row of prices.price_rows() as JSON; money as yuan strings ("12.50"), never floats."""
    return {
        "merchant_shop_id": row.merchant_shop_id or "",
        "merchant_name": row.merchant_name,
        "sku_key": row.sku_key,
        "goods_name": row.goods_name,
        "spec": row.spec,
        # A SUM: PostgreSQL hands back a Decimal.
        "order_count": int(row.order_count or 0),
        "price": _yuan(row.price_fen),
        "effective_from": iso(row.effective_from),
        "next_price": _yuan(row.next_price_fen),
        "next_effective_from": iso(row.next_effective_from),
    }


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else prices.price_text(fen)


@bp.get("/supplier/prices")
def price_list() -> Response:
    query = _list_query(current_supplier())
    args = page_args(50, current_app.config["API_MAX_PER_PAGE"], strict=True)
    result = paginate_rows(query, args)
    return jsonify(
        items=[price_item(row) for row in result.items],
        page=args.page,
        per_page=args.per_page,
        total=result.total,
    )


# --- setting -----------------------------------------------------------------------------------


def _string(item: dict[str, Any], name: str, path: str, *, required: bool = True) -> str | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if value is None:
        raise DomainError("validation_error", f"缺少 {path}.{name}", field=f"{path}.{name}")
    if not isinstance(value, str):
        hint = '，单位为元，例如 "12.50"' if name == "price" else ""
        message = f"{path}.{name} 必须是字符串{hint}"
        raise DomainError("validation_error", message, field=f"{path}.{name}")
    return value


def _price_inputs(body: dict[str, Any]) -> list[prices.PriceItem | prices.PriceRefusal]:
    """The items as the service takes them (row = index in `items`); a time that cannot be
    read is that item's refusal. Any wrong JSON type refuses the whole request."""
    items = body.get("items")
    if items is None:
        raise DomainError("validation_error", "缺少字段 items", field="items")
    if not isinstance(items, list):
        raise DomainError("validation_error", "字段 items 必须是数组", field="items")
    if not items:
        raise DomainError("validation_error", "items 不能为空", field="items")
    if len(items) > MAX_PRICE_ITEMS:
        message = f"items 一次最多 {MAX_PRICE_ITEMS} 项"
        raise DomainError("validation_error", message, field="items")
    inputs: list[prices.PriceItem | prices.PriceRefusal] = []
    for index, item in enumerate(items):
        path = f"items[{index}]"
        if not isinstance(item, dict):
            raise DomainError("validation_error", f"{path} 必须是对象", field=path)
        shop_id = _string(item, "merchant_shop_id", path) or ""
        sku_key = _string(item, "sku_key", path) or ""
        price = _string(item, "price", path) or ""
        time_text = _string(item, "effective_from", path, required=False) or ""
        try:
            effective_from = _effective_from(time_text)
        except DomainError as error:
            refusal = prices.PriceRefusal(
                normalize_shop_id(shop_id), sku_key[:64], error.code, error.message, index
            )
            inputs.append(refusal)
            continue
        inputs.append(prices.PriceItem(shop_id, sku_key, price, effective_from, index))
    return inputs


def _effective_from(text: str) -> datetime | None:
    if len(text) > MAX_TIME_TEXT:
        raise DomainError("invalid_effective_from")
    try:
        return prices.parse_effective_from(text)
    except OverflowError:
        # Year 1 or 9999 moved across a time zone falls off the calendar.
        raise DomainError("invalid_effective_from") from None


def _change(change: prices.PriceChange) -> dict[str, Any]:
    return {
        "index": change.row,
        "merchant_shop_id": change.merchant_shop_id,
        "sku_key": change.sku_key,
        "price": prices.price_text(change.price_fen),
        "effective_from": iso(change.effective_from),
    }


def _refusal(refusal: prices.PriceRefusal) -> dict[str, Any]:
    # The service words a repeat for files ("第 3 行已有"); an API item has an index instead.
    message = message_for(refusal.code) if refusal.code == "duplicate_sku" else refusal.message
    return {
        "index": refusal.row,
        "merchant_shop_id": refusal.merchant_shop_id,
        "sku_key": refusal.sku_key,
        "code": refusal.code,
        "message": message,
    }


@bp.put("/supplier/prices")
def price_set() -> Response:
    inputs = _price_inputs(json_body())
    result = prices.import_prices(current_supplier(), inputs, api_user())
    db.session.commit()
    return jsonify(
        created=[_change(change) for change in result.created],
        unchanged=[_change(change) for change in result.unchanged],
        refused=[_refusal(refusal) for refusal in result.refused],
    )
