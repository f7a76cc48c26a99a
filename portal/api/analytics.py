"""Shipping analytics over the API (DESIGN §10.5): the same reports as the 数据 pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Response, jsonify

from portal.api import schemas
from portal.api.base import endpoint
from portal.api.blueprints import merchant_bp, supplier_bp
from portal.domain import analytics
from portal.domain.analytics import Counts, PartnerFigures, Report, local_day
from portal.domain.errors import DomainError
from portal.domain.statements.clock import now_utc
from portal.domain.statements.requesting import MAX_PERIOD_DAYS
from portal.web.gate import current_merchant, current_supplier

# Without start and end: the last seven days, today included.
DEFAULT_DAYS = 7
PERIOD_ERRORS = {
    422: "validation_error：日期格式不对（field 指明哪个）；"
    f"invalid_period：开始日期晚于今天或跨度超过 {MAX_PERIOD_DAYS} 天"
}


def period(query: schemas.AnalyticsQuery) -> tuple[date, date]:
    if query.start is None and query.end is None:
        today = local_day(now_utc())
        return today - timedelta(days=DEFAULT_DAYS - 1), today
    if query.start is None:
        raise DomainError("validation_error", "缺少字段 start", field="start")
    if query.end is None:
        raise DomainError("validation_error", "缺少字段 end", field="end")
    return query.start, query.end


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


@merchant_bp.get("/analytics/suppliers")
@endpoint(schemas.SupplierAnalytics, errors=PERIOD_ERRORS)
def analytics_suppliers(query: schemas.AnalyticsQuery) -> Response:
    """商家：各厂家的发货数据

    数据由后台每分钟汇总一次；比率为 0–1，没有可计的订单时为 null。
    """
    return report_answer(analytics.supplier_report(current_merchant(), *period(query)))


@supplier_bp.get("/supplier/analytics/merchants")
@endpoint(schemas.MerchantAnalytics, errors=PERIOD_ERRORS)
def analytics_merchants(query: schemas.AnalyticsQuery) -> Response:
    """厂家：各商家的发货数据与今日待办

    数据由后台每分钟汇总一次；比率为 0–1，没有可计的订单时为 null。
    """
    return report_answer(analytics.merchant_report(current_supplier(), *period(query)))
