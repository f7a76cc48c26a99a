"""Authorization-matrix entries for the supplier tracking import and scan pages
(see test_authz_matrix).

ROUTES: endpoint → (access, {url parameter: kind of tenant object}). add_objects() creates the
extra tenant objects those kinds name, for one merchant–supplier pair whose order `order_no`
is assigned to the supplier; it returns {kind: id} and commits.
"""

from portal.models import Merchant, Supplier
from tests.authz_access import SUPPLIER

# None of these routes take a URL parameter: every order is named in the form and looked up
# scoped to the current supplier, so another tenant's order is answered like an unknown one.
ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "supplier.tracking_import_page": (SUPPLIER, {}),
    "supplier.tracking_import": (SUPPLIER, {}),
    "supplier.tracking_template": (SUPPLIER, {}),
    "supplier.scan_page": (SUPPLIER, {}),
    "supplier.scan_lookup": (SUPPLIER, {}),
    "supplier.scan_return": (SUPPLIER, {}),
    "supplier.scan_undo": (SUPPLIER, {}),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    return {}
