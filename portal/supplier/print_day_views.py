"""The factory's print day around the labels: pick lists (拣货单) and its print settings."""

from __future__ import annotations

import io

from flask import Response, request
from flask_babel import gettext as _

from portal.domain.authz import get_or_404
from portal.domain.errors import message_for
from portal.domain.formatting import SHANGHAI
from portal.domain.printing import pick_list
from portal.domain.printing.pick_list import PickList
from portal.domain.spreadsheets import write_xlsx
from portal.domain.statements.clock import now_utc
from portal.models import PrintJob
from portal.supplier.desk import parse_filters, selected_orders
from portal.supplier.views import bp
from portal.web.args import text_arg
from portal.web.desk import refuse
from portal.web.downloads import pdf_response, stored_file_response
from portal.web.gate import current_supplier

PICK_FORMATS = ("pdf", "xlsx")


def _pick_list_response(pick: PickList, file_format: str, name: str) -> Response:
    supplier = current_supplier()
    now = now_utc()
    filename = f"{name}-{now.astimezone(SHANGHAI):%Y%m%d-%H%M}.{file_format}"
    if file_format == "xlsx":
        target = io.BytesIO()
        write_xlsx(target, _("拣货单"), pick_list.pick_list_rows(pick))
        return stored_file_response(filename, "xlsx", target.getvalue())
    return pdf_response(pick_list.render_pick_list(pick, supplier.factory_name, now), filename)


def _format() -> str:
    value = text_arg(request.values.get("format"), 8)
    return value if value in PICK_FORMATS else "pdf"


@bp.post("/pick-list")
def pick_list_download() -> Response:
    """拣货单 of the desk's selection (the ticked rows, or every order the filters match: a sum,
    not bound by the print job's limit)."""
    supplier = current_supplier()
    filters = parse_filters(request.form)
    refs = selected_orders(supplier, filters)
    if not refs:
        return refuse(message_for("nothing_selected"))
    pick = pick_list.pick_list_for_orders(
        supplier, refs, text_arg(request.form.get("pick_order"), 10)
    )
    return _pick_list_response(pick, _format(), "pick-list")


@bp.get("/print-jobs/<int:job_id>/pick-list")
def print_job_pick_list(job_id: int) -> Response:
    """拣货单 of a print job's orders."""
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    pick = pick_list.pick_list_for_job(supplier, job.id, text_arg(request.args.get("sort"), 10))
    return _pick_list_response(pick, _format(), f"pick-list-job-{job.id}")
