"""Binding rules through the services, the htmx UI and the API."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from portal.domain import bindings
from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import Binding, Merchant, Supplier


def _merchant(app, user):
    return db.session.get(Merchant, user.merchant.id)


def _supplier(app, user):
    return db.session.get(Supplier, user.supplier.id)


def test_service_rules(app, factory):
    m_user, s_user, other_m = factory.merchant(), factory.supplier(), factory.merchant()
    with app.app_context():
        merchant = _merchant(app, m_user)
        # unknown ID, own ID and another merchant's ID all get the same refusal
        for wrong in ("123", m_user.shop_id, other_m.shop_id, "", "abc", "９９９"):
            with pytest.raises(DomainError) as excinfo:
                bindings.apply_for_binding(merchant, wrong)
            assert excinfo.value.code == "invalid_shop_id"
            assert excinfo.value.message == "请输入正确的厂家店铺ID"
        # full-width digits and spaces around a real ID are fine
        fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in s_user.shop_id)
        binding = bindings.apply_for_binding(merchant, f" {fullwidth} ", "你好")
        db.session.commit()
        assert binding.status == "pending" and binding.message == "你好"
        with pytest.raises(DomainError) as excinfo:
            bindings.apply_for_binding(merchant, s_user.shop_id)
        assert excinfo.value.code == "already_bound"
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Binding)) == 1

        supplier = _supplier(app, s_user)
        bindings.accept_binding(supplier, binding.id)
        db.session.commit()
        assert binding.status == "active"
        with pytest.raises(DomainError) as excinfo:  # decided once
            bindings.reject_binding(supplier, binding.id)
        assert excinfo.value.code == "binding_not_pending"
        with pytest.raises(DomainError) as excinfo:  # active: still no duplicate
            bindings.apply_for_binding(merchant, s_user.shop_id)
        assert excinfo.value.code == "already_bound"
        db.session.rollback()

        assert bindings.end_binding(binding, "supplier") == 0
        db.session.commit()
        assert binding.status == "ended" and binding.ended_by == "supplier"
        with pytest.raises(DomainError):
            bindings.end_binding(binding, "merchant")
        db.session.rollback()
        # after the end a new application is possible; history is kept
        again = bindings.apply_for_binding(merchant, s_user.shop_id)
        bindings.reject_binding(supplier, again.id)
        db.session.commit()
        statuses = sorted(b.status for b in bindings.bindings_for_merchant(merchant))
        assert statuses == ["ended", "rejected"]


def test_other_tenants_binding_is_not_found(app, factory):
    m1, m2, s1, s2 = factory.merchant(), factory.merchant(), factory.supplier(), factory.supplier()
    with app.app_context():
        binding = bindings.apply_for_binding(_merchant(app, m1), s1.shop_id)
        db.session.commit()
        for call in (
            lambda: bindings.accept_binding(_supplier(app, s2), binding.id),
            lambda: get_or_404(Binding, _merchant(app, m2), id=binding.id),
        ):
            with pytest.raises(DomainError) as excinfo:
                call()
            assert excinfo.value.code == "not_found"
        assert db.session.get(Binding, binding.id).status == "pending"


def test_merchant_withdraws_pending_application(app, factory):
    m, s = factory.merchant(), factory.supplier()
    with app.app_context():
        binding = bindings.apply_for_binding(_merchant(app, m), s.shop_id)
        with pytest.raises(DomainError):
            bindings.end_binding(binding, "supplier")  # suppliers reject, they don't "end" pending
        bindings.end_binding(binding, "merchant")
        db.session.commit()
        assert binding.status == "ended"


def test_ui_flow_without_full_reloads(app, factory, make_browser):
    m_user, s_user = factory.merchant(), factory.supplier(factory_name="义乌毛毯厂")
    merchant_b, supplier_b = make_browser(), make_browser()
    merchant_b.login(m_user.username)
    supplier_b.login(s_user.username)

    response = merchant_b.post(
        "/merchant/suppliers", {"supplier_shop_id": "000000001"}, target="bindings"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "请输入正确的厂家店铺ID" in html
    assert "<html" not in html and 'id="bindings"' in html

    response = merchant_b.post(
        "/merchant/suppliers",
        {"supplier_shop_id": s_user.shop_id, "message": "合作毛毯"},
        target="bindings",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "义乌毛毯厂" in html and "待审核" in html
    assert "showToast" in response.headers["HX-Trigger"]
    assert (
        response.headers["Vary"] == "Cookie, HX-Request" or "HX-Request" in response.headers["Vary"]
    )

    duplicate = merchant_b.post(
        "/merchant/suppliers", {"supplier_shop_id": s_user.shop_id}, target="bindings"
    )
    assert "请勿重复申请" in duplicate.get_data(as_text=True)

    page = supplier_b.get("/supplier/merchants").get_data(as_text=True)
    assert "测试店铺" in page and "合作毛毯" in page
    with app.app_context():
        binding_id = db.session.scalar(select(Binding.id))
    response = supplier_b.post(f"/supplier/bindings/{binding_id}/accept", target="bindings")
    assert "已绑定" in response.get_data(as_text=True)
    assert "<html" not in response.get_data(as_text=True)

    response = merchant_b.post(f"/merchant/bindings/{binding_id}/end", target="bindings")
    assert "已解除" in response.get_data(as_text=True)
    again = supplier_b.post(f"/supplier/bindings/{binding_id}/end", target="bindings")
    assert again.status_code == 409
    assert again.headers["HX-Reswap"] == "none"
    trigger = json.loads(again.headers["HX-Trigger"])
    assert trigger["showToast"] == {"message": "该绑定已不是生效状态", "level": "error"}
    assert again.headers["HX-Trigger"].isascii()


def test_full_page_render_on_direct_load_and_history_restore(factory, browser):
    user = factory.merchant()
    browser.login(user.username)
    full = browser.get("/merchant/suppliers").get_data(as_text=True)
    assert full.startswith("<!doctype html>")
    restore = browser.client.get(
        "/merchant/suppliers",
        headers={
            "HX-Request": "true",
            "HX-History-Restore-Request": "true",
            "HX-Target": "bindings",
        },
    )
    assert restore.get_data(as_text=True).startswith("<!doctype html>")
    fragment = browser.get("/merchant/suppliers", htmx=True, target="bindings")
    assert not fragment.get_data(as_text=True).startswith("<!doctype html>")
    assert "HX-Request" in fragment.headers["Vary"]


def _api(client, token, method, url, **kw):
    return client.open(url, method=method, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_api_binding_flow(app, factory):
    m_user, s_user, other_s = factory.merchant(), factory.supplier(), factory.supplier()
    m_token, s_token, o_token = factory.token(m_user), factory.token(s_user), factory.token(other_s)
    client = app.test_client()

    response = _api(
        client, m_token, "POST", "/api/v1/bindings", json={"supplier_shop_id": m_user.shop_id}
    )
    assert response.status_code == 422
    assert response.json == {
        "error": {
            "code": "invalid_shop_id",
            "message": "请输入正确的厂家店铺ID",
            "field": "supplier_shop_id",
        }
    }
    response = _api(
        client,
        m_token,
        "POST",
        "/api/v1/bindings",
        json={"supplier_shop_id": s_user.shop_id, "message": "hi"},
    )
    assert response.status_code == 201
    created = response.json
    assert created["status"] == "pending"
    assert created["merchant"] == {"shop_id": m_user.shop_id, "shop_name": "测试店铺"}
    assert created["supplier"]["shop_id"] == s_user.shop_id
    response = _api(
        client, m_token, "POST", "/api/v1/bindings", json={"supplier_shop_id": s_user.shop_id}
    )
    assert response.status_code == 409 and response.json["error"]["code"] == "already_bound"

    binding_id = created["id"]
    # the other supplier can neither see nor decide it
    assert _api(client, o_token, "POST", f"/api/v1/bindings/{binding_id}/accept").status_code == 404
    assert _api(client, o_token, "GET", "/api/v1/bindings").json["total"] == 0
    # merchants cannot accept
    assert _api(client, m_token, "POST", f"/api/v1/bindings/{binding_id}/accept").status_code == 403
    response = _api(client, s_token, "POST", f"/api/v1/bindings/{binding_id}/accept")
    assert response.status_code == 200 and response.json["status"] == "active"
    assert _api(client, s_token, "POST", f"/api/v1/bindings/{binding_id}/reject").status_code == 409

    listing = _api(client, s_token, "GET", "/api/v1/bindings", query_string={"per_page": 1}).json
    assert listing["total"] == 1 and listing["per_page"] == 1 and listing["page"] == 1
    assert listing["items"][0]["id"] == binding_id

    response = _api(client, m_token, "DELETE", f"/api/v1/bindings/{binding_id}")
    assert response.json == {"status": "ended", "cancelled_assignments": 0}


def test_api_reject(app, factory):
    m_user, s_user = factory.merchant(), factory.supplier()
    m_token, s_token = factory.token(m_user), factory.token(s_user)
    client = app.test_client()
    binding = _api(
        client, m_token, "POST", "/api/v1/bindings", json={"supplier_shop_id": s_user.shop_id}
    ).json
    response = _api(client, s_token, "POST", f"/api/v1/bindings/{binding['id']}/reject")
    assert response.json["status"] == "rejected"
    # a supplier cannot "end" a rejected binding
    assert _api(client, s_token, "DELETE", f"/api/v1/bindings/{binding['id']}").status_code == 409
