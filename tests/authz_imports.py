"""Authorization-matrix entries for the order import routes (see test_authz_matrix).

To merge: add IMPORT_ROUTES to ROUTES, and in the `world` fixture give each merchant an
import job: `shared["import_job"] = add_import_job(merchant)` (inside its app context;
it commits).
"""

from portal.extensions import db
from portal.models import ImportJob, Merchant
from tests.authz_access import MERCHANT

IMPORT_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "merchant.import_page": (MERCHANT, {}),
    "merchant.import_create": (MERCHANT, {}),
    "merchant.import_mapping_create": (MERCHANT, {}),
    "merchant.import_status": (MERCHANT, {"job_id": "import_job"}),
    "merchant.import_rejections_csv": (MERCHANT, {"job_id": "import_job"}),
}


def add_import_job(merchant: Merchant) -> int:
    """A finished import job of `merchant`, for the other-tenant (404) checks."""
    job = ImportJob(merchant_id=merchant.id, filename="authz.csv", status="done")
    db.session.add(job)
    db.session.commit()
    return job.id
