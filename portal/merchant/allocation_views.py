"""设置 → 自动分配: the merchant's allocation rules, 立即执行 with its preview, the desk's notice.

Rules are edited as a mode, a (fallback) factory and SKU lines "SKU编码 厂家店铺ID"; a refusal
names the line. The desk and the dashboard load the notice of a stopped rule on their own.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.domain import allocation_rules, bindings
from portal.domain.allocation_rules import RulesInput, SkuRuleInput
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.merchant.views import bp
from portal.models import Merchant
from portal.web.gate import current_merchant
from portal.web.htmx import notify, render

MAX_RULE_TEXT = 400_000  # 5000 lines of SKU code and shop ID, with room to spare
_LINE_FIELD = re.compile(r"sku_rules\[(\d+)\]")


def rules_text(rules: dict[str, Any]) -> str:
    return "\n".join(f"{r['sku_code']} {r['supplier_shop_id']}" for r in rules["sku_rules"])


def parse_rules_text(text: str) -> tuple[list[SkuRuleInput], list[int]]:
    """One rule a line: the SKU code, then the factory's shop ID (space, tab or comma between).
    Blank lines are skipped; the second list is each rule's line number, for refusals."""
    items, line_numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = re.split(r"[\s,，]+", line.strip())
        if not parts[0]:
            continue
        items.append(SkuRuleInput(parts[0], parts[1] if len(parts) > 1 else ""))
        line_numbers.append(number)
    return items, line_numbers


def _context(merchant: Merchant, **extra: Any) -> dict[str, Any]:
    current = allocation_rules.rules_for_display(merchant)
    return {
        "rules": current,
        "form_mode": current["mode"],
        "form_supplier": current["supplier_shop_id"] or "",
        "form_sku_text": rules_text(current),
        "form_error": "",
        "suppliers": bindings.active_suppliers_for_merchant(merchant),
        "stopped": allocation_rules.stopped_suppliers(merchant),
        "preview": allocation_rules.preview_rules(merchant),
        **extra,
    }


def _answer(status: int = 200, **extra: Any) -> Response:
    context = _context(current_merchant(), **extra)
    return render(
        "merchant/allocation.html", "merchant/_allocation_section.html", status=status, **context
    )


@bp.get("/settings/allocation")
def allocation_settings() -> Response:
    return _answer()


@bp.post("/settings/allocation")
def allocation_save() -> Response:
    mode = request.form.get("mode", "")
    supplier = (request.form.get("supplier_shop_id") or "").strip()
    text = (request.form.get("sku_rules") or "")[:MAX_RULE_TEXT]
    items, line_numbers = parse_rules_text(text)
    merchant = current_merchant()
    try:
        allocation_rules.save_rules(
            merchant, RulesInput(mode, supplier or None, items), current_user._get_current_object()
        )
    except DomainError as error:
        db.session.rollback()
        message = error.message
        line = _LINE_FIELD.match(str(error.details.get("field", "")))
        if line:
            number = line_numbers[int(line.group(1))]
            message = _("SKU 规则第 %(n)d 行：%(message)s", n=number, message=message)
        return _answer(
            status=error.status,
            form_mode=mode,
            form_supplier=supplier,
            form_sku_text=text,
            form_error=message,
        )
    db.session.commit()
    notify(_("自动分配规则已保存，之后新导入或变为可分配的订单将按规则分配"))
    return _answer()


@bp.post("/settings/allocation/apply")
def allocation_apply() -> Response:
    merchant = current_merchant()
    result = allocation_rules.apply_rules(merchant, current_user._get_current_object())
    db.session.commit()
    if result.assigned_total:
        notify(
            _(
                "已按规则分配 %(n)d 单；%(waiting)d 单仍待人工分配",
                n=result.assigned_total,
                waiting=result.waiting + len(result.refused),
            )
        )
    else:
        notify(_("没有可按规则分配的订单"), "info")
    return _answer()


@bp.get("/settings/allocation/status")
def allocation_status() -> Response:
    """The desk's notice: a rule whose factory's binding ended has stopped (empty otherwise)."""
    return render(
        "merchant/_allocation_status.html",
        stopped=allocation_rules.stopped_suppliers(current_merchant()),
    )
