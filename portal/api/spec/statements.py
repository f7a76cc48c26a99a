"""OpenAPI paths and schemas for the statements endpoints; build_spec merges them.

portal.api.openapi imports this module before it defines its helpers, so the schemas below
are plain JSON Schema and paths() imports the helpers when it is called.
"""

from __future__ import annotations

from typing import Any

from portal.models.settlement import (
    REVIEW_CONFIRMED,
    REVIEW_DISPUTED,
    REVIEW_PENDING,
    REVIEW_SETTLED,
    STATEMENT_MIN_INTERVAL_MINUTES,
    STATEMENT_SLOTS_PER_DAY,
    STATEMENT_STATUSES,
)
from portal.statements import MAX_DISPUTE_REASON, MAX_PERIOD_DAYS

SHOP_REF = {"$ref": "#/components/schemas/ShopRef"}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD（北京时间的日期）"}
BUILT = "仅 status=ready 时有值，否则为 null"
STATUS = {
    "type": "string",
    "enum": list(STATEMENT_STATUSES),
    "description": "queued 排队中；building 生成中；ready 已生成；failed 生成失败（可重试）",
}
REVIEW_STATUS = {
    "type": "string",
    "enum": [REVIEW_PENDING, REVIEW_CONFIRMED, REVIEW_DISPUTED, REVIEW_SETTLED],
    "description": "pending 待厂家确认；confirmed 厂家已确认；disputed 厂家有异议"
    "（见 dispute_reason）；settled 商家已结算（最终状态）",
}
RATE_RULE = (
    f"同一商家与厂家之间每天（北京时间）最多 {STATEMENT_SLOTS_PER_DAY} 份对账单，"
    f"两次之间至少间隔 {STATEMENT_MIN_INTERVAL_MINUTES} 分钟（跨零点也算）；"
    "生成失败的不占次数。"
)


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


