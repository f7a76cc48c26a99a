"""Who may do what in a shop: the one permission table (DESIGN §10.4).

Every gated route names one permission in ENDPOINT_PERMISSIONS; each shop role holds a set of
permissions. The web role gate and the API authentication both call `may_use_endpoint`, so a
route without an entry is refused to everyone (and fails the route sweep test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal.models.accounts import ROLE_MERCHANT, ROLE_SUPPLIER, SHOP_OWNER

if TYPE_CHECKING:
    from portal.models import User

# Permissions (one per kind of action)
ACCOUNT = "account"  # one's own login: role choice, password, region options
SHOP_VIEW = "shop.view"  # dashboard, who am I, the list of bindings
BINDINGS_MANAGE = "bindings.manage"  # apply, accept, reject, end
ORDERS_READ = "orders.read"  # the desk, order detail
ORDERS_WRITE = "orders.write"  # import, assign, cancel assignment, acknowledge an address
DISPATCH = "dispatch"  # dispatch, dispatch export, choosing a return address
PRINT = "print"  # factory print jobs
TRACKING = "tracking"  # factory tracking return, import, scan
PRICES = "prices"  # factory settlement prices
STATEMENTS = "statements"  # statements: request, answer, adjust, settle, confirm, dispute, …
ANALYTICS = "analytics"  # 数据: shipping figures, with statement amounts
SETTINGS = "settings"  # shop profile, return addresses, preferences, webhooks
TOKENS = "tokens"  # API tokens
STAFF = "staff"  # 子账号: add members, change roles, reset passwords, deactivate

ADMIN = "admin"
OPERATOR = "operator"
PRINTER = "printer"
FINANCE = "finance"

_MERCHANT_ALL = frozenset(
    {
        ACCOUNT,
        ANALYTICS,
        SHOP_VIEW,
        BINDINGS_MANAGE,
        ORDERS_READ,
        ORDERS_WRITE,
        DISPATCH,
        STATEMENTS,
        SETTINGS,
        TOKENS,
        STAFF,
    }
)
_SUPPLIER_ALL = frozenset(
    {
        ACCOUNT,
        ANALYTICS,
        SHOP_VIEW,
        BINDINGS_MANAGE,
        ORDERS_READ,
        PRINT,
        TRACKING,
        PRICES,
        STATEMENTS,
        SETTINGS,
        TOKENS,
        STAFF,
    }
)

# side → staff role → permissions. The owner holds everything its side has.
ROLE_PERMISSIONS: dict[str, dict[str, frozenset[str]]] = {
    ROLE_MERCHANT: {
        ADMIN: _MERCHANT_ALL,
        OPERATOR: frozenset({ACCOUNT, SHOP_VIEW, ORDERS_READ, ORDERS_WRITE, DISPATCH}),
        FINANCE: frozenset({ACCOUNT, SHOP_VIEW, ORDERS_READ, STATEMENTS, ANALYTICS}),
    },
    ROLE_SUPPLIER: {
        ADMIN: _SUPPLIER_ALL,
        PRINTER: frozenset({ACCOUNT, SHOP_VIEW, ORDERS_READ, PRINT, TRACKING}),
        FINANCE: frozenset({ACCOUNT, SHOP_VIEW, ORDERS_READ, PRICES, STATEMENTS, ANALYTICS}),
    },
}
PERMISSIONS = _MERCHANT_ALL | _SUPPLIER_ALL
STAFF_ROLES = tuple(dict.fromkeys(role for roles in ROLE_PERMISSIONS.values() for role in roles))
OWNER_PERMISSIONS = {ROLE_MERCHANT: _MERCHANT_ALL, ROLE_SUPPLIER: _SUPPLIER_ALL}

# endpoint → the permission it needs. Public pages (login, sign-up, static, the OpenAPI
# document) are not gated and are not listed.
ENDPOINT_PERMISSIONS: dict[str, str] = {
    # account area (either side, and before a role is chosen)
    "account.choose_role": ACCOUNT,
    "account.become_merchant": ACCOUNT,
    "account.become_supplier": ACCOUNT,
    "account.change_password": ACCOUNT,
    "account.region_fields": ACCOUNT,
    "account.tokens": TOKENS,
    "account.token_create": TOKENS,
    "account.token_revoke": TOKENS,
    "account.staff_list": STAFF,
    "account.staff_create": STAFF,
    "account.staff_update": STAFF,
    "account.staff_password": STAFF,
    # merchant web
    "merchant.dashboard": SHOP_VIEW,
    "merchant.supplier_list": SHOP_VIEW,
    "merchant.binding_apply": BINDINGS_MANAGE,
    "merchant.binding_end": BINDINGS_MANAGE,
    "merchant.order_list": ORDERS_READ,
    "merchant.order_counts": ORDERS_READ,
    "merchant.order_detail": ORDERS_READ,
    "merchant.order_assign": ORDERS_WRITE,
    "merchant.order_cancel": ORDERS_WRITE,
    "merchant.order_acknowledge_address": ORDERS_WRITE,
    "merchant.order_receiver_update": ORDERS_WRITE,
    "merchant.order_note_update": ORDERS_WRITE,
    "merchant.import_page": ORDERS_WRITE,
    "merchant.import_create": ORDERS_WRITE,
    "merchant.import_mapping_create": ORDERS_WRITE,
    "merchant.import_status": ORDERS_WRITE,
    "merchant.import_rejections_csv": ORDERS_WRITE,
    "merchant.order_dispatch": DISPATCH,
    "merchant.order_dispatch_one": DISPATCH,
    "merchant.dispatch_export": DISPATCH,
    "merchant.statement_list": STATEMENTS,
    "merchant.statement_create": STATEMENTS,
    "merchant.statement_detail": STATEMENTS,
    "merchant.statement_download": STATEMENTS,
    "merchant.statement_retry": STATEMENTS,
    "merchant.statement_settle": STATEMENTS,
    "merchant.statement_adjust": STATEMENTS,
    "merchant.statement_answer": STATEMENTS,
    "merchant.statement_regenerate": STATEMENTS,
    "merchant.analytics_page": ANALYTICS,
    "merchant.analytics_download": ANALYTICS,
    "merchant.settings": SETTINGS,
    "merchant.settings_profile": SETTINGS,
    "merchant.settings_preferences": SETTINGS,
    "merchant.address_create": SETTINGS,
    "merchant.address_default": SETTINGS,
    "merchant.address_delete": SETTINGS,
    "merchant.address_edit": SETTINGS,
    "merchant.address_update": SETTINGS,
    "merchant.webhook_save": SETTINGS,
    "merchant.webhook_ping": SETTINGS,
    "merchant.webhook_secret_rotate": SETTINGS,
    "merchant.webhook_delivery_retry": SETTINGS,
    # 自动分配 rules live in 设置
    "merchant.allocation_settings": SETTINGS,
    "merchant.allocation_save": SETTINGS,
    "merchant.allocation_apply": SETTINGS,
    "merchant.allocation_status": SETTINGS,
    # supplier web
    "supplier.dashboard": SHOP_VIEW,
    "supplier.merchant_list": SHOP_VIEW,
    "supplier.binding_accept": BINDINGS_MANAGE,
    "supplier.binding_reject": BINDINGS_MANAGE,
    "supplier.binding_end": BINDINGS_MANAGE,
    "supplier.order_list": ORDERS_READ,
    "supplier.order_counts": ORDERS_READ,
    "supplier.order_goods": ORDERS_READ,
    "supplier.print_job_list": PRINT,
    "supplier.print_job_create": PRINT,
    "supplier.print_job_detail": PRINT,
    "supplier.print_job_pdf": PRINT,
    "supplier.print_job_slips": PRINT,
    "supplier.print_job_confirm": PRINT,
    "supplier.print_job_void": PRINT,
    "supplier.pick_list_download": PRINT,
    "supplier.print_job_pick_list": PRINT,
    "supplier.order_tracking_return": TRACKING,
    "supplier.order_tracking_cancel": TRACKING,
    "supplier.order_tracking_correct": TRACKING,
    "supplier.tracking_import_page": TRACKING,
    "supplier.tracking_import": TRACKING,
    "supplier.tracking_template": TRACKING,
    "supplier.scan_page": TRACKING,
    "supplier.scan_lookup": TRACKING,
    "supplier.scan_return": TRACKING,
    "supplier.scan_undo": TRACKING,
    "supplier.price_list": PRICES,
    "supplier.price_set": PRICES,
    "supplier.price_history": PRICES,
    "supplier.price_export": PRICES,
    "supplier.price_import": PRICES,
    # the factory's own codes per merchant SKU, kept on the price list
    "supplier.sku_code_set": PRICES,
    "supplier.sku_code_export": PRICES,
    "supplier.sku_code_import": PRICES,
    "supplier.statement_list": STATEMENTS,
    "supplier.statement_detail": STATEMENTS,
    "supplier.statement_download": STATEMENTS,
    "supplier.statement_confirm": STATEMENTS,
    "supplier.statement_dispute": STATEMENTS,
    "supplier.analytics_page": ANALYTICS,
    "supplier.analytics_download": ANALYTICS,
    "supplier.settings": SETTINGS,
    "supplier.settings_profile": SETTINGS,
    "supplier.settings_printing": SETTINGS,
    # API, both sides
    "api.me": SHOP_VIEW,
    "api.binding_list": SHOP_VIEW,
    "api.binding_end": BINDINGS_MANAGE,
    "api.statement_list": STATEMENTS,
    "api.statement_detail": STATEMENTS,
    "api.statement_download": STATEMENTS,
    "api.staff_list": STAFF,
    "api.staff_create": STAFF,
    "api.staff_update": STAFF,
    # API, merchant
    "api.merchant.binding_create": BINDINGS_MANAGE,
    "api.merchant.return_address_list": DISPATCH,
    "api.merchant.return_address_create": SETTINGS,
    "api.merchant.return_address": SETTINGS,  # PATCH and DELETE
    "api.merchant.order_upsert": ORDERS_WRITE,
    "api.merchant.order_import": ORDERS_WRITE,
    "api.merchant.order_list": ORDERS_READ,
    "api.merchant.order_detail": ORDERS_READ,
    "api.merchant.order_acknowledge_address": ORDERS_WRITE,
    "api.merchant.order_receiver_update": ORDERS_WRITE,
    "api.merchant.order_note_put": ORDERS_WRITE,
    "api.merchant.allocation_create": ORDERS_WRITE,
    "api.merchant.allocation_cancel": ORDERS_WRITE,
    "api.merchant.dispatch_create": DISPATCH,
    "api.merchant.dispatch_export": DISPATCH,
    "api.merchant.statement_create": STATEMENTS,
    "api.merchant.statement_retry": STATEMENTS,
    "api.merchant.statement_settle": STATEMENTS,
    "api.merchant.statement_answer": STATEMENTS,
    "api.merchant.statement_adjust": STATEMENTS,
    "api.merchant.statement_regenerate": STATEMENTS,
    "api.merchant.allocation_rules_get": SETTINGS,
    "api.merchant.label_settings_get": SETTINGS,
    "api.merchant.label_settings_patch": SETTINGS,
    "api.merchant.allocation_rules_put": SETTINGS,
    "api.merchant.allocation_rules_apply": SETTINGS,
    "api.merchant.analytics_suppliers": ANALYTICS,
    # API, supplier
    "api.supplier.binding_accept": BINDINGS_MANAGE,
    "api.supplier.binding_reject": BINDINGS_MANAGE,
    "api.supplier.order_list": ORDERS_READ,
    "api.supplier.print_job_create": PRINT,
    "api.supplier.print_settings_get": SETTINGS,
    "api.supplier.print_settings_patch": SETTINGS,
    "api.supplier.print_job_detail": PRINT,
    "api.supplier.print_job_pdf": PRINT,
    "api.supplier.print_job_slips": PRINT,
    "api.supplier.print_job_pick_list": PRINT,
    "api.supplier.print_job_confirm": PRINT,
    "api.supplier.print_job_void": PRINT,
    "api.supplier.tracking_return": TRACKING,
    "api.supplier.tracking_import": TRACKING,
    "api.supplier.tracking_cancel": TRACKING,
    "api.supplier.tracking_correct": TRACKING,
    "api.supplier.price_list": PRICES,
    "api.supplier.price_set": PRICES,
    "api.supplier.sku_codes_put": PRICES,
    "api.supplier.analytics_merchants": ANALYTICS,
    "api.supplier.statement_confirm": STATEMENTS,
    "api.supplier.statement_dispute": STATEMENTS,
}


def staff_roles(side: str | None) -> tuple[str, ...]:
    """The roles an owner can give a member of a shop on this side."""
    return tuple(ROLE_PERMISSIONS.get(side or "", {}))


def permissions_for(user: User) -> frozenset[str]:
    if user.shop_role == SHOP_OWNER:
        # Before a role is chosen the owner may only manage its own login.
        return OWNER_PERMISSIONS.get(user.role or "", frozenset({ACCOUNT, TOKENS}))
    return ROLE_PERMISSIONS.get(user.role or "", {}).get(user.shop_role, frozenset())


def can(user: User, permission: str) -> bool:
    return permission in permissions_for(user)


def may_use_endpoint(user: User, endpoint: str | None) -> bool:
    """Deny by default: an endpoint missing from the table is open to no one."""
    permission = ENDPOINT_PERMISSIONS.get(endpoint or "")
    return permission is not None and can(user, permission)
