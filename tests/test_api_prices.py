"""The settlement-price API (DESIGN §7, §8.2): the missing-first list with its filters and pages,
the batch PUT answered per item, strict JSON types, other tenants, and a price set through the
API pricing a statement built afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.domain.formatting import SHANGHAI
from portal.domain.imports.platform_export import ImportedLine
from portal.extensions import db
from portal.models import Price, User
from tests.test_api_orders import API, Api
from tests.test_api_statements import built
from tests.test_prices import Clock, assign, bind
from tests.test_statements_web import build_world

URL = "/supplier/prices"


class PriceApi(Api):
    def put(self, body: object) -> Any:
        return self.client.put(API + URL, json=body, headers=self.headers)

    def set(self, *items: dict[str, Any]) -> dict[str, Any]:
        response = self.put({"items": list(items)})
        assert response.status_code == 200, response.json
        return response.json

    def rows(self, **params: object) -> list[dict[str, Any]]:
        response = self.get(URL, per_page=200, **params)
        assert response.status_code == 200, response.json
        return response.json["items"]


@dataclass
class Shop:
    app: Flask
    clock: Clock
    api: PriceApi  # the supplier's
    supplier: User
    merchant: User  # A家纺: SKU-A1 × 2, SKU-A2 × 1
    other_merchant: User  # B百货: SKU-B1 × 1
    stranger: User  # a merchant never bound to the supplier

    def item(self, sku: str, price: Any, merchant: User | None = None, **extra: Any) -> dict:
        shop_id = (merchant or self.merchant).shop_id
        return {"merchant_shop_id": shop_id, "sku_key": sku, "price": price, **extra}

    def prices(self) -> list[tuple[str, int]]:
        with self.app.app_context():
            rows = db.session.execute(
                select(Price.sku_key, Price.price_fen).order_by(Price.sku_key, Price.id)
            )
            return [tuple(row) for row in rows]


@pytest.fixture
def clock(app: Flask) -> Clock:
    # After the bindings (which take the real time), so backdating "since binding" stays past.
    value = Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5))
    app.config["CLOCK"] = value
    return value


@pytest.fixture
def shop(app: Flask, factory: Any, clock: Clock) -> Shop:
    supplier = factory.supplier(factory_name="义乌毛毯厂")
    merchant = factory.merchant(shop_name="A家纺")
    other_merchant = factory.merchant(shop_name="B百货")
    stranger = factory.merchant(shop_name="陌生店")
    with app.app_context():
        bind(merchant, supplier)
        bind(other_merchant, supplier)
        assign(merchant, supplier, "SKU-A1", 2, goods_name="珊瑚绒毛毯", spec="150x200cm 灰色")
        assign(merchant, supplier, "SKU-A2", goods_name="法兰绒床单", spec="单人")
        assign(other_merchant, supplier, "SKU-B1", goods_name="抱枕", spec="45cm")
    api = PriceApi(app.test_client(), factory.token(supplier))
    return Shop(app, clock, api, supplier, merchant, other_merchant, stranger)


def local(text: str) -> str:
    """An Asia/Shanghai wall-clock time as the API answers it (ISO 8601, UTC)."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    return moment.astimezone(UTC).isoformat()


# --- the list ----------------------------------------------------------------------------------


def test_list_missing_first_with_prices_counts_and_schedule(shop):
    later = (shop.clock.now + timedelta(days=2)).astimezone(SHANGHAI)
    shop.api.set(shop.item("SKU-A1", "12.5"))
    shop.api.set(shop.item("SKU-A1", "13", effective_from=later.strftime("%Y-%m-%d %H:%M:%S")))

    page = shop.api.get(URL).json
    assert (page["page"], page["per_page"], page["total"]) == (1, 50, 3)
    keys = [(row["merchant_name"], row["sku_key"], row["price"]) for row in page["items"]]
    # Missing first (by merchant, goods), then the priced one.
    assert keys == [
        ("A家纺", "SKU-A2", None),
        ("B百货", "SKU-B1", None),
        ("A家纺", "SKU-A1", "12.50"),
    ]
    priced = page["items"][2]
    assert priced == {
        "merchant_shop_id": shop.merchant.shop_id,
        "merchant_name": "A家纺",
        "sku_key": "SKU-A1",
        "goods_name": "珊瑚绒毛毯",
        "spec": "150x200cm 灰色",
        "order_count": 2,
        "price": "12.50",
        "effective_from": shop.clock.now.isoformat(),
        "next_price": "13.00",
        "next_effective_from": later.astimezone(UTC).isoformat(),
    }
    missing = page["items"][0]
    assert (missing["effective_from"], missing["next_price"], missing["order_count"]) == (
        None,
        None,
        1,
    )

    assert [row["sku_key"] for row in shop.api.rows(missing=1)] == ["SKU-A2", "SKU-B1"]
    assert len(shop.api.rows(missing=0)) == 3
    # Once the scheduled price is in force it is the price, and nothing is scheduled.
    shop.clock.advance(days=3)
    row = shop.api.rows(sku_key="SKU-A1")[0]
    assert (row["price"], row["next_price"], row["next_effective_from"]) == ("13.00", None, None)


