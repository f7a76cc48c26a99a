"""The dispatch API (DESIGN §6, §8.2): POST /dispatches per order with codes, strict types,
one set-based pass for big batches, GET /dispatches/export with since/until, the spec."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import event, select, update

from portal.domain import accounts, bindings, dispatch
from portal.domain.dispatch import DISPATCH_REFUSAL_MESSAGES
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import Merchant, Order, Supplier, User
from tests.factories import demo_order
from tests.test_api_orders import API, Api

HEADER = ["订单号", "快递公司", "快递单号"]


def order_no(n: int) -> str:
    return f"261121-8{n:014d}"


def zto_no(n: int) -> str:
    return f"7731{n:09d}"


@dataclass
class Shop:
    """A merchant bound to a factory, with an API token each; services run in app contexts."""

    app: Flask
    api: Api
    supplier_api: Api
    merchant_user: User
    supplier_user: User

    def merchant_id(self) -> int:
        return self.merchant_user.merchant.id

    def address(self, name: str, *, default: bool = False, merchant_id: int | None = None) -> int:
        with self.app.app_context():
            merchant = db.session.get(Merchant, merchant_id or self.merchant_id())
            address = accounts.add_return_address(
                merchant,
                accounts.AddressInput(name, "13800138000", "浙江省", "杭州市", "余杭区", "1 号"),
                make_default=default,
            )
            db.session.commit()
            return address.id

    def seed(self, numbers: list[str], **changes: Any) -> None:
        with self.app.app_context():
            merchant = db.session.get(Merchant, self.merchant_id())
            result = upsert_orders(
                current_keyring(), merchant, [demo_order(n, **changes) for n in numbers]
            )
            db.session.commit()
            assert result.rejected_count == 0

    def returned(self, numbers: list[str]) -> None:
        """Imported, assigned and returned for real (through the services)."""
        self.seed(numbers)
        assert self.api.assign(numbers, self.supplier_user.shop_id)["refused"] == []
        with self.app.app_context():
            supplier = db.session.get(Supplier, self.supplier_user.supplier.id)
            items = [TrackingItem(n, "ZTO", zto_no(int(n[-9:]))) for n in numbers]
            assert not return_tracking(supplier, items, None).refused
            db.session.commit()

    def force_returned(self, numbers: list[str]) -> None:
        """Many returned orders, fast: imported for real, stage and tracking set directly."""
        self.seed(numbers)
        with self.app.app_context():
            ids = dict(db.session.execute(select(Order.order_no, Order.id)).all())
            db.session.execute(
                update(Order),
                [
                    {
                        "id": ids[n],
                        "stage": "returned",
                        "supplier_id": self.supplier_user.supplier.id,
                        "courier": "ZTO",
                        "tracking_no": zto_no(int(n[-9:])),
                        "returned_at": datetime(2026, 11, 21, tzinfo=UTC),
                    }
                    for n in numbers
                ],
            )
            db.session.commit()

    def stages(self) -> dict[str, str]:
        with self.app.app_context():
            return dict(db.session.execute(select(Order.order_no, Order.stage)).all())

    def order(self, number: str) -> Order:
        with self.app.app_context():
            order = db.session.scalar(select(Order).where(Order.order_no == number))
            db.session.expunge(order)
            return order

    def dispatch_at(self, numbers: list[str], when: datetime) -> None:
        with self.app.app_context():
            result = dispatch.dispatch_orders(
                db.session.get(Merchant, self.merchant_id()), numbers, None, now=when
            )
            db.session.commit()
            assert sorted(result.dispatched) == sorted(numbers), result.refused


@pytest.fixture
def shop(app: Flask, factory: Any) -> Shop:
    m_user, s_user = factory.merchant(), factory.supplier(factory_name="义乌毛毯厂")
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        binding = bindings.apply_for_binding(merchant, s_user.shop_id)
        bindings.accept_binding(db.session.get(Supplier, s_user.supplier.id), binding.id)
        db.session.commit()
    client = app.test_client()
    return Shop(
        app, Api(client, factory.token(m_user)), Api(client, factory.token(s_user)), m_user, s_user
    )


def codes(answer: dict[str, Any]) -> dict[str, str]:
    return {item["order_no"]: item["code"] for item in answer["refused"]}


# --- POST /dispatches --------------------------------------------------------------------------


def test_dispatch_answers_per_order_with_codes_and_messages(shop: Shop) -> None:
    default = shop.address("默认仓", default=True)
    numbers = [order_no(n) for n in range(1, 6)]
    shop.returned(numbers)
    shop.seed([numbers[2]], after_sale_status="退款中", after_sale_active=True)
    shop.seed([numbers[3]], audit_hold=True)
    shop.seed([numbers[4]], platform_status="cancelled", platform_status_text="已取消")
    shop.seed([order_no(10)])
    shop.seed([order_no(11)])
    shop.api.assign([order_no(11)], shop.supplier_user.shop_id)

    body = {"order_nos": [*numbers, order_no(10), order_no(11), "nope", numbers[0]]}
    response = shop.api.post("/dispatches", body)
    assert response.status_code == 200, response.json
    assert response.json["dispatched"] == numbers[:2]  # the repeated number counts once
    assert codes(response.json) == {
        numbers[2]: "after_sale",
        numbers[3]: "audit_hold",
        numbers[4]: "not_awaiting_shipment",
        order_no(10): "not_assigned",
        order_no(11): "not_returned",
        "nope": "not_found",
    }
    messages = {item["code"]: item["message"] for item in response.json["refused"]}
    assert messages["after_sale"] == "售后中，需确认后才能发货"
    assert messages["audit_hold"] == "平台审核中，需确认后才能发货"
    assert messages["not_returned"] == "厂家还没有回传运单号"
    assert messages["not_found"] == "找不到该记录"
    first = shop.order(numbers[0])
    assert (first.stage, first.return_address_id) == ("dispatched", default)
    assert first.dispatched_by == shop.merchant_user.id  # the token's user

    confirmed = shop.api.post("/dispatches", {"order_nos": numbers[:4], "confirm_holds": True}).json
    assert confirmed["dispatched"] == numbers[2:4]
    assert codes(confirmed) == {numbers[0]: "dispatched", numbers[1]: "dispatched"}
    assert shop.stages()[numbers[4]] == "returned"


def test_a_chosen_address_is_used_and_others_are_refused(shop: Shop, factory: Any) -> None:
    shop.address("默认仓", default=True)
    chosen = shop.address("北仓")
    other = factory.merchant()
    theirs = shop.address("他仓", default=True, merchant_id=other.merchant.id)
    shop.returned([order_no(1), order_no(2)])

    for address_id in (theirs, 2**31 - 1, 2**63, -1, 0):
        response = shop.api.post(
            "/dispatches", {"order_nos": [order_no(1)], "return_address_id": address_id}
        )
        assert response.status_code == 404, (address_id, response.json)
        assert response.json["error"] == {
            "code": "not_found",
            "message": "找不到该退货地址",
            "field": "return_address_id",
        }
    assert shop.stages()[order_no(1)] == "returned"

    response = shop.api.post(
        "/dispatches", {"order_nos": [order_no(1)], "return_address_id": chosen}
    )
    assert response.json["dispatched"] == [order_no(1)]
    assert shop.order(order_no(1)).return_address_id == chosen
    # null is "the default"
    response = shop.api.post("/dispatches", {"order_nos": [order_no(2)], "return_address_id": None})
    assert response.json["dispatched"] == [order_no(2)]


def test_without_a_return_address_nothing_is_dispatched(shop: Shop) -> None:
    shop.returned([order_no(1)])
    response = shop.api.post("/dispatches", {"order_nos": [order_no(1)]})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "return_address_required"
    assert response.json["error"]["field"] == "return_address_id"
    assert shop.stages()[order_no(1)] == "returned"


TYPE_CONFUSION = [
    ({}, "validation_error", "order_nos"),
    ({"order_nos": None}, "validation_error", "order_nos"),
    ({"order_nos": "261121-800000000000001"}, "validation_error", "order_nos"),
    ({"order_nos": {"0": "x"}}, "validation_error", "order_nos"),
    ({"order_nos": [1]}, "validation_error", "order_nos[0]"),
    ({"order_nos": ["ok", None]}, "validation_error", "order_nos[1]"),
    ({"order_nos": [["x"]]}, "validation_error", "order_nos[0]"),
    ({"order_nos": []}, "nothing_selected", "order_nos"),
    ({"order_nos": ["x"], "confirm_holds": "true"}, "validation_error", "confirm_holds"),
    ({"order_nos": ["x"], "confirm_holds": 1}, "validation_error", "confirm_holds"),
    ({"order_nos": ["x"], "confirm_holds": 0}, "validation_error", "confirm_holds"),
    ({"order_nos": ["x"], "confirm_holds": []}, "validation_error", "confirm_holds"),
    ({"order_nos": ["x"], "return_address_id": "1"}, "validation_error", "return_address_id"),
    ({"order_nos": ["x"], "return_address_id": 1.5}, "validation_error", "return_address_id"),
    ({"order_nos": ["x"], "return_address_id": 1.0}, "validation_error", "return_address_id"),
    ({"order_nos": ["x"], "return_address_id": True}, "validation_error", "return_address_id"),
    ({"order_nos": ["x"], "return_address_id": [1]}, "validation_error", "return_address_id"),
]


@pytest.mark.parametrize(("body", "code", "field"), TYPE_CONFUSION)
def test_type_confusion_is_a_422_naming_the_field(
    shop: Shop, body: dict[str, Any], code: str, field: str
) -> None:
    shop.address("默认仓", default=True)
    shop.returned([order_no(1)])
    if "order_nos" in body and body["order_nos"] == ["x"]:
        body = {**body, "order_nos": [order_no(1)]}
    response = shop.api.post("/dispatches", body)
    assert response.status_code == 422, response.json
    assert (response.json["error"]["code"], response.json["error"]["field"]) == (code, field)
    assert response.json["error"]["message"]
    assert shop.stages()[order_no(1)] == "returned"


@pytest.mark.parametrize(
    "raw", [b"[]", b'"x"', b"null", b"{", b"\xff\xfe", b'{"order_nos": ["\\u0000"]}']
)
def test_a_body_that_is_no_json_object_is_refused(shop: Shop, raw: bytes) -> None:
    response = shop.api.client.post(
        f"{API}/dispatches",
        data=raw,
        headers={**shop.api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.status_code
    assert response.json["error"]["code"] in ("invalid_request", "validation_error")


def test_up_to_5000_order_numbers_at_once(shop: Shop) -> None:
    shop.address("默认仓", default=True)
    too_many = shop.api.post("/dispatches", {"order_nos": [f"x{i}" for i in range(5001)]})
    assert too_many.status_code == 422
    assert too_many.json["error"]["code"] == "too_many_orders"
    assert too_many.json["error"]["message"] == "一次最多提交 5000 个订单号"

    numbers = [order_no(n) for n in range(5000)]
    shop.force_returned(numbers)
    response = shop.api.post("/dispatches", {"order_nos": numbers})
    assert response.status_code == 200
    assert len(response.json["dispatched"]) == 5000 and response.json["refused"] == []
    assert set(shop.stages().values()) == {"dispatched"}


def _statements_for(shop: Shop, body: dict[str, Any]) -> tuple[int, Any]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with shop.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = shop.api.post("/dispatches", body)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), response


def test_a_batch_is_one_set_based_pass(shop: Shop) -> None:
    """The SQL statements of a dispatch do not grow with the orders in it."""
    shop.address("默认仓", default=True)
    with shop.app.app_context():  # webhooks too: one delivery per 500 orders, one INSERT
        db.session.execute(
            update(Merchant)
            .where(Merchant.id == shop.merchant_id())
            .values(webhook_url="http://127.0.0.1:9/hook", webhook_secret="s" * 64)
        )
        db.session.commit()
    small = [order_no(n) for n in range(50)]
    large = [order_no(n) for n in range(50, 550)]
    shop.force_returned(small + large)

    assert shop.api.get("/me").status_code == 200  # the token's last use is recorded now
    small_count, small_answer = _statements_for(shop, {"order_nos": small})
    large_count, large_answer = _statements_for(shop, {"order_nos": large})
    assert len(small_answer.json["dispatched"]) == 50
    assert len(large_answer.json["dispatched"]) == 500
    assert large_count == small_count, (small_count, large_count)
    assert small_count < 30


# --- GET /dispatches/export --------------------------------------------------------------------


def _rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def _numbers(response: Any) -> list[str]:
    rows = _rows(response)
    assert rows[0] == HEADER
    return [row[0] for row in rows[1:]]


def test_export_with_since_and_until(shop: Shop) -> None:
    shop.address("默认仓", default=True)
    a, b, c = order_no(1), order_no(2), order_no(3)
    shop.returned([a, b, c])
    shop.dispatch_at([a], datetime(2026, 11, 20, 15, 59, tzinfo=UTC))  # 11-20 23:59 Shanghai
    shop.dispatch_at([b], datetime(2026, 11, 20, 16, 0, tzinfo=UTC))  # 11-21 00:00 Shanghai
    shop.dispatch_at([c], datetime(2026, 11, 21, 16, 30, tzinfo=UTC))  # 11-22 00:30 Shanghai

    everything = shop.api.get("/dispatches/export")
    assert everything.mimetype == "text/csv"
    assert everything.headers["Content-Disposition"].startswith('attachment; filename="dispatch-')
    assert _rows(everything) == [
        HEADER,
        [a, "中通快递", zto_no(1)],
        [b, "中通快递", zto_no(2)],
        [c, "中通快递", zto_no(3)],
    ]
    # dates are Shanghai days, `until` included
    assert _numbers(shop.api.get("/dispatches/export", since="2026-11-21")) == [b, c]
    assert _numbers(shop.api.get("/dispatches/export", until="2026-11-20")) == [a]
    assert _numbers(shop.api.get("/dispatches/export", since="2026-11-21", until="2026-11-21")) == [
        b
    ]
    # datetimes carry their offset; `until` is exclusive
    assert _numbers(
        shop.api.get(
            "/dispatches/export",
            since="2026-11-20T16:00:00Z",
            until="2026-11-22T00:30:00+08:00",
        )
    ) == [b]
    # an unencoded "+08:00" arrives as " 08:00" and still means +08:00
    raw = shop.api.client.get(
        f"{API}/dispatches/export?since=2026-11-21T00:00:00+08:00", headers=shop.api.headers
    )
    assert _numbers(raw) == [b, c]

    xlsx = shop.api.get("/dispatches/export", format="xlsx", since="2026-11-22")
    assert xlsx.status_code == 200
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.get_data())).active.values)
    xlsx.close()
    assert rows == [tuple(HEADER), (c, "中通快递", zto_no(3))]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-13-01"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-21T10:00:00"}, "since"),  # no offset: which 10:00?
        ({"until": "9999-12-31"}, "until"),
        ({"until": "9999-12-31T23:59:59+00:00"}, "until"),
        ({"since": "0001-01-01"}, "since"),
        ({"since": "2026-11-22", "until": "2026-11-21"}, "until"),
        ({"since": "2026-11-21T10:00:00Z", "until": "2026-11-21T10:00:00Z"}, "until"),
        ({"format": "pdf"}, "format"),
        ({"format": ""}, "format"),
    ],
)
def test_export_refuses_bad_arguments(shop: Shop, params: dict[str, str], field: str) -> None:
    response = shop.api.get("/dispatches/export", **params)
    assert response.status_code == 422, response.status_code
    assert (response.json["error"]["code"], response.json["error"]["field"]) == (
        "validation_error",
        field,
    )


def test_unstorable_text_in_the_arguments_is_a_clean_400(shop: Shop) -> None:
    response = shop.api.get("/dispatches/export", since="\x00")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request"


def test_export_and_dispatch_are_the_merchants_alone(shop: Shop, factory: Any) -> None:
    shop.address("默认仓", default=True)
    shop.returned([order_no(1)])
    shop.dispatch_at([order_no(1)], datetime(2026, 11, 21, tzinfo=UTC))
    shop.returned([order_no(2)])
    other_user = factory.merchant()
    shop.address("他仓", default=True, merchant_id=other_user.merchant.id)
    other = Api(shop.api.client, factory.token(other_user))
    assert _numbers(other.get("/dispatches/export")) == []
    answer = other.post("/dispatches", {"order_nos": [order_no(1), order_no(2)]}).json
    assert codes(answer) == {order_no(1): "not_found", order_no(2): "not_found"}
    assert shop.stages()[order_no(2)] == "returned"
    for response in (
        shop.supplier_api.post("/dispatches", {"order_nos": [order_no(2)]}),
        shop.supplier_api.get("/dispatches/export"),
    ):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert shop.stages()[order_no(2)] == "returned"


# --- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_documents_the_dispatch_endpoints(app: Flask) -> None:
    spec = json.loads(app.test_client().get(f"{API}/openapi.json").get_data(as_text=True))
    create = spec["paths"]["/dispatches"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DispatchInput"
    }
    assert {"200", "401", "403", "404", "422"} <= set(create["responses"])
    schemas = spec["components"]["schemas"]
    body = schemas["DispatchInput"]
    assert body["required"] == ["order_nos"]
    assert body["properties"]["order_nos"]["maxItems"] == 5000
    assert body["properties"]["confirm_holds"]["type"] == "boolean"
    # every code the service can refuse with is documented, and every dispatch wording too
    documented = set(schemas["DispatchRefusal"]["properties"]["code"]["enum"])
    assert set(DISPATCH_REFUSAL_MESSAGES) <= documented
    assert documented == {
        "not_found",
        "not_assigned",
        "assignment_cancelled",
        "not_returned",
        "dispatched",
        "not_awaiting_shipment",
        "after_sale",
        "audit_hold",
    }
    export = spec["paths"]["/dispatches/export"]["get"]
    assert {p["name"] for p in export["parameters"]} == {"since", "until", "format"}
    assert set(export["responses"]["200"]["content"]) == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
