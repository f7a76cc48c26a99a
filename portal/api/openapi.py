"""The OpenAPI 3.1 document served at /api/v1/openapi.json; tests check it covers every route."""

from __future__ import annotations

from typing import Any

from portal.api.orders import MAX_ORDER_NOS_PER_BATCH, MAX_ORDERS_PER_UPSERT
from portal.api.serializers import TRACKING_FORMAT_WARNING
from portal.api.spec import allocation as spec_allocation
from portal.api.spec import analytics as spec_analytics
from portal.api.spec import dispatch as spec_dispatch
from portal.api.spec import prices as spec_prices
from portal.api.spec import statements as spec_statements
from portal.api.supplier_orders import MAX_ORDER_NOS_PER_PRINT_JOB, MAX_TRACKING_ITEMS, STAGES
from portal.couriers import COURIERS, MAX_EXTRA_TRACKING_NOS
from portal.models.printing import JOB_CONFIRMED, JOB_PENDING, JOB_PRINTED, JOB_VOIDED
from portal.orders.inputs import FIELD_LIMITS, MAX_AMOUNT_FEN, MAX_QUANTITY, PLATFORM_STATUSES
from portal.orders.queries import TABS
from portal.printing.labels import DEFAULT_LABEL_SIZE, LABEL_SIZES

STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
INTEGER = {"type": "integer"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
STRING_LIST = {"type": "array", "items": STRING}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    return schema


def page_of(item: str) -> dict[str, Any]:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        }
    )


def walk_of(item: str) -> dict[str, Any]:
    """A list by page, or by cursor (with `after`: next_after, total only with count=exact)."""
    walk = obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "per_page": {"type": "integer"},
            "next_after": {"type": ["string", "null"]},
            "total": {"type": "integer"},
        },
        required=["items", "per_page", "next_after"],
    )
    return {"oneOf": [page_of(item), walk]}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, **json_content(ref("Error"))}


COMMON_ERRORS = {
    # Every request is refused this way when its body is not the JSON object (or multipart
    # form) asked for, or any text in it or in the query holds NUL or a lone surrogate.
    "400": error_response("invalid_request：请求格式不正确，或含有无法处理的字符（如 NUL）"),
    "401": error_response("缺少或无效的令牌"),
    "403": error_response("角色不符"),
}


def operation(
    summary: str,
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    upload: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    common = {code: answer for code, answer in COMMON_ERRORS.items() if code not in responses}
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **common}}
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = {"required": True, **json_content(body)}
    if upload is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": upload}},
        }
    if parameters:
        op["parameters"] = parameters
    return op


def ok(schema: dict[str, Any], description: str = "成功") -> dict[str, Any]:
    return {"description": description, **json_content(schema)}


PATH_ID = {"name": "binding_id", "in": "path", "required": True, "schema": {"type": "integer"}}
PATH_ORDER_NO = {
    "name": "order_no",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "订单号，如 231121-538292030421876",
}
# Walking a list by cursor (the ERP sync): GET /orders and GET /supplier/orders.
WALK_PARAMS = [
    {
        "name": "after",
        "in": "query",
        "schema": {"type": "string"},
        "description": (
            "按游标翻页：首次传空值（after=），之后传上一页的 next_after，直到它为 null；"
            "按订单 id 升序，遍历期间订单变化也不会重复或遗漏；"
            "此时不返回 page，total 仅在 count=exact 时返回"
        ),
    },
    {
        "name": "updated_since",
        "in": "query",
        "schema": {"type": "string", "format": "date-time"},
        "description": (
            "只列出此时间（含）之后有变化的订单，带时区的 ISO 8601，如 2026-11-21T10:00:00+08:00"
        ),
    },
    {
        "name": "count",
        "in": "query",
        "schema": {"type": "string", "enum": ["exact"]},
        "description": "按游标翻页时返回 total（需要数全部匹配的订单）",
    },
]
PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
    },
]


def nullable_text(field: str, description: str | None = None) -> dict[str, Any]:
    """An optional order text field; `field` is its key in FIELD_LIMITS."""
    schema: dict[str, Any] = {"type": ["string", "null"], "maxLength": FIELD_LIMITS[field]}
    if description:
        schema["description"] = description
    return schema


def nullable_integer(minimum: int, maximum: int, description: str) -> dict[str, Any]:
    return {
        "type": ["integer", "null"],
        "minimum": minimum,
        "maximum": maximum,
        "description": description,
    }


