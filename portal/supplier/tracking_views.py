"""Supplier pages for returning tracking numbers (回传运单号): batch file import and scanning."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import HiddenField, StringField

from portal.domain import supplier_orders, tracking
from portal.domain.bindings import normalize_shop_id
from portal.domain.couriers import COURIERS, courier_choices, normalize_tracking_no
from portal.domain.errors import DomainError, message_for
from portal.domain.imports.tracking_file import (
    MAX_FILE_ROWS,
    ImportFileError,
    RowError,
    TrackingRow,
    open_tracking_file,
)
from portal.domain.orders.rules import print_blockers
from portal.domain.spreadsheets import csv_text
from portal.extensions import db, htmx
from portal.models import Order, Supplier
from portal.models.base import utcnow
from portal.models.orders import STAGE_ASSIGNED, STAGE_DISPATCHED, STAGE_RETURNED
from portal.supplier.views import bp
from portal.transactions import read_upload
from portal.web.gate import current_supplier
from portal.web.htmx import no_swap, notify, render

# One request handles the whole file in set-based batches; beyond this, split the file.
# Refusals and warnings listed on the page; every refusal is in the CSV download.
SHOWN_LINES = 200
# A scanned code longer than any order or tracking number is not looked up.
MAX_CODE_LENGTH = 64

TEMPLATE_HEADER = ("订单号", "快递公司", "快递单号")
TEMPLATE_EXAMPLE = ("231121-538292030421876", "顺丰速运", "SF1234567890123")

# What stops a supplier from shipping an order, phrased for the packing bench.
PRINT_BLOCKER_LABELS = {
    "after_sale": _l("售后中，请勿发货"),
    "audit_hold": _l("平台审核中，请勿发货"),
    "address_changed": _l("收货信息已变更，待商家确认后再发货"),
}
# A refusal after which the same order can take another scan (a wrong number or courier).
RETRYABLE_REFUSALS = frozenset(
    {"unknown_courier", "invalid_tracking_no", "duplicate_tracking_no", "too_many_tracking_nos"}
)


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


# --- scan page -------------------------------------------------------------------------------

SCAN_FOUND = "found"
SCAN_CANCELLED = "cancelled"
SCAN_NOT_FOUND = "not_found"
SCAN_RETURNED = "returned"
SCAN_REFUSED = "refused"
SCAN_CHOOSE = "choose"  # two of the factory's merchants use the number: pick one
SCAN_UNDONE = "undone"  # the last return taken back: the order waits for its number again


@dataclass
class ScanOutcome:
    """What one scan did, for the result panel and the session log."""

    kind: str
    code: str
    order: Any = None  # a row of supplier_orders.MASKED_COLUMNS, never the ORM object
    by_tracking_no: bool = False
    numbers: list[tuple[str, str]] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    courier: str = ""
    tracking_no: str = ""
    # The order waiting for its tracking number after this scan ("" = scan an order number).
    pending_order_no: str = ""
    pending_merchant: str = ""  # its merchant's shop ID
    # SCAN_CHOOSE: the merchants using the scanned number, (shop ID, shop name).
    choices: list[tuple[str, str]] = field(default_factory=list)
    # SCAN_REFUSED answering an undo: what was refused is the undo, not a return.
    undo: bool = False
    at: Any = field(default_factory=utcnow)

    @property
    def signal(self) -> str:
        """What the scan means at a glance and by ear (portal.js plays one sound per signal):
        ok — returned, or an order ready for its tracking number; refused — nothing was
        returned and something is wrong; already — the order has its tracking number already."""
        if self.kind in (SCAN_NOT_FOUND, SCAN_CANCELLED, SCAN_REFUSED, SCAN_CHOOSE):
            return "refused"  # nothing happened: look at the screen
        if self.kind == SCAN_UNDONE:
            return "already"  # the two-tone "look here": the order waits for its number again
        if self.blockers:
            return "refused"
        order = self.order
        if self.kind == SCAN_FOUND and order is not None and order.stage != STAGE_ASSIGNED:
            return "already"  # returned or dispatched: it has its tracking number
        return "ok"

    @property
    def tone(self) -> str:
        """The colour: the signal's, or warn for a return whose number format needs a look."""
        signal = self.signal
        if self.kind == SCAN_CHOOSE:
            return "warn"
        if signal == "refused":
            return "bad"
        if signal == "ok" and self.warnings:
            return "warn"
        return signal

    @property
    def stage_label(self) -> str:
        return stage_label(self.order) if self.order is not None else ""

    @property
    def blocker_labels(self) -> list[str]:
        return [str(PRINT_BLOCKER_LABELS.get(code, message_for(code))) for code in self.blockers]


