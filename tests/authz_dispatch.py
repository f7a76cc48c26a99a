"""Authorization-matrix entries for dispatch (see test_authz_matrix): the merchant's webhook
settings, the order desk's 发货 and export, and the dispatch API.

ROUTES: endpoint → (access, {url parameter: kind of tenant object}). add_objects() creates the
extra tenant objects those kinds name, for one merchant–supplier pair whose order `order_no`
is assigned to the supplier; it returns {kind: id} and commits.
"""

from portal.extensions import db
from portal.models import Merchant, Supplier, WebhookDelivery
from portal.models.dispatch import DELIVERY_FAILED
from tests.authz_access import API_MERCHANT, MERCHANT

ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "merchant.webhook_save": (MERCHANT, {}),
    "merchant.webhook_secret_rotate": (MERCHANT, {}),
    "merchant.webhook_ping": (MERCHANT, {}),
    "merchant.webhook_delivery_retry": (MERCHANT, {"delivery_id": "webhook_delivery"}),
    # An empty post selects nothing and dispatches nothing (the matrix's end check: every
    # order still assigned); another merchant's order is 404.
    "merchant.order_dispatch": (MERCHANT, {}),
    "merchant.order_dispatch_one": (MERCHANT, {"order_no": "order"}),
    "merchant.dispatch_export": (MERCHANT, {}),
    "api.merchant.dispatch_create": (API_MERCHANT, {}),
    "api.merchant.dispatch_export": (API_MERCHANT, {}),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    # A failed delivery: the one thing the retry route would act on.
    delivery = WebhookDelivery(
        merchant_id=merchant.id,
        event="ping",
        url="https://erp.example.com/hook",
        payload="{}",
        status=DELIVERY_FAILED,
        attempts=6,
        next_attempt_at=None,
    )
    db.session.add(delivery)
    db.session.commit()
    return {"webhook_delivery": delivery.id}
