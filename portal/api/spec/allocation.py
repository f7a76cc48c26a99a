"""OpenAPI paths and schemas for allocation rules, the factory's own codes and tracking
corrections (DESIGN §10.3); build_spec merges them."""

from __future__ import annotations

from typing import Any

from portal.allocation_rules import MAX_SKU_RULES
from portal.api.allocation import MAX_CODE_ITEMS


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


_STRING = {"type": "string"}
_SHOP_ID = {"type": "string", "description": "厂家店铺ID（须已绑定且生效）"}

SCHEMAS: dict[str, Any] = {
    "SkuRule": _object({"sku_code": _STRING, "supplier_shop_id": _SHOP_ID}),
    "AllocationRulesInput": _object(
        {
            "mode": {
                "type": "string",
                "enum": ["manual", "shop", "sku"],
                "description": "manual 手动；shop 整店分配给 supplier_shop_id；sku 按 SKU 规则，"
                "未匹配的交给 supplier_shop_id（兜底，可为 null）",
            },
            "supplier_shop_id": {"type": ["string", "null"], "description": "厂家店铺ID"},
            "sku_rules": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/SkuRule"},
                "maxItems": MAX_SKU_RULES,
            },
        },
        required=["mode"],
    ),
    "AllocationRules": {
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["manual", "shop", "sku"]},
            "supplier_shop_id": {"type": ["string", "null"]},
            "sku_rules": {"type": "array", "items": {"$ref": "#/components/schemas/SkuRule"}},
            "stopped_supplier_shop_ids": {
                "type": "array",
                "items": _STRING,
                "description": "规则指向但绑定已解除的厂家：规则对它们暂停，订单等待人工分配",
            },
        },
        "required": ["mode", "supplier_shop_id", "sku_rules", "stopped_supplier_shop_ids"],
    },
    "AllocationApplyResult": {
        "type": "object",
        "properties": {
            "assigned": {"type": "integer", "description": "本次按规则分配的订单数"},
            "by_supplier": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"supplier_shop_id": _STRING, "assigned": {"type": "integer"}},
                    "required": ["supplier_shop_id", "assigned"],
                },
            },
            "refused": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"order_no": _STRING, "code": _STRING, "message": _STRING},
                    "required": ["order_no", "code", "message"],
                },
                "description": "规则要分配、但刚被他人分配或被平台挂起的订单"
                "（already_assigned 等）",
            },
            "waiting": {"type": "integer", "description": "没有规则匹配、等待人工分配的订单数"},
        },
        "required": ["assigned", "by_supplier", "refused", "waiting"],
    },
    "SkuCodeItem": _object(
        {
            "merchant_shop_id": {"type": "string", "description": "商家店铺ID"},
            "sku_code": {
                "type": "string",
                "description": "商家的 SKU（与结算价的 sku_key 相同：商家编码-SKU维度，"
                "无编码时为 商品id|规格）",
            },
            "supplier_code": {"type": "string", "description": "厂家自己的编码；空字符串表示清除"},
        }
    ),
    "SkuCodesInput": _object(
        {
            "items": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/SkuCodeItem"},
                "maxItems": MAX_CODE_ITEMS,
            }
        }
    ),
    "SkuCodesResult": {
        "type": "object",
        "properties": {
            "saved": {"type": "array", "items": {"type": "object"}},
            "refused": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "merchant_shop_id": _STRING,
                        "sku_code": _STRING,
                        "code": {
                            "type": "string",
                            "description": "not_bound、unknown_sku、invalid_sku_key、"
                            "invalid_supplier_code、duplicate_sku",
                        },
                        "message": _STRING,
                    },
                    "required": ["index", "merchant_shop_id", "sku_code", "code", "message"],
                },
            },
        },
        "required": ["saved", "refused"],
    },
    "TrackingCorrectionInput": _object(
        {"courier": {"type": "string", "description": "快递公司代码或名称"}, "tracking_no": _STRING}
    ),
    "TrackingCorrection": {
        "type": "object",
        "properties": {
            "order_no": _STRING,
            "corrections_left": {"type": "integer", "minimum": 0, "maximum": 1},
            "warnings": {"type": "array", "items": _STRING},
        },
        "required": ["order_no", "corrections_left", "warnings"],
    },
}


def paths(not_found: dict[str, Any]) -> dict[str, Any]:
    from portal.api.openapi import PATH_ORDER_NO, error_response, ok, operation, ref

    rules_ok = ok(ref("AllocationRules"))
    return {
        "/allocation-rules": {
            "get": operation("商家的自动分配规则", {"200": rules_ok}),
            "put": operation(
                "保存自动分配规则",
                {
                    "200": rules_ok,
                    "422": error_response(
                        "not_bound：厂家未绑定或绑定已解除（error.field 指出哪一项）；"
                        "invalid_rule_mode、invalid_sku_code、duplicate_sku_rule、field_required、"
                        "validation_error"
                    ),
                },
                body=ref("AllocationRulesInput"),
                description="规则作用于保存之后新建或变为可分配的订单（导入、接口写入、"
                "平台后续导出），不改动已分配的订单；订单历史记录 auto_assigned 及所用规则。",
            ),
        },
        "/allocation-rules/apply": {
            "post": operation(
                "按规则分配当前所有待分配订单",
                {"200": ok(ref("AllocationApplyResult"))},
            ),
        },
        "/supplier/sku-codes": {
            "put": operation(
                "批量设置厂家编码",
                {
                    "200": ok(ref("SkuCodesResult"), "逐项结果；合格的项已保存"),
                    "422": error_response("validation_error：字段缺失、类型不对或未知字段"),
                },
                body=ref("SkuCodesInput"),
            ),
        },
        "/supplier/tracking/{order_no}": {
            "put": operation(
                "发货后修改运单号",
                {
                    "200": ok(ref("TrackingCorrection")),
                    "404": not_found,
                    "409": error_response(
                        "tracking_change_window：发货已超过 5 天；tracking_change_limit："
                        "每单最多修改 2 次；not_dispatched：订单还没有发货；"
                        "duplicate_tracking_no：运单号已用于其他收件人"
                    ),
                    "422": error_response(
                        "unknown_courier、invalid_tracking_no、tracking_unchanged、validation_error"
                    ),
                },
                body=ref("TrackingCorrectionInput"),
                parameters=[PATH_ORDER_NO],
                description="发货后 5 天内、每单最多 2 次；新运单号进入商家的订单历史与"
                "批量发货文件，并以 orders.tracking_changed 事件推送到商家的接口回调。",
            ),
        },
    }