def stage_label(order: Any) -> str:
    """The factory's view of the stage: 待打印 / 已打印 split the assigned stage."""
    if order.stage == STAGE_ASSIGNED:
        return _("已打印") if order.print_count else _("待打印")
    if order.stage == STAGE_RETURNED:
        return _("已回传")
    if order.stage == STAGE_DISPATCHED:
        return _("已发货")
    return order.stage


def _masked_order(supplier: Supplier, order_id: int) -> Any:
    """The supplier's current order by id, masked columns only (scoped in the query)."""
    return db.session.execute(
        supplier_orders.masked_select(supplier).where(
            Order.id == order_id, Order.supplier_id == supplier.id
        )
    ).first()


def _cancelled_order(supplier: Supplier, order_no: str) -> Any:
    """This supplier's cancelled assignment of `order_no` (masked), or None."""
    if order_no not in tracking.cancelled_for_supplier(supplier, [order_no]):
        return None
    filters = supplier_orders.SupplierFilters(tab=supplier_orders.TAB_CANCELLED, q=order_no)
    query = supplier_orders.orders_query(supplier, filters, utcnow()).limit(1)
    return db.session.execute(query).first()


def _describe(kind: str, code: str, order: Any, **extra: Any) -> ScanOutcome:
    numbers = tracking.tracking_numbers_for([order.id]).get(order.id, []) if order else []
    blockers = print_blockers(order) if order else []
    return ScanOutcome(kind, code, order, numbers=numbers, blockers=blockers, **extra)


def _merchants_using(supplier: Supplier, order_no: str) -> list[tuple[str, str]]:
    """(shop ID, shop name) of the supplier's merchants whose current order has this number."""
    rows = db.session.execute(
        supplier_orders.masked_select(supplier)
        .where(Order.supplier_id == supplier.id, Order.order_no == order_no)
        .order_by(Order.merchant_id)
    )
    return [(row.merchant_shop_id, row.merchant_name) for row in rows]


def lookup_scan(supplier: Supplier, code: str, merchant_shop_id: str = "") -> ScanOutcome:
    """Look a scanned code up: an order number makes that order wait for its tracking number;
    a tracking number shows the order it was returned for. A number two of the supplier's
    merchants use waits for the factory to pick the merchant (never a guess)."""
    if len(code) > MAX_CODE_LENGTH:
        return ScanOutcome(SCAN_NOT_FOUND, code[:MAX_CODE_LENGTH])
    try:
        found = tracking.scan_lookup(supplier, code, merchant_shop_id)
    except DomainError as error:
        if error.code != tracking.AMBIGUOUS:
            raise
        return ScanOutcome(
            SCAN_CHOOSE, code, message=error.message, choices=_merchants_using(supplier, code)
        )
    if found is not None:
        order = _masked_order(supplier, found.id)
        if order is not None:
            by_order_no = order.order_no == code
            waiting = by_order_no and order.stage in (STAGE_ASSIGNED, STAGE_RETURNED)
            return _describe(
                SCAN_FOUND,
                code,
                order,
                by_tracking_no=not by_order_no,
                pending_order_no=order.order_no if waiting else "",
                pending_merchant=order.merchant_shop_id if waiting else "",
            )
    cancelled = _cancelled_order(supplier, code)
    if cancelled is not None:
        return ScanOutcome(
            SCAN_CANCELLED, code, cancelled, message=message_for("assignment_cancelled")
        )
    return ScanOutcome(SCAN_NOT_FOUND, code)


def _is_order_no(supplier: Supplier, code: str) -> bool:
    return bool(
        tracking.find_orders_for_supplier(supplier, [(code, "")])
        or tracking.cancelled_for_supplier(supplier, [code])
    )


def return_scan(
    supplier: Supplier, order_no: str, courier: str, code: str, merchant_shop_id: str = ""
) -> ScanOutcome:
    """Return a scanned tracking number for the waiting order (of `merchant_shop_id`; a
    scanned order number instead switches to that order). Flushes only: the view commits a
    SCAN_RETURNED outcome."""
    if len(code) > MAX_CODE_LENGTH or code == order_no or _is_order_no(supplier, code):
        return lookup_scan(supplier, code)
    number = normalize_tracking_no(code)
    shop = merchant_shop_id

    def waiting(order: Any) -> dict[str, str]:
        if order is None:
            return {"pending_order_no": "", "pending_merchant": ""}
        return {"pending_order_no": order_no, "pending_merchant": order.merchant_shop_id}

    if not courier:
        order = _current_order(supplier, order_no, shop)
        return _describe(
            SCAN_REFUSED,
            code,
            order,
            message=_("请先选择快递公司，再扫描快递单号"),
            tracking_no=number,
            **waiting(order),
        )
    item = tracking.TrackingItem(order_no, courier, code, merchant_shop_id=shop)
    try:
        result = tracking.return_tracking(supplier, [item], current_user._get_current_object())
    except tracking.TrackingRaceError:
        db.session.rollback()
        result = tracking.TrackingResult(
            refused=[tracking.TrackingRefusal(order_no, "duplicate_tracking_no")]
        )
    if result.returned:
        order = _current_order(supplier, order_no, shop)
        return _describe(
            SCAN_RETURNED,
            code,
            order,
            courier=courier,
            tracking_no=number,
            warnings=list(dict.fromkeys(w.message for w in result.warnings)),
        )
    refusal = result.refused[0]
    if refusal.code == "assignment_cancelled":
        # Only what the cancelled tab shows: the order may be with another factory by now.
        cancelled = _cancelled_order(supplier, order_no)
        return ScanOutcome(SCAN_CANCELLED, code, cancelled, message=message_for(refusal.code))
    retry = refusal.code in RETRYABLE_REFUSALS
    order = _current_order(supplier, order_no, shop)
    return _describe(
        SCAN_REFUSED,
        code,
        order,
        message=message_for(refusal.code),
        courier=courier,
        tracking_no=refusal.tracking_no or number,
        **waiting(order if retry else None),
    )


