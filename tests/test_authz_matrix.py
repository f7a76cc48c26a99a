"""Walk every route for every role: anonymous → login (401 for the API), wrong role → 403,
another tenant's object → 404; and for the owner and each staff role of both sides, allowed or
403 exactly as the permission table (portal/domain/permissions.py) says. A new route fails this test
until it is added to ROUTES and to the permission table."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound

from portal.domain import accounts, allocation, bindings
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.permissions import ENDPOINT_PERMISSIONS, ROLE_PERMISSIONS, may_use_endpoint
from portal.extensions import db
from portal.models import ApiToken, Merchant, Order, Supplier, User
from tests import (
    authz_analytics,
    authz_dispatch,
    authz_prices,
    authz_staff,
    authz_statements,
    authz_supplier_api,
    authz_supplier_desk,
    authz_supplier_tracking,
)
from tests.authz_access import (
    ANY_USER,
    API_BOTH,
    API_MERCHANT,
    API_SUPPLIER,
    BOTH,
    MERCHANT,
    PUBLIC,
    SUPPLIER,
)
from tests.authz_imports import IMPORT_ROUTES, add_import_job
from tests.authz_order_api import ORDER_API_ROUTES
from tests.authz_order_desk import ORDER_DESK_ROUTES
from tests.factories import demo_order

# endpoint → (access, {url parameter: kind of tenant object}); kinds: binding, address, token,
# order (an order number of the merchant, assigned to its supplier).
BASE_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "static": (PUBLIC, {}),
    "auth.index": (PUBLIC, {}),
    "auth.favicon": (PUBLIC, {}),
    "auth.login": (PUBLIC, {}),
    "auth.signup": (PUBLIC, {}),
    "auth.logout": (PUBLIC, {}),
    "api.openapi": (PUBLIC, {}),
    "api.reference": (PUBLIC, {}),
    "account.choose_role": (ANY_USER, {}),
    "account.become_merchant": (ANY_USER, {}),
    "account.become_supplier": (ANY_USER, {}),
    "account.change_password": (ANY_USER, {}),
    "account.region_fields": (ANY_USER, {}),
    "account.tokens": (ANY_USER, {}),
    "account.token_create": (ANY_USER, {}),
    "account.token_revoke": (ANY_USER, {"token_id": "token"}),
    "merchant.dashboard": (MERCHANT, {}),
    "merchant.supplier_list": (MERCHANT, {}),
    "merchant.binding_apply": (MERCHANT, {}),
    "merchant.binding_end": (MERCHANT, {"binding_id": "binding"}),
    "merchant.settings": (MERCHANT, {}),
    "merchant.settings_profile": (MERCHANT, {}),
    "merchant.settings_preferences": (MERCHANT, {}),
    "merchant.address_create": (MERCHANT, {}),
    "merchant.address_default": (MERCHANT, {"address_id": "address"}),
    "merchant.address_delete": (MERCHANT, {"address_id": "address"}),
    "merchant.address_edit": (MERCHANT, {"address_id": "address"}),
    "merchant.address_update": (MERCHANT, {"address_id": "address"}),
    "supplier.dashboard": (SUPPLIER, {}),
    "supplier.merchant_list": (SUPPLIER, {}),
    "supplier.binding_accept": (SUPPLIER, {"binding_id": "binding"}),
    "supplier.binding_reject": (SUPPLIER, {"binding_id": "binding"}),
    "supplier.binding_end": (SUPPLIER, {"binding_id": "binding"}),
    "supplier.settings": (SUPPLIER, {}),
    "supplier.settings_profile": (SUPPLIER, {}),
    "supplier.settings_printing": (SUPPLIER, {}),
    "api.me": (API_BOTH, {}),
    "api.binding_list": (API_BOTH, {}),
    "api.binding_end": (API_BOTH, {"binding_id": "binding"}),
    "api.merchant.binding_create": (API_MERCHANT, {}),
    "api.merchant.return_address_list": (API_MERCHANT, {}),
    "api.merchant.label_settings_get": (API_MERCHANT, {}),
    "api.merchant.label_settings_patch": (API_MERCHANT, {}),
    "api.merchant.return_address_create": (API_MERCHANT, {}),
    "api.merchant.return_address": (API_MERCHANT, {"address_id": "address"}),  # PATCH, DELETE
    "api.supplier.binding_accept": (API_SUPPLIER, {"binding_id": "binding"}),
    "api.supplier.binding_reject": (API_SUPPLIER, {"binding_id": "binding"}),
}
SUPPLIER_MODULES = (
    authz_supplier_desk,
    authz_supplier_tracking,
    authz_supplier_api,
    authz_dispatch,
    authz_prices,
    authz_statements,
    authz_analytics,
    authz_staff,
)
ROUTES = {
    **BASE_ROUTES,
    **ORDER_DESK_ROUTES,
    **ORDER_API_ROUTES,
    **IMPORT_ROUTES,
    **{endpoint: rule for module in SUPPLIER_MODULES for endpoint, rule in module.ROUTES.items()},
}


@dataclass
class Tenant:
    user: object
    browser: object
    token: str
    objects: dict[str, int]


@pytest.fixture
def world(app, factory, make_browser):
    """Two merchant–supplier pairs; each pair owns a binding, an address and tokens."""
    tenants = {}
    for pair in ("a", "b"):
        m_user, s_user = factory.merchant(), factory.supplier()
        with app.app_context():
            merchant = db.session.get(Merchant, m_user.merchant.id)
            supplier = db.session.get(Supplier, s_user.supplier.id)
            binding = bindings.apply_for_binding(merchant, s_user.shop_id)
            bindings.accept_binding(supplier, binding.id)
            order_no = f"261121-{ord(pair)}0000000000001"
            upsert_orders(current_keyring(), merchant, [demo_order(order_no)])
            actor = db.session.get(User, m_user.id)
            assert allocation.assign_orders(merchant, [order_no], supplier, actor).done
            address = accounts.add_return_address(
                merchant,
                accounts.AddressInput("退货", "13800138000", "北京市", "北京市", "朝阳区", "x 路"),
                make_default=False,
            )
            db.session.commit()
            shared = {"binding": binding.id, "address": address.id, "order": order_no}
            shared["import_job"] = add_import_job(merchant)
            for module in SUPPLIER_MODULES:
                shared.update(module.add_objects(merchant, supplier, order_no))
        for role, user in (("merchant", m_user), ("supplier", s_user)):
            token = factory.token(user)
            with app.app_context():
                token_id = db.session.scalar(
                    select(ApiToken.id)
                    .where(ApiToken.user_id == user.id)
                    .order_by(ApiToken.id.desc())
                )
            browser = make_browser()
            browser.login(user.username)
            tenants[f"{role}_{pair}"] = Tenant(user, browser, token, {**shared, "token": token_id})
            if pair == "a":
                for shop_role in ROLE_PERMISSIONS[role]:
                    tenants[f"{role}_a.{shop_role}"] = _member_tenant(
                        app, factory, make_browser, shared[f"{role}.{shop_role}"], shared
                    )
    roleless = factory.user()
    browser = make_browser()
    browser.login(roleless.username)
    tenants["roleless"] = Tenant(roleless, browser, "", {})
    anonymous = make_browser()
    anonymous.refresh_token("/login")
    tenants["anonymous"] = Tenant(None, anonymous, "", {})
    return tenants


def _member_tenant(app, factory, make_browser, member_id, objects):
    """A staff member of shop a: its own login and token, the shop's objects."""
    with app.app_context():
        member = db.session.get(User, member_id)
        db.session.expunge(member)
    token = factory.token(member)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == member_id))
    browser = make_browser()
    browser.login(member.username)
    return Tenant(member, browser, token, {**objects, "token": token_id})