def test_list_filters_by_merchant_search_and_sku(shop, factory):
    by_merchant = shop.api.rows(merchant_shop_id=shop.merchant.shop_id)
    assert {row["sku_key"] for row in by_merchant} == {"SKU-A1", "SKU-A2"}
    # Full-width digits are the same shop ID.
    full_width = shop.merchant.shop_id.translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )
    assert len(shop.api.rows(merchant_shop_id=full_width)) == 2
    assert [row["sku_key"] for row in shop.api.rows(merchant_shop_id=shop.other_merchant.shop_id)]
    # Unknown, never bound, a supplier's own ID: the same empty list.
    for shop_id in ("99999999", shop.stranger.shop_id, shop.supplier.shop_id, "abc"):
        assert shop.api.get(URL, merchant_shop_id=shop_id).json["total"] == 0, shop_id

    assert [row["sku_key"] for row in shop.api.rows(q="床单")] == ["SKU-A2"]
    assert [row["sku_key"] for row in shop.api.rows(q="45CM")] == ["SKU-B1"]
    assert {row["sku_key"] for row in shop.api.rows(q="sku-a")} == {"SKU-A1", "SKU-A2"}
    assert shop.api.rows(q="%") == []  # a wildcard is a character
    assert [row["sku_key"] for row in shop.api.rows(sku_key="SKU-A2")] == ["SKU-A2"]
    assert shop.api.rows(sku_key="SKU-A") == []  # exact
    both = shop.api.rows(merchant_shop_id=shop.merchant.shop_id, missing=1, q="毛毯")
    assert [row["sku_key"] for row in both] == ["SKU-A1"]


def test_a_sku_on_a_later_line_is_listed_with_its_own_goods(shop, app):
    cup = ImportedLine("3000000002", "陶瓷马克杯", "白色", "", "CUP-9", "", 1)
    with app.app_context():
        assign(shop.merchant, shop.supplier, "TWL-7", 2, goods_name="纯棉浴巾", more_lines=(cup,))
    [row] = shop.api.rows(sku_key="CUP-9")
    assert (row["goods_name"], row["spec"], row["order_count"]) == ("陶瓷马克杯", "白色", 2)


def test_list_pages_and_refuses_bad_arguments(shop):
    first = shop.api.get(URL, per_page=2).json
    second = shop.api.get(URL, per_page=2, page=2).json
    beyond = shop.api.get(URL, per_page=2, page=3).json
    assert (first["total"], second["total"], beyond["total"]) == (3, 3, 3)
    assert (len(first["items"]), len(second["items"]), beyond["items"]) == (2, 1, [])
    seen = [row["sku_key"] for row in first["items"] + second["items"]]
    assert sorted(seen) == ["SKU-A1", "SKU-A2", "SKU-B1"]
    assert shop.api.get(URL, per_page=200).status_code == 200
    for params, field in (
        ({"per_page": 201}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"per_page": "1.5"}, "per_page"),
        ({"missing": "yes"}, "missing"),
        ({"q": "x" * 201}, "q"),
        ({"sku_key": "x" * 201}, "sku_key"),
    ):
        response = shop.api.get(URL, **params)
        assert response.status_code == 422, params
        assert response.json["error"] == {
            "code": "validation_error",
            "message": response.json["error"]["message"],
            "field": field,
        }


# --- setting -----------------------------------------------------------------------------------