def _current_order(supplier: Supplier, order_no: str, merchant_shop_id: str = "") -> Any:
    ref = (order_no, normalize_shop_id(merchant_shop_id))
    found = tracking.find_orders_for_supplier(supplier, [ref]).get(ref)
    return _masked_order(supplier, found.id) if found is not None else None


def _last_courier(supplier: Supplier) -> str:
    """The courier of the supplier's latest return: the likely choice for the next scans."""
    return (
        db.session.scalar(
            select(Order.courier)
            .where(Order.supplier_id == supplier.id, Order.stage == STAGE_RETURNED)
            .order_by(Order.returned_at.desc())
            .limit(1)
        )
        or ""
    )


def _render_scan(outcome: ScanOutcome | None, courier: str, *, status: int = 200) -> Response:
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
    return _render_scan(ScanOutcome(SCAN_NOT_FOUND, "", message=message), courier, status=422)


@bp.get("/scan")
def scan_page() -> Response:
    return _render_scan(None, _last_courier(current_supplier()))


@bp.post("/scan/lookup")
def scan_lookup() -> Response:
    form = ScanForm()
    code = (form.code.data or "").strip()
    courier = (form.courier.data or "").strip()
    if not code:
        return _empty_scan(courier)
    merchant = (form.merchant_shop_id.data or "").strip()  # picked for a shared number
    return _render_scan(lookup_scan(current_supplier(), code, merchant), courier)


def undo_scan(
    supplier: Supplier, order_no: str, merchant_shop_id: str, tracking_no: str
) -> ScanOutcome:
    """Take back the number the last scan returned, when it is still the order's number (a
    later scan or the desk may have changed it); the order then waits for its number again."""
    number = normalize_tracking_no(tracking_no)
    order = _current_order(supplier, order_no, merchant_shop_id)
    if order is None or not number or order.tracking_no != number:
        return _describe(
            SCAN_REFUSED,
            number,
            order,
            message=_("只能撤销最近一次扫描回传、且仍是该订单运单号的单号"),
            tracking_no=number,
            undo=True,
        )
    try:
        tracking.cancel_return(
            supplier,
            order_no,
            merchant_shop_id,
            actor=current_user._get_current_object(),
            with_label=True,
        )
    except DomainError as error:
        db.session.rollback()
        return _describe(
            SCAN_REFUSED, number, order, message=error.message, tracking_no=number, undo=True
        )
    order = _current_order(supplier, order_no, merchant_shop_id)
    return _describe(
        SCAN_UNDONE,
        number,
        order,
        tracking_no=number,
        pending_order_no=order_no,
        pending_merchant=order.merchant_shop_id,
    )


@bp.post("/scan/undo")
def scan_undo() -> Response:
    """撤销上一次扫描回传 (the page's undo button, or Ctrl+Z on the scan page)."""
    form = request.form
    outcome = undo_scan(
        current_supplier(),
        (form.get("order_no") or "").strip()[:64],
        (form.get("order_merchant") or "").strip()[:20],
        (form.get("tracking_no") or "").strip()[:64],
    )
    if outcome.kind == SCAN_UNDONE:
        db.session.commit()
    else:
        db.session.rollback()
    courier = (form.get("courier") or "").strip()[:10]
    return _render_scan(outcome, courier, status=422 if outcome.kind == SCAN_REFUSED else 200)


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
        return _render_scan(lookup_scan(supplier, code), courier)
    merchant = (form.order_merchant.data or "").strip()
    outcome = return_scan(supplier, order_no, courier, code, merchant)
    if outcome.kind == SCAN_RETURNED:
        db.session.commit()
    else:
        db.session.rollback()
    return _render_scan(outcome, courier, status=422 if outcome.kind == SCAN_REFUSED else 200)
