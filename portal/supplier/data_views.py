"""数据: the factory's merchants over a period, and today's work (shipping analytics)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Response
from flask_babel import gettext as _

from portal.domain import analytics
from portal.domain.analytics import Report
from portal.supplier.views import bp
from portal.web import analytics_views
from portal.web.gate import current_supplier


def _report(start: date | None, end: date | None, now: datetime) -> Report:
    return analytics.merchant_report(current_supplier(), start, end, now)


@bp.get("/analytics")
def analytics_page() -> Response:
    return analytics_views.page(
        "analytics/page.html",
        _report,
        download_endpoint="supplier.analytics_download",
        page_endpoint="supplier.analytics_page",
        partner_label=_("商家"),
        with_workload=True,
    )


@bp.get("/analytics/download")
def analytics_download() -> Response:
    return analytics_views.download(_report, _("商家"), with_workload=True)
