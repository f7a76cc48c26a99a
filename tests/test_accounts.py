"""Sign-up, login, logout, sessions, throttling, role choice, passwords, return addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.domain import accounts
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import LoginFailure, Merchant, ReturnAddress, User
from portal.models.base import utcnow
from tests.conftest import PASSWORD


def test_signup_choose_merchant_role_and_see_shop_id(browser, app):
    browser.refresh_token("/signup")
    response = browser.post(
        "/signup",
        {"username": "NewShop", "password": "s3cret-pass", "password_confirm": "s3cret-pass"},
    )
    assert response.headers["HX-Redirect"] == "/account/role"
    page = browser.get("/account/role").get_data(as_text=True)
    assert "成为商家" in page and "我是代发厂家" in page
    browser.refresh_token("/account/role")
    response = browser.post(
        "/account/role/merchant",
        {
            "shop_name": "新店",
            "sender_name": "张三",
            "sender_phone": "１３８ ００１３ ８０００",
            "province": "广东省",
            "city": "东莞市",
            "district": "",
            "detail": "虎门镇解放大道 1 号",
        },
        target="merchant-form",
    )
    assert response.headers["HX-Redirect"] == "/merchant/"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "newshop"))
        assert user.role == "merchant"
        assert user.shop_id.isdigit() and len(user.shop_id) == 9
        assert user.merchant.sender_phone == "13800138000"
        assert user.merchant.sender_district == ""
        shop_id = user.shop_id
    dashboard = browser.get("/merchant/").get_data(as_text=True)
    assert shop_id in dashboard


def test_merchant_role_rejects_fake_region_and_keeps_form(browser, factory):
    user = factory.user()
    browser.login(user.username)
    response = browser.post(
        "/account/role/merchant",
        {
            "shop_name": "新店",
            "sender_name": "张三",
            "sender_phone": "13800138000",
            "province": "广东省",
            "city": "杭州市",
            "district": "西湖区",
            "detail": "某路 1 号",
        },
        target="merchant-form",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请选择正确的省、市、区" in html
    assert 'value="新店"' in html
    assert "<html" not in html  # only the fragment


def test_role_is_chosen_once(app, factory):
    supplier = factory.supplier()
    with app.app_context():
        user = db.session.get(User, supplier.id)
        with pytest.raises(DomainError) as excinfo:
            accounts.become_merchant(
                user,
                accounts.MerchantProfileInput(
                    "店", "张三", "13800138000", "北京市", "北京市", "朝阳区", "x"
                ),
            )
        assert excinfo.value.code == "role_already_chosen"
        db.session.rollback()
        assert db.session.scalar(select(Merchant).where(Merchant.user_id == user.id)) is None


def test_shop_ids_are_unique_random_and_numeric(factory):
    ids = {factory.merchant().shop_id for _ in range(5)} | {
        factory.supplier().shop_id for _ in range(5)
    }
    assert len(ids) == 10
    assert all(i.isdigit() and len(i) == 9 for i in ids)
    numbers = sorted(int(i) for i in ids)
    assert numbers != list(range(numbers[0], numbers[0] + 10))  # not sequential


def test_username_taken_and_weak_password(app):
    with app.app_context():
        accounts.create_user("alice", PASSWORD)
        db.session.commit()
        for name, password, code in [
            ("ALICE", PASSWORD, "username_taken"),
            ("bob", "short", "weak_password"),
            ("bob", "bobbobbob", "weak_password") if False else ("carol", "carol", "weak_password"),
            ("a b", PASSWORD, "invalid_username"),
        ]:
            with pytest.raises(DomainError) as excinfo:
                accounts.create_user(name, password)
            assert excinfo.value.code == code


def test_login_wrong_password_then_right(browser, factory):
    user = factory.merchant()
    response = browser.login(user.username, "wrong-password")
    assert "用户名或密码错误" in response.get_data(as_text=True)
    response = browser.login(user.username)
    assert response.headers["HX-Redirect"] == "/merchant/"


def test_login_throttling_is_stored_in_database_and_holds_across_clients(
    app, factory, make_browser
):
    user = factory.merchant()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        make_browser().login(user.username, "nope-nope")  # every attempt from a fresh client
    response = make_browser().login(user.username)  # even the right password is refused now
    assert "登录失败次数过多" in response.get_data(as_text=True)
    assert "HX-Redirect" not in response.headers
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(LoginFailure)) >= 5
        # after the window, login works again
        db.session.execute(db.update(LoginFailure).values(created_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert make_browser().login(user.username).headers["HX-Redirect"] == "/merchant/"


def test_safe_next_redirect(browser, factory):
    user = factory.merchant()
    browser.refresh_token("/login")
    for bad in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        response = browser.client.post(
            "/login",
            query_string={"next": bad},
            data={"username": user.username, "password": PASSWORD},
            headers=browser.headers(True, None),
        )
        assert response.headers["HX-Redirect"] == "/merchant/"
        browser.client.cookie_jar.clear() if hasattr(browser.client, "cookie_jar") else None
    response = browser.client.post(
        "/login",
        query_string={"next": "/merchant/settings"},
        data={"username": user.username, "password": PASSWORD},
        headers=browser.headers(True, None),
    )
    assert response.headers["HX-Redirect"] == "/merchant/settings"


def test_anonymous_page_redirects_to_login_with_next(browser):
    response = browser.get("/merchant/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/merchant/settings"


def test_expired_session_htmx_request_redirects_whole_page(browser):
    response = browser.client.get(
        "/merchant/suppliers",
        headers={"HX-Request": "true", "HX-Current-URL": "http://portal.test/merchant/settings"},
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/merchant/settings"
    assert response.get_data() == b""


def test_logout_ends_the_copied_session_cookie(app, browser, make_browser, factory):
    user = factory.merchant()
    browser.login(user.username)
    stolen = browser.client.get_cookie("portal_session", domain="portal.test").value
    other_device = make_browser()
    other_device.login(user.username)
    assert other_device.get("/merchant/").status_code == 200
    response = browser.post("/logout", {})
    assert response.headers["HX-Redirect"] == "/login"
    replay = app.test_client()
    replay.set_cookie("portal_session", stolen, domain="portal.test")
    assert replay.get("/merchant/").status_code == 302
    assert other_device.get("/merchant/").status_code == 302


def test_password_change_ends_other_sessions_but_keeps_this_one(
    app, browser, make_browser, factory
):
    user = factory.supplier()
    browser.login(user.username)
    other = make_browser()
    other.login(user.username)
    response = browser.post(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "brand-new-pass-1",
            "new_password_confirm": "brand-new-pass-1",
        },
    )
    assert response.headers["HX-Redirect"] == "/account/password"
    assert browser.get("/supplier/").status_code == 200
    assert other.get("/supplier/").status_code == 302
    assert make_browser().login(user.username, "brand-new-pass-1").headers["HX-Redirect"]


def test_wrong_current_password_is_refused(browser, factory):
    user = factory.supplier()
    browser.login(user.username)
    response = browser.post(
        "/account/password",
        {
            "current_password": "nope",
            "new_password": "brand-new-1",
            "new_password_confirm": "brand-new-1",
        },
        target="password-form",
    )
    assert response.status_code == 422
    assert "当前密码不正确" in response.get_data(as_text=True)


def test_session_cookie_flags(app, browser, factory):
    user = factory.merchant()
    browser.refresh_token("/login")
    response = browser.client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD},
        headers=browser.headers(True, None),
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_secure_cookie_when_configured(tmp_path, database_url):
    from portal import create_app
    from tests.conftest import config

    app = create_app(
        config(
            SQLALCHEMY_DATABASE_URI=database_url,
            KEYS_FILE=str(tmp_path / "k.json"),
            SESSION_COOKIE_SECURE=True,
        )
    )
    client = app.test_client()
    response = client.get("/login", base_url="https://portal.test")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"]


def test_return_addresses_one_default(app, factory):
    merchant_user = factory.merchant()
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_user.merchant.id)
        data = accounts.AddressInput(
            "退货员", "0571-88886666", "浙江省", "杭州市", "西湖区", "文三路 1 号"
        )
        first = accounts.add_return_address(merchant, data, make_default=False)
        assert first.is_default  # the first one becomes the default
        second = accounts.add_return_address(merchant, data, make_default=True)
        db.session.commit()
        defaults = db.session.scalars(
            select(ReturnAddress).where(
                ReturnAddress.merchant_id == merchant.id, ReturnAddress.is_default
            )
        ).all()
        assert [a.id for a in defaults] == [second.id]
        third = accounts.add_return_address(merchant, data, make_default=False)
        accounts.delete_return_address(merchant, first.id)
        db.session.commit()
        assert [a.id for a in accounts.list_return_addresses(merchant)] == [second.id, third.id]
        assert db.session.get(ReturnAddress, first.id) is None  # never used: really gone
        # Deleting the default hands the flag to the oldest remaining address.
        accounts.delete_return_address(merchant, second.id)
        db.session.commit()
        assert accounts.default_return_address(merchant).id == third.id
        accounts.delete_return_address(merchant, third.id)
        assert accounts.list_return_addresses(merchant) == []
        assert accounts.default_return_address(merchant) is None