def test_put_answers_created_unchanged_and_refused_per_item(shop):
    answer = shop.api.set(
        shop.item("SKU-A1", "12.5"),  # 0 created
        shop.item("SKU-A2", "¥8"),  # 1 created
        shop.item("SKU-S1", "5", shop.stranger),  # 2 never bound
        shop.item("SKU-X", "5", merchant=None),  # 3 no such SKU for this supplier
        shop.item("SKU-A1", "13"),  # 4 repeated in the batch
        shop.item("SKU-B1", "12.345", shop.other_merchant),  # 5 three decimals
        shop.item("SKU-B1", "-1", shop.other_merchant),  # 6 negative
        shop.item("SKU-B1", "1", shop.other_merchant, effective_from="yesterday"),  # 7
        shop.item("  ", "1"),  # 8 empty SKU key
        {**shop.item("SKU-B1", "1", shop.other_merchant), "merchant_shop_id": "12345678"},  # 9
    )
    now = shop.clock.now.isoformat()
    assert answer["created"] == [
        {
            "index": 0,
            "merchant_shop_id": shop.merchant.shop_id,
            "sku_key": "SKU-A1",
            "price": "12.50",
            "effective_from": now,
        },
        {
            "index": 1,
            "merchant_shop_id": shop.merchant.shop_id,
            "sku_key": "SKU-A2",
            "price": "8.00",
            "effective_from": now,
        },
    ]
    assert answer["unchanged"] == []
    refused = [(r["index"], r["code"], r["sku_key"]) for r in answer["refused"]]
    assert refused == [
        (2, "not_bound", "SKU-S1"),
        (3, "unknown_sku", "SKU-X"),
        (4, "duplicate_sku", "SKU-A1"),
        (5, "invalid_price", "SKU-B1"),
        (6, "invalid_price", "SKU-B1"),
        (7, "invalid_effective_from", "SKU-B1"),
        (8, "invalid_sku_key", "  "),
        (9, "not_bound", "SKU-B1"),
    ]
    messages = {r["index"]: r["message"] for r in answer["refused"]}
    assert "两位小数" in messages[5] and "负数" in messages[6]
    assert messages[4] == "同一商家的 SKU 在本次提交中重复出现"  # no file row numbers
    assert all(r["message"] for r in answer["refused"])
    assert answer["refused"][0]["merchant_shop_id"] == shop.stranger.shop_id
    assert shop.prices() == [("SKU-A1", 1250), ("SKU-A2", 800)]

    # The same prices again: nothing new. A new price for SKU-A1: a new row, history kept.
    shop.clock.advance(minutes=1)
    again = shop.api.set(shop.item("SKU-A1", "12.50"), shop.item("SKU-A2", "9"))
    assert [(c["index"], c["sku_key"], c["effective_from"]) for c in again["unchanged"]] == [
        (0, "SKU-A1", now)
    ]
    assert [(c["index"], c["sku_key"], c["price"]) for c in again["created"]] == [
        (1, "SKU-A2", "9.00")
    ]
    assert again["refused"] == []
    assert shop.prices() == [("SKU-A1", 1250), ("SKU-A2", 800), ("SKU-A2", 900)]


