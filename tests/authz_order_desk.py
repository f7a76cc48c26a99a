"""Authorization-matrix entries for the merchant order desk routes (see test_authz_matrix)."""

from tests.authz_access import MERCHANT

ORDER_DESK_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "merchant.order_list": (MERCHANT, {}),
    "merchant.order_counts": (MERCHANT, {}),
    "merchant.order_assign": (MERCHANT, {}),
    "merchant.order_cancel": (MERCHANT, {}),
    "merchant.order_detail": (MERCHANT, {"order_no": "order"}),
    "merchant.order_acknowledge_address": (MERCHANT, {"order_no": "order"}),
    "merchant.order_receiver_update": (MERCHANT, {"order_no": "order"}),
    "merchant.order_note_update": (MERCHANT, {"order_no": "order"}),
    # 设置 → 自动分配 (portal/merchant/allocation_views.py): the merchant's own rules only
    "merchant.allocation_settings": (MERCHANT, {}),
    "merchant.allocation_save": (MERCHANT, {}),
    "merchant.allocation_apply": (MERCHANT, {}),
    "merchant.allocation_status": (MERCHANT, {}),
}
