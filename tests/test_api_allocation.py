"""API of DESIGN §10.3: /allocation-rules (+ /apply), /supplier/sku-codes and
/supplier/tracking/{order_no}; strict bodies, per-item refusals, the contract's codes."""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from portal.domain import allocation
from portal.extensions import db
from portal.models import Order, WebhookDelivery
from tests import test_api_supplier
from tests.test_api_orders import API, order_json
from tests.test_api_supplier import Desk

desk = test_api_supplier.desk  # fixture: two merchants, two factories, API tokens


def put(api: Any, path: str, body: object) -> Any:
    return api.client.put(API + path, json=body, headers=api.headers)


def test_rules_round_trip_and_run_on_upsert(desk: Desk) -> None:
    answer = desk.merchant.get("/allocation-rules")
    assert answer.status_code == 200
    assert answer.json == {
        "mode": "manual",
        "supplier_shop_id": None,
        "sku_rules": [],
        "stopped_supplier_shop_ids": [],
    }
    body = {
        "mode": "sku",
        "supplier_shop_id": desk.other_shop_id,
        "sku_rules": [{"sku_code": "BLK-150-GRY", "supplier_shop_id": desk.shop_id}],
    }
    saved = put(desk.merchant, "/allocation-rules", body)
    assert saved.status_code == 200, saved.json
    assert saved.json == {**body, "stopped_supplier_shop_ids": []}
    desk.merchant.upsert(order_json("261121-300000000000001"))
    assert desk.merchant.order("261121-300000000000001")["supplier"]["shop_id"] == desk.shop_id


def test_rules_refusals(desk: Desk) -> None:
    stranger = {"mode": "shop", "supplier_shop_id": "123456789"}
    refused = put(desk.merchant, "/allocation-rules", stranger)
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "not_bound"
    # other_merchant is not bound to other_supplier
    other = put(
        desk.other_merchant,
        "/allocation-rules",
        {**stranger, "supplier_shop_id": desk.other_shop_id},
    )
    assert other.status_code == 422 and other.json["error"]["code"] == "not_bound"
    for body, field in (
        ({"mode": 1}, "mode"),
        ({"mode": "shop", "extra": True}, "extra"),
        ({"mode": "sku", "sku_rules": [{"sku_code": "A"}]}, "sku_rules[0].supplier_shop_id"),
        ({"mode": "sku", "sku_rules": "A"}, "sku_rules"),
    ):
        answer = put(desk.merchant, "/allocation-rules", body)
        assert answer.status_code == 422, body
        assert answer.json["error"]["code"] == "validation_error"
        assert answer.json["error"]["field"] == field
    assert put(desk.merchant, "/allocation-rules", {"mode": "auto"}).json["error"]["code"] == (
        "invalid_rule_mode"
    )
    assert desk.supplier.get("/allocation-rules").status_code == 403


def test_apply_assigns_the_waiting_orders(desk: Desk) -> None:
    numbers = [f"261121-30000000000001{i}" for i in range(3)]
    desk.merchant.upsert(*(order_json(n) for n in numbers))
    put(desk.merchant, "/allocation-rules", {"mode": "shop", "supplier_shop_id": desk.shop_id})
    answer = desk.merchant.post("/allocation-rules/apply")
    assert answer.status_code == 200
    assert answer.json == {
        "assigned": 3,
        "by_supplier": [{"supplier_shop_id": desk.shop_id, "assigned": 3}],
        "refused": [],
        "waiting": 0,
    }


def test_apply_commits_each_chunk_of_a_large_backlog(desk: Desk, monkeypatch: Any) -> None:
    """The contract answers {assigned, refused} when the run is done, so it runs in the request:
    each chunk of orders is committed as it is assigned (SQLite's write lock and PostgreSQL's
    row locks are let go between chunks, other requests go on; what was assigned stays)."""
    commits: list[int] = []

    def counted(_session: Session) -> None:
        commits.append(1)

    event.listen(Session, "after_commit", counted)
    try:
        put(desk.merchant, "/allocation-rules", {"mode": "shop", "supplier_shop_id": desk.shop_id})
        commits.clear()
        assert desk.merchant.post("/allocation-rules/apply").json["assigned"] == 0
        idle = len(commits)

        put(desk.merchant, "/allocation-rules", {"mode": "manual", "supplier_shop_id": None})
        numbers = [f"261121-40000000000001{i}" for i in range(5)]
        desk.merchant.upsert(*(order_json(n) for n in numbers))
        put(desk.merchant, "/allocation-rules", {"mode": "shop", "supplier_shop_id": desk.shop_id})
        monkeypatch.setattr(allocation, "CHUNK", 2)
        commits.clear()
        answer = desk.merchant.post("/allocation-rules/apply")
    finally:
        event.remove(Session, "after_commit", counted)
    assert answer.status_code == 200
    assert (answer.json["assigned"], answer.json["refused"]) == (5, [])
    assert len(commits) - idle >= 3  # 5 orders, 2 a chunk