def test_put_with_times_backdates_schedules_and_round_trips(shop):
    answer = shop.api.set(
        shop.item("SKU-A1", "10", effective_from="2026-01-01 08:00:00"),
        shop.item("SKU-A2", "20", effective_from="2026-01-01T00:00:00Z"),
        shop.item("SKU-B1", "30", shop.other_merchant, effective_from="1999-12-31"),
    )
    starts = {c["sku_key"]: c["effective_from"] for c in answer["created"]}
    assert starts == {"SKU-A1": local("2026-01-01 08:00:00"), "SKU-A2": "2026-01-01T00:00:00+00:00"}
    assert [(r["index"], r["code"]) for r in answer["refused"]] == [(2, "invalid_effective_from")]
    # More than a year ahead is refused; the list's own time means "change the price in force":
    # the new price starts now.
    row = shop.api.rows(sku_key="SKU-A1")[0]
    far = (shop.clock.now + timedelta(days=400)).isoformat()
    answer = shop.api.set(
        shop.item("SKU-A1", "11", effective_from=row["effective_from"]),
        shop.item("SKU-A2", "21", effective_from=far),
    )
    assert [(c["sku_key"], c["effective_from"]) for c in answer["created"]] == [
        ("SKU-A1", shop.clock.now.isoformat())
    ]
    assert [(r["index"], r["code"]) for r in answer["refused"]] == [(1, "invalid_effective_from")]
    # Times at the edge of the calendar are refusals too, never a 500.
    edges = ("0001-01-01 00:00:00", "9999-12-31T23:59:59-14:00", "2026-02-30", "")
    answer = shop.api.set(
        *(shop.item("SKU-B1", "1", shop.other_merchant, effective_from=edge) for edge in edges)
    )
    assert [(r["index"], r["code"]) for r in answer["refused"]] == [
        (0, "invalid_effective_from"),
        (1, "invalid_effective_from"),
        (2, "invalid_effective_from"),
    ]
    assert [(c["index"], c["sku_key"]) for c in answer["created"]] == [(3, "SKU-B1")]
    # null is "now", like an omitted time.
    shop.clock.advance(minutes=1)
    answer = shop.api.set(shop.item("SKU-B1", "30", shop.other_merchant, effective_from=None))
    assert [c["effective_from"] for c in answer["created"]] == [shop.clock.now.isoformat()]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": None}, "items"),
        ({"items": {}}, "items"),
        ({"items": "SKU-A1"}, "items"),
        ({"items": []}, "items"),
        ({"items": [None]}, "items[0]"),
        ({"items": [["x"]]}, "items[0]"),
        ({"items": [{"sku_key": "SKU-A1", "price": "1"}]}, "items[0].merchant_shop_id"),
        ({"items": [{"merchant_shop_id": 12345678, "sku_key": "A", "price": "1"}]}, None),
        ({"items": [{"merchant_shop_id": "1", "sku_key": ["A"], "price": "1"}]}, None),
        ({"items": [{"merchant_shop_id": "1", "sku_key": "A", "price": None}]}, None),
        ({"items": [{"merchant_shop_id": "1", "sku_key": "A", "price": 12.5}]}, None),
        ({"items": [{"merchant_shop_id": "1", "sku_key": "A", "price": 1250}]}, None),
        ({"items": [{"merchant_shop_id": "1", "sku_key": "A", "price": True}]}, None),
        ({"items": [{"merchant_shop_id": "1", "sku_key": "A", "price": {"yuan": 1}}]}, None),
        (
            {
                "items": [
                    {"merchant_shop_id": "1", "sku_key": "A", "price": "1", "effective_from": 1}
                ]
            },
            None,
        ),
    ],
)
def test_wrong_json_types_are_422_and_save_nothing(shop, body, field):
    if field is None:  # the bad field follows a good item, which is not saved either
        bad = body["items"][0]
        name = next(k for k, v in bad.items() if not isinstance(v, str))
        body = {"items": [shop.item("SKU-A1", "12.50"), bad]}
        field = f"items[1].{name}"
    response = shop.api.put(body)
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert field in error["message"]
    assert shop.prices() == []


def test_a_number_price_is_named_and_explained(shop):
    response = shop.api.put({"items": [shop.item("SKU-A1", 12.5)]})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "items[0].price"
    assert '"12.50"' in response.json["error"]["message"]