def _rules(app):
    return {rule.endpoint: rule for rule in app.url_map.iter_rules()}


def test_every_route_is_in_the_matrix(app):
    assert set(_rules(app)) == set(ROUTES), "add new routes to ROUTES with their access rule"


def _request(app, tenant, endpoint, objects):
    rule = _rules(app)[endpoint]
    access, params = ROUTES[endpoint]
    values = {name: objects[kind] for name, kind in params.items()}
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **values)
    method = sorted(rule.methods - {"HEAD", "OPTIONS"})[-1]  # POST/DELETE over GET when both
    if access.startswith("api"):
        headers = {"Authorization": f"Bearer {tenant.token}"} if tenant.token else {}
        return tenant.browser.client.open(url, method=method, headers=headers, json={})
    headers = {"X-CSRFToken": tenant.browser.token} if tenant.browser.token else {}
    return tenant.browser.client.open(url, method=method, headers=headers, data={})


PROTECTED = [e for e, (access, _) in ROUTES.items() if access != PUBLIC]


def check_route(app, world, endpoint):
    """Non-mutating checks: anonymous, wrong role, no role, other tenant's object, own GET."""
    access, params = ROUTES[endpoint]
    own = world["merchant_a"].objects

    response = _request(app, world["anonymous"], endpoint, own)
    if access.startswith("api"):
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    else:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")

    if access == ANY_USER:
        if params:  # another user's token
            response = _request(app, world["merchant_a"], endpoint, world["merchant_b"].objects)
            assert response.status_code == 404
        return

    if access in (API_BOTH, BOTH):
        roles, denied = ("merchant", "supplier"), None
    elif access in (MERCHANT, API_MERCHANT):
        roles, denied = ("merchant",), "supplier"
    else:
        roles, denied = ("supplier",), "merchant"

    if denied:
        tenant = world[f"{denied}_a"]
        response = _request(app, tenant, endpoint, tenant.objects)
        assert response.status_code == 403, response.get_data(as_text=True)[:200]
        if access.startswith("api"):
            assert response.json["error"]["code"] == "forbidden"

    if access == BOTH:  # the account area: no shop yet, nothing of a shop to manage
        assert _request(app, world["roleless"], endpoint, own).status_code == 403
    elif not access.startswith("api"):
        response = _request(app, world["roleless"], endpoint, own)
        target = response.headers.get("Location") or response.headers.get("HX-Redirect", "")
        assert "/account/role" in target

    for role in roles:
        tenant = world[f"{role}_a"]
        if params:
            # b's object requested by a: 404 in every case
            response = _request(app, tenant, endpoint, world[f"{role}_b"].objects)
            assert response.status_code == 404, (role, response.status_code)
        elif "GET" in _rules(app)[endpoint].methods:
            assert _request(app, tenant, endpoint, tenant.objects).status_code == 200


