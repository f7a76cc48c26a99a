"""API endpoints for a supplier's settlement prices (结算价, DESIGN §7, §8.2).

Registered on the supplier API blueprint, so its role gate covers every route here. Same
service as the 结算价 page and its file import (portal.domain.prices).

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

from flask import Response, jsonify

from portal.api import schemas
from portal.api.base import api_user, endpoint, page_answer
from portal.api.blueprints import supplier_bp as bp
from portal.api.serializers import iso
from portal.domain import prices
from portal.domain.bindings import normalize_shop_id
from portal.domain.errors import DomainError, message_for
from portal.extensions import db
from portal.web.gate import current_supplier

# An effective_from longer than any time format is not a time; refused without parsing it.
MAX_TIME_TEXT = 64


# --- the list ----------------------------------------------------------------------------------


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
@endpoint(schemas.PricePage)
def price_list(query: schemas.PriceQuery) -> Response:
    """厂家的结算价列表（每个商家 SKU 一行）

    列出有订单分配给本厂家的每个（商家，SKU），以及已设价但暂无订单的；缺少结算价的排在前面。
    金额为元的字符串，时间为 ISO 8601（UTC）。
    """
    rows = prices.price_rows_of_shop(
        current_supplier(),
        normalize_shop_id(query.merchant_shop_id),
        missing_only=query.missing == "1",
        q=query.q.strip(),
        sku_key=query.sku_key.strip() or None,
    )
    return page_answer(rows, lambda page: [price_item(row) for row in page], query, rows=True)


# --- setting -----------------------------------------------------------------------------------


def _price_inputs(
    items: list[schemas.PriceItemInput],
) -> list[prices.PriceItem | prices.PriceRefusal]:
    """The items as the service takes them (row = index in `items`); a time that cannot be
    read is that item's refusal."""
    inputs: list[prices.PriceItem | prices.PriceRefusal] = []
    for index, item in enumerate(items):
        try:
            effective_from = _effective_from(item.effective_from or "")
        except DomainError as error:
            refusal = prices.PriceRefusal(
                normalize_shop_id(item.merchant_shop_id),
                item.sku_key[:64],
                error.code,
                error.message,
                index,
            )
            inputs.append(refusal)
            continue
        inputs.append(
            prices.PriceItem(item.merchant_shop_id, item.sku_key, item.price, effective_from, index)
        )
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
@endpoint(
    schemas.PriceResult,
    errors={409: "price_conflict：同一 SKU 的价格刚被其他请求设置，整个请求未保存，请重试"},
)
def price_set(json: schemas.PriceInput) -> Response:
    """批量设置结算价

    价格有历史：新价格从 effective_from（默认现在）起生效，对账单按运单号回传时有效的价格计价。
    字段类型错误使整个请求被拒绝（422）；取值错误只拒绝该项，其余照常保存。
    """
    result = prices.import_prices(current_supplier(), _price_inputs(json.items), api_user())
    db.session.commit()
    return jsonify(
        created=[_change(change) for change in result.created],
        unchanged=[_change(change) for change in result.unchanged],
        refused=[_refusal(refusal) for refusal in result.refused],
    )
