"""The 数据 page of both desks: the period form, the report, its chart table and its download.

Each role's blueprint adds two thin routes (page, download) that call `page` and `download`
with its report; everything the two pages share lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.domain.analytics import Counts, Report, local_day
from portal.domain.errors import DomainError
from portal.domain.formatting import yuan
from portal.domain.spreadsheets import csv_chunks, write_xlsx
from portal.domain.statements.clock import now_utc
from portal.web.args import date_arg
from portal.web.downloads import FILE_TYPES, file_response
from portal.web.htmx import render

PERIODS = {
    "today": _l("今天"),
    "7d": _l("近 7 天"),
    "30d": _l("近 30 天"),
    "month": _l("本月"),
    "last_month": _l("上月"),
    "custom": _l("自定义"),
}
DEFAULT_PERIOD = "7d"
RESULT_TARGET = "analytics-report"


@dataclass(frozen=True)
class PeriodChoice:
    period: str
    start: date | None
    end: date | None


def period_choice(today: date) -> PeriodChoice:
    """The period the query string asks for (lenient: an unknown preset is the default)."""
    period = request.args.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    if period == "today":
        return PeriodChoice(period, today, today)
    if period in ("7d", "30d"):
        return PeriodChoice(period, today - timedelta(days=int(period[:-1]) - 1), today)
    first_of_month = today.replace(day=1)
    if period == "month":
        return PeriodChoice(period, first_of_month, today)
    if period == "last_month":
        end = first_of_month - timedelta(days=1)
        return PeriodChoice(period, end.replace(day=1), end)
    return PeriodChoice(
        period, date_arg(request.args.get("start")), date_arg(request.args.get("end"))
    )


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def page(
    template: str,
    build: Callable[[date | None, date | None, datetime], Report],
    **context: Any,
) -> Response:
    """The page (or, for the period form's htmx request, the report alone)."""
    now = now_utc()
    choice = period_choice(local_day(now))
    report, error = None, None
    try:
        report = build(choice.start, choice.end, now)
    except DomainError as exc:
        if exc.code != "invalid_period":
            raise
        error = exc.message
    return render(
        template,
        {RESULT_TARGET: "analytics/_report.html"},
        status=422 if error else 200,
        report=report,
        error=error,
        choice=choice,
        periods=PERIODS,
        percent=percent,
        hours=hours,
        **context,
    )


def download(
    build: Callable[[date | None, date | None, datetime], Report],
    partner_label: str,
    with_workload: bool,
) -> Response:
    """The report's table as CSV (UTF-8 with BOM) or XLSX; a bad period is a clear 422."""
    file_format = request.args.get("format", "csv")
    if file_format not in FILE_TYPES:
        raise DomainError("validation_error", _("format 必须是 csv 或 xlsx"), field="format")
    now = now_utc()
    choice = period_choice(local_day(now))
    report = build(choice.start, choice.end, now)
    rows = report_rows(report, partner_label, with_workload)
    filename = f"shipping-{report.start:%Y%m%d}-{report.end:%Y%m%d}.{file_format}"
    return file_response(
        filename,
        file_format,
        lambda: csv_chunks(rows),
        lambda target: write_xlsx(target, _("发货数据"), rows),
    )


def _figure_cells(counts: Counts) -> list[Any]:
    return [
        counts.assigned,
        counts.returned,
        counts.dispatched,
        percent(counts.same_day_rate),
        counts.overdue,
        percent(counts.overdue_rate),
        hours(counts.return_hours_p50),
        hours(counts.return_hours_p90),
        percent(counts.after_sale_rate),
    ]


def report_rows(report: Report, partner_label: str, with_workload: bool) -> list[list[Any]]:
    header = [
        partner_label,
        _("店铺ID"),
        _("分配"),
        _("回传"),
        _("发货"),
        _("当日发货率"),
        _("超时"),
        _("超时率"),
        _("回传时长 P50（小时）"),
        _("回传时长 P90（小时）"),
        _("售后率"),
        _("对账单（份）"),
        _("对账单金额（元）"),
    ]
    if with_workload:
        header += [_("待打印"), _("12 小时内到期"), _("已超时未回传")]
    rows: list[list[Any]] = [header]
    for item in report.items:
        row = [
            item.shop_name,
            item.shop_id,
            *_figure_cells(item.counts),
            item.statement_count,
            yuan(item.statement_fen),
        ]
        if with_workload:
            load = item.workload or {}
            row += [load.get("to_print", 0), load.get("soon", 0), load.get("overdue", 0)]
        rows.append(row)
    total = [_("合计"), "", *_figure_cells(report.total)]
    total += [
        sum(i.statement_count for i in report.items),
        yuan(sum(i.statement_fen for i in report.items)),
    ]
    if with_workload:
        total += [sum((i.workload or {}).get(k, 0) for i in report.items) for k in WORKLOAD_KEYS]
    rows.append(total)
    return rows


WORKLOAD_KEYS = ("to_print", "soon", "overdue")