PLATFORM_STATUS = {"type": "string", "enum": list(PLATFORM_STATUSES)}
FEN = "金额，整数，单位分"
ASSIGN_BLOCKER_CODES = [
    "dispatched",
    "already_assigned",
    "not_awaiting_shipment",
    "after_sale",
    "audit_hold",
    "address_incomplete",
]
ASSIGN_REFUSAL_CODES = [*ASSIGN_BLOCKER_CODES, "not_bound", "not_found"]
CANCEL_CODES = ["not_found", "not_assigned", "tracking_returned", "dispatched"]
PRINT_BLOCKER_CODES = ["after_sale", "audit_hold", "address_changed"]
ISO_TIME = {
    "type": ["string", "null"],
    "format": "date-time",
    "description": "ISO-8601，必须带时区偏移（如 2026-11-21T10:00:00+08:00 或 …Z）；"
    "不带时区的时间会被拒绝",
}


def receiver_schema(*, for_input: bool) -> dict[str, Any]:
    street = (
        "可选：街道/乡镇。给出时拼接在 detail 前面（若 detail 已以它开头则不重复）"
        if for_input
        else "总是空字符串：街道与详细地址合并保存在 detail 中（平台导出的“街道”列）"
    )
    return obj(
        {
            "name": nullable_text("receiver.name", "收货人"),
            "phone": nullable_text(
                "receiver.phone", "手机或固定电话，可带分机（13212345678-1234）"
            ),
            "province": nullable_text("receiver.province"),
            "city": nullable_text("receiver.city"),
            "district": nullable_text(
                "receiver.district", "区县；东莞市、中山市等不设区的城市为空"
            ),
            "street": nullable_text("receiver.street", street),
            "detail": nullable_text("receiver.detail", "区县之后的完整地址"),
        },
        required=[] if for_input else None,
    )


def line_schema(*, for_input: bool) -> dict[str, Any]:
    return obj(
        {
            "goods_id": nullable_text("line.goods_id", "商品id"),
            "goods_name": {
                "type": "string",
                "minLength": 1,
                "maxLength": FIELD_LIMITS["line.goods_name"],
            },
            "spec": nullable_text("line.spec", "商品规格"),
            "sku_code": nullable_text("line.sku_code", "商家编码-SKU维度"),
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
        },
        required=["goods_name", "quantity"] if for_input else None,
    )


ORDER_INPUT_FIELDS: dict[str, Any] = {
    "order_no": {
        "type": "string",
        "pattern": "^[0-9A-Za-z-]{6,40}$",
        "description": "订单号；与商家一起唯一，重复提交即更新",
    },
    "platform_status": PLATFORM_STATUS,
    "platform_status_text": nullable_text(
        "platform_status_text", "可选：平台原文状态，如“未发货，退款成功”；省略时按状态取默认文字"
    ),
    "after_sale_active": {
        "type": ["boolean", "null"],
        "description": "售后进行中；省略时，after_sale_status 非空即视为 true",
    },
    "after_sale_status": nullable_text(
        "after_sale_status", "售后状态原文；“无售后或售后取消”视为无售后"
    ),
    "audit_hold": {"type": ["boolean", "null"], "description": "平台审核中（是否审核中）"},
    "paid_at": ISO_TIME,
    "promise_ship_at": ISO_TIME,
    "buyer_note": nullable_text("buyer_note"),
    "merchant_note": nullable_text("merchant_note"),
    "goods_total_fen": nullable_integer(0, MAX_AMOUNT_FEN - 1, f"商品总价，{FEN}"),
    "paid_fen": nullable_integer(0, MAX_AMOUNT_FEN - 1, f"用户实付，{FEN}"),
    "merchant_received_fen": nullable_integer(0, MAX_AMOUNT_FEN - 1, f"商家实收，{FEN}"),
}

