"""OpenAPI paths and schemas for the dispatch endpoints; build_spec merges them.

portal.api.openapi imports this module before it defines its helpers, so the schemas below
are plain JSON Schema and paths() imports the helpers when it is called.
"""

from __future__ import annotations

from typing import Any

from portal.api.dispatch import MAX_ORDER_NOS_PER_DISPATCH

# Every code POST /dispatches may refuse an order with (portal.dispatch.dispatch_blocker).
DISPATCH_REFUSAL_CODES = [
    "not_found",
    "not_assigned",
    "assignment_cancelled",
    "not_returned",
    "dispatched",
    "not_awaiting_shipment",
    "after_sale",
    "audit_hold",
]
CODE_MEANINGS = (
    "not_found 不是当前商家的订单；not_assigned 未分配厂家；assignment_cancelled 分配已取消；"
    "not_returned 厂家还没有回传运单号；dispatched 已发货；not_awaiting_shipment 订单已取消；"
    "after_sale 售后中、audit_hold 平台审核中（confirm_holds=true 时照常发货）"
)
BOUND = (
    "YYYY-MM-DD（北京时间的日期），或带时区偏移的 ISO-8601 时间（如 2026-11-21T10:00:00+08:00；"
    "查询串中的 + 请编码为 %2B）"
)


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


SCHEMAS: dict[str, Any] = {
    "DispatchInput": _object(
        {
            "order_nos": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": MAX_ORDER_NOS_PER_DISPATCH,
                "description": "要发货的订单号；重复的只算一次",
            },
            "return_address_id": {
                "type": ["integer", "null"],
                "description": "退货地址 id（GET /return-addresses）；省略或 null 时用默认退货地址",
            },
            "confirm_holds": {
                "type": "boolean",
                "default": False,
                "description": "true：售后中或平台审核中的订单也发货（商家已确认）；"
                "省略或 false 时这些订单以 after_sale / audit_hold 拒绝。必须是 JSON 布尔值",
            },
        },
        required=["order_nos"],
    ),
    "DispatchRefusal": _object(
        {
            "order_no": {"type": "string"},
            "code": {
                "type": "string",
                "enum": DISPATCH_REFUSAL_CODES,
                "description": CODE_MEANINGS,
            },
            "message": {"type": "string", "description": "原因（中文）"},
        }
    ),
    "DispatchResult": _object(
        {
            "dispatched": {
                "type": "array",
                "items": {"type": "string"},
                "description": "已发货的订单号（发货时间、退货地址已记录）",
            },
            "refused": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/DispatchRefusal"},
            },
        }
    ),
}


def paths(not_found: dict[str, Any]) -> dict[str, Any]:
    from portal.api.openapi import error_response, ok, operation, ref

    file_content = {"schema": {"type": "string", "format": "binary"}}
    return {
        "/dispatches": {
            "post": operation(
                "商家批量发货（已回传运单号的订单）",
                {
                    "200": ok(ref("DispatchResult"), "逐单结果：已发货的与被拒绝的（含原因码）"),
                    "400": error_response("请求体不是 JSON 对象"),
                    "404": error_response("not_found：return_address_id 不是当前商家的退货地址"),
                    "422": error_response(
                        "validation_error：字段类型不对（field 指明哪个字段）；"
                        "nothing_selected：order_nos 为空；"
                        f"too_many_orders：超过 {MAX_ORDER_NOS_PER_DISPATCH} 个订单号；"
                        "return_address_required：商家还没有退货地址"
                    ),
                },
                body=ref("DispatchInput"),
                description="一次集合式处理（每 900 单一条比较并设置语句），并发的回传撤销、"
                "重复提交不会把订单发两次。发货时记录时间与退货地址；设置了接口回调时，"
                "提交后按每 500 单发送签名的 orders.dispatched 回调。",
            )
        },
        "/dispatches/export": {
            "get": operation(
                "下载发货文件（平台批量发货格式：订单号、快递公司、快递单号）",
                {
                    "200": {
                        "description": "附件：CSV（UTF-8 带 BOM，流式）或 XLSX；按发货时间排序，"
                        "快递公司为平台的写法。以 = + - @ 开头的单元格已转义，防止公式注入",
                        "content": {
                            "text/csv": file_content,
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (
                                file_content
                            ),
                        },
                    },
                    "422": error_response(
                        "validation_error：since、until 或 format 取值不对，或 until 不晚于 since"
                    ),
                },
                parameters=[
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": f"从此时起发货的订单（含）。{BOUND}；省略则不限",
                    },
                    {
                        "name": "until",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": f"到此为止（日期含当天，时间不含）。{BOUND}；省略则不限",
                    },
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"},
                    },
                ],
            )
        },
    }
