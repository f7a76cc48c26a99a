"""Authorization-matrix entries for the supplier order desk and print-job pages
(see test_authz_matrix).

ROUTES: endpoint → (access, {url parameter: kind of tenant object}). add_objects() creates the
extra tenant objects those kinds name, for one merchant–supplier pair whose order `order_no`
is assigned to the supplier; it returns {kind: id} and commits.
"""

from portal.models import Merchant, Supplier

ROUTES: dict[str, tuple[str, dict[str, str]]] = {}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    return {}
