"""The factory's print day around the labels: pick lists (拣货单) and its print settings."""

from __future__ import annotations

from flask import Response, request

from portal.domain.authz import get_or_404
from portal.domain.errors import message_for
from portal.domain.printing import pick_list
from portal.domain.printing.pick_list import PickList
from portal.domain.statements.clock import now_utc
from portal.models import PrintJob
from portal.supplier.desk import parse_filters, selected_orders
from portal.supplier.views import bp
from portal.web.args import text_arg
from portal.web.desk import refuse
from portal.web.downloads import PICK_LIST_TYPES, pick_list_response
from portal.web.gate import current_supplier

PICK_FORMATS = tuple(PICK_LIST_TYPES)


def _pick_list_response(pick: PickList, file_format: str, name: str) -> Response:
    return pick_list_response(pick, file_format, name, current_supplier().factory_name, now_utc())


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