def test_bodies_that_are_not_a_json_object_are_clean_refusals(shop):
    client, headers = shop.api.client, shop.api.headers
    too_many = {"items": [shop.item("SKU-A1", "1")] * 1001}
    assert shop.api.put(too_many).status_code == 422
    assert shop.api.put(too_many).json["error"]["field"] == "items"
    assert shop.api.put([shop.item("SKU-A1", "1")]).status_code == 400
    assert client.put(API + URL, data="{", headers=headers).status_code == 400
    response = client.put(
        API + URL, data="{", headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_request"
    assert shop.api.put({"items": [shop.item("SKU-A1\x00", "1")]}).status_code == 400
    lone_surrogate = '{"items": [{"merchant_shop_id": "1", "sku_key": "\\ud800", "price": "1"}]}'
    response = client.put(
        API + URL, data=lone_surrogate, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    huge = shop.item("SKU-A1", "1" * 10_000, effective_from="2" * 10_000)
    answer = shop.api.set(huge, shop.item("x" * 10_000, "1"))
    assert [r["code"] for r in answer["refused"]] == ["invalid_effective_from", "invalid_sku_key"]
    assert shop.prices() == []


def test_other_supplier_cannot_see_or_set(shop, factory, app):
    shop.api.set(shop.item("SKU-A1", "12.50"))
    rival_user = factory.supplier(factory_name="别家工厂")
    with app.app_context():
        # Bound to the same merchant, with orders of another SKU.
        bind(shop.merchant, rival_user)
        assign(shop.merchant, rival_user, "SKU-R1")
    rival = PriceApi(app.test_client(), factory.token(rival_user))

    rows = rival.rows()
    assert [(row["sku_key"], row["price"]) for row in rows] == [("SKU-R1", None)]
    assert rival.get(URL, sku_key="SKU-A1").json["total"] == 0
    answer = rival.set(
        shop.item("SKU-A1", "1"),  # the merchant's SKU, but not assigned to the rival
        shop.item("SKU-B1", "1", shop.other_merchant),  # a merchant the rival never bound
    )
    assert answer["created"] == []
    assert [r["code"] for r in answer["refused"]] == ["unknown_sku", "not_bound"]
    assert shop.prices() == [("SKU-A1", 1250)]
    # The supplier's own list does not show the rival's SKU.
    assert "SKU-R1" not in {row["sku_key"] for row in shop.api.rows()}

    merchant = PriceApi(app.test_client(), factory.token(shop.merchant))
    assert merchant.get(URL).status_code == 403
    assert merchant.put({"items": [shop.item("SKU-A1", "1")]}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get(API + URL).status_code == 401
    assert anonymous.put(API + URL, json={"items": []}).status_code == 401


def test_after_the_binding_ends_priced_skus_stay_settable(shop, app, factory):
    shop.api.set(shop.item("SKU-A1", "12.50"))
    merchant = Api(app.test_client(), factory.token(shop.merchant))
    binding_id = next(
        b["id"]
        for b in merchant.get("/bindings").json["items"]
        if b["supplier"]["shop_id"] == shop.supplier.shop_id
    )
    ended = merchant.client.delete(f"{API}/bindings/{binding_id}", headers=merchant.headers)
    assert ended.status_code == 200 and ended.json["cancelled_assignments"] == 3
    # The orders left the supplier; the priced SKU stays listed (0 orders) and editable, so
    # work done stays billable. A SKU with neither orders nor a price is unknown now.
    rows = shop.api.rows(merchant_shop_id=shop.merchant.shop_id)
    assert [(row["sku_key"], row["order_count"], row["price"]) for row in rows] == [
        ("SKU-A1", 0, "12.50")
    ]
    shop.clock.advance(minutes=1)
    answer = shop.api.set(shop.item("SKU-A1", "13"), shop.item("SKU-A2", "7"))
    assert [c["sku_key"] for c in answer["created"]] == ["SKU-A1"]
    assert [(r["index"], r["code"]) for r in answer["refused"]] == [(1, "unknown_sku")]


# --- statements --------------------------------------------------------------------------------


def test_a_price_set_through_the_api_prices_a_statement_built_afterwards(
    app, factory, make_browser
):
    world = build_world(app, factory, make_browser)  # NO-PRICE returned 2026-11-20 11:00
    supplier = PriceApi(app.test_client(), world.supplier_token)
    merchant = Api(app.test_client(), world.merchant_token)
    item = {"merchant_shop_id": world.merchant_shop_id, "sku_key": "NO-PRICE", "price": "3.20"}
    assert [row["sku_key"] for row in supplier.rows(missing=1)] == ["NO-PRICE"]

    # Set now (after the return): the line stays without a price.
    assert [c["effective_from"] for c in supplier.set(item)["created"]] == [
        world.clock.now.isoformat()
    ]
    statement = built(merchant, world)
    assert (statement["missing_price_count"], statement["total_amount"]) == (1, "25.00")

    # Backdated to before the return: the next statement prices the line.
    world.clock.advance(minutes=10)
    answer = supplier.set({**item, "effective_from": "2026-11-01 00:00:00"})
    assert [c["effective_from"] for c in answer["created"]] == [local("2026-11-01 00:00:00")]
    statement = built(merchant, world)
    assert (statement["missing_price_count"], statement["total_amount"]) == (0, "28.20")
    assert statement["total_fen"] == 2820
    assert supplier.rows(missing=1) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Price)) == 3
