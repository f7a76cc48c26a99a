"""Authorization-matrix entries for the supplier settlement-price pages (see test_authz_matrix).

ROUTES: endpoint → (access, {URL parameter: kind of tenant object}). add_objects() creates the
extra tenant objects those kinds name, for one merchant–supplier pair whose order `order_no` is
assigned to the supplier; it returns {kind: id} and commits.

The history takes its (merchant, SKU key) as query arguments: the matrix asks for the other
pair's, which must be 404. The POSTs name the SKU in the form and look it up scoped to the
current supplier, so the matrix's empty POSTs are refused (404 / 422) and change nothing. The
API's PUT with an empty JSON object is a 422 (no items).
"""

from sqlalchemy import select

from portal.domain import prices
from portal.extensions import db
from portal.models import Merchant, Order, Supplier
from tests.authz_access import API_SUPPLIER, SUPPLIER

ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "supplier.price_list": (SUPPLIER, {}),
    "supplier.price_history": (
        SUPPLIER,
        {"merchant_id": "price_merchant", "sku_key": "price_sku"},
    ),
    "supplier.price_set": (SUPPLIER, {}),
    "supplier.price_export": (SUPPLIER, {}),
    "supplier.price_import": (SUPPLIER, {}),
    # 厂家编码 (portal/supplier/sku_code_views.py): inline on the price list, and files
    "supplier.sku_code_set": (SUPPLIER, {}),
    "supplier.sku_code_export": (SUPPLIER, {}),
    "supplier.sku_code_import": (SUPPLIER, {}),
    "api.supplier.price_list": (API_SUPPLIER, {}),
    "api.supplier.price_set": (API_SUPPLIER, {}),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    sku_key = db.session.scalar(
        select(Order.sku_key).where(Order.merchant_id == merchant.id, Order.order_no == order_no)
    )
    prices.set_price(supplier, merchant.id, sku_key, "12.50", None)
    db.session.commit()
    return {"price_merchant": merchant.id, "price_sku": sku_key}
