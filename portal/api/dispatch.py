"""Dispatch API (发货, DESIGN §6, §8.2): dispatch returned orders in batch, download the
platform's batch-shipping file. The same service and file as the merchant's order desk.

Registered on the merchant API blueprint, so its role gate covers every route here.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from flask import Response, jsonify
from flask_babel import gettext as _

from portal.api import schemas
from portal.api.base import api_user, endpoint
from portal.api.blueprints import merchant_bp as bp
from portal.domain import dispatch
from portal.domain.errors import DomainError
from portal.domain.formatting import shanghai_days
from portal.extensions import db
from portal.web.args import DATE_RANGE
from portal.web.downloads import FILE_TYPES, dispatch_export_response
from portal.web.gate import current_merchant

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
UNENCODED_OFFSET = re.compile(r" ([0-9]{2}:?[0-9]{2})$")


@bp.post("/dispatches")
@endpoint(
    schemas.DispatchResult,
    errors={
        404: "not_found：找不到该退货地址",
        422: "return_address_required（没有默认退货地址）、nothing_selected、too_many_orders、"
        "validation_error",
    },
)
def dispatch_create(json: schemas.DispatchInput) -> Response:
    """批量发货（厂家已回传运单号的订单）

    逐单结果；被拒绝的订单带原因码。发货后向接口回调地址推送 orders.dispatched。
    """
    result = dispatch.dispatch_orders(
        current_merchant(),
        json.order_nos,
        api_user(),
        return_address_id=json.return_address_id,
        confirm_holds=json.confirm_holds,
    )
    db.session.commit()  # webhooks, if any, are enqueued once this commits
    return jsonify(
        dispatched=result.dispatched,
        refused=[
            {
                "order_no": item.order_no,
                "code": item.code,
                "message": dispatch.dispatch_refusal_message(item.code),
            }
            for item in result.refused
        ],
    )


def _moment(text: str, name: str, *, end: bool) -> datetime | None:
    """A date (Asia/Shanghai; `until` includes its whole day) or a datetime with its offset."""
    text = text.strip()
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
@endpoint(files=FILE_TYPES)
def dispatch_export(query: schemas.DispatchExportQuery) -> Response:
    """导出发货文件（平台批量发货格式：订单号、快递公司、快递单号）"""
    since = _moment(query.since, "since", end=False)
    until = _moment(query.until, "until", end=True)
    if since and until and since >= until:
        raise DomainError("validation_error", _("until 必须晚于 since"), field="until")
    return dispatch_export_response(current_merchant(), query.format, since, until)
