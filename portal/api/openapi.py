"""The OpenAPI 3.1 document served at /api/v1/openapi.json; tests check it covers every route."""

from __future__ import annotations

from typing import Any

from portal.api.orders import MAX_ORDER_NOS_PER_BATCH, MAX_ORDERS_PER_UPSERT
from portal.orders.inputs import FIELD_LIMITS, MAX_AMOUNT_FEN, MAX_QUANTITY, PLATFORM_STATUSES
from portal.orders.queries import TABS

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


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, **json_content(ref("Error"))}


COMMON_ERRORS = {
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
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **COMMON_ERRORS}}
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

SCHEMAS: dict[str, Any] = {
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
                "description": "厂家回传的运单号（厂家工作台上线前为空）",
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
    "OrderPage": page_of("Order"),
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
                "绑定列表（商家与厂家）", {"200": ok(ref("BindingPage"))}, parameters=PAGE_PARAMS
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
    return {
        "openapi": "3.1.0",
        "info": {"title": "代发门户 API", "version": "1.0.0"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
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
                        "description": "订单号或收货人手机号（精确匹配）",
                    },
                    *PAGE_PARAMS,
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