def test_route_access_matrix(app, world):
    failures = []
    for endpoint in PROTECTED:
        try:
            check_route(app, world, endpoint)
        except AssertionError as error:
            failures.append(f"{endpoint}: {error}")
    assert not failures, "\n".join(failures)

    # Nothing of tenant b changed through a's requests.
    with app.app_context():
        from portal.models import Binding, ReturnAddress

        assert {b.status for b in db.session.scalars(select(Binding))} == {"active"}
        assert set(db.session.scalars(select(Order.stage))) == {"assigned"}
        assert db.session.scalar(select(db.func.count()).select_from(ReturnAddress)) == 2

    # Routes open to any logged-in user work for both roles (mutating: run last).
    for endpoint in PROTECTED:
        if ROUTES[endpoint][0] != ANY_USER:
            continue
        for name in ("merchant_a", "supplier_a"):
            tenant = world[name]
            response = _request(app, tenant, endpoint, tenant.objects)
            assert response.status_code not in (401, 403, 404, 500), (endpoint, name)


def test_every_gated_route_has_a_permission(app):
    gated = {endpoint for endpoint, (access, _) in ROUTES.items() if access != PUBLIC}
    assert set(ENDPOINT_PERMISSIONS) == gated, (
        "each route needs one permission in portal/domain/permissions.py ENDPOINT_PERMISSIONS"
    )


def _sides(access):
    if access in (MERCHANT, API_MERCHANT):
        return ("merchant",)
    if access in (SUPPLIER, API_SUPPLIER):
        return ("supplier",)
    return ("merchant", "supplier")


