"""API for DESIGN §10.3: allocation rules (merchant), the factory's own codes and tracking
corrections after dispatch (supplier). The same services as the web pages."""

from __future__ import annotations

from flask import Response, jsonify, request

from portal.api import schemas
from portal.api.base import api_user, endpoint
from portal.api.blueprints import merchant_bp, supplier_bp
from portal.domain import allocation_rules, sku_codes
from portal.domain.allocation_rules import RulesInput, SkuRuleInput
from portal.domain.errors import DomainError, message_for
from portal.domain.statements.clock import now_utc
from portal.domain.tracking import AMBIGUOUS, correct_tracking, get_order_for_supplier
from portal.extensions import db
from portal.web.gate import current_merchant, current_supplier

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


@merchant_bp.get("/allocation-rules")
@endpoint(schemas.AllocationRules)
def allocation_rules_get() -> Response:
    """商家的自动分配规则"""
    return _rules_answer()


@merchant_bp.put("/allocation-rules")
@endpoint(
    schemas.AllocationRules,
    errors={
        422: "not_bound：厂家未绑定或绑定已解除（error.field 指出哪一项）；invalid_rule_mode、"
        "invalid_sku_code、duplicate_sku_rule、field_required、validation_error"
    },
)
def allocation_rules_put(json: schemas.AllocationRulesInput) -> Response:
    """保存自动分配规则

    订单历史记录 auto_assigned 及所用规则。
    """
    items = [SkuRuleInput(rule.sku_code, rule.supplier_shop_id) for rule in json.sku_rules]
    allocation_rules.save_rules(
        current_merchant(), RulesInput(json.mode, json.supplier_shop_id, items), api_user()
    )
    db.session.commit()
    return _rules_answer()


@merchant_bp.post("/allocation-rules/apply")
@endpoint(schemas.AllocationApplyResult)
def allocation_rules_apply() -> Response:
    """按规则分配当前所有待分配订单"""
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


@supplier_bp.put("/supplier/sku-codes")
@endpoint(schemas.SkuCodesResult)
def sku_codes_put(json: schemas.SkuCodesInput) -> Response:
    """批量设置厂家编码与库位（逐项结果；合格的项已保存）"""
    items = [
        sku_codes.CodeItem(
            item.merchant_shop_id, item.sku_code, item.supplier_code, index, item.location
        )
        for index, item in enumerate(json.items)
    ]
    result = sku_codes.set_supplier_codes(current_supplier(), items)
    db.session.commit()
    return jsonify(
        saved=[
            {
                "index": item.row,
                "merchant_shop_id": item.merchant_shop_id,
                "sku_code": item.sku_code,
                "supplier_code": item.supplier_code,
                "location": item.location,
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


def _own_dispatched_order() -> None:
    """Another factory's order is 404 whatever the body says (checked before the body)."""
    order_no = (request.view_args or {}).get("order_no", "")
    try:
        get_order_for_supplier(current_supplier(), order_no)
    except DomainError as error:
        if error.code != AMBIGUOUS:  # two of its merchants' orders: the body names which
            raise


@supplier_bp.put("/supplier/tracking/<order_no>")
@endpoint(
    schemas.TrackingCorrection,
    guard=_own_dispatched_order,
    errors={
        404: "不存在或不属于当前账号",
        409: "tracking_change_window：发货已超过 5 天；tracking_change_limit：每单最多修改 2 次；"
        "not_dispatched：订单还没有发货；duplicate_tracking_no：运单号已用于其他收件人；"
        "ambiguous_order_no：两个商家使用该订单号，请加 merchant_shop_id；not_bound：绑定已解除",
        422: "unknown_courier、invalid_tracking_no、tracking_unchanged、validation_error",
    },
)
def tracking_correct(order_no: str, json: schemas.TrackingCorrectionInput) -> Response:
    """发货后修改运单号

    发货后 5 天内、每单最多 2 次；新运单号进入商家的订单历史与批量发货文件，并以
    orders.tracking_changed 事件推送到商家的接口回调。
    """
    result = correct_tracking(
        current_supplier(),
        order_no,
        json.courier,
        json.tracking_no,
        api_user(),
        now_utc(),
        merchant_shop_id=json.merchant_shop_id,
    )
    db.session.commit()
    return jsonify(
        order_no=result.order_no,
        corrections_left=result.corrections_left,
        warnings=[w.message for w in result.warnings],
    )
