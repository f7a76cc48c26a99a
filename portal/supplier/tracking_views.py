"""Supplier pages for returning tracking numbers (回传运单号): batch file import and scanning."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, StringField

from portal.domain import scans, tracking
from portal.domain.couriers import COURIERS, courier_choices
from portal.domain.errors import message_for
from portal.domain.imports.tracking_file import (
    MAX_FILE_ROWS,
    ImportFileError,
    RowError,
    TrackingRow,
    open_tracking_file,
)
from portal.domain.spreadsheets import csv_text
from portal.extensions import db, htmx
from portal.supplier.views import bp
from portal.transactions import read_upload
from portal.web.gate import current_supplier
from portal.web.htmx import no_swap, notify, render

# One request handles the whole file in set-based batches; beyond this, split the file.
# Refusals and warnings listed on the page; every refusal is in the CSV download.
SHOWN_LINES = 200


class TrackingFileForm(FlaskForm):
    file = FileField(
        _l("运单号文件（CSV 或 XLSX）"),
        validators=[FileRequired(message=_l("请选择要上传的文件"))],
    )


class ScanForm(FlaskForm):
    code = StringField(_l("扫描订单号或快递单号"))
    courier = StringField(_l("快递公司"))
    # The order matched by its number, waiting for its tracking number (set by the server),
    # and its merchant: on the factory side an order is (merchant, number).
    order_no = HiddenField()
    order_merchant = HiddenField()
    # The merchant the factory picked for a number two of its merchants use.
    merchant_shop_id = HiddenField()


TEMPLATE_HEADER = ("订单号", "快递公司", "快递单号")
TEMPLATE_EXAMPLE = ("231121-538292030421876", "顺丰速运", "SF1234567890123")


# --- batch file import -----------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalLine:
    row: int | None
    order_no: str
    tracking_no: str
    code: str
    message: str


@dataclass(frozen=True)
class WarningLine:
    row: int | None
    order_no: str
    message: str


@dataclass
class ImportReport:
    filename: str
    returned: int
    refusals: list[RefusalLine]
    warnings: list[WarningLine]

    @property
    def refusals_csv_href(self) -> str:
        """The refusals as a CSV in a data: link, so the result needs no server-side storage."""
        header = [_("行号"), _("订单号"), _("快递单号"), _("原因"), _("原因代码")]
        lines = [
            [line.row or "", line.order_no, line.tracking_no, line.message, line.code]
            for line in self.refusals
        ]
        payload = base64.b64encode(csv_text([header, *lines]).encode("utf-8")).decode("ascii")
        return f"data:text/csv;charset=utf-8;base64,{payload}"


class _ReportedRows:
    """Passes the reader's rows to the service, keeping what the report needs per row: the
    reader's Chinese reason for a bad row and the courier as typed."""

    def __init__(self, rows: Iterator[TrackingRow | RowError]) -> None:
        self._rows = rows
        self.count = 0
        self.row_messages: dict[int, str] = {}
        self.couriers: dict[int, str] = {}

    def __iter__(self) -> Iterator[TrackingRow | RowError]:
        for item in self._rows:
            self.count += 1
            if isinstance(item, RowError):
                self.row_messages[item.row] = item.message
            else:
                self.couriers[item.row] = item.courier
            yield item


def _refusal_message(refusal: tracking.TrackingRefusal, rows: _ReportedRows) -> str:
    if refusal.row is not None and refusal.row in rows.row_messages:
        return rows.row_messages[refusal.row]
    message = message_for(refusal.code)
    if refusal.code == "unknown_courier" and rows.couriers.get(refusal.row or 0):
        return _("%(message)s：%(courier)s", message=message, courier=rows.couriers[refusal.row])
    return message


def _import_report(
    filename: str, result: tracking.TrackingResult, rows: _ReportedRows
) -> ImportReport:
    refusals = sorted(
        (
            RefusalLine(r.row, r.order_no, r.tracking_no, r.code, _refusal_message(r, rows))
            for r in result.refused
        ),
        key=lambda line: (line.row is None, line.row or 0),
    )
    # Format warnings matter for numbers that were saved; a refused row's number was not.
    saved = set(result.returned)
    warnings = dict.fromkeys(
        WarningLine(w.row, w.order_no, w.message) for w in result.warnings if w.order_no in saved
    )
    return ImportReport(filename, len(result.returned), refusals, list(warnings))


def _render_import_page(
    form: TrackingFileForm, *, status: int = 200, report: ImportReport | None = None
) -> Response:
    return render(
        "supplier/tracking_import.html",
        {"tracking-upload": "supplier/_tracking_upload.html"},
        status=status,
        form=form,
        report=report,
        couriers=COURIERS,
        max_rows=MAX_FILE_ROWS,
        shown_lines=SHOWN_LINES,
    )


@bp.get("/tracking/import")
def tracking_import_page() -> Response:
    return _render_import_page(TrackingFileForm(formdata=None))


