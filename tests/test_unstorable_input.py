"""Text no database column can hold (NUL, lone surrogates) is a clear 400 everywhere, never a 500.

PostgreSQL refuses NUL in text and psycopg cannot encode lone surrogates, so before this guard
such input surfaced as 500s on PostgreSQL wherever it reached a query.
"""

from __future__ import annotations

import pytest

from portal.domain import bindings
from portal.extensions import db
from portal.models import Merchant, Order, Supplier
from tests.factories import demo_order


@pytest.fixture
def merchant_api(app, factory):
    m_user, s_user = factory.merchant(), factory.supplier()
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        supplier = db.session.get(Supplier, s_user.supplier.id)
        bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
        db.session.commit()
    client = app.test_client()
    return client, {"Authorization": f"Bearer {factory.token(m_user)}"}, s_user.shop_id


@pytest.mark.parametrize(
    "url",
    ["/api/v1/orders?q=%00", "/api/v1/orders/a%00", "/api/v1/orders?%00=1"],
)
def test_query_and_path_with_nul_or_bad_utf8_are_400(merchant_api, url):
    client, headers, _shop = merchant_api
    response = client.get(url, headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("bad", ["261121-\u0000", "261121-\ud800"])
def test_json_strings_with_nul_or_lone_surrogates_are_400(app, merchant_api, bad):
    client, headers, shop_id = merchant_api
    for path, body in (
        ("/api/v1/allocations", {"order_nos": [bad], "supplier_shop_id": shop_id}),
        ("/api/v1/allocations/cancel", {"order_nos": [bad]}),
    ):
        response = client.post(path, headers=headers, json=body)
        assert response.status_code == 400, (path, response.get_data(as_text=True)[:200])
        assert response.json["error"]["code"] == "invalid_request"
    # The order upsert reports such an order as one refusal while the good ones go in.
    response = client.post(
        "/api/v1/orders",
        headers=headers,
        json={"orders": [{"order_no": "261121-1", "buyer_note": bad}, {bad: "x"}]},
    )
    assert response.status_code == 200
    assert len(response.json["rejected"]) == 2
    with app.app_context():
        assert db.session.query(Order).count() == 0


def test_web_forms_with_nul_are_400_and_change_nothing(app, factory, browser):
    user = factory.merchant()
    browser.login(user.username)
    response = browser.post(
        "/merchant/orders/assign", data={"order_no": demo_order().order_no + "\x00"}
    )
    assert response.status_code == 400
    response = browser.get("/merchant/orders?q=%00")
    assert response.status_code == 400
    assert "无法处理的字符" in response.get_data(as_text=True)
