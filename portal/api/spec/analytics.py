"""OpenAPI paths and schemas for the analytics endpoints (DESIGN §10.5); build_spec merges them.

Like the other spec parts, plain JSON Schema here; paths() imports the helpers when called.
"""

from __future__ import annotations

from typing import Any

from portal.statements import MAX_PERIOD_DAYS

RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
HOURS = {"type": ["number", "null"], "minimum": 0, "description": "小时，一位小数"}
DATE = {"type": "string", "format": "date"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


ITEM = {
    "shop_id": {"type": "string"},
    "shop_name": {"type": "string"},
    "assigned": {"type": "integer", "description": "期内分配的订单（后来取消的不计）"},
    "returned": {"type": "integer", "description": "期内回传运单号的订单"},
    "dispatched": {"type": "integer", "description": "期内发货的订单"},
    "same_day_rate": {
        **RATE,
        "description": "期内付款的订单中，截单时间（商家设置，默认 16:00）前付款当天回传、"
        "之后付款次日截单前回传的比例；未回传且未到截止时间的不计",
    },
    "overdue": {
        "type": "integer",
        "description": "承诺发货时间在期内、回传晚于它或已过时间仍未回传的订单",
    },
    "overdue_rate": {**RATE, "description": "overdue ÷ 已回传或已过承诺发货时间的订单"},
    "return_hours_p50": {**HOURS, "description": "期内回传的订单从分配到回传的小时数中位数"},
    "return_hours_p90": {**HOURS, "description": "同上，第 90 百分位（最近秩）"},
    "after_sale_rate": {**RATE, "description": "期内回传的订单中有售后的比例"},
}
SCHEMAS: dict[str, Any] = {
    "AnalyticsItem": _object(ITEM),
    "MerchantAnalyticsItem": _object(
        {
            **ITEM,
            "workload": _object(
                {
                    "to_print": {"type": "integer", "description": "待打印"},
                    "due_within_12h": {"type": "integer", "description": "12 小时内到承诺发货时间"},
                    "overdue": {"type": "integer", "description": "已过承诺发货时间仍未回传"},
                },
            ),
        }
    ),
    "AnalyticsDay": _object(
        {
            "date": DATE,
            "assigned": {"type": "integer"},
            "dispatched": {"type": "integer"},
            "on_time_rate": {
                **RATE,
                "description": "承诺发货时间在当天的订单中按时回传的比例（已决定的订单）",
            },
        }
    ),
}


def _report(item: str) -> dict[str, Any]:
    return _object(
        {
            "start": DATE,
            "end": DATE,
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "daily": {"type": "array", "items": {"$ref": "#/components/schemas/AnalyticsDay"}},
        }
    )


def paths(not_found: dict[str, Any]) -> dict[str, Any]:
    from portal.api.openapi import error_response, ok, operation

    period = [
        {
            "name": name,
            "in": "query",
            "schema": {"type": "string", "format": "date"},
            "description": description,
        }
        for name, description in (
            ("start", "YYYY-MM-DD（北京时间），含当天；start 与 end 都省略时为最近 7 天"),
            ("end", "YYYY-MM-DD，含当天；与 start 颠倒时自动交换"),
        )
    ]
    invalid = error_response(
        "validation_error：日期格式不对（field 指明哪个）；"
        f"invalid_period：开始日期晚于今天或跨度超过 {MAX_PERIOD_DAYS} 天"
    )
    description = "数据由后台每分钟汇总一次；比率为 0–1，没有可计的订单时为 null。"
    return {
        "/analytics/suppliers": {
            "get": operation(
                "商家：各厂家的发货数据",
                {"200": ok(_report("AnalyticsItem")), "422": invalid},
                parameters=period,
                description=description,
            )
        },
        "/supplier/analytics/merchants": {
            "get": operation(
                "厂家：各商家的发货数据与今日待办",
                {"200": ok(_report("MerchantAnalyticsItem")), "422": invalid},
                parameters=period,
                description=description,
            )
        },
    }
