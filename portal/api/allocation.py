"""API for DESIGN §10.3: allocation rules (merchant), the factory's own codes and tracking
corrections after dispatch (supplier). The same services as the web pages."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from portal import allocation_rules, sku_codes
from portal.allocation_rules import RulesInput, SkuRuleInput
from portal.api import merchant as merchant_api
from portal.api import supplier as supplier_api
from portal.api.base import api_user, json_body
from portal.authz import current_merchant, current_supplier
from portal.errors import DomainError, message_for
from portal.extensions import db
from portal.statements import now_utc
from portal.tracking import correct_tracking, orders_for_supplier

MAX_CODE_ITEMS = 1000


def _invalid(message: str, field: str) -> DomainError:
    return DomainError("validation_error", message, field=field)


def _fields(body: Any, path: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    """A JSON object with only these fields (strict: an unknown field is refused)."""
    if not isinstance(body, dict):
        raise _invalid(f"{path or '请求体'} 必须是对象", path)
    prefix = f"{path}." if path else ""
    for name in body:
        if name not in allowed:
            raise _invalid(f"未知字段 {prefix}{name}", f"{prefix}{name}")
    for name in sorted(required):
        if name not in body:
            raise _invalid(f"缺少字段 {prefix}{name}", f"{prefix}{name}")
    return body


def _text(body: dict[str, Any], name: str, path: str, *, nullable: bool = False) -> str | None:
    value = body.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        field = f"{path}.{name}" if path else name
        raise _invalid(f"字段 {field} 必须是字符串", field)
    return value


def _items(body: dict[str, Any], name: str, limit: int) -> list[Any]:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise _invalid(f"字段 {name} 必须是数组", name)
    if len(value) > limit:
        raise _invalid(f"{name} 一次最多 {limit} 项", name)
    return value


# --- allocation rules (merchant) ----------------------------------------------------------------


def _rules_answer() -> Response:
    rules = allocation_rules.rules_for_display(current_merchant())
    stopped = allocation_rules.stopped_suppliers(current_merchant())
    return jsonify(
        mode=rules["mode"],
        supplier_shop_id=rules["supplier_shop_id"],
        sku_rules=[
            {"sku_code": r["sku_code"], "supplier_shop_id": r["supplier_shop_id"]}
            for r in rules["sku_rules"]
        ],
        stopped_supplier_shop_ids=[s.shop_id for s in stopped],
    )


@merchant_api.bp.get("/allocation-rules")
def allocation_rules_get() -> Response:
    return _rules_answer()


@merchant_api.bp.put("/allocation-rules")
def allocation_rules_put() -> Response:
    body = _fields(json_body(), "", {"mode", "supplier_shop_id", "sku_rules"}, {"mode"})
    mode = _text(body, "mode", "") or ""
    supplier = _text(body, "supplier_shop_id", "", nullable=True)
    items = []
    for index, item in enumerate(_items(body, "sku_rules", allocation_rules.MAX_SKU_RULES)):
        path = f"sku_rules[{index}]"
        fields = {"sku_code", "supplier_shop_id"}
        item = _fields(item, path, fields, fields)
        items.append(
            SkuRuleInput(_text(item, "sku_code", path) or "", _text(item, "supplier_shop_id", path))
        )
    allocation_rules.save_rules(current_merchant(), RulesInput(mode, supplier, items), api_user())
    db.session.commit()
    return _rules_answer()


@merchant_api.bp.post("/allocation-rules/apply")
def allocation_rules_apply() -> Response:
    merchant = current_merchant()
    result = allocation_rules.apply_rules(merchant, api_user())
    db.session.commit()
    suppliers = allocation_rules.suppliers_by_id(result.assigned)
    return jsonify(
        assigned=result.assigned_total,
        by_supplier=[
            {"supplier_shop_id": suppliers[supplier_id].shop_id, "assigned": count}
            for supplier_id, count in sorted(result.assigned.items())
        ],
        refused=[
            {"order_no": r.order_no, "code": r.code, "message": message_for(r.code)}
            for r in result.refused
        ],
        waiting=result.waiting,
    )


# --- the factory's own codes and tracking corrections (supplier) --------------------------------


@supplier_api.bp.put("/supplier/sku-codes")
def sku_codes_put() -> Response:
    body = _fields(json_body(), "", {"items"}, {"items"})
    items = []
    for index, item in enumerate(_items(body, "items", MAX_CODE_ITEMS)):
        path = f"items[{index}]"
        fields = {"merchant_shop_id", "sku_code", "supplier_code"}
        item = _fields(item, path, fields, fields)
        items.append(
            sku_codes.CodeItem(
                _text(item, "merchant_shop_id", path) or "",
                _text(item, "sku_code", path) or "",
                _text(item, "supplier_code", path) or "",
                index,
            )
        )
    result = sku_codes.set_supplier_codes(current_supplier(), items)
    db.session.commit()
    return jsonify(
        saved=[
            {
                "index": item.row,
                "merchant_shop_id": item.merchant_shop_id,
                "sku_code": item.sku_code,
                "supplier_code": item.supplier_code,
            }
            for item in result.saved
        ],
        refused=[
            {
                "index": r.index,
                "merchant_shop_id": r.merchant_shop_id,
                "sku_code": r.sku_code,
                "code": r.code,
                "message": r.message,
            }
            for r in result.refused
        ],
    )


@supplier_api.bp.put("/supplier/tracking/<order_no>")
def tracking_correct(order_no: str) -> Response:
    if order_no not in orders_for_supplier(current_supplier(), [order_no]):
        raise DomainError("not_found")  # another factory's order: whatever the body says
    fields = {"courier", "tracking_no"}
    body = _fields(json_body(), "", fields, fields)
    result = correct_tracking(
        current_supplier(),
        order_no,
        _text(body, "courier", "") or "",
        _text(body, "tracking_no", "") or "",
        api_user(),
        now_utc(),
    )
    db.session.commit()
    return jsonify(
        order_no=result.order_no,
        corrections_left=result.corrections_left,
        warnings=[w.message for w in result.warnings],
    )
