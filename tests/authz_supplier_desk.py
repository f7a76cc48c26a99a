"""Authorization-matrix entries for the supplier order desk and print-job pages
(see test_authz_matrix).

ROUTES: endpoint → (access, {url parameter: kind of tenant object}). add_objects() creates the
extra tenant objects those kinds name, for one merchant–supplier pair whose order `order_no`
is assigned to the supplier; it returns {kind: id} and commits.
"""

from portal.domain.printing.jobs import create_print_job
from portal.extensions import db
from portal.models import Merchant, Supplier
from tests.authz_access import SUPPLIER

ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "supplier.order_list": (SUPPLIER, {}),
    "supplier.order_counts": (SUPPLIER, {}),
    "supplier.order_goods": (SUPPLIER, {}),
    "supplier.order_tracking_return": (SUPPLIER, {"order_no": "order"}),
    "supplier.order_tracking_cancel": (SUPPLIER, {"order_no": "order"}),
    "supplier.order_tracking_correct": (SUPPLIER, {"order_no": "order"}),
    "supplier.print_job_create": (SUPPLIER, {}),
    "supplier.print_job_list": (SUPPLIER, {}),
    "supplier.print_job_detail": (SUPPLIER, {"job_id": "print_job"}),
    "supplier.print_job_pdf": (SUPPLIER, {"job_id": "print_job"}),
    "supplier.print_job_slips": (SUPPLIER, {"job_id": "print_job"}),
    "supplier.print_job_confirm": (SUPPLIER, {"job_id": "print_job"}),
    "supplier.print_job_void": (SUPPLIER, {"job_id": "print_job"}),
    "supplier.pick_list_download": (SUPPLIER, {}),
    "supplier.print_job_pick_list": (SUPPLIER, {"job_id": "print_job"}),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    # Pre-printed paper numbers keep the job pending, so confirm and void have work to refuse.
    start = f"SF{supplier.id:04d}000000001"
    job = create_print_job(supplier, [order_no], "SF", "100x180", start, None).job
    db.session.commit()
    return {"print_job": job.id}
