"""Teams (DESIGN §10.4): shop members with roles, managed by the owner and admins, acting for
the owner's shop; deactivation stops sessions and tokens at once."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, insert, select
from werkzeug.security import generate_password_hash

from portal.domain import accounts, bindings
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.permissions import ROLE_PERMISSIONS
from portal.extensions import db
from portal.models import Binding, Merchant, Supplier, User
from portal.models.base import utcnow
from tests.conftest import PASSWORD
from tests.factories import demo_order, statements_sent

ORDER_NO = "261121-190000000000001"
TEAMS_REVISION = "e19a7c3d5b21"


@pytest.fixture
def runner_cli(app):
    """Run a `portal` CLI command; it must succeed unless ok=False."""
    runner = app.test_cli_runner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(args=["portal", *args])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_member(app, factory, owner: User, role: str, username: str | None = None) -> tuple:
    """A member added through the API by the owner; returns (member id, username)."""
    token = factory.token(owner)
    username = username or f"{owner.username}_{role}"
    response = app.test_client().post(
        "/api/v1/staff",
        json={"username": username, "password": "initial-pass-1", "role": role},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.json
    assert response.json == {
        "id": response.json["id"],
        "username": username,
        "role": role,
        "active": True,
    }
    return response.json["id"], username


def changed_initial_password(app, member_id: int) -> None:
    """The member changed its initial password (what first_login does through the pages)."""
    with app.app_context():
        accounts.change_password(db.session.get(User, member_id), "initial-pass-1", PASSWORD)
        db.session.commit()


def member_token(app, member_id: int) -> str:
    """An API token of a member that has changed its initial password."""
    changed_initial_password(app, member_id)
    with app.app_context():
        token = accounts.create_api_token(db.session.get(User, member_id), "erp")[1]
        db.session.commit()
    return token


def first_login(browser, username: str, new_password: str = PASSWORD):
    """Log in with the initial password: only the password page opens until it is changed."""
    browser.login(username, "initial-pass-1")
    response = browser.get("/merchant/orders")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/account/password")
    browser.refresh_token("/account/password")
    response = browser.post(
        "/account/password",
        {
            "current_password": "initial-pass-1",
            "new_password": new_password,
            "new_password_confirm": new_password,
        },
    )
    assert response.status_code == 200
    browser.refresh_token("/account/password")


def test_an_operator_works_in_the_owners_shop_and_sees_only_what_it_may_use(app, factory, browser):
    owner = factory.merchant()
    with app.app_context():
        merchant = db.session.get(Merchant, owner.merchant.id)
        upsert_orders(current_keyring(), merchant, [demo_order(ORDER_NO)])
        db.session.commit()
    _member_id, username = add_member(app, factory, owner, "operator")

    first_login(browser, username)
    orders = browser.get("/merchant/orders")
    assert orders.status_code == 200
    page = orders.get_data(as_text=True)
    assert ORDER_NO in page  # the owner's orders: the member acts for the owner's shop
    assert owner.shop_id in page  # the shop's ID in the top bar
    nav = page[page.index('class="sidebar"') : page.index("</nav>")]
    assert "/merchant/orders" in nav and "/merchant/suppliers" in nav
    for hidden in ("/merchant/statements", "/merchant/settings", "/account/staff"):
        assert hidden not in nav
    assert browser.get("/merchant/settings").status_code == 403
    assert browser.get("/merchant/statements").status_code == 403
    assert browser.get("/account/staff").status_code == 403
    assert browser.get("/account/tokens").status_code == 403


def test_a_printer_token_acts_with_the_printer_role(app, factory, runner_cli):
    owner = factory.supplier()
    member_id, _name = add_member(app, factory, owner, "printer", "press_one")
    changed_initial_password(app, member_id)
    token = runner_cli("create-token", "press_one").output.strip()
    client = app.test_client()

    me = client.get("/api/v1/me", headers=bearer(token)).json
    assert me["username"] == "press_one"
    assert me["role"] == "supplier"
    assert me["shop_id"] == owner.shop_id
    assert me["shop_name"] == "测试工厂"
    assert me["shop_role"] == "printer"
    assert set(me["permissions"]) == ROLE_PERMISSIONS["supplier"]["printer"]
    # A member's token: token, member, owner and the owner's shop in one SELECT.
    with statements_sent(app) as seen:
        assert client.get("/api/v1/me", headers=bearer(token)).json == me
    assert [s.split()[0].upper() for s in seen if s.split()[0].upper() != "BEGIN"] == ["SELECT"]

    assert client.get("/api/v1/supplier/orders", headers=bearer(token)).status_code == 200
    for method, url in (
        ("GET", "/api/v1/supplier/prices"),
        ("GET", "/api/v1/statements"),
        ("GET", "/api/v1/staff"),
        ("POST", "/api/v1/bindings/1/accept"),
    ):
        response = client.open(url, method=method, headers=bearer(token))
        assert response.status_code == 403, url
        assert response.json["error"]["code"] == "forbidden"


def test_a_members_token_works_only_once_the_initial_password_is_changed(
    app, factory, runner_cli, make_browser
):
    """The first-login password change holds for the API too: a token of a member who still
    has the initial password (new, or reset by the owner) is refused with a clear code."""
    owner = factory.merchant()
    member_id, username = add_member(app, factory, owner, "operator")
    token = runner_cli("create-token", username).output.strip()
    client = app.test_client()

    def refused() -> None:
        for method, url in (("GET", "/api/v1/me"), ("GET", "/api/v1/orders")):
            response = client.open(url, method=method, headers=bearer(token))
            assert response.status_code == 403, url
            assert response.json["error"]["code"] == "password_change_required"
        write = client.post(
            "/api/v1/allocations",
            json={"order_nos": [ORDER_NO], "supplier_shop_id": "123456789"},
            headers=bearer(token),
        )
        assert write.status_code == 403
        assert write.json["error"]["code"] == "password_change_required"

    refused()
    first_login(make_browser(), username)
    assert client.get("/api/v1/me", headers=bearer(token)).json["shop_role"] == "operator"

    reset = client.patch(
        f"/api/v1/staff/{member_id}",
        json={"password": "initial-pass-1"},
        headers=bearer(factory.token(owner)),
    )
    assert reset.status_code == 200
    refused()


def test_finance_reads_orders_and_handles_statements_but_cannot_assign(app, factory):
    owner, supplier_user = factory.merchant(), factory.supplier()
    with app.app_context():
        merchant = db.session.get(Merchant, owner.merchant.id)
        supplier = db.session.get(Supplier, supplier_user.supplier.id)
        binding = bindings.apply_for_binding(merchant, supplier_user.shop_id)
        bindings.accept_binding(supplier, binding.id)
        upsert_orders(current_keyring(), merchant, [demo_order(ORDER_NO)])
        db.session.commit()
    member_id, _name = add_member(app, factory, owner, "finance")
    token = member_token(app, member_id)
    client = app.test_client()
    listed = client.get("/api/v1/orders", headers=bearer(token)).json
    assert [o["order_no"] for o in listed["items"]] == [ORDER_NO]
    assert client.get("/api/v1/statements", headers=bearer(token)).status_code == 200
    refused = client.post(
        "/api/v1/allocations",
        json={"order_nos": [ORDER_NO], "supplier_shop_id": supplier_user.shop_id},
        headers=bearer(token),
    )
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "forbidden"


def test_deactivating_a_member_ends_its_sessions_and_tokens_at_once(app, factory, make_browser):
    owner = factory.merchant()
    member_id, username = add_member(app, factory, owner, "operator")
    member_browser = make_browser()
    first_login(member_browser, username)
    with app.app_context():
        member_token = accounts.create_api_token(db.session.get(User, member_id), "erp")[1]
        db.session.commit()
    client = app.test_client()
    assert client.get("/api/v1/orders", headers=bearer(member_token)).status_code == 200
    assert member_browser.get("/merchant/orders").status_code == 200

    owner_token = factory.token(owner)
    response = client.patch(
        f"/api/v1/staff/{member_id}", json={"active": False}, headers=bearer(owner_token)
    )
    assert response.json == {
        "id": member_id,
        "username": username,
        "role": "operator",
        "active": False,
    }

    assert client.get("/api/v1/orders", headers=bearer(member_token)).status_code == 401
    gone = member_browser.get("/merchant/orders")
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/login")
    refused = make_browser().login(username, PASSWORD)
    assert "该账号已停用" in refused.get_data(as_text=True)

    # Switched on again: the token works again, the old session stays ended.
    client.patch(f"/api/v1/staff/{member_id}", json={"active": True}, headers=bearer(owner_token))
    assert client.get("/api/v1/orders", headers=bearer(member_token)).status_code == 200
    assert member_browser.get("/merchant/orders").status_code == 302


def test_changing_a_role_changes_what_the_member_may_do(app, factory):
    owner = factory.supplier()
    member_id, _name = add_member(app, factory, owner, "printer")
    token = member_token(app, member_id)
    client = app.test_client()
    assert client.get("/api/v1/supplier/prices", headers=bearer(token)).status_code == 403
    owner_token = factory.token(owner)
    changed = client.patch(
        f"/api/v1/staff/{member_id}", json={"role": "finance"}, headers=bearer(owner_token)
    )
    assert changed.json["role"] == "finance"
    assert client.get("/api/v1/supplier/prices", headers=bearer(token)).status_code == 200
    assert (
        client.post("/api/v1/supplier/print-jobs", json={}, headers=bearer(token)).status_code
        == 403
    )

    # A merchant role does not exist in a factory; the answer names the field.
    wrong = client.patch(
        f"/api/v1/staff/{member_id}", json={"role": "operator"}, headers=bearer(owner_token)
    )
    assert wrong.status_code == 422
    assert wrong.json["error"]["code"] == "invalid_shop_role"


def test_an_admin_manages_staff_but_not_itself_and_owners_are_not_members(app, factory):
    owner = factory.merchant()
    admin_id, _admin = add_member(app, factory, owner, "admin")
    other_id, _other = add_member(app, factory, owner, "operator")
    admin_token = member_token(app, admin_id)
    client = app.test_client()
    listed = client.get("/api/v1/staff", headers=bearer(admin_token)).json
    assert [m["id"] for m in listed["items"]] == [admin_id, other_id]
    assert listed["total"] == 2
    demoted = client.patch(
        f"/api/v1/staff/{other_id}", json={"role": "finance"}, headers=bearer(admin_token)
    )
    assert demoted.status_code == 200
    self_off = client.patch(
        f"/api/v1/staff/{admin_id}", json={"active": False}, headers=bearer(admin_token)
    )
    assert self_off.status_code == 409
    assert self_off.json["error"]["code"] == "cannot_change_self"
    # The owner is not a member anyone can change.
    owner_patch = client.patch(
        f"/api/v1/staff/{owner.id}", json={"active": False}, headers=bearer(admin_token)
    )
    assert owner_patch.status_code == 404


def test_staff_page_adds_a_member_and_resets_a_password(app, factory, browser, make_browser):
    owner = factory.supplier()
    browser.login(owner.username)
    page = browser.get("/account/staff").get_data(as_text=True)
    assert "打单员" in page and "运营" not in page  # factory roles only
    added = browser.post(
        "/account/staff",
        {"username": "packer1", "password": "initial-pass-1", "role": "printer"},
        target="staff",
    )
    assert added.status_code == 200
    assert "packer1" in added.get_data(as_text=True)
    taken = browser.post(
        "/account/staff",
        {"username": "packer1", "password": "initial-pass-1", "role": "printer"},
        target="staff",
    )
    assert taken.status_code == 422
    assert "该用户名已被注册" in taken.get_data(as_text=True)

    member = make_browser()
    first_login(member, "packer1")
    assert member.get("/supplier/orders").status_code == 200
    with app.app_context():
        member_id = db.session.scalar(select(User.id).where(User.username == "packer1"))
    reset = browser.post(
        f"/account/staff/{member_id}/password", {"password": "initial-pass-1"}, target="staff"
    )
    assert reset.status_code == 200
    assert member.get("/supplier/orders").status_code == 302  # its session ended
    first_login(member, "packer1", "another-pass-2")

    changed = browser.post(f"/account/staff/{member_id}", {"role": "finance"}, target="staff")
    assert changed.status_code == 200
    assert member.get("/supplier/prices").status_code == 200  # a finance member now
    wrong = browser.post(f"/account/staff/{member_id}", {"role": "operator"}, target="staff")
    toast = json.loads(wrong.headers["HX-Trigger"])["showToast"]
    assert toast == {"message": "请选择正确的子账号角色", "level": "error"}
    off = browser.post(f"/account/staff/{member_id}", {"active": "0"}, target="staff")
    assert "已停用" in off.get_data(as_text=True)
    assert member.get("/supplier/orders").status_code == 302


def test_cli_adds_a_member_to_a_shop(app, factory, runner_cli):
    owner = factory.supplier()
    result = runner_cli(
        "create-user",
        "press2",
        "--shop",
        owner.username,
        "--role",
        "printer",
        "--password",
        "initial-pass-1",
    )
    assert f"created printer press2 in shop {owner.shop_id}" in result.output
    with app.app_context():
        member = db.session.scalar(select(User).where(User.username == "press2"))
        assert (member.owner_id, member.role, member.shop_role) == (owner.id, "supplier", "printer")
        assert member.must_change_password
    refused = runner_cli(
        "create-user",
        "press3",
        "--shop",
        owner.username,
        "--role",
        "operator",
        "--password",
        "initial-pass-1",
        ok=False,
    )
    assert refused.exit_code != 0
    assert "请选择正确的子账号角色" in refused.output


def test_existing_accounts_become_owners_with_nothing_lost(app_ctx):
    """A database written before teams (a shop, a factory, their binding, a token) crosses the
    teams migration: the accounts own their shops, log in, and everything is where it was."""
    script = ScriptDirectory.from_config(app_ctx.extensions["migrate"].migrate.get_config())
    downgrade(revision=script.get_revision(TEAMS_REVISION).down_revision)
    old = MetaData()
    old.reflect(bind=db.engine, only=["users", "merchants", "suppliers", "bindings", "api_tokens"])
    assert "shop_role" not in old.tables["users"].c
    now = datetime(2026, 1, 1, tzinfo=UTC)
    password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    token = "dfp_" + "a" * 40
    with db.engine.begin() as connection:
        for user_id, name, role, shop_id in (
            (1, "oldshop", "merchant", "123456789"),
            (2, "oldfactory", "supplier", "987654321"),
        ):
            connection.execute(
                insert(old.tables["users"]).values(
                    id=user_id,
                    username=name,
                    password_hash=password_hash,
                    role=role,
                    shop_id=shop_id,
                    session_epoch=3,
                    created_at=now,
                    password_changed_at=now,
                )
            )
        connection.execute(
            insert(old.tables["merchants"]).values(
                id=1,
                user_id=1,
                shop_name="老店",
                sender_name="王",
                sender_phone="13800138000",
                sender_province="浙江省",
                sender_city="杭州市",
                sender_district="余杭区",
                sender_detail="文一西路 1 号",
                label_style="private",
                auto_dispatch=False,
                webhook_url="",
                webhook_secret="",
                created_at=now,
            )
        )
        connection.execute(
            insert(old.tables["suppliers"]).values(
                id=1,
                user_id=2,
                factory_name="老厂",
                contact_name="",
                contact_phone="",
                created_at=now,
            )
        )
        connection.execute(
            insert(old.tables["bindings"]).values(
                id=1, merchant_id=1, supplier_id=1, status="active", message="", created_at=now
            )
        )
        connection.execute(
            insert(old.tables["api_tokens"]).values(
                id=1,
                user_id=1,
                name="erp",
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                token_prefix=token[:12],
                created_at=now,
            )
        )

    upgrade()
    db.session.remove()

    for user_id in (1, 2):
        user = db.session.get(User, user_id)
        assert (user.shop_role, user.active, user.owner_id, user.must_change_password) == (
            "owner",
            True,
            None,
            False,
        )
        assert user.session_epoch == 3  # sessions issued before the upgrade still hold
        assert user.shop_owner is user
    shop = db.session.get(User, 1)
    assert (shop.shop_profile.shop_name, shop.shop_code) == ("老店", "123456789")
    assert db.session.get(User, 2).shop_profile.factory_name == "老厂"
    assert db.session.get(Binding, 1).status == "active"
    throttle = accounts.Throttle(5, 30, timedelta(minutes=15))
    assert accounts.authenticate("oldshop", PASSWORD, "127.0.0.1", throttle).id == 1
    assert accounts.api_token_for(accounts.api_token_hash(token)).user.id == 1
    db.session.commit()
    client = app_ctx.test_client()
    me = client.get("/api/v1/me", headers=bearer(token)).json
    assert (me["shop_id"], me["shop_role"]) == ("123456789", "owner")
    assert client.get("/api/v1/bindings", headers=bearer(token)).json["total"] == 1


def test_history_names_the_member_who_acted(app, factory, browser):
    """A printer prints and returns the number, an operator dispatches, finance requests the
    statement: the merchant's order drawer and the statement history name each member."""
    owner, factory_owner = factory.merchant(shop_name="甲店"), factory.supplier(factory_name="乙厂")
    with app.app_context():
        merchant = db.session.get(Merchant, owner.merchant.id)
        supplier = db.session.get(Supplier, factory_owner.supplier.id)
        binding = bindings.apply_for_binding(merchant, factory_owner.shop_id)
        bindings.accept_binding(supplier, binding.id)
        upsert_orders(current_keyring(), merchant, [demo_order(ORDER_NO)])
        db.session.commit()
    tokens = {}
    for shop, role in ((owner, "operator"), (owner, "finance"), (factory_owner, "printer")):
        member_id, _name = add_member(app, factory, shop, role, f"{role}_1")
        tokens[role] = member_token(app, member_id)
    api = app.test_client()

    def call(role, method, url, body=None):
        response = api.open(f"/api/v1{url}", method=method, json=body, headers=bearer(tokens[role]))
        assert response.status_code in (200, 201, 202), (url, response.json)
        return response

    call(
        "operator",
        "POST",
        "/allocations",
        {
            "order_nos": [ORDER_NO],
            "supplier_shop_id": factory_owner.shop_id,
        },
    )
    job = call(
        "printer",
        "POST",
        "/supplier/print-jobs",
        {
            "order_nos": [ORDER_NO],
            "courier": "SF",
        },
    ).json
    call("printer", "GET", f"/supplier/print-jobs/{job['id']}/pdf")
    call(
        "printer",
        "POST",
        "/supplier/tracking",
        {
            "items": [{"order_no": ORDER_NO, "courier": "SF", "tracking_no": "SF1234567890123"}],
        },
    )
    owner_token = factory.token(owner)
    api.post(
        "/api/v1/return-addresses",
        headers=bearer(owner_token),
        json={
            "contact_name": "退货",
            "phone": "13800138000",
            "province": "北京市",
            "city": "北京市",
            "district": "朝阳区",
            "detail": "x 路 1 号",
            "is_default": True,
        },
    )
    call("operator", "POST", "/dispatches", {"order_nos": [ORDER_NO]})
    today = utcnow().date()
    period = {"start": str(today - timedelta(days=1)), "end": str(today)}
    statement = call(
        "finance", "POST", "/statements", {"supplier_shop_id": factory_owner.shop_id, **period}
    ).json

    browser.login(owner.username)
    drawer = browser.get(f"/merchant/orders/{ORDER_NO}").get_data(as_text=True)
    history = drawer[drawer.index("订单记录") :]
    assert "分配给厂家" in history and "商家 · 甲店 · operator_1（运营）" in history
    assert "厂家回传运单号" in history and "厂家 · 乙厂 · printer_1（打单员）" in history
    dispatched = history[history.index("商家发货") :]
    assert "商家 · 甲店 · operator_1（运营）" in dispatched[: dispatched.index("</tr>")]
    prints = drawer[drawer.index("打印记录") : drawer.index("订单记录")]
    assert "厂家 · 乙厂 · printer_1（打单员）" in prints
    timeline = browser.get(f"/merchant/statements/{statement['id']}").get_data(as_text=True)
    assert "商家 · 甲店 · finance_1（财务）" in timeline