SUPPLIER_STAGES = list(STAGES)
COURIER_CODE = {
    "type": "string",
    "description": "快递公司：代码（"
    + "、".join(f"{c.code} {c.name}" for c in COURIERS)
    + "）或中文名称",
}
PRINT_REFUSAL_CODES = [
    "not_assigned",
    "assignment_cancelled",
    "dispatched",
    *PRINT_BLOCKER_CODES,
]
TRACKING_REFUSAL_CODES = [
    "unknown_courier",
    "invalid_tracking_no",
    "too_many_tracking_nos",
    "duplicate_tracking_no",
    "not_assigned",
    "assignment_cancelled",
    "dispatched",
]
TRACKING_REF = obj({"courier": STRING, "tracking_no": STRING})
JOB_STATUS = {
    "type": "string",
    "enum": [JOB_PRINTED, JOB_PENDING, JOB_CONFIRMED, JOB_VOIDED],
    "description": f"{JOB_PRINTED}：普通打印；{JOB_PENDING}：已按起始单号分配纸质面单号，"
    f"待确认（confirm）或作废（void）；{JOB_CONFIRMED}：单号已记为回传；{JOB_VOIDED}：已作废",
}

SUPPLIER_SCHEMAS: dict[str, Any] = {
    "MaskedReceiver": {
        **obj(
            {
                "name": {"type": "string", "description": "姓名掩码，如 张**"},
                "phone": {"type": "string", "description": "电话掩码，如 138****5678 或 ****1234"},
                "province": STRING,
                "city": STRING,
                "district": STRING,
                "detail": {"type": "string", "description": "详细地址总是 ****"},
            }
        ),
        "description": "厂家只看到掩码；完整收货信息只出现在打印的面单上",
    },
    "SupplierOrder": obj(
        {
            "order_no": STRING,
            "merchant": ref("ShopRef"),
            "platform_status": PLATFORM_STATUS,
            "after_sale_active": BOOLEAN,
            "audit_hold": BOOLEAN,
            "address_change_pending": BOOLEAN,
            "stage": {
                "type": "string",
                "enum": ["assigned", "returned", "dispatched", "cancelled"],
                "description": "cancelled：分配已取消，请勿发货（见 cancel_reason）",
            },
            "paid_at": NULLABLE_TIME,
            "promise_ship_at": NULLABLE_TIME,
            "assigned_at": NULLABLE_TIME,
            "lines": {"type": "array", "items": ref("OrderLine")},
            "receiver": ref("MaskedReceiver"),
            "receiver_key": {
                "type": "string",
                "description": "同一收件人的订单相同（不透露收件人），可合并包裹、共用运单号",
            },
            "print_count": INTEGER,
            "last_printed_at": NULLABLE_TIME,
            "tracking": {
                "type": "array",
                "items": TRACKING_REF,
                "description": "已回传的运单号，主单号在前",
            },
            "print_blockers": {
                "type": "array",
                "items": {"type": "string", "enum": [*PRINT_BLOCKER_CODES, "assignment_cancelled"]},
                "description": "当前不能打单的原因；为空即可打印",
            },
            "cancel_reason": {
                "type": "string",
                "enum": ["manual", "after_sale", "audit_hold", "cancelled", "binding_ended"],
                "description": "仅 stage=cancelled",
            },
            "cancelled_at": {
                "type": "string",
                "format": "date-time",
                "description": "仅 stage=cancelled",
            },
        },
        required=[
            "order_no",
            "merchant",
            "stage",
            "lines",
            "receiver",
            "receiver_key",
            "tracking",
            "print_blockers",
        ],
    ),
    "SupplierOrderPage": walk_of("SupplierOrder"),
    "PrintJobInput": obj(
        {
            "order_nos": {
                "type": "array",
                "items": STRING,
                "minItems": 1,
                "maxItems": MAX_ORDER_NOS_PER_PRINT_JOB,
                "description": "按此顺序打印",
            },
            "courier": COURIER_CODE,
            "label_size": {
                "type": "string",
                "enum": list(LABEL_SIZES),
                "default": DEFAULT_LABEL_SIZE,
                "description": "面单尺寸（毫米）",
            },
            "start_tracking_no": {
                "type": "string",
                "description": "可选：预印纸质面单的起始单号；"
                "按打印顺序给尚未回传的订单分配连续单号，"
                "确认（confirm）后才记为回传",
            },
        },
        required=["order_nos", "courier"],
    ),
    "PrintRefusal": obj(
        {
            "order_no": STRING,
            "code": {"type": "string", "enum": PRINT_REFUSAL_CODES},
            "message": STRING,
        }
    ),
    "PrintJobCreated": obj(
        {
            "id": {"type": ["integer", "null"], "description": "没有可打印的订单时为 null"},
            "status": {"oneOf": [JOB_STATUS, {"type": "null"}]},
            "printed": STRING_LIST,
            "refused": {"type": "array", "items": ref("PrintRefusal")},
            "pdf_url": {"type": ["string", "null"]},
        }
    ),
    "PrintJob": obj(
        {
            "id": INTEGER,
            "status": JOB_STATUS,
            "courier": STRING,
            "label_size": {"type": "string", "enum": list(LABEL_SIZES)},
            "start_tracking_no": STRING,
            "order_count": INTEGER,
            "render_count": {"type": "integer", "description": "PDF 已生成（下载）的次数"},
            "created_at": {"type": "string", "format": "date-time"},
            "decided_at": NULLABLE_TIME,
            "pdf_url": STRING,
            "orders": {
                "type": "array",
                "items": obj(
                    {
                        "seq": {"type": "integer", "description": "打印顺序，从 1 开始"},
                        "order_no": STRING,
                        "stage": {
                            "type": "string",
                            "enum": ["assigned", "returned", "dispatched", "cancelled"],
                        },
                        "job_tracking_no": {
                            "type": "string",
                            "description": "本任务分配的纸质面单号（没有起始单号时为空）",
                        },
                        "tracking": {"type": "array", "items": TRACKING_REF},
                    }
                ),
            },
        }
    ),
    "TrackingItemInput": obj(
        {
            "order_no": STRING,
            "courier": COURIER_CODE,
            "tracking_no": {
                "type": "string",
                "description": "8–32 位字母、数字或短横线（全角、小写、空格会被规范化）",
            },
            "extra_tracking_nos": {
                "type": "array",
                "items": STRING,
                "description": f"可选：一单多包裹时的额外运单号，最多 {MAX_EXTRA_TRACKING_NOS} 个",
            },
        },
        required=["order_no", "courier", "tracking_no"],
    ),
    "TrackingInput": obj(
        {
            "items": {
                "type": "array",
                "items": ref("TrackingItemInput"),
                "minItems": 1,
                "maxItems": MAX_TRACKING_ITEMS,
            }
        }
    ),
    "TrackingRefusal": obj(
        {
            "order_no": STRING,
            "code": {
                "type": "string",
                "description": "、".join(TRACKING_REFUSAL_CODES)
                + "；文件导入的行还可能是 missing_order_no、invalid_order_no、missing_courier、"
                "missing_tracking_no、duplicate_in_file、field_too_long",
            },
            "message": STRING,
            "row": {"type": "integer", "description": "文件导入时的行号（表头为第 1 行）"},
            "tracking_no": {"type": "string", "description": "出问题的运单号（若适用）"},
        },
        required=["order_no", "code", "message"],
    ),
    "TrackingWarning": obj(
        {
            "order_no": STRING,
            "tracking_no": STRING,
            "courier": STRING,
            "code": {"type": "string", "enum": [TRACKING_FORMAT_WARNING]},
            "message": STRING,
            "row": {"type": "integer", "description": "文件导入时的行号"},
        },
        required=["order_no", "tracking_no", "courier", "code", "message"],
    ),
    "TrackingResult": obj(
        {
            "returned": {**STRING_LIST, "description": "已记录运单号的订单"},
            "refused": {"type": "array", "items": ref("TrackingRefusal")},
            "warnings": {
                "type": "array",
                "items": ref("TrackingWarning"),
                "description": "与该快递常见格式不符的单号：已记录，请核对",
            },
        }
    ),
    "TrackingCancelled": obj(
        {"order_no": STRING, "stage": {"type": "string", "enum": ["assigned"]}}
    ),
}

