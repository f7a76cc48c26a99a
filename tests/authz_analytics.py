"""Authorization-matrix entries for the 数据 pages and the analytics API (see
test_authz_matrix). The reports name no object: they are scoped by the tenant itself."""

from portal.models import Merchant, Supplier
from tests.authz_access import API_MERCHANT, API_SUPPLIER, MERCHANT, SUPPLIER

ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "merchant.analytics_page": (MERCHANT, {}),
    "merchant.analytics_download": (MERCHANT, {}),
    "supplier.analytics_page": (SUPPLIER, {}),
    "supplier.analytics_download": (SUPPLIER, {}),
    "api.merchant.analytics_suppliers": (API_MERCHANT, {}),
    "api.supplier.analytics_merchants": (API_SUPPLIER, {}),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    return {}
