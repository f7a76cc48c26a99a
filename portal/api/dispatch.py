"""Dispatch API (发货, DESIGN §6, §8.2): dispatch returned orders in batch, download the
platform's batch-shipping file. The same service and file as the merchant's order desk.

Registered on the merchant API blueprint, so its role gate covers every route here.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _

from portal import dispatch
from portal.api.base import api_user, json_body
from portal.api.merchant import bp
from portal.api.orders import _array_field
from portal.authz import current_merchant
from portal.downloads import FILE_TYPES
from portal.errors import DomainError
from portal.extensions import db
from portal.merchant.orders import dispatch_export_response, dispatch_refusal_message, shanghai_days
from portal.web_args import DATE_RANGE, MAX_ID

# A batch of 5000 is a handful of set-based statements (one per 900 orders), about a second.
MAX_ORDER_NOS_PER_DISPATCH = 5000
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
UNENCODED_OFFSET = re.compile(r" ([0-9]{2}:?[0-9]{2})$")


def _order_nos(body: dict[str, Any]) -> list[str]:
    order_nos = _array_field(
        body,
        "order_nos",
        MAX_ORDER_NOS_PER_DISPATCH,
        _("一次最多提交 %(n)d 个订单号", n=MAX_ORDER_NOS_PER_DISPATCH),
    )
    for index, value in enumerate(order_nos):
        if not isinstance(value, str):
            path = f"order_nos[{index}]"
            message = _("%(path)s 必须是字符串（订单号）", path=path)
            raise DomainError("validation_error", message, field=path)
    if not order_nos:
        raise DomainError("nothing_selected", field="order_nos")
    return order_nos


def _return_address_id(body: dict[str, Any]) -> int | None:
    """None (the default address) or the id of one of the merchant's addresses."""
    value = body.get("return_address_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        message = _("字段 return_address_id 必须是整数（退货地址的 id）")
        raise DomainError("validation_error", message, field="return_address_id")
    if not 0 < value <= MAX_ID:  # no such row, and too large for the database to compare
        raise DomainError("not_found", _("找不到该退货地址"), field="return_address_id")
    return value


def _confirm_holds(body: dict[str, Any]) -> bool:
    value = body.get("confirm_holds")
    if value is None:
        return False
    if not isinstance(value, bool):
        message = _("字段 confirm_holds 必须是布尔值 true 或 false")
        raise DomainError("validation_error", message, field="confirm_holds")
    return value


def _refusal(item: Any) -> dict[str, str]:
    return {
        "order_no": item.order_no,
        "code": item.code,
        "message": dispatch_refusal_message(item.code),
    }


@bp.post("/dispatches")
def dispatch_create() -> Response:
    body = json_body()
    order_nos = _order_nos(body)
    result = dispatch.dispatch_orders(
        current_merchant(),
        order_nos,
        api_user(),
        return_address_id=_return_address_id(body),
        confirm_holds=_confirm_holds(body),
    )
    db.session.commit()  # webhooks, if any, are enqueued once this commits
    return jsonify(
        dispatched=result.dispatched, refused=[_refusal(item) for item in result.refused]
    )


def _moment_arg(name: str, *, end: bool) -> datetime | None:
    """A date (Asia/Shanghai; `until` includes its whole day) or a datetime with its offset."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    # An unencoded "+08:00" in a query string arrives as " 08:00".
    text = UNENCODED_OFFSET.sub(r"+\1", text)
    try:
        if ISO_DATE.fullmatch(text):
            day = date.fromisoformat(text)
            if DATE_RANGE[0] <= day <= DATE_RANGE[1]:
                return shanghai_days(None, day)[1] if end else shanghai_days(day, None)[0]
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is not None and DATE_RANGE[0] <= moment.date() <= DATE_RANGE[1]:
                return moment
    except ValueError:
        pass
    message = _(
        "%(name)s 必须是 YYYY-MM-DD 日期或带时区的 ISO-8601 时间（如 2026-11-21T10:00:00+08:00）",
        name=name,
    )
    raise DomainError("validation_error", message, field=name)


@bp.get("/dispatches/export")
def dispatch_export() -> Response:
    file_format = request.args.get("format", "csv")
    if file_format not in FILE_TYPES:
        raise DomainError("validation_error", _("format 必须是 csv 或 xlsx"), field="format")
    since, until = _moment_arg("since", end=False), _moment_arg("until", end=True)
    if since and until and since >= until:
        raise DomainError("validation_error", _("until 必须晚于 since"), field="until")
    return dispatch_export_response(current_merchant(), file_format, since, until)