SCHEMAS: dict[str, Any] = {
    "StatementInput": _object(
        {
            "supplier_shop_id": {
                "type": "string",
                "description": "已绑定（或曾经绑定）厂家的店铺ID",
            },
            "start": DATE,
            "end": {**DATE, "description": "YYYY-MM-DD，含当天；与 start 颠倒时自动交换"},
        }
    ),
    "Statement": _object(
        {
            "id": {"type": "integer"},
            "status": STATUS,
            "period": _object({"start": DATE, "end": DATE}),
            "merchant": SHOP_REF,
            "supplier": SHOP_REF,
            "line_count": {"type": ["integer", "null"], "description": f"订单数；{BUILT}"},
            "total_amount": {
                "type": ["string", "null"],
                "pattern": "^-?[0-9]+\\.[0-9]{2}$",
                "description": f"应付合计（元，两位小数的字符串，如 12.50），"
                f"不含缺少结算价和已在其他对账单的订单，含商家调整；{BUILT}",
            },
            "total_fen": {"type": ["integer", "null"], "description": f"合计金额（分）；{BUILT}"},
            "quantity_total": {"type": ["integer", "null"], "description": f"商品件数；{BUILT}"},
            "missing_price_count": {
                "type": ["integer", "null"],
                "description": f"缺少结算价（未计入合计）的订单数；{BUILT}",
            },
            "already_in_statement_count": {
                "type": ["integer", "null"],
                "description": "已计入其他已确认或已结算对账单的订单数（already_in_statement："
                f"列出但不计入合计）；{BUILT}",
            },
            "adjustment_amount": {
                "type": ["string", "null"],
                "pattern": "^-?[0-9]+\\.[0-9]{2}$",
                "description": f"商家调整合计（元，已计入 total_amount）；{BUILT}",
            },
            "review_status": REVIEW_STATUS,
            "dispute_reason": {"type": "string", "description": "厂家的异议原因（没有时为空）"},
            "requested_at": TIME,
            "finished_at": NULLABLE_TIME,
            "reviewed_at": NULLABLE_TIME,
            "settled_at": NULLABLE_TIME,
            "error": {"type": "string", "description": "生成失败的原因（status=failed）"},
            "downloads": {
                "oneOf": [
                    _object({"csv": {"type": "string"}, "xlsx": {"type": "string"}}),
                    {"type": "null"},
                ],
                "description": "下载地址（status=ready 时）",
            },
        }
    ),
    "StatementPage": _object(
        {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Statement"}},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        }
    ),
    "DisputeInput": _object(
        {"reason": {"type": "string", "minLength": 1, "maxLength": MAX_DISPUTE_REASON}}
    ),
    "StatementRateLimited": _object(
        {
            "error": _object(
                {
                    "code": {"type": "string", "enum": ["statement_rate_limited"]},
                    "message": {"type": "string", "description": "哪条限制、何时可再生成"},
                    "limit": {
                        "type": "string",
                        "enum": ["daily", "interval"],
                        "description": f"daily：今天已生成 {STATEMENT_SLOTS_PER_DAY} 份；"
                        f"interval：距上一份不足 {STATEMENT_MIN_INTERVAL_MINUTES} 分钟",
                    },
                    "retry_after": {"type": "integer", "description": "秒；同 Retry-After 头"},
                    "next_allowed_at": TIME,
                }
            )
        }
    ),
}


def paths(not_found: dict[str, Any]) -> dict[str, Any]:
    from portal.api.openapi import PAGE_PARAMS, error_response, ok, operation, ref

    statement_id = {
        "name": "statement_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    statement_ok = ok(ref("Statement"))
    not_ready = error_response("statement_not_ready：对账单还没有生成完成")
    closed = error_response(
        "statement_not_ready：还没有生成完成；statement_review_closed：当前对账状态不允许此操作"
    )
    file_content = {"schema": {"type": "string", "format": "binary"}}
    return {
        "/statements": {
            "post": operation(
                "商家生成对账单（异步）",
                {
                    "202": ok(
                        ref("Statement"),
                        "已排队（status=queued）；Location 头指向该对账单，"
                        "轮询直到 ready 或 failed",
                    ),
                    "400": error_response("请求体不是 JSON 对象"),
                    "422": error_response(
                        "invalid_shop_id：未知或未绑定的厂家店铺ID；validation_error：日期格式不对；"
                        f"invalid_period：开始日期晚于今天或跨度超过 {MAX_PERIOD_DAYS} 天"
                    ),
                    "429": {
                        "description": "statement_rate_limited：超过生成频率；"
                        "响应头 Retry-After 为可再生成前的秒数",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        "content": {"application/json": {"schema": ref("StatementRateLimited")}},
                    },
                },
                body=ref("StatementInput"),
                description="对账单包含该厂家在账期内（北京时间，首尾两天都含）回传运单号的全部订单，"
                "按回传时有效的结算价计价。" + RATE_RULE,
            ),
            "get": operation(
                "对账单列表（商家与厂家），新的在前",
                {
                    "200": ok(ref("StatementPage")),
                    "422": error_response("validation_error：status 或 review_status 取值不对"),
                },
                parameters=[
                    {"name": "status", "in": "query", "schema": STATUS},
                    {"name": "review_status", "in": "query", "schema": REVIEW_STATUS},
                    {
                        "name": "supplier_shop_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "商家使用：只看该厂家的对账单",
                    },
                    {
                        "name": "merchant_shop_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "厂家使用：只看该商家的对账单",
                    },
                    *PAGE_PARAMS,
                ],
            ),
        },
        "/statements/{statement_id}": {
            "get": operation(
                "对账单详情（商家与厂家）",
                {"200": statement_ok, "404": not_found},
                parameters=[statement_id],
            )
        },
        "/statements/{statement_id}/download": {
            "get": operation(
                "下载对账单（商家与厂家）",
                {
                    "200": {
                        "description": "附件：CSV（UTF-8 带 BOM）或 XLSX；每单一行，"
                        "最后一行为合计。以 = + - @ 开头的单元格已转义，防止公式注入",
                        "content": {
                            "text/csv": file_content,
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (
                                file_content
                            ),
                        },
                    },
                    "404": not_found,
                    "409": not_ready,
                    "422": error_response("validation_error：format 必须是 csv 或 xlsx"),
                },
                parameters=[
                    statement_id,
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"},
                    },
                ],
            )
        },
        "/statements/{statement_id}/confirm": {
            "post": operation(
                "厂家确认对账单（待确认或有异议时）",
                {
                    "200": statement_ok,
                    "404": not_found,
                    "409": error_response(
                        "statement_not_ready；statement_review_closed；statement_overlaps："
                        "其中有订单已计入另一份已确认的对账单（error.statement_id），"
                        "商家重新生成后再确认"
                    ),
                },
                parameters=[statement_id],
            )
        },
        "/statements/{statement_id}/dispute": {
            "post": operation(
                "厂家对对账单提出异议（确认之前）",
                {
                    "200": statement_ok,
                    "404": not_found,
                    "409": closed,
                    "422": error_response(
                        "dispute_reason_required：缺少原因；field_too_long：原因超过 "
                        f"{MAX_DISPUTE_REASON} 字"
                    ),
                },
                body=ref("DisputeInput"),
                parameters=[statement_id],
            )
        },
        "/statements/{statement_id}/settle": {
            "post": operation(
                "商家标记已结算（厂家确认之后）",
                {
                    "200": statement_ok,
                    "404": not_found,
                    "409": error_response(
                        "statement_not_confirmed：厂家还没有确认；statement_not_ready；"
                        "statement_review_closed：已结算"
                    ),
                },
                parameters=[statement_id],
            )
        },
        "/statements/{statement_id}/retry": {
            "post": operation(
                "商家重新生成失败的对账单",
                {
                    "202": ok(ref("Statement"), "已重新排队"),
                    "404": not_found,
                    "409": error_response("statement_not_failed：只有生成失败的对账单可以重试"),
                    "429": error_response("statement_rate_limited：" + RATE_RULE),
                },
                parameters=[statement_id],
            )
        },
    }