SCHEMAS: dict[str, Any] = {
    **SUPPLIER_SCHEMAS,
    "Error": obj(
        {
            "error": obj(
                {"code": STRING, "message": STRING, "field": STRING}, required=["code", "message"]
            )
        }
    ),
    "Me": obj(
        {
            "username": STRING,
            "role": {"type": "string", "enum": ["merchant", "supplier"]},
            "shop_id": STRING,
            "shop_name": STRING,
        }
    ),
    "ShopRef": obj({"shop_id": STRING, "shop_name": STRING}),
    "Binding": obj(
        {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["pending", "active", "rejected", "ended"]},
            "message": STRING,
            "merchant": ref("ShopRef"),
            "supplier": ref("ShopRef"),
            "created_at": {"type": "string", "format": "date-time"},
            "decided_at": NULLABLE_TIME,
            "ended_at": NULLABLE_TIME,
            "ended_by": {"type": ["string", "null"]},
        }
    ),
    "BindingPage": page_of("Binding"),
    "BindingEnded": obj(
        {"status": {"type": "string"}, "cancelled_assignments": {"type": "integer"}}
    ),
    "ReturnAddress": obj(
        {
            "id": {"type": "integer"},
            "contact_name": STRING,
            "phone": STRING,
            "province": STRING,
            "city": STRING,
            "district": STRING,
            "detail": STRING,
            "is_default": {"type": "boolean"},
        }
    ),
    "ReturnAddressInput": obj(
        {
            "contact_name": {"type": "string", "maxLength": 30},
            "phone": {"type": "string", "maxLength": 30},
            "province": STRING,
            "city": STRING,
            "district": STRING,
            "detail": {"type": "string", "maxLength": 200},
            "is_default": {"type": "boolean"},
        },
        required=["contact_name", "phone", "province", "city", "detail"],
    ),
    "ReceiverInput": receiver_schema(for_input=True),
    "Receiver": receiver_schema(for_input=False),
    "OrderLineInput": line_schema(for_input=True),
    "OrderLine": line_schema(for_input=False),
    "OrderInput": {
        **obj(
            {
                **ORDER_INPUT_FIELDS,
                "receiver": ref("ReceiverInput"),
                "lines": {
                    "type": "array",
                    "items": ref("OrderLineInput"),
                    "minItems": 1,
                    "maxItems": 1,
                    "description": "目前每个订单必须正好一个商品行",
                },
            },
            required=["order_no", "platform_status", "receiver", "lines"],
        ),
        "description": "未知字段会被忽略，因此 GET 得到的订单可以原样提交回来。",
    },
    "Order": obj(
        {
            **ORDER_INPUT_FIELDS,
            "platform_status_text": STRING,
            "after_sale_active": BOOLEAN,
            "after_sale_status": STRING,
            "audit_hold": BOOLEAN,
            "paid_at": NULLABLE_TIME,
            "promise_ship_at": NULLABLE_TIME,
            "buyer_note": STRING,
            "merchant_note": STRING,
            "receiver": ref("Receiver"),
            "lines": {"type": "array", "items": ref("OrderLine")},
            "stage": {
                "type": "string",
                "enum": ["unassigned", "assigned", "returned", "dispatched"],
            },
            "supplier": {"oneOf": [ref("ShopRef"), {"type": "null"}]},
            "tracking": {
                "type": "array",
                "items": obj({"courier": STRING, "tracking_no": STRING}),
                "description": "厂家回传的运单号，主单号在前",
            },
            "assign_blockers": {
                "type": "array",
                "items": {"type": "string", "enum": ASSIGN_BLOCKER_CODES},
                "description": "当前不能分配的原因（未列出绑定检查）；为空即可分配",
            },
            "print_blockers": {
                "type": "array",
                "items": {"type": "string", "enum": PRINT_BLOCKER_CODES},
                "description": "已分配未回传时，厂家不能打单的原因",
            },
            "address_change_pending": BOOLEAN,
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        }
    ),
    "OrderPage": walk_of("Order"),
    "OrderBatch": obj(
        {
            "orders": {
                "type": "array",
                "items": ref("OrderInput"),
                "maxItems": MAX_ORDERS_PER_UPSERT,
            }
        }
    ),
    "OrderRejection": obj(
        {
            "order_no": STRING,
            "code": STRING,
            "message": STRING,
            "field": {
                "type": "string",
                "description": "JSON 提交时出错字段的路径，如 orders[3].lines[0].quantity",
            },
            "row": {"type": "integer", "description": "文件导入时的行号（表头为第 1 行）"},
        },
        required=["order_no", "code", "message"],
    ),
    "UpsertResult": obj(
        {
            "created": INTEGER,
            "updated": INTEGER,
            "unchanged": INTEGER,
            "rejected": {"type": "array", "items": ref("OrderRejection")},
            "rejected_count": {
                "type": "integer",
                "description": "被拒绝的总数（rejected 最多列出前 1000 条）",
            },
            "cancelled_assignments": {
                "type": "integer",
                "description": "因售后、审核或取消而自动取消的分配数",
            },
        }
    ),
    "Refusal": obj(
        {
            "order_no": STRING,
            "code": {"type": "string", "enum": sorted({*ASSIGN_REFUSAL_CODES, *CANCEL_CODES})},
            "message": STRING,
        }
    ),
    "AllocationInput": obj(
        {
            "order_nos": {
                "type": "array",
                "items": STRING,
                "minItems": 1,
                "maxItems": MAX_ORDER_NOS_PER_BATCH,
            },
            "supplier_shop_id": {"type": "string", "description": "已绑定厂家的店铺ID"},
        }
    ),
    "AllocationResult": obj(
        {"assigned": STRING_LIST, "refused": {"type": "array", "items": ref("Refusal")}}
    ),
    "CancelInput": obj(
        {
            "order_nos": {
                "type": "array",
                "items": STRING,
                "minItems": 1,
                "maxItems": MAX_ORDER_NOS_PER_BATCH,
            }
        }
    ),
    "CancelResult": obj(
        {"cancelled": STRING_LIST, "refused": {"type": "array", "items": ref("Refusal")}}
    ),
    "BindingInput": obj(
        {
            "supplier_shop_id": {"type": "string", "description": "厂家店铺ID"},
            "message": {"type": "string", "maxLength": 200},
        },
        required=["supplier_shop_id"],
    ),
}


