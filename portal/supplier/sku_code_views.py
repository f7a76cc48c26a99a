"""Supplier pages for the factory's own codes (厂家编码): inline on the price list, and files."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Response, request
from flask_babel import gettext as _

from portal.domain import prices, sku_codes
from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI
from portal.domain.imports.tabular import ImportFileError
from portal.domain.spreadsheets import csv_text
from portal.domain.statements.clock import now_utc
from portal.extensions import db
from portal.supplier.prices_views import (
    PRICE_SAVED,
    PRICES_CHANGED,
    SHOWN_REFUSALS,
    SkuCodeFileForm,
    key_from,
    prices_page,
    row_answer,
)
from portal.supplier.views import bp
from portal.web.gate import current_supplier
from portal.web.htmx import is_targeting, notify, render, with_trigger

IMPORT = "sku-code-import"


@dataclass
class CodeImportReport:
    filename: str
    saved: int
    refusals: list[sku_codes.CodeRefusal] = field(default_factory=list)

    @property
    def level(self) -> str:
        if not self.refusals:
            return "success"
        return "warning" if self.saved else "error"


@bp.post("/prices/code")
def sku_code_set() -> Response:
    """The inline 厂家编码 and 库位 of one price-list row ("" removes either)."""
    supplier = current_supplier()
    merchant_id, sku_key = key_from(request.form)
    row = prices.price_row(supplier, merchant_id, sku_key)
    if row is None:
        raise DomainError("not_found")  # another supplier's merchant or SKU: nothing to see
    entry = (request.form.get("supplier_code") or "")[:100]
    # the pick list's 库位, kept beside the code (a form without it leaves it as it is)
    location = (request.form.get("location") or "")[:100] if "location" in request.form else None
    result = sku_codes.set_supplier_codes(
        supplier,
        [sku_codes.CodeItem(row.merchant_shop_id or "", sku_key, entry, location=location)],
    )
    if result.refused:
        db.session.rollback()
        return row_answer(
            supplier, merchant_id, sku_key, status=422, error=result.refused[0].message
        )
    db.session.commit()
    if location is not None:
        notify(_("厂家编码与库位已保存"))
    else:
        notify(_("厂家编码已保存") if entry.strip() else _("厂家编码已清除"))
    return with_trigger(row_answer(supplier, merchant_id, sku_key), PRICE_SAVED)


@bp.get("/sku-codes/export")
def sku_code_export() -> Response:
    name = f"sku-codes-{now_utc().astimezone(SHANGHAI):%Y%m%d-%H%M}.csv"
    return Response(
        csv_text(sku_codes.export_rows(current_supplier())),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _import_answer(
    form: SkuCodeFileForm, *, status: int = 200, report: CodeImportReport | None = None
) -> Response:
    context = {"code_form": form, "code_report": report, "shown_refusals": SHOWN_REFUSALS}
    if is_targeting(IMPORT):
        return render("supplier/_sku_codes_import.html", status=status, **context)
    return prices_page(current_supplier(), status=status, **context)


@bp.post("/sku-codes/import")
def sku_code_import() -> Response:
    """A whole codes file: refused rows reported by row number, the others saved."""
    form = SkuCodeFileForm()
    if not form.validate_on_submit():
        return _import_answer(form, status=422)
    upload = form.file.data
    filename = (upload.filename or "")[:200]
    try:
        rows = sku_codes.open_code_file(upload.stream, filename)
        result = sku_codes.import_codes(current_supplier(), rows)
    except (ImportFileError, DomainError) as error:
        db.session.rollback()
        form.file.errors = [*form.file.errors, error.message]
        return _import_answer(form, status=422)
    db.session.commit()
    report = CodeImportReport(filename, len(result.saved), result.refused)
    notify(
        _(
            "已导入 %(saved)d 个厂家编码，%(refused)d 行未导入",
            saved=report.saved,
            refused=len(report.refusals),
        ),
        report.level,
    )
    response = _import_answer(SkuCodeFileForm(formdata=None), report=report)
    return with_trigger(response, PRICES_CHANGED) if report.saved else response
