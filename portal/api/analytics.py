"""Shipping analytics over the API (DESIGN §10.5): the same reports as the 数据 pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _

from portal import analytics
from portal.analytics import Counts, PartnerFigures, Report, local_day
from portal.api import merchant as merchant_api
from portal.api import supplier as supplier_api
from portal.api.dispatch import ISO_DATE
from portal.authz import current_merchant, current_supplier
from portal.errors import DomainError
from portal.statements import now_utc

# Without start and end: the last seven days, today included.
DEFAULT_DAYS = 7


def _date_arg(name: str) -> date:
    text = request.args.get(name, "").strip()
    try:
        if ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise DomainError(
        "validation_error", _("%(name)s 必须是 YYYY-MM-DD 格式的日期", name=name), field=name
    )


def period_args() -> tuple[date, date]:
    if "start" not in request.args and "end" not in request.args:
        today = local_day(now_utc())
        return today - timedelta(days=DEFAULT_DAYS - 1), today
    return _date_arg("start"), _date_arg("end")


def _rates(counts: Counts) -> dict[str, Any]:
    return {
        "assigned": counts.assigned,
        "returned": counts.returned,
        "dispatched": counts.dispatched,
        "same_day_rate": counts.same_day_rate,
        "overdue": counts.overdue,
        "overdue_rate": counts.overdue_rate,
        "return_hours_p50": counts.return_hours_p50,
        "return_hours_p90": counts.return_hours_p90,
        "after_sale_rate": counts.after_sale_rate,
    }


def _item(item: PartnerFigures) -> dict[str, Any]:
    answer = {"shop_id": item.shop_id, "shop_name": item.shop_name, **_rates(item.counts)}
    if item.workload is not None:
        answer["workload"] = {
            "to_print": item.workload["to_print"],
            "due_within_12h": item.workload["soon"],
            "overdue": item.workload["overdue"],
        }
    return answer


def report_answer(report: Report) -> Response:
    return jsonify(
        start=report.start.isoformat(),
        end=report.end.isoformat(),
        items=[_item(item) for item in report.items],
        daily=[
            {
                "date": day.day.isoformat(),
                "assigned": day.counts.assigned,
                "dispatched": day.counts.dispatched,
                "on_time_rate": day.counts.on_time_rate,
            }
            for day in report.daily
        ],
    )


@merchant_api.bp.get("/analytics/suppliers")
def analytics_suppliers() -> Response:
    return report_answer(analytics.supplier_report(current_merchant(), *period_args()))


@supplier_api.bp.get("/supplier/analytics/merchants")
def analytics_merchants() -> Response:
    return report_answer(analytics.merchant_report(current_supplier(), *period_args()))
