"""Authorization-matrix entries for statements (对账单): the merchant and supplier pages and the
API (see test_authz_matrix).

ROUTES: endpoint → (access, {url parameter: kind of tenant object}). add_objects() creates one
statement for the merchant–supplier pair (left queued: no worker runs in the matrix) and
returns {"statement": id}; it commits.
"""

from datetime import UTC, date, datetime

from portal.domain.statements.requesting import request_statement
from portal.extensions import db
from portal.models import Merchant, Supplier
from tests.authz_access import API_BOTH, API_MERCHANT, API_SUPPLIER, MERCHANT, SUPPLIER

STATEMENT = {"statement_id": "statement"}

ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "merchant.statement_list": (MERCHANT, {}),
    "merchant.statement_create": (MERCHANT, {}),
    "merchant.statement_detail": (MERCHANT, STATEMENT),
    "merchant.statement_download": (MERCHANT, STATEMENT),
    "merchant.statement_retry": (MERCHANT, STATEMENT),
    "merchant.statement_settle": (MERCHANT, STATEMENT),
    "merchant.statement_regenerate": (MERCHANT, STATEMENT),
    "merchant.statement_answer": (MERCHANT, STATEMENT),
    "merchant.statement_adjust": (MERCHANT, STATEMENT),
    "supplier.statement_list": (SUPPLIER, {}),
    "supplier.statement_detail": (SUPPLIER, STATEMENT),
    "supplier.statement_download": (SUPPLIER, STATEMENT),
    "supplier.statement_confirm": (SUPPLIER, STATEMENT),
    "supplier.statement_dispute": (SUPPLIER, STATEMENT),
    "api.statement_list": (API_BOTH, {}),
    "api.statement_detail": (API_BOTH, STATEMENT),
    "api.statement_download": (API_BOTH, STATEMENT),
    "api.merchant.statement_create": (API_MERCHANT, {}),
    "api.merchant.statement_retry": (API_MERCHANT, STATEMENT),
    "api.merchant.statement_settle": (API_MERCHANT, STATEMENT),
    "api.merchant.statement_answer": (API_MERCHANT, STATEMENT),
    "api.merchant.statement_adjust": (API_MERCHANT, STATEMENT),
    "api.merchant.statement_regenerate": (API_MERCHANT, STATEMENT),
    "api.supplier.statement_confirm": (API_SUPPLIER, STATEMENT),
    "api.supplier.statement_dispute": (API_SUPPLIER, STATEMENT),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    statement = request_statement(
        merchant,
        supplier.id,
        date(2026, 11, 14),
        date(2026, 11, 20),
        None,
        now=datetime(2026, 11, 21, 1, 0, tzinfo=UTC),
    )
    db.session.commit()
    return {"statement": statement.id}