def check_role_access(app, world, endpoint, tenant_name):
    """Allowed: the gate lets the request through (another shop's object → 404, an own page →
    200, an own action → anything but 401/403/500). Denied: 403 (`forbidden` in the API)."""
    access, params = ROUTES[endpoint]
    tenant = world[tenant_name]
    side = tenant_name.split("_")[0]
    rule = _rules(app)[endpoint]
    if may_use_endpoint(tenant.user, endpoint):
        if params:
            response = _request(app, tenant, endpoint, world[f"{side}_b"].objects)
            assert response.status_code == 404, response.status_code
        else:
            response = _request(app, tenant, endpoint, tenant.objects)
            if rule.methods - {"HEAD", "OPTIONS"} == {"GET"}:
                # a page: shown, or (role choice, once chosen) sent on to the member's home
                location = response.headers.get("Location", "")
                assert response.status_code == 200 or (
                    response.status_code == 302 and location.startswith(("/merchant", "/supplier"))
                ), (response.status_code, location)
            else:
                assert response.status_code not in (401, 403, 500), response.status_code
    else:
        response = _request(app, tenant, endpoint, tenant.objects)
        assert response.status_code == 403, response.status_code
        if access.startswith("api"):
            assert response.json["error"]["code"] == "forbidden"


def test_every_role_gets_exactly_what_the_permission_table_allows(app, world):
    """Owner and every staff role of both sides, every route of their side."""
    failures = []
    for endpoint, (access, _) in ROUTES.items():
        if access == PUBLIC:
            continue
        for side in _sides(access):
            for shop_role in ("owner", *ROLE_PERMISSIONS[side]):
                name = f"{side}_a" if shop_role == "owner" else f"{side}_a.{shop_role}"
                try:
                    check_role_access(app, world, endpoint, name)
                except AssertionError as error:
                    failures.append(f"{endpoint} as {name}: {error}")
    assert not failures, "\n".join(failures)


# Pages whose buttons and links are checked, beyond the GET routes without parameters: the
# desks' tabs (each shows its own actions) and the order drawer.
PAGES = {
    "merchant": [
        "/merchant/orders?tab=unassigned",
        "/merchant/orders?tab=assigned",
        "/merchant/orders?tab=returned",
        "/merchant/orders?tab=dispatched",
        "/merchant/orders/{order}",
    ],
    "supplier": [
        "/supplier/orders?tab=to_print",
        "/supplier/orders?tab=printed",
        "/supplier/orders?tab=returned",
    ],
}
_LINK = re.compile(r'\b(href|action|hx-get|hx-post)="(/[^"#]*)')


def _linked_endpoints(app, page):
    """(endpoint, attribute) of every same-site link, form and htmx request in a page."""
    adapter = app.url_map.bind("localhost")
    for attribute, url in _LINK.findall(page):
        path = html.unescape(url).split("?")[0]
        for method in ("POST", "GET") if attribute in ("hx-post", "action") else ("GET",):
            try:
                endpoint, _args = adapter.match(path, method=method)
            except (MethodNotAllowed, NotFound):
                continue
            yield endpoint, attribute
            break


def test_pages_offer_only_what_the_member_may_use(app, world):
    """A staff member's pages show no button, form or link to a route its role may not use
    (a finance member sees no assign, cancel or dispatch; a printer no binding actions): the
    templates ask the same permission table as the routes (`may(endpoint)`)."""
    rules = _rules(app)
    failures = []
    for side in ("merchant", "supplier"):
        for shop_role in ("owner", *ROLE_PERMISSIONS[side]):
            name = f"{side}_a" if shop_role == "owner" else f"{side}_a.{shop_role}"
            tenant = world[name]
            pages = [
                rules[endpoint].rule
                for endpoint, (access, params) in ROUTES.items()
                if access in (BOTH, MERCHANT if side == "merchant" else SUPPLIER)
                and not params
                and rules[endpoint].methods - {"HEAD", "OPTIONS"} == {"GET"}
                and may_use_endpoint(tenant.user, endpoint)
            ]
            pages += [url.format(**tenant.objects) for url in PAGES[side]]
            for url in pages:
                response = tenant.browser.get(url)
                if response.status_code != 200 or "text/html" not in response.content_type:
                    continue
                for endpoint, attribute in _linked_endpoints(app, response.get_data(as_text=True)):
                    gated = endpoint in ENDPOINT_PERMISSIONS
                    if gated and not may_use_endpoint(tenant.user, endpoint):
                        failures.append(f"{name} on {url}: {attribute} to {endpoint}")
    assert not failures, "\n".join(sorted(set(failures)))
