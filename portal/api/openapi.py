"""The OpenAPI 3.1 document served at /api/v1/openapi.json; tests check it covers every route."""

from __future__ import annotations

from typing import Any

STRING = {"type": "string"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


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
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **COMMON_ERRORS}}
    if body is not None:
        op["requestBody"] = {"required": True, **json_content(body)}
    if parameters:
        op["parameters"] = parameters
    return op


def ok(schema: dict[str, Any], description: str = "成功") -> dict[str, Any]:
    return {"description": description, **json_content(schema)}


PATH_ID = {"name": "binding_id", "in": "path", "required": True, "schema": {"type": "integer"}}
PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
    },
]

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
