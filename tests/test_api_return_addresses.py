"""PATCH and DELETE /return-addresses/{id} (DESIGN §10.7): the fields of create, each optional;
an address dispatched orders used is archived, so they keep it; another merchant's is a 404."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Merchant, Order, ReturnAddress
from portal.models.base import MAX_ID
from tests.factories import demo_order

API = "/api/v1/return-addresses"
ADDRESS = {
    "contact_name": "退货员",
    "phone": "13800138000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路 1 号",
}


@pytest.fixture
def shop(app, factory):
    """A merchant with two addresses (the first the default) and a neighbour with a token."""
    user, other = factory.merchant(), factory.merchant()
    client = app.test_client()
    mine = {"Authorization": f"Bearer {factory.token(user)}"}
    theirs = {"Authorization": f"Bearer {factory.token(other)}"}
    first = client.post(API, json=ADDRESS, headers=mine).json
    second = client.post(API, json={**ADDRESS, "detail": "二号仓"}, headers=mine).json
    assert first["is_default"] and not second["is_default"]
    return client, mine, theirs, first, second, user


def test_patch_changes_only_the_fields_sent_and_can_move_the_default(shop):
    client, mine, _theirs, first, second, _user = shop
    url = f"{API}/{first['id']}"
    response = client.patch(url, json={"detail": "文三路 2 号"}, headers=mine)
    assert response.status_code == 200
    assert response.json == {**first, "detail": "文三路 2 号"}  # the rest kept, same id
    assert client.patch(url, json={}, headers=mine).json == response.json
    moved = client.patch(f"{API}/{second['id']}", json={"is_default": True}, headers=mine)
    assert moved.status_code == 200 and moved.json["is_default"] is True
    listed = client.get(API, headers=mine).json["items"]
    assert [(a["id"], a["is_default"]) for a in listed] == [
        (second["id"], True),
        (first["id"], False),
    ]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"phone": "12"}, "phone", "invalid_phone"),
        ({"phone": 13800138000}, "phone", "validation_error"),
        ({"is_default": "yes"}, "is_default", "validation_error"),
        ({"detail": "x" * 201}, "detail", "field_too_long"),
        ({"note": "hi"}, "note", "validation_error"),
    ],
)
def test_patch_refuses_bad_fields_and_keeps_the_address(shop, body, field, code):
    client, mine, _theirs, first, _second, _user = shop
    refused = client.patch(f"{API}/{first['id']}", json=body, headers=mine)
    assert refused.status_code == 422
    assert (refused.json["error"]["field"], refused.json["error"]["code"]) == (field, code)
    assert client.get(API, headers=mine).json["items"][0] == first


def test_another_merchants_or_an_out_of_range_id_is_a_404_for_both_methods(shop):
    client, mine, theirs, first, _second, _user = shop
    url = f"{API}/{first['id']}"
    # the neighbour's request is a 404 whether its body is valid or not
    for body in ({"detail": "x"}, {"phone": 1}, {"note": "hi"}):
        answer = client.patch(url, json=body, headers=theirs)
        assert (answer.status_code, answer.json["error"]["code"]) == (404, "not_found")
    assert client.delete(url, headers=theirs).status_code == 404
    for address_id in (MAX_ID + 1, 10**30, 0):
        far = f"{API}/{address_id}"
        assert client.patch(far, json={"detail": "x"}, headers=mine).status_code == 404
        assert client.delete(far, headers=mine).status_code == 404
    assert client.get(API, headers=mine).json["items"][0] == first


def test_dispatched_orders_keep_the_address_they_used(app, shop):
    client, mine, _theirs, first, second, user = shop
    with app.app_context():  # an order dispatched with the first address
        merchant = db.session.get(Merchant, user.merchant.id)
        upsert_orders(current_keyring(), merchant, [demo_order("231121-000000000000555")])
        db.session.execute(update(Order).values(stage="dispatched", return_address_id=first["id"]))
        db.session.commit()
    url = f"{API}/{first['id']}"
    edited = client.patch(url, json={"contact_name": "新退货员"}, headers=mine).json
    assert edited["id"] != first["id"]
    assert edited == {**first, "id": edited["id"], "contact_name": "新退货员"}  # still default
    assert client.patch(url, json={"detail": "y"}, headers=mine).status_code == 404  # archived
    deleted = client.delete(f"{API}/{edited['id']}", headers=mine)
    assert deleted.status_code == 204 and deleted.data == b""
    # the default went with it: the remaining address takes over
    assert client.get(API, headers=mine).json["items"] == [{**second, "is_default": True}]
    with app.app_context():
        kept = db.session.get(ReturnAddress, first["id"])
        assert kept.contact_name == "退货员" and kept.archived_at is not None
        assert db.session.scalar(select(Order.return_address_id)) == first["id"]
    assert client.delete(url, headers=mine).status_code == 404  # archived: history, not listed


def test_an_unused_address_is_deleted(app, shop):
    client, mine, _theirs, _first, second, _user = shop
    assert client.delete(f"{API}/{second['id']}", headers=mine).status_code == 204
    with app.app_context():
        assert db.session.get(ReturnAddress, second["id"]) is None
    assert client.delete(f"{API}/{second['id']}", headers=mine).status_code == 404
