"""Supplier pages for settlement prices (结算价): the list with inline edit, history, files."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any

from flask import Response, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from portal.domain import prices
from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI, local_time, yuan
from portal.domain.spreadsheets import csv_text, write_xlsx
from portal.domain.statements.clock import now_utc
from portal.extensions import db, htmx
from portal.models import Supplier
from portal.models.base import MAX_ID
from portal.supplier.views import bp
from portal.transactions import read_upload
from portal.web.gate import current_supplier
from portal.web.htmx import (
    hx_redirect,
    is_targeted_htmx,
    is_targeting,
    notify,
    render,
    with_trigger,
)
from portal.web.pagination import PageArgs, page_args, paginate_rows

PER_PAGE = 50
# Refused rows listed under an import; the rest are counted.
SHOWN_REFUSALS = 500
# htmx events: a row saved (the missing-price badge refetches itself) / many prices changed
# (the whole list refetches itself).
PRICE_SAVED = "priceSaved"
PRICES_CHANGED = "pricesChanged"
DESK = "price-desk"
MISSING_BADGE = "price-missing"
DRAWER = "price-drawer"
IMPORT = "price-import"
EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
HISTORY_LABELS = {
    prices.HISTORY_CURRENT: (_l("当前"), "success"),
    prices.HISTORY_SCHEDULED: (_l("待生效"), "info"),
    prices.HISTORY_PAST: (_l("已失效"), "muted"),
}


class PriceFileForm(FlaskForm):
    file = FileField(
        _l("结算价文件（CSV 或 XLSX）"),
        validators=[FileRequired(message=_l("请选择要上传的文件"))],
    )


class SkuCodeFileForm(FlaskForm):
    """厂家编码 by file (portal/supplier/sku_code_views.py), on the same page."""

    file = FileField(
        _l("厂家编码文件（CSV 或 XLSX）"),
        validators=[FileRequired(message=_l("请选择要上传的文件"))],
    )


# --- parsing ---------------------------------------------------------------------------------


def _text(value: str | None, limit: int) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()[:limit]


def _positive_int(value: str | None) -> int | None:
    text = _text(value, 12)
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


@dataclass(frozen=True)
class PriceFilters:
    merchant_id: int | None = None
    missing: bool = False
    q: str = ""

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> PriceFilters:
        return cls(
            merchant_id=_positive_int(values.get("merchant_id")),
            missing=values.get("missing") == "1",
            q=_text(values.get("q"), 64),
        )

    @property
    def args(self) -> dict[str, object]:
        """As URL arguments (only the ones set), so links and exports keep them."""
        args = {
            "merchant_id": self.merchant_id,
            "missing": 1 if self.missing else None,
            "q": self.q,
        }
        return {name: value for name, value in args.items() if value}


def key_from(values: Mapping[str, str]) -> tuple[int, str]:
    """The (merchant, SKU key) a request names; anything unusable is simply not found."""
    merchant_id = _positive_int(values.get("merchant_id"))
    # SKU keys are matched exactly as stored: only surrounding blanks are dropped.
    sku_key = (values.get("sku_key") or "").strip()
    if merchant_id is None or not sku_key or len(sku_key) > prices.MAX_SKU_KEY:
        raise DomainError("not_found")
    return merchant_id, sku_key


# --- what the templates show -----------------------------------------------------------------


@dataclass
class PriceRow:
    row: Any  # a row of prices.price_rows()
    error: str = ""
    entry: str | None = None  # what was typed, kept after a refusal

    @property
    def dom_id(self) -> str:
        return prices.row_dom_id(self.row.merchant_id, self.row.sku_key)

    @property
    def missing(self) -> bool:
        return self.row.price_fen is None

    @property
    def value(self) -> str:
        return self.entry if self.entry is not None else prices.price_text(self.row.price_fen)


@dataclass
class ImportReport:
    filename: str
    created: int
    unchanged: int
    skipped: int
    refusals: list[prices.PriceRefusal] = field(default_factory=list)

    @property
    def level(self) -> str:
        if not self.refusals:
            return "success"
        return "warning" if self.created or self.unchanged else "error"


def list_context(supplier: Supplier, filters: PriceFilters, page_number: int) -> dict[str, Any]:
    page = paginate_rows(
        prices.price_rows(supplier, filters.merchant_id, filters.missing, filters.q),
        PageArgs(page_number, PER_PAGE),
    )
    return {
        "filters": filters,
        "args": filters.args,
        "page": page,
        "rows": [PriceRow(row) for row in page.items],
        "merchants": prices.price_merchants(supplier),
        "missing": prices.missing_count(supplier, filters.merchant_id),
        "list_url": list_url(filters, page_number),
    }


def list_url(filters: PriceFilters, page: int = 1) -> str:
    return url_for("supplier.price_list", page=page if page > 1 else None, **filters.args)


def prices_page(supplier: Supplier, *, status: int = 200, **context: Any) -> Response:
    """The whole page: the list as the address bar has it, plus what the caller adds."""
    filters = PriceFilters.parse(request.args)
    page_number = page_args(PER_PAGE, PER_PAGE).page
    return render(
        "supplier/prices.html",
        status=status,
        **{
            "form": PriceFileForm(formdata=None),
            "report": None,
            "code_form": SkuCodeFileForm(formdata=None),
            "code_report": None,
            "max_rows": prices.MAX_FILE_ROWS,
            "shown_refusals": SHOWN_REFUSALS,
            **list_context(supplier, filters, page_number),
            **context,
        },
    )


def _history_context(
    supplier: Supplier, merchant_id: int, sku_key: str, *, error: str = "", entry: str = ""
) -> dict[str, Any]:
    entries = prices.price_history(supplier, merchant_id, sku_key)  # not_found when not ours
    row = prices.price_row(supplier, merchant_id, sku_key)
    if row is None:
        raise DomainError("not_found")
    return {
        "key_row": PriceRow(row),
        "history": entries,
        "history_labels": HISTORY_LABELS,
        "history_error": error,
        "history_entry": entry,
        "history_when": request.form.get("effective_from", "") if error else "",
        "now_local": now_utc().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
    }


# --- the list ----------------------------------------------------------------------------------


@bp.get("/prices")
def price_list() -> Response:
    supplier = current_supplier()
    filters = PriceFilters.parse(request.args)
    if is_targeting(MISSING_BADGE):
        return render(
            "supplier/_prices_missing.html",
            filters=filters,
            missing=prices.missing_count(supplier, filters.merchant_id),
        )
    page_number = page_args(PER_PAGE, PER_PAGE).page
    if is_targeting(DESK):
        response = render(
            "supplier/_prices_desk.html", **list_context(supplier, filters, page_number)
        )
        if htmx.trigger != "price-desk-refresh":
            # The filter form sends empty fields too: history gets the tidy address instead.
            response.headers["HX-Push-Url"] = list_url(filters, page_number)
        return response
    return prices_page(supplier)


@bp.get("/prices/history")
def price_history() -> Response:
    supplier = current_supplier()
    merchant_id, sku_key = key_from(request.args)
    context = _history_context(supplier, merchant_id, sku_key)
    if is_targeted_htmx():
        return render("supplier/_prices_history.html", **context)
    # A direct load: the list with the drawer already open.
    return prices_page(supplier, **context)


@bp.post("/prices/set")
def price_set() -> Response:
    supplier = current_supplier()
    merchant_id, sku_key = key_from(request.form)
    row = prices.price_row(supplier, merchant_id, sku_key)
    if row is None:
        raise DomainError("not_found")  # another supplier's merchant or SKU: nothing to see
    entry = (request.form.get("price") or "")[:64]
    from_drawer = is_targeting(DRAWER)
    try:
        effective_from = _effective_from(supplier, merchant_id)
        change = prices.set_price(
            supplier,
            merchant_id,
            sku_key,
            entry,
            current_user._get_current_object(),
            effective_from,
        )
    except DomainError as error:
        if error.status == 404:
            raise
        db.session.rollback()
        if from_drawer:
            context = _history_context(
                supplier, merchant_id, sku_key, error=error.message, entry=entry
            )
            return render("supplier/_prices_history.html", status=422, **context)
        return row_answer(
            supplier, merchant_id, sku_key, status=422, error=error.message, entry=entry
        )
    db.session.commit()
    _notify_change(change)
    if from_drawer:
        response = render(
            "supplier/_prices_history.html", **_history_context(supplier, merchant_id, sku_key)
        )
        return with_trigger(response, PRICES_CHANGED)
    return with_trigger(row_answer(supplier, merchant_id, sku_key), PRICE_SAVED)


def _effective_from(supplier: Supplier, merchant_id: int) -> datetime | None:
    """From the form: 含此前的订单 (since the pair first bound), a typed time, or now."""
    if request.form.get("from_start") == "1":
        return prices.cooperation_start(supplier, merchant_id)
    return prices.parse_effective_from(_text(request.form.get("effective_from"), 32))


def _notify_change(change: prices.PriceChange) -> None:
    if not change.created:
        notify(_("结算价未变化（¥%(price)s）", price=yuan(change.price_fen)), "info")
        return
    notify(
        _(
            "已保存结算价 ¥%(price)s，%(when)s 起生效",
            price=yuan(change.price_fen),
            when=local_time(change.effective_from),
        )
    )


def row_answer(
    supplier: Supplier,
    merchant_id: int,
    sku_key: str,
    *,
    status: int = 200,
    error: str = "",
    entry: str | None = None,
) -> Response:
    if not is_targeted_htmx():
        # A plain form post: back to the list, the message travels as a flash.
        if error:
            notify(error, "error")
        return hx_redirect(url_for("supplier.price_list"))
    row = prices.price_row(supplier, merchant_id, sku_key)
    if row is None:
        raise DomainError("not_found")
    return render(
        "supplier/_prices_row.html", status=status, r=PriceRow(row, error=error, entry=entry)
    )


# --- files -------------------------------------------------------------------------------------


@bp.get("/prices/export")
def price_export() -> Response:
    kind = request.args.get("format", "csv")
    if kind not in EXPORT_TYPES:
        raise DomainError("invalid_request")
    filters = PriceFilters.parse(request.args)
    rows = prices.export_rows(current_supplier(), filters.merchant_id, filters.missing, filters.q)
    name = f"prices-{now_utc().astimezone(SHANGHAI):%Y%m%d-%H%M}.{kind}"
    if kind == "csv":
        return Response(
            csv_text(rows),
            mimetype=EXPORT_TYPES[kind],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    buffer = BytesIO()
    write_xlsx(buffer, _("结算价"), rows)
    buffer.seek(0)
    return send_file(buffer, mimetype=EXPORT_TYPES[kind], as_attachment=True, download_name=name)


def _import_answer(
    form: PriceFileForm, *, status: int = 200, report: ImportReport | None = None
) -> Response:
    supplier = current_supplier()
    context = {
        "form": form,
        "report": report,
        "max_rows": prices.MAX_FILE_ROWS,
        "shown_refusals": SHOWN_REFUSALS,
    }
    if is_targeting(IMPORT):
        return render("supplier/_prices_import.html", status=status, **context)
    return prices_page(supplier, status=status, **context)


@bp.post("/prices/import")
def price_import() -> Response:
    """Every row of the file in one request: refused rows are reported with their row number,
    the rest saved. A file that cannot be read changes nothing, even when the damage is found
    halfway."""
    form = PriceFileForm()
    if not form.validate_on_submit():
        return _import_answer(form, status=422)
    upload = form.file.data
    filename = (upload.filename or "")[:200]
    try:
        rows = read_upload(lambda: prices.open_price_file(upload.stream, filename))
        result = prices.import_prices(current_supplier(), rows, current_user._get_current_object())
    except (prices.ImportFileError, DomainError) as error:
        db.session.rollback()
        form.file.errors = [*form.file.errors, error.message]
        return _import_answer(form, status=422)
    if not (result.created or result.unchanged or result.refused):
        db.session.rollback()
        message = (
            _("文件中的“结算价(元)”都是空的，没有可导入的价格")
            if result.skipped
            else _("文件中只有表头，没有结算价数据")
        )
        form.file.errors = [*form.file.errors, message]
        return _import_answer(form, status=422)
    db.session.commit()
    report = ImportReport(
        filename, len(result.created), len(result.unchanged), result.skipped, result.refused
    )
    notify(
        _(
            "已导入 %(created)d 个结算价，%(unchanged)d 个未变化，%(refused)d 行未导入",
            created=report.created,
            unchanged=report.unchanged,
            refused=len(report.refusals),
        ),
        report.level,
    )
    response = _import_answer(PriceFileForm(formdata=None), report=report)
    return with_trigger(response, PRICES_CHANGED) if report.created else response