@bp.post("/tracking/import")
def tracking_import() -> Response:
    """Return every row of the file in one request: refused rows are reported, the rest saved.
    A file that cannot be read changes nothing, even when the damage is found halfway."""
    form = TrackingFileForm()
    if not form.validate_on_submit():
        return _render_import_page(form, status=422)
    upload = form.file.data
    filename = upload.filename or ""
    try:
        rows = _ReportedRows(
            iter(
                read_upload(
                    lambda: open_tracking_file(upload.stream, filename, max_rows=MAX_FILE_ROWS)
                )
            )
        )
        result = tracking.return_tracking_file(
            current_supplier(), rows, current_user._get_current_object()
        )
    except ImportFileError as error:
        db.session.rollback()
        form.file.errors = [*form.file.errors, error.message]
        return _render_import_page(form, status=422)
    except tracking.TrackingRaceError as error:
        db.session.rollback()
        form.file.errors = [
            *form.file.errors,
            _("运单号 %(no)s 刚被其他订单使用，本次导入未保存，请重新上传", no=error.number),
        ]
        return _render_import_page(form, status=422)
    if not rows.count:
        db.session.rollback()
        form.file.errors = [*form.file.errors, _("文件中只有表头，没有运单号数据")]
        return _render_import_page(form, status=422)
    db.session.commit()
    report = _import_report(filename, result, rows)
    if not report.refusals:
        level = "success"
    elif report.returned:
        level = "warning"
    else:
        level = "error"
    notify(
        _("已回传 %(ok)d 个订单，%(bad)d 行未回传", ok=report.returned, bad=len(report.refusals)),
        level,
    )
    return _render_import_page(TrackingFileForm(formdata=None), report=report)


@bp.get("/tracking/template.csv")
def tracking_template() -> Response:
    return Response(
        csv_text([TEMPLATE_HEADER, TEMPLATE_EXAMPLE]),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="tracking-template.csv"'},
    )


# --- scan page (portal.domain.scans does the work) --------------------------------------------


def _render_scan(outcome: scans.ScanOutcome | None, courier: str, *, status: int = 200) -> Response:
    return render(
        "supplier/scan.html",
        {"scan-result": "supplier/_scan_result.html"},
        status=status,
        outcome=outcome,
        courier=courier,
        courier_choices=courier_choices(),
        pending_order_no=outcome.pending_order_no if outcome else "",
        pending_merchant=outcome.pending_merchant if outcome else "",
    )


def _empty_scan(courier: str) -> Response:
    message = _("请扫描或输入订单号、快递单号")
    if htmx:
        notify(message, "error")
        return no_swap(422)
    return _render_scan(
        scans.ScanOutcome(scans.SCAN_NOT_FOUND, "", message=message), courier, status=422
    )


@bp.get("/scan")
def scan_page() -> Response:
    return _render_scan(None, scans.last_courier(current_supplier()))


@bp.post("/scan/lookup")
def scan_lookup() -> Response:
    form = ScanForm()
    code = (form.code.data or "").strip()
    courier = (form.courier.data or "").strip()
    if not code:
        return _empty_scan(courier)
    merchant = (form.merchant_shop_id.data or "").strip()  # picked for a shared number
    return _render_scan(scans.lookup_scan(current_supplier(), code, merchant), courier)


@bp.post("/scan/undo")
def scan_undo() -> Response:
    """撤销上一次扫描回传 (the page's undo button, or Ctrl+Z on the scan page)."""
    form = request.form
    outcome = scans.undo_scan(
        current_supplier(),
        (form.get("order_no") or "").strip()[:64],
        (form.get("order_merchant") or "").strip()[:20],
        (form.get("tracking_no") or "").strip()[:64],
        current_user._get_current_object(),
    )
    if outcome.kind == scans.SCAN_UNDONE:
        db.session.commit()
    else:
        db.session.rollback()
    courier = (form.get("courier") or "").strip()[:10]
    return _render_scan(outcome, courier, status=422 if outcome.kind == scans.SCAN_REFUSED else 200)


@bp.post("/scan/return")
def scan_return() -> Response:
    form = ScanForm()
    code = (form.code.data or "").strip()
    courier = (form.courier.data or "").strip()
    order_no = (form.order_no.data or "").strip()
    if not code:
        return _empty_scan(courier)
    supplier = current_supplier()
    if not order_no:
        return _render_scan(scans.lookup_scan(supplier, code), courier)
    merchant = (form.order_merchant.data or "").strip()
    outcome = scans.return_scan(
        supplier, order_no, courier, code, current_user._get_current_object(), merchant
    )
    if outcome.kind == scans.SCAN_RETURNED:
        db.session.commit()
    else:
        db.session.rollback()
    return _render_scan(outcome, courier, status=422 if outcome.kind == scans.SCAN_REFUSED else 200)
