"""CSRF, security headers, error answers, fragments vs pages, region selects, tokens in the UI."""

from __future__ import annotations

import json

from sqlalchemy import select

from portal.domain.permissions import OWNER_PERMISSIONS
from portal.extensions import db
from portal.models import ApiToken, Binding


def test_post_without_csrf_token_fails_and_changes_nothing(app, browser, factory):
    m_user, s_user = factory.merchant(), factory.supplier()
    browser.login(m_user.username)
    response = browser.client.post(
        "/merchant/suppliers",
        data={"supplier_shop_id": s_user.shop_id},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert (
        json.loads(response.headers["HX-Trigger"])["showToast"]["message"]
        == "页面已过期，请刷新后重试"
    )
    response = browser.client.post(
        "/merchant/suppliers",
        data={"supplier_shop_id": s_user.shop_id},
        headers={"HX-Request": "true", "X-CSRFToken": "forged"},
    )
    assert response.status_code == 400
    # a plain form post without token: a friendly page, not a trace
    response = browser.client.post("/merchant/suppliers", data={"supplier_shop_id": s_user.shop_id})
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Binding)) == 0
    # the same request with the header htmx sends from hx-headers passes
    ok = browser.post(
        "/merchant/suppliers", {"supplier_shop_id": s_user.shop_id}, target="bindings"
    )
    assert ok.status_code == 200


def test_logout_needs_post_and_csrf(browser, factory):
    user = factory.merchant()
    browser.login(user.username)
    assert browser.client.get("/logout").status_code == 405
    assert browser.client.post("/logout").status_code == 400
    assert browser.get("/merchant/").status_code == 200


def test_body_carries_csrf_header_for_htmx(browser, factory):
    user = factory.merchant()
    browser.login(user.username)
    html = browser.get("/merchant/").get_data(as_text=True)
    assert '<body hx-headers=\'{"X-CSRFToken": "' in html


def test_security_headers(browser):
    response = browser.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_document_without_an_icon_gets_ours(browser):
    """A PDF of labels opened in a tab names no icon: the browser asks for /favicon.ico (a 404
    there was a console error in the browser story)."""
    response = browser.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg")
    assert "max-age" in response.headers["Cache-Control"]


def test_pages_have_no_inline_scripts(browser, factory):
    user = factory.merchant()
    browser.login(user.username)
    for url in ("/merchant/", "/merchant/settings", "/merchant/suppliers", "/login"):
        html = browser.get(url).get_data(as_text=True)
        assert "<script>" not in html and " onclick=" not in html and 'style="' not in html


def test_unknown_page_is_friendly_404(browser):
    response = browser.get("/nope")
    assert response.status_code == 404
    assert "找不到该记录" in response.get_data(as_text=True)
    api = browser.client.get("/api/v1/nope")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_internal_error_shows_no_trace(app, browser, factory):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret 13812345678")

    response = browser.get("/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "系统繁忙" in body and "Traceback" not in body and "13812345678" not in body


def test_region_selects_cascade(browser, factory):
    user = factory.user()
    browser.login(user.username)
    response = browser.get(
        "/account/regions", query_string={"province": "广东省"}, htmx=True, target="x"
    )
    html = response.get_data(as_text=True)
    assert "<fieldset" in html and ">广州市</option>" in html and ">东莞市</option>" in html
    html = browser.get(
        "/account/regions",
        query_string={"province": "广东省", "city": "东莞市"},
        htmx=True,
        target="x",
    ).get_data(as_text=True)
    assert "该市不设区县" in html
    html = browser.get(
        "/account/regions",
        query_string={"province": "北京市", "city": "北京市"},
        htmx=True,
        target="x",
    ).get_data(as_text=True)
    assert ">朝阳区</option>" in html


def test_api_token_created_in_settings_is_shown_once_and_works(app, browser, factory):
    user = factory.supplier()
    browser.login(user.username)
    response = browser.post("/account/tokens", {"name": "ERP"}, target="api-tokens")
    html = response.get_data(as_text=True)
    start = html.index('id="new-token">') + len('id="new-token">')
    token = html[start : html.index("<", start)]
    assert token.startswith("dfp_")
    with app.app_context():
        stored = db.session.scalar(select(ApiToken))
        assert stored.token_hash != token and token not in stored.token_hash
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json == {
        "username": user.username,
        "role": "supplier",
        "shop_id": user.shop_id,
        "shop_name": "测试工厂",
        "shop_role": "owner",
        "permissions": sorted(OWNER_PERMISSIONS["supplier"]),
    }
    assert token not in browser.get("/supplier/settings").get_data(as_text=True)
    browser.post(f"/account/tokens/{stored.id}/revoke", target="api-tokens")
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_merchant_settings_update_and_address_via_ui(app, browser, factory):
    user = factory.merchant()
    browser.login(user.username)
    response = browser.post(
        "/merchant/settings/addresses",
        {
            "contact_name": "退货员",
            "phone": "13900001111",
            "province": "广东省",
            "city": "东莞市",
            "district": "",
            "detail": "虎门镇 1 号",
        },
        target="addresses-section",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "广东省东莞市虎门镇 1 号" in html and "默认" in html
    response = browser.post(
        "/merchant/settings/preferences",
        {"label_style": "full", "auto_dispatch": "y"},
        target="preferences-section",
    )
    assert response.status_code == 200
    response = browser.post(
        "/merchant/settings/preferences", {"label_style": "weird"}, target="preferences-section"
    )
    assert response.status_code == 422
    with app.app_context():
        from portal.models import Merchant

        merchant = db.session.get(Merchant, user.merchant.id)
        assert merchant.label_style == "full" and merchant.auto_dispatch is True


def test_deeply_nested_json_is_a_400_not_a_500(app, factory):
    token = factory.token(factory.merchant())
    response = app.test_client().post(
        "/api/v1/bindings",
        data="[" * 100_000,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request"


def test_every_area_is_reachable_from_the_navigation(factory, make_browser):
    """Each main page of both roles is one click away: the sidebar and the desk's toolbar."""
    pages = {
        "merchant": ["/merchant/orders", "/merchant/suppliers", "/merchant/statements"],
        "supplier": [
            "/supplier/orders",
            "/supplier/merchants",
            "/supplier/prices",
            "/supplier/statements",
        ],
    }
    for role, user in (("merchant", factory.merchant()), ("supplier", factory.supplier())):
        browser = make_browser()
        browser.login(user.username)
        home = browser.get(f"/{role}/").get_data(as_text=True)
        for path in pages[role]:
            assert f'href="{path}"' in home, path
            assert browser.get(path).status_code == 200
    desk = browser.get("/supplier/orders").get_data(as_text=True)
    for path in ("/supplier/scan", "/supplier/tracking/import", "/supplier/print-jobs"):
        assert f'href="{path}"' in desk, path
