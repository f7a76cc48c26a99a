"""Formatting: times in Asia/Shanghai, money from integer fen and typed money back to fen, template
globals."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import lazy_gettext as _l

from portal.domain import regions
from portal.domain.counting import count_label
from portal.domain.errors import message_for

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(SHANGHAI).strftime(fmt)


def yuan(fen: int | None) -> str:
    """Integer fen → yuan with two decimals, without ever going through float."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def signed_yuan(fen: int) -> str:
    """A correction in yuan with its sign always shown: +9.90, -1,250.00."""
    return ("+" if fen > 0 else "-") + yuan(abs(fen))


class AmountError(ValueError):
    """Why typed text is not an amount: "empty", "not_number", "too_precise" or "too_large"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_CENT = Decimal("0.01")
# XLSX hands back 13.750000000000002 for a computed 13.75: digits this far out are float noise.
_FLOAT_NOISE = Decimal("1e-9")
_MAX_DIGITS = 15  # whole yuan digits: beyond any price or correction, within Decimal precision


def parse_yuan(text: str) -> int:
    """An amount in yuan as a person or a spreadsheet types it — "12.5", "￥1,234.50", "-3元",
    "＋３", ".5" — in signed fen; the one reading of typed money (prices, adjustments).

    Thousands separators only where they group by three; at most two decimals (float noise
    beyond the ninth is dropped). Raises AmountError with the reason; bounds and sign are the
    caller's rule.
    """
    cleaned = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()
    cleaned = cleaned.removeprefix("¥").removesuffix("元").strip()
    sign = -1 if cleaned.startswith("-") else 1
    cleaned = cleaned.removeprefix("-") if sign < 0 else cleaned.removeprefix("+")
    cleaned = cleaned.removeprefix("¥").strip()
    if not cleaned:
        raise AmountError("empty")
    if "," in cleaned:
        if not _GROUPED.fullmatch(cleaned):
            raise AmountError("not_number")
        cleaned = cleaned.replace(",", "")
    if not _AMOUNT.fullmatch(cleaned):
        raise AmountError("not_number")
    if len(cleaned.partition(".")[0].lstrip("0")) > _MAX_DIGITS:
        raise AmountError("too_large")
    try:
        amount = Decimal(cleaned)
        rounded = amount.quantize(_CENT)
    except InvalidOperation:  # pragma: no cover - the pattern and the length admit only these
        raise AmountError("not_number") from None
    if abs(amount - rounded) > _FLOAT_NOISE:
        raise AmountError("too_precise")
    return sign * int(rounded.scaleb(2))


BINDING_STATUS = {
    "pending": (_l("待审核"), "warning"),
    "active": (_l("已绑定"), "success"),
    "rejected": (_l("已拒绝"), "muted"),
    "ended": (_l("已解除"), "muted"),
}
ROLE_LABELS = {"merchant": _l("商家"), "supplier": _l("厂家")}
SHOP_ROLE_LABELS = {
    "owner": _l("店主"),
    "admin": _l("管理员"),
    "operator": _l("运营"),
    "printer": _l("打单员"),
    "finance": _l("财务"),
}
STAGE_LABELS = {
    "unassigned": _l("待分配"),
    "assigned": _l("已分配"),
    "returned": _l("已回传"),
    "dispatched": _l("已发货"),
}
PLATFORM_STATUS_LABELS = {
    "pending_payment": _l("待支付"),
    "awaiting_shipment": _l("待发货"),
    "shipped": _l("已发货"),
    "completed": _l("已签收"),
    "cancelled": _l("已取消/已退款"),
}
CANCEL_REASON_LABELS = {
    "manual": _l("商家取消分配"),
    "after_sale": _l("订单售后"),
    "audit_hold": _l("平台审核中"),
    "cancelled": _l("订单已取消"),
    "binding_ended": _l("绑定已解除"),
    # the allocation rule behind an automatic assignment (portal.domain.allocation_rules)
    "rule_shop": _l("整店分配规则"),
    "rule_sku": _l("按 SKU 分配规则"),
    "rule_sku_fallback": _l("按 SKU 分配规则（未匹配，交给兜底厂家）"),
}
EVENT_LABELS = {
    "assigned": _l("分配给厂家"),
    "auto_assigned": _l("自动分配"),
    "assignment_cancelled": _l("取消分配"),
    "address_changed": _l("收货信息变更"),
    "address_acknowledged": _l("商家确认新地址"),
    "receiver_edited": _l("商家修改收货信息"),
    "after_sale": _l("发生售后"),
    "audit_hold": _l("平台审核中"),
    "hold_lifted": _l("售后/审核解除"),
    "order_cancelled": _l("订单取消"),
    "dispatched": _l("商家发货"),
    "tracking_changed": _l("厂家修改运单号"),
    "tracking_returned": _l("厂家回传运单号"),
    "tracking_cancelled": _l("厂家撤销回传"),
}


def region_options(province: str, city: str) -> dict[str, object]:
    """Options for the cascading province/city/district selects."""
    return {
        "provinces": regions.provinces(),
        "cities": regions.cities(province) if province else [],
        "districts": regions.districts(province, city) if province and city else [],
        "needs_district": bool(province and city and regions.city_has_districts(province, city)),
    }


def register(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(yuan, "yuan")
    app.add_template_filter(signed_yuan, "signed_yuan")
    app.add_template_filter(count_label, "count_label")
    app.add_template_global(region_options, "region_options")
    app.jinja_env.globals.update(
        BINDING_STATUS=BINDING_STATUS,
        ROLE_LABELS=ROLE_LABELS,
        SHOP_ROLE_LABELS=SHOP_ROLE_LABELS,
        STAGE_LABELS=STAGE_LABELS,
        PLATFORM_STATUS_LABELS=PLATFORM_STATUS_LABELS,
        CANCEL_REASON_LABELS=CANCEL_REASON_LABELS,
        EVENT_LABELS=EVENT_LABELS,
        message_for=message_for,
    )


def shanghai_days(
    since: date | None, until: date | None
) -> tuple[datetime | None, datetime | None]:
    """Calendar days in Asia/Shanghai, both included, as the [start, end) the export reads."""
    start = datetime.combine(since, time.min, tzinfo=SHANGHAI) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=SHANGHAI) if until else None
    return start, end
