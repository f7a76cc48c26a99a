"""Authorization-matrix entries for the supplier order, print-job and tracking API
(see test_authz_matrix).

ROUTES: endpoint → (access, {url parameter: kind of tenant object}). add_objects() creates the
extra tenant objects those kinds name, for one merchant–supplier pair whose order `order_no`
is assigned to the supplier; it returns {kind: id} and commits.
"""

from portal.domain.printing.jobs import create_print_job
from portal.extensions import db
from portal.models import Merchant, Supplier
from tests.authz_access import API_SUPPLIER

PRINT_JOB = {"job_id": "api_print_job"}

ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "api.supplier.order_list": (API_SUPPLIER, {}),
    "api.supplier.print_job_create": (API_SUPPLIER, {}),
    "api.supplier.print_settings_get": (API_SUPPLIER, {}),
    "api.supplier.print_settings_patch": (API_SUPPLIER, {}),
    "api.supplier.print_job_detail": (API_SUPPLIER, PRINT_JOB),
    "api.supplier.print_job_pdf": (API_SUPPLIER, PRINT_JOB),
    "api.supplier.print_job_slips": (API_SUPPLIER, PRINT_JOB),
    "api.supplier.print_job_pick_list": (API_SUPPLIER, PRINT_JOB),
    "api.supplier.print_job_confirm": (API_SUPPLIER, PRINT_JOB),
    "api.supplier.print_job_void": (API_SUPPLIER, PRINT_JOB),
    "api.supplier.tracking_return": (API_SUPPLIER, {}),
    "api.supplier.tracking_import": (API_SUPPLIER, {}),
    "api.supplier.tracking_cancel": (API_SUPPLIER, {"order_no": "order"}),
    # DESIGN §10.3 (portal/api/allocation.py)
    "api.supplier.sku_codes_put": (API_SUPPLIER, {}),
    "api.supplier.tracking_correct": (API_SUPPLIER, {"order_no": "order"}),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    # With a starting number the job waits for confirmation, so confirm and void are live too.
    start = f"SF{supplier.id:013d}"
    job = create_print_job(supplier, [order_no], "SF", "100x180", start, None).job
    db.session.commit()
    return {"api_print_job": job.id}