def build_spec() -> dict[str, Any]:
    binding_ok = ok(ref("Binding"))
    not_found = error_response("不存在或不属于当前账号")
    conflict = error_response("状态已变化")
    paths: dict[str, Any] = {
        "/me": {"get": operation("当前账号", {"200": ok(ref("Me"))})},
        "/bindings": {
            "get": operation(
                "绑定列表（商家与厂家）",
                {
                    "200": ok(ref("BindingPage")),
                    "422": error_response("validation_error：page 或 per_page 取值不对"),
                },
                parameters=PAGE_PARAMS,
            ),
            "post": operation(
                "商家按厂家店铺ID申请绑定",
                {
                    "201": ok(ref("Binding"), "已创建申请"),
                    "409": error_response("already_bound"),
                    "422": error_response("invalid_shop_id"),
                },
                body=ref("BindingInput"),
            ),
        },
        "/bindings/{binding_id}": {
            "delete": operation(
                "解除绑定（商家也可撤回待审核申请）",
                {"200": ok(ref("BindingEnded")), "404": not_found, "409": conflict},
                parameters=[PATH_ID],
            )
        },
        "/bindings/{binding_id}/accept": {
            "post": operation(
                "厂家同意绑定",
                {"200": binding_ok, "404": not_found, "409": conflict},
                parameters=[PATH_ID],
            )
        },
        "/bindings/{binding_id}/reject": {
            "post": operation(
                "厂家拒绝绑定",
                {"200": binding_ok, "404": not_found, "409": conflict},
                parameters=[PATH_ID],
            )
        },
        "/return-addresses": {
            "get": operation(
                "退货地址列表",
                {"200": ok(obj({"items": {"type": "array", "items": ref("ReturnAddress")}}))},
            ),
            "post": operation(
                "新增退货地址",
                {
                    "201": ok(ref("ReturnAddress"), "已创建"),
                    "422": error_response("内容有误"),
                },
                body=ref("ReturnAddressInput"),
            ),
        },
    }
    paths.update(order_paths(not_found))
    paths.update(supplier_paths(not_found))
    schemas = dict(SCHEMAS)
    for part in (spec_statements, spec_prices, spec_dispatch, spec_analytics, spec_allocation):
        for path, operations in part.paths(not_found).items():
            paths.setdefault(path, {}).update(operations)  # a path may gain a method
        schemas.update(part.SCHEMAS)
    return {
        "openapi": "3.1.0",
        "info": {"title": "代发门户 API", "version": "1.0.0"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def order_paths(not_found: dict[str, Any]) -> dict[str, Any]:
    order_ok = ok(ref("Order"))
    invalid = error_response("validation_error：字段有误（error.field 指出字段）")
    upsert_ok = ok(
        ref("UpsertResult"),
        "逐条结果：合格的订单已写入，不合格的列在 rejected 中（code、message、field）",
    )
    return {
        "/orders": {
            "get": operation(
                "订单列表（含完整收货信息）",
                {"200": ok(ref("OrderPage")), "422": invalid},
                parameters=[
                    {
                        "name": "stage",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(TABS), "default": "all"},
                        "description": "unassigned 只列出当前可分配的订单；exceptions 为售后、"
                        "审核、地址变更待确认、地址不完整",
                    },
                    {
                        "name": "supplier_shop_id",
                        "in": "query",
                        "schema": STRING,
                        "description": "只看分配给该厂家的订单",
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "schema": STRING,
                        "description": (
                            "订单号任意 6 位以上的部分、商家编码前缀（不分大小写）、"
                            "收货人全名或手机号"
                        ),
                    },
                    *PAGE_PARAMS,
                    *WALK_PARAMS,
                ],
            ),
            "post": operation(
                "批量新增或更新订单（按订单号）",
                {
                    "200": upsert_ok,
                    "400": error_response("请求体不是 JSON 对象"),
                    "422": error_response("orders 不是数组，或超过 1000 条（too_many_orders）"),
                },
                body=ref("OrderBatch"),
                description="每个订单独立校验；同一订单再次提交且内容未变计为 unchanged。"
                "已分配未回传的订单出现售后、审核或取消时自动取消分配；收货信息变化时阻止打单，"
                "直到商家确认新地址。",
            ),
        },
        "/orders/import": {
            "post": operation(
                "导入平台订单导出文件（CSV 或 XLSX）",
                {
                    "200": upsert_ok,
                    "413": error_response("文件超过 20 MB"),
                    "422": error_response(
                        "missing_columns（缺少必需的列，message 列出列名）或 invalid_file"
                        "（无法读取）；这两种情况下不导入任何订单"
                    ),
                },
                upload=obj({"file": {"type": "string", "format": "binary"}}, required=["file"]),
                description="UTF-8、UTF-8 BOM、GBK/GB18030 编码的 CSV 或 .xlsx；逐行校验，"
                "被拒绝的行带 row 行号。",
            ),
        },
        "/orders/{order_no}": {
            "get": operation(
                "订单详情", {"200": order_ok, "404": not_found}, parameters=[PATH_ORDER_NO]
            )
        },
        "/orders/{order_no}/acknowledge-address": {
            "post": operation(
                "确认收货信息变更（厂家可重新打单）",
                {
                    "200": order_ok,
                    "404": not_found,
                    "409": error_response("no_address_change：没有待确认的地址变更"),
                },
                parameters=[PATH_ORDER_NO],
            )
        },
        "/allocations": {
            "post": operation(
                "批量分配订单给已绑定的厂家",
                {
                    "200": ok(ref("AllocationResult"), "逐单结果；每个拒绝带原因码"),
                    "422": error_response(
                        "order_nos 缺失、为空（nothing_selected）或超过 10000 个（too_many_orders）"
                    ),
                },
                body=ref("AllocationInput"),
                description="未知或未绑定的厂家：所有订单以 not_bound 拒绝。",
            )
        },
        "/allocations/cancel": {
            "post": operation(
                "取消分配（厂家回传运单号之前）",
                {
                    "200": ok(ref("CancelResult"), "逐单结果；每个拒绝带原因码"),
                    "422": error_response("order_nos 缺失、为空或超过 10000 个"),
                },
                body=ref("CancelInput"),
            )
        },
    }


PATH_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def supplier_paths(not_found: dict[str, Any]) -> dict[str, Any]:
    invalid = error_response("validation_error：字段类型或取值有误（error.field 指出字段或第几项）")
    tracking_ok = ok(ref("TrackingResult"), "逐单结果：已回传、拒绝（带原因码）与格式提醒")
    job_ok = ok(ref("PrintJob"))
    decided = error_response("print_job_decided：任务已确认或作废（只有待确认的任务可以）")
    return {
        "/supplier/orders": {
            "get": operation(
                "厂家的订单（仅掩码收货信息）",
                {"200": ok(ref("SupplierOrderPage")), "422": invalid},
                parameters=[
                    {
                        "name": "stage",
                        "in": "query",
                        "schema": {"type": "string", "enum": SUPPLIER_STAGES},
                        "description": "assigned（= to_print + printed）、returned、dispatched，"
                        "或工作台的标签 to_print、printed、cancelled（已取消分配，请勿发货）；"
                        "省略时为当前在厂家名下的全部订单（不含 cancelled）",
                    },
                    {
                        "name": "merchant_shop_id",
                        "in": "query",
                        "schema": STRING,
                        "description": "只看该商家的订单；未知或未绑定的店铺ID得到空列表",
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "schema": STRING,
                        "description": "订单号任意 6 位以上的部分或商家编码前缀（不分大小写）",
                    },
                    *PAGE_PARAMS,
                    *WALK_PARAMS,
                ],
                description="按承诺发货时间排序（cancelled 按取消先后，新的在前）。",
            )
        },
        "/supplier/print-jobs": {
            "post": operation(
                "创建打印任务（打单）",
                {
                    "201": ok(ref("PrintJobCreated"), "已创建；被拒绝的订单列在 refused 中"),
                    "200": ok(
                        ref("PrintJobCreated"),
                        "没有可打印的订单：不创建任务（id 为 null），"
                        "每个订单的拒绝原因在 refused 中",
                    ),
                    "409": error_response("duplicate_tracking_no：起始单号段中有已使用的单号"),
                    "422": error_response(
                        "validation_error、nothing_selected、too_many_orders、unknown_courier、"
                        "invalid_tracking_no（起始单号）"
                    ),
                },
                body=ref("PrintJobInput"),
                description="售后中、审核中、地址变更待确认、已发货、未分配或已取消分配的订单被拒绝，"
                "其余订单打印。",
            )
        },
        "/supplier/print-jobs/{job_id}": {
            "get": operation(
                "打印任务详情", {"200": job_ok, "404": not_found}, parameters=[PATH_JOB_ID]
            )
        },
        "/supplier/print-jobs/{job_id}/pdf": {
            "get": operation(
                "下载面单 PDF（每单一页）",
                {
                    "200": {
                        "description": "PDF；生成后才被阻止的订单不在其中，"
                        "其订单号列在响应头 X-Skipped-Orders（逗号分隔）",
                        "content": {
                            "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "404": not_found,
                    "409": error_response(
                        "print_job_voided：任务已作废；nothing_printable：订单都已不可打印"
                    ),
                },
                parameters=[PATH_JOB_ID],
                description="面单含完整收货信息（商家选择隐私面单时姓名、电话为掩码）；"
                "每次生成都会记录并计入订单的打印次数。",
            )
        },
        "/supplier/print-jobs/{job_id}/confirm": {
            "post": operation(
                "确认纸质面单打印无误：分配的单号记为回传",
                {"200": tracking_ok, "404": not_found, "409": decided},
                parameters=[PATH_JOB_ID],
            )
        },
        "/supplier/print-jobs/{job_id}/void": {
            "post": operation(
                "作废待确认的打印任务（单号不记为回传）",
                {"200": job_ok, "404": not_found, "409": decided},
                parameters=[PATH_JOB_ID],
            )
        },
        "/supplier/tracking": {
            "post": operation(
                "回传运单号",
                {
                    "200": tracking_ok,
                    "400": error_response("请求体不是 JSON 对象"),
                    "422": error_response(
                        "items 缺失、为空（nothing_selected）、超过 1000 项（too_many_orders），"
                        "或某项字段类型不对"
                        "（validation_error，error.field 如 items[2].tracking_no）"
                    ),
                },
                body=ref("TrackingInput"),
                description="同一运单号只能用于同一收件人（receiver_key 相同）的订单；"
                "已回传的订单再次回传即替换单号；已发货的订单被拒绝。",
            )
        },
        "/supplier/tracking/import": {
            "post": operation(
                "批量回传运单号（CSV 或 XLSX：订单号、快递公司、快递单号，可选 额外运单号）",
                {
                    "200": tracking_ok,
                    "413": error_response("文件超过 20 MB"),
                    "422": error_response(
                        "missing_columns（缺少必需的列）或 invalid_file（无法读取）；"
                        "这两种情况下不记录任何单号"
                    ),
                },
                upload=obj({"file": {"type": "string", "format": "binary"}}, required=["file"]),
                description="逐行校验，被拒绝的行带 row 行号。",
            )
        },
        "/supplier/tracking/{order_no}": {
            "delete": operation(
                "撤回已回传的运单号（商家发货前）",
                {
                    "200": ok(ref("TrackingCancelled")),
                    "404": not_found,
                    "409": error_response(
                        "dispatched：已发货；not_returned：还没有回传运单号；"
                        "binding_not_active：绑定已解除，订单留给商家发货"
                    ),
                },
                parameters=[PATH_ORDER_NO],
            )
        },
    }
