"""Authorization-matrix entries for the order and allocation API routes (see test_authz_matrix)."""

from tests.authz_access import API_MERCHANT

ORDER_API_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "api.merchant.order_upsert": (API_MERCHANT, {}),
    "api.merchant.order_import": (API_MERCHANT, {}),
    "api.merchant.order_list": (API_MERCHANT, {}),
    "api.merchant.order_detail": (API_MERCHANT, {"order_no": "order"}),
    "api.merchant.order_acknowledge_address": (API_MERCHANT, {"order_no": "order"}),
    "api.merchant.order_receiver_update": (API_MERCHANT, {"order_no": "order"}),
    "api.merchant.order_note_put": (API_MERCHANT, {"order_no": "order"}),
    "api.merchant.allocation_create": (API_MERCHANT, {}),
    "api.merchant.allocation_cancel": (API_MERCHANT, {}),
    # DESIGN §10.3 (portal/api/allocation.py): the merchant's own rules only
    "api.merchant.allocation_rules_get": (API_MERCHANT, {}),
    "api.merchant.allocation_rules_put": (API_MERCHANT, {}),
    "api.merchant.allocation_rules_apply": (API_MERCHANT, {}),
}