def test_sku_codes_per_item(desk: Desk) -> None:
    desk.orders("261121-300000000000021")
    items = [
        {
            "merchant_shop_id": desk.merchant_shop_id,
            "sku_code": "BLK-150-GRY",
            "supplier_code": "F1",
        },
        {"merchant_shop_id": desk.merchant_shop_id, "sku_code": "NOPE", "supplier_code": "F2"},
    ]
    answer = put(desk.supplier, "/supplier/sku-codes", {"items": items})
    assert answer.status_code == 200, answer.json
    assert [s["supplier_code"] for s in answer.json["saved"]] == ["F1"]
    assert [(r["index"], r["code"]) for r in answer.json["refused"]] == [(1, "unknown_sku")]
    # The other factory has no orders of this merchant's SKU.
    theirs = put(desk.other_supplier, "/supplier/sku-codes", {"items": items[:1]})
    assert theirs.json["refused"][0]["code"] == "unknown_sku"
    bad = put(desk.supplier, "/supplier/sku-codes", {"items": [{**items[0], "supplier_code": 5}]})
    assert bad.status_code == 422 and bad.json["error"]["field"] == "items[0].supplier_code"
    listed = desk.supplier.get("/supplier/orders").json["items"]
    assert listed  # the order is there; its code shows on the desk and the price list


def test_sku_codes_carry_the_location_of_a_sku(desk: Desk) -> None:
    """库位 by API (a factory's whole store at once): given, it is set ("" clears it); left out
    it stays; a code left out stays too. The pick list sorted by 库位 reads them."""
    desk.orders("261121-300000000000031")
    shop = desk.merchant_shop_id

    def item(**fields: object) -> dict[str, object]:
        return {"merchant_shop_id": shop, "sku_code": "BLK-150-GRY", **fields}

    answer = put(
        desk.supplier, "/supplier/sku-codes", {"items": [item(supplier_code="F1", location="A-01")]}
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["saved"][0] == {
        "index": 0,
        "merchant_shop_id": shop,
        "sku_code": "BLK-150-GRY",
        "supplier_code": "F1",
        "location": "A-01",
    }

    def shelf() -> tuple[str, str]:
        job = desk.supplier.post(
            "/supplier/print-jobs", {"order_nos": ["261121-300000000000031"], "courier": "SF"}
        ).json
        url = desk.supplier.get(f"/supplier/print-jobs/{job['id']}").json["pick_list_url"]
        data = desk.supplier.client.get(url, query_string={"format": "xlsx", "sort": "location"},
                                        headers=desk.supplier.headers).data  # fmt: skip
        row = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))[1]
        return row[1], row[5]

    assert shelf() == ("A-01", "F1")
    put(desk.supplier, "/supplier/sku-codes", {"items": [item(supplier_code="F2")]})
    assert shelf() == ("A-01", "F2")  # no location given: it stays
    answer = put(desk.supplier, "/supplier/sku-codes", {"items": [item(location="B-02")]})
    assert answer.json["saved"][0]["supplier_code"] is None
    assert shelf() == ("B-02", "F2")  # no code given: it stays
    put(desk.supplier, "/supplier/sku-codes", {"items": [item(supplier_code="", location="C-03")]})
    assert shelf() == ("C-03", "")  # the code removed, the location kept
    too_long = put(desk.supplier, "/supplier/sku-codes", {"items": [item(location="x" * 33)]})
    assert [r["code"] for r in too_long.json["refused"]] == ["invalid_location"]
    put(desk.supplier, "/supplier/sku-codes", {"items": [item(location="")]})
    assert shelf() == ("", "")  # nothing left for the SKU


def test_tracking_correction_contract(desk: Desk) -> None:
    number = "261121-300000000000031"
    desk.orders(number)
    desk.merchant.post(
        "/return-addresses",
        {
            "contact_name": "退货仓",
            "phone": "13800138000",
            "province": "浙江省",
            "city": "杭州市",
            "district": "余杭区",
            "detail": "仓前街道 1 号",
            "is_default": True,
        },
    )
    desk.supplier.return_tracking(
        {"order_no": number, "courier": "ZTO", "tracking_no": "773000000031"}
    )
    path = f"/supplier/tracking/{number}"
    early = put(desk.supplier, path, {"courier": "SF", "tracking_no": "SF1234567890123"})
    assert early.status_code == 409 and early.json["error"]["code"] == "not_dispatched"
    dispatched = desk.merchant.post("/dispatches", {"order_nos": [number]})
    assert dispatched.status_code == 200, dispatched.json
    first = put(desk.supplier, path, {"courier": "SF", "tracking_no": "SF1234567890123"})
    assert first.status_code == 200, first.json
    assert first.json == {"order_no": number, "corrections_left": 1, "warnings": []}
    second = put(desk.supplier, path, {"courier": "YTO", "tracking_no": "YT1234567890123"})
    assert second.json["corrections_left"] == 0
    third = put(desk.supplier, path, {"courier": "SF", "tracking_no": "SF1234567890999"})
    assert third.status_code == 409
    assert third.json["error"]["code"] == "tracking_change_limit"
    assert "2 次" in third.json["error"]["message"]
    assert (
        put(desk.other_supplier, path, {"courier": "SF", "tracking_no": "SF1"}).status_code == 404
    )
    assert put(desk.supplier, path, {"courier": "SF"}).status_code == 422
    history = desk.merchant.order(number)
    assert history["tracking"] == [{"courier": "YTO", "tracking_no": "YT1234567890123"}]
    with desk.app.app_context():
        order = db.session.scalar(select(Order).where(Order.order_no == number))
        assert order.tracking_corrections == 2
        assert db.session.scalar(select(WebhookDelivery.id)) is None  # no webhook configured
    assert json.dumps(first.json)
