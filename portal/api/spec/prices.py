"""OpenAPI paths and schemas for the prices endpoints; build_spec merges them.

portal.api.openapi imports this module before it defines its helpers, so the schemas below
are plain JSON Schema and paths() imports the helpers when it is called.
"""

from __future__ import annotations

from typing import Any

from portal.api.prices import MAX_PRICE_ITEMS, MAX_QUERY
from portal.prices import MAX_PRICE_FEN, MAX_SCHEDULE_AHEAD, MAX_SKU_KEY

YUAN = {
    "type": "string",
    "pattern": "^[0-9]+\\.[0-9]{2}$",
    "description": "元，两位小数的字符串，如 12.50",
}
NULLABLE_YUAN = {**YUAN, "type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
INDEX = {"type": "integer", "minimum": 0, "description": "该项在请求 items 中的位置（从 0 起）"}
REFUSAL_CODES = [
    "invalid_price",
    "invalid_sku_key",
    "invalid_effective_from",
    "not_bound",
    "unknown_sku",
    "duplicate_sku",
    "price_time_taken",
]
MAX_YUAN = MAX_PRICE_FEN // 100


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _list_of(name: str, description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"$ref": f"#/components/schemas/{name}"},
        "description": description,
    }


SCHEMAS: dict[str, Any] = {
    "PriceRow": _object(
        {
            "merchant_shop_id": {"type": "string"},
            "merchant_name": {"type": "string"},
            "sku_key": {
                "type": "string",
                "description": "SKU键：商家编码-SKU维度；为空时为 商品id + 商品规格",
            },
            "goods_name": {"type": "string", "description": "取自最近一单；没有订单时为空"},
            "spec": {"type": "string", "description": "取自最近一单；没有订单时为空"},
            "order_count": {
                "type": "integer",
                "description": "分配给本厂家的该 SKU 订单数（已设价但已无订单时为 0）",
            },
            "price": {**NULLABLE_YUAN, "description": "当前有效的结算价（元）；缺少时为 null"},
            "effective_from": {**NULLABLE_TIME, "description": "当前结算价的生效时间"},
            "next_price": {**NULLABLE_YUAN, "description": "最近一次待生效的结算价（若有）"},
            "next_effective_from": {**NULLABLE_TIME, "description": "待生效价格的生效时间"},
        }
    ),
    "PricePage": _object(
        {
            "items": _list_of("PriceRow", "缺少结算价的在前，然后按商家、商品、SKU键"),
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        }
    ),
    "PriceItemInput": _object(
        {
            "merchant_shop_id": {
                "type": "string",
                "description": "已绑定（或曾经绑定）商家的店铺ID",
            },
            "sku_key": {"type": "string", "maxLength": MAX_SKU_KEY},
            "price": {
                "type": "string",
                "description": f'结算价，单位元，必须是字符串（如 "12.50"），0 到 {MAX_YUAN} 元，'
                "最多两位小数；JSON 数字会被整体拒绝（422）",
            },
            "effective_from": {
                "type": ["string", "null"],
                "description": "可选，生效时间：北京时间 YYYY-MM-DD HH:MM[:SS]（或只写日期），"
                "或带时区的 ISO 8601。省略时立即生效。可早于现在（补设），最多提前 "
                f"{MAX_SCHEDULE_AHEAD.days} 天；等于当前价格的生效时间（列表给出的时间）"
                "表示修改当前价格，新价格从现在起生效",
            },
        },
        required=["merchant_shop_id", "sku_key", "price"],
    ),
    "PriceInput": _object(
        {
            "items": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/PriceItemInput"},
                "minItems": 1,
                "maxItems": MAX_PRICE_ITEMS,
                "description": "每个（商家，SKU）一次只能出现一次",
            }
        }
    ),
    "PriceChange": _object(
        {
            "index": INDEX,
            "merchant_shop_id": {"type": "string"},
            "sku_key": {"type": "string"},
            "price": YUAN,
            "effective_from": {
                **TIME,
                "description": "created：新价格的生效时间；unchanged：已有的同价记录的生效时间",
            },
        }
    ),
    "PriceRefusal": _object(
        {
            "index": INDEX,
            "merchant_shop_id": {"type": "string"},
            "sku_key": {"type": "string"},
            "code": {
                "type": "string",
                "enum": REFUSAL_CODES,
                "description": "invalid_price 金额不对；invalid_sku_key SKU键为空或过长；"
                "invalid_effective_from 生效时间无法识别或超出范围；not_bound 未与该商家绑定"
                "（含未知店铺ID）；unknown_sku 该商家没有分配给你的此 SKU 订单，也没有价格；"
                "duplicate_sku 同一（商家，SKU）在本次请求中重复，后出现的被拒绝；"
                "price_time_taken 该生效时间已有不同的价格",
            },
            "message": {"type": "string"},
        }
    ),
    "PriceResult": _object(
        {
            "created": _list_of("PriceChange", "已新增的价格（历史保留，不覆盖）"),
            "unchanged": _list_of("PriceChange", "该时间已是这个价格，未新增"),
            "refused": _list_of("PriceRefusal", "被拒绝的项，按 index 排序"),
        }
    ),
}


def paths(not_found: dict[str, Any]) -> dict[str, Any]:
    from portal.api.openapi import PAGE_PARAMS, error_response, ok, operation, ref

    return {
        "/supplier/prices": {
            "get": operation(
                "厂家的结算价列表（每个商家 SKU 一行）",
                {
                    "200": ok(ref("PricePage")),
                    "422": error_response(
                        "validation_error：missing、page、per_page 取值不对，"
                        f"或 q、sku_key 超过 {MAX_QUERY} 个字符"
                    ),
                },
                parameters=[
                    {
                        "name": "missing",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["0", "1"]},
                        "description": "1：只看缺少结算价的 SKU",
                    },
                    {
                        "name": "merchant_shop_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "只看该商家；未知或从未绑定的店铺ID得到空列表",
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": MAX_QUERY},
                        "description": "在 SKU键、商品名、规格中查找（包含即可，不分大小写）",
                    },
                    {
                        "name": "sku_key",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": MAX_QUERY},
                        "description": "只看这个 SKU键（精确匹配）",
                    },
                    *PAGE_PARAMS,
                ],
                description="列出有订单分配给本厂家的每个（商家，SKU），以及已设价但暂无订单的；"
                "缺少结算价的排在前面。金额为元的字符串，时间为 ISO 8601（UTC）。",
            ),
            "put": operation(
                "批量设置结算价",
                {
                    "200": ok(
                        ref("PriceResult"),
                        "逐项结果：created 已新增、unchanged 未变化、refused 被拒绝（带原因码）；"
                        "合格的项已保存",
                    ),
                    "400": error_response("invalid_request：请求体不是 JSON 对象或含有 NUL 等字符"),
                    "409": error_response(
                        "price_conflict：同一 SKU 的价格刚被其他请求设置，整个请求未保存，请重试"
                    ),
                    "422": error_response(
                        f"validation_error：items 缺失、为空或超过 {MAX_PRICE_ITEMS} 项，"
                        "或某项字段类型不对（error.field 如 items[2].price；"
                        "price 必须是字符串）；整个请求未保存"
                    ),
                },
                body=ref("PriceInput"),
                description="价格有历史：新价格从 effective_from（默认现在）起生效，"
                "对账单按运单号回传时有效的价格计价。只能为已绑定（或曾经绑定）的商家、"
                "且有订单分配给本厂家或已有价格的 SKU 设价。字段类型错误使整个请求被拒绝（422）；"
                "取值错误只拒绝该项，其余照常保存。",
            ),
        }
    }
