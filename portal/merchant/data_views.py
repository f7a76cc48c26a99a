"""数据: the merchant's factories over a period (shipping analytics)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Response
from flask_babel import gettext as _

from portal.domain import analytics
from portal.domain.analytics import Report
from portal.merchant.views import bp
from portal.web import analytics_views
from portal.web.gate import current_merchant


def _report(start: date | None, end: date | None, now: datetime) -> Report:
    return analytics.supplier_report(current_merchant(), start, end, now)


@bp.get("/analytics")
def analytics_page() -> Response:
    merchant = current_merchant()
    return analytics_views.page(
        "analytics/page.html",
        _report,
        cutoff=analytics.cutoff_time(merchant),
        download_endpoint="merchant.analytics_download",
        page_endpoint="merchant.analytics_page",
        partner_label=_("厂家"),
        with_workload=False,
    )


@bp.get("/analytics/download")
def analytics_download() -> Response:
    return analytics_views.download(_report, _("厂家"), with_workload=False)
