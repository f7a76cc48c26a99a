"""The order and allocation API (DESIGN §4.2, §8.2): upsert, import, listing, allocation."""

from __future__ import annotations

import copy
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from portal.domain.demo_data import generate_orders, write_platform_export
from portal.extensions import db
from portal.models import Assignment, Order, OrderEvent, OrderLine
from tests.factories import statements_sent

SAMPLE = Path(__file__).parent / "data" / "pdd_orders_export_gbk.csv"
DOUYIN_SAMPLE = Path(__file__).parent / "data" / "douyin_orders_export.csv"
API = "/api/v1"


class Api:
    """A bearer-token client for /api/v1."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: object) -> Any:
        return self.client.get(API + path, query_string=params, headers=self.headers)

    def post(self, path: str, body: object = None) -> Any:
        return self.client.post(API + path, json=body, headers=self.headers)

    def upload(self, data: bytes, filename: str = "orders.csv") -> Any:
        return self.client.post(
            f"{API}/orders/import",
            data={"file": (io.BytesIO(data), filename)},
            headers=self.headers,
            content_type="multipart/form-data",
        )

    def order(self, order_no: str) -> dict[str, Any]:
        response = self.get(f"/orders/{order_no}")
        assert response.status_code == 200, response.json
        return response.json

    def upsert(self, *orders: dict[str, Any]) -> dict[str, Any]:
        response = self.post("/orders", {"orders": list(orders)})
        assert response.status_code == 200, response.json
        return response.json

    def assign(self, order_nos: list[str], shop_id: str) -> dict[str, Any]:
        response = self.post("/allocations", {"order_nos": order_nos, "supplier_shop_id": shop_id})
        assert response.status_code == 200, response.json
        return response.json


@dataclass
class Desk:
    app: Flask
    merchant: Api
    supplier: Api
    shop_id: str  # the bound supplier's


@pytest.fixture
def desk(app, factory) -> Desk:
    """A merchant bound (through the API) to a supplier, with a token for each."""
    m_user, s_user = factory.merchant(), factory.supplier(factory_name="义乌毛毯厂")
    client = app.test_client()
    merchant, supplier = Api(client, factory.token(m_user)), Api(client, factory.token(s_user))
    binding = merchant.post("/bindings", {"supplier_shop_id": s_user.shop_id}).json
    assert supplier.post(f"/bindings/{binding['id']}/accept").json["status"] == "active"
    return Desk(app, merchant, supplier, s_user.shop_id)


def order_json(order_no: str = "261121-000000000000001", **changes: Any) -> dict[str, Any]:
    """An assignable order in the API shape; `receiver=` and `line=` update those parts."""
    order: dict[str, Any] = {
        "order_no": order_no,
        "platform_status": "awaiting_shipment",
        "after_sale_active": False,
        "after_sale_status": "",
        "audit_hold": False,
        "paid_at": "2026-11-21T10:00:00+08:00",
        "promise_ship_at": "2026-11-23T10:00:00+08:00",
        "buyer_note": "请尽快发货",
        "merchant_note": "",
        "receiver": {
            "name": "张伟",
            "phone": "13577446522",
            "province": "广东省",
            "city": "广州市",
            "district": "天河区",
            "detail": "石牌街道团结路887号18栋3004室",
        },
        "lines": [
            {
                "goods_id": "9021334455",
                "goods_name": "加厚珊瑚绒毛毯 冬季保暖",
                "spec": "150x200cm 灰色",
                "sku_code": "BLK-150-GRY",
                "quantity": 2,
            }
        ],
    }
    order["receiver"].update(changes.pop("receiver", {}))
    order["lines"][0].update(changes.pop("line", {}))
    order.update(changes)
    return order


def numbers(count: int, prefix: str = "261121-1000000000000") -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(1, count + 1)]


def events(app: Flask, order_no: str) -> list[tuple[str, str, int | None]]:
    """(kind, reason, actor_id) of an order's history, oldest first."""
    with app.app_context():
        return [
            (e.kind, e.reason, e.actor_id)
            for e in db.session.scalars(
                select(OrderEvent)
                .join(Order, Order.id == OrderEvent.order_id)
                .where(Order.order_no == order_no)
                .order_by(OrderEvent.id)
            )
        ]


def order_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Order))


# --- upsert --------------------------------------------------------------------------------


def test_upsert_counts_shape_and_repost_is_noop(desk):
    api = desk.merchant
    first, second, third = numbers(3)
    result = api.upsert(order_json(first), order_json(second), order_json(third))
    assert result == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": [],
        "rejected_count": 0,
        "cancelled_assignments": 0,
    }
    again = api.upsert(order_json(first), order_json(second), order_json(third))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    changed = api.upsert(
        order_json(first), order_json(second, merchant_note="加急"), order_json(third)
    )
    assert (changed["created"], changed["updated"], changed["unchanged"]) == (0, 1, 2)

    order = api.order(second)
    assert order["merchant_note"] == "加急"
    assert order["receiver"] == {
        "name": "张伟",
        "phone": "13577446522",
        "province": "广东省",
        "city": "广州市",
        "district": "天河区",
        "street": "",
        "detail": "石牌街道团结路887号18栋3004室",
    }
    assert order["lines"] == [order_json()["lines"][0]]
    assert order["paid_at"] == "2026-11-21T02:00:00+00:00"
    assert order["platform_status"] == "awaiting_shipment"
    assert order["platform_status_text"] == "待发货"
    assert order["stage"] == "unassigned" and order["supplier"] is None
    assert order["tracking"] == [] and order["assign_blockers"] == []
    assert order["print_blockers"] == [] and order["address_change_pending"] is False
    assert datetime.fromisoformat(order["created_at"]).tzinfo is not None

    # An order read from the API can be posted back as it is: nothing changes.
    assert api.upsert(order)["unchanged"] == 1


def test_street_is_put_in_front_of_detail_once(desk):
    api = desk.merchant
    split, whole = numbers(2)
    api.upsert(
        order_json(split, receiver={"street": "石牌街道", "detail": "团结路887号"}),
        order_json(whole, receiver={"street": "石牌街道", "detail": "石牌街道团结路887号"}),
    )
    for order_no in (split, whole):
        receiver = api.order(order_no)["receiver"]
        assert receiver["detail"] == "石牌街道团结路887号" and receiver["street"] == ""


def test_demo_generator_orders_go_in_through_the_api(desk):
    generated = list(generate_orders(30, seed=7, now=datetime(2026, 11, 21, tzinfo=UTC)))
    for order in generated:
        for key in ("paid_at", "promise_ship_at"):
            order[key] = order[key].isoformat() if order[key] else None
    result = desk.merchant.upsert(*generated)
    assert result["created"] == 30, result["rejected"]
    sample = generated[0]
    stored = desk.merchant.order(sample["order_no"])
    assert stored["receiver"]["detail"] == sample["receiver"]["detail"]
    assert stored["platform_status_text"] == sample["platform_status_text"]
    assert stored["paid_fen"] == sample["paid_fen"]


def test_bad_orders_are_rejected_one_by_one_while_good_ones_go_in(desk):
    good_a, good_b, *bad = numbers(12)
    orders = [
        order_json(good_a),
        order_json("12"),  # too short
        order_json(bad[0], line={"quantity": 0}),
        order_json(bad[1], lines=[order_json()["lines"][0]] * 51),  # at most 50
        order_json(bad[2], paid_at="2026-11-21 10:00:00"),  # naive
        order_json(bad[3], receiver={"phone": "请联系我"}),
        order_json(bad[4], platform_status="待发货"),
        order_json(bad[5], line={"goods_name": "毯" * 201}),
        order_json(bad[6], receiver={"street": "街" * 100, "detail": "路" * 101}),
        order_json(good_a, buyer_note="第二次"),  # repeated in this request
        order_json(bad[7], line={"goods_name": " "}),
        order_json(good_b, buyer_note="正常\x00备注\u200b"),  # cleaned, not refused
    ]
    response = desk.merchant.post("/orders", {"orders": orders})
    assert response.status_code == 200
    result = response.json
    assert result["created"] == 2 and result["rejected_count"] == 10
    rejected = [(r["order_no"], r["code"], r["field"]) for r in result["rejected"]]
    assert rejected == [
        ("12", "invalid_order_no", "orders[1].order_no"),
        (bad[0], "invalid_quantity", "orders[2].lines[0].quantity"),
        (bad[1], "validation_error", "orders[3].lines"),
        (bad[2], "invalid_datetime", "orders[4].paid_at"),
        (bad[3], "invalid_phone", "orders[5].receiver.phone"),
        (bad[4], "unknown_status", "orders[6].platform_status"),
        (bad[5], "field_too_long", "orders[7].lines[0].goods_name"),
        (bad[6], "field_too_long", "orders[8].receiver.detail"),
        (good_a, "duplicate_in_request", "orders[9].order_no"),
        (bad[7], "missing_goods", "orders[10].lines[0].goods_name"),
    ]
    messages = {r["field"]: r["message"] for r in result["rejected"]}
    assert "应包含 1 到 50 个商品行" in messages["orders[3].lines"]
    assert "时区" in messages["orders[4].paid_at"]
    assert "200" in messages["orders[7].lines[0].goods_name"]
    assert desk.merchant.order(good_a)["buyer_note"] == "请尽快发货"  # the first one won
    assert desk.merchant.order(good_b)["buyer_note"] == "正常备注"
    assert order_count(desk.app) == 2


LINE = order_json()["lines"][0]
TYPE_CONFUSION = [
    # (where, value, code, field below orders[1])
    ("order_no", 261121000000000001, "validation_error", ".order_no"),
    ("order_no", {"no": "261121-1"}, "validation_error", ".order_no"),
    ("order_no", None, "missing_order_no", ".order_no"),
    ("platform_status", True, "validation_error", ".platform_status"),
    ("platform_status", ["awaiting_shipment"], "validation_error", ".platform_status"),
    ("platform_status", None, "validation_error", ".platform_status"),
    ("audit_hold", "否", "validation_error", ".audit_hold"),
    ("audit_hold", 0, "validation_error", ".audit_hold"),
    ("after_sale_active", "true", "validation_error", ".after_sale_active"),
    ("after_sale_status", 5, "validation_error", ".after_sale_status"),
    ("paid_at", 1763690400, "validation_error", ".paid_at"),
    ("paid_at", "2026-11-21", "invalid_datetime", ".paid_at"),
    ("paid_at", "昨天", "invalid_datetime", ".paid_at"),
    ("paid_at", {"date": "2026-11-21"}, "validation_error", ".paid_at"),
    ("buyer_note", {"text": "x"}, "validation_error", ".buyer_note"),
    ("buyer_note", ["x"], "validation_error", ".buyer_note"),
    ("buyer_note", False, "validation_error", ".buyer_note"),
    ("goods_total_fen", "179.80", "validation_error", ".goods_total_fen"),
    ("goods_total_fen", 179.8, "validation_error", ".goods_total_fen"),
    ("goods_total_fen", -1, "invalid_amount", ".goods_total_fen"),
    ("receiver", "张伟 13577446522", "validation_error", ".receiver"),
    ("receiver", None, "validation_error", ".receiver"),
    ("receiver", [], "validation_error", ".receiver"),
    ("receiver.name", ["张伟"], "validation_error", ".receiver.name"),
    ("receiver.phone", 13577446522, "validation_error", ".receiver.phone"),
    ("receiver.detail", "团结路\ud800", "validation_error", ".receiver.detail"),
    ("receiver.province", True, "validation_error", ".receiver.province"),
    ("lines", LINE, "validation_error", ".lines"),
    ("lines", [], "validation_error", ".lines"),
    ("lines", None, "validation_error", ".lines"),
    ("lines", "毛毯 x2", "validation_error", ".lines"),
    ("lines", ["毛毯"], "validation_error", ".lines[0]"),
    ("lines", [None], "validation_error", ".lines[0]"),
    ("line.quantity", "2", "validation_error", ".lines[0].quantity"),
    ("line.quantity", 1.5, "validation_error", ".lines[0].quantity"),
    ("line.quantity", 2.0, "validation_error", ".lines[0].quantity"),
    ("line.quantity", True, "validation_error", ".lines[0].quantity"),
    ("line.quantity", None, "validation_error", ".lines[0].quantity"),
    ("line.quantity", [2], "validation_error", ".lines[0].quantity"),
    ("line.quantity", 100_001, "invalid_quantity", ".lines[0].quantity"),
    ("line.quantity", 10**30, "invalid_quantity", ".lines[0].quantity"),
    ("line.goods_name", 42, "validation_error", ".lines[0].goods_name"),
    ("line.goods_name", None, "missing_goods", ".lines[0].goods_name"),
    ("line.sku_code", {"sku": "A"}, "validation_error", ".lines[0].sku_code"),
    (None, "an order", "validation_error", ""),
    (None, None, "validation_error", ""),
    (None, [order_json()], "validation_error", ""),
    (None, 42, "validation_error", ""),
]


def confused(where: str | None, value: object) -> object:
    if where is None:
        return value
    order = copy.deepcopy(order_json("261121-300000000000001"))
    target = order
    parts = where.split(".")
    if parts[0] == "line":
        target, parts = order["lines"][0], parts[1:]
    elif parts[0] == "receiver" and len(parts) > 1:
        target, parts = order["receiver"], parts[1:]
    target[parts[0]] = value
    return order


def test_type_confusion_is_a_clear_refusal_not_a_crash(desk):
    """Each wrong JSON type refuses that order, naming the field; the good order still goes in."""
    good = order_json("261121-300000000000002")
    failures = []
    for where, value, code, field in TYPE_CONFUSION:
        response = desk.merchant.post("/orders", {"orders": [good, confused(where, value)]})
        case = f"{where}={value!r}"[:60]
        if response.status_code != 200:
            failures.append(f"{case}: HTTP {response.status_code}")
            continue
        result = response.json
        rejection = result["rejected"][0] if len(result["rejected"]) == 1 else {}
        expected = (1, code, f"orders[1]{field}", True)
        actual = (
            result["created"] + result["unchanged"],
            rejection.get("code"),
            rejection.get("field"),
            rejection.get("field", "?") in rejection.get("message", ""),
        )
        if actual != expected:
            failures.append(f"{case}: {actual} != {expected}")
    assert not failures, "\n".join(failures)
    assert order_count(desk.app) == 1


def test_upsert_envelope_errors(desk):
    for body, status, code in (
        ({}, 422, "validation_error"),
        ({"orders": None}, 422, "validation_error"),
        ({"orders": "261121-000000000000001"}, 422, "validation_error"),
        ({"orders": {"order_no": "261121-000000000000001"}}, 422, "validation_error"),
        ({"orders": 3}, 422, "validation_error"),
        ([order_json()], 400, "invalid_request"),
        ("orders", 400, "invalid_request"),
    ):
        response = desk.merchant.post("/orders", body)
        assert response.status_code == status, body
        assert response.json["error"]["code"] == code
        if status == 422:
            assert response.json["error"]["field"] == "orders"
    response = desk.merchant.client.post(
        f"{API}/orders", data="orders=1", headers=desk.merchant.headers
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_request"
    assert order_count(desk.app) == 0


def test_more_than_1000_orders_is_refused_whole(desk):
    orders = [order_json(f"261121-4{i:014d}") for i in range(1001)]
    response = desk.merchant.post("/orders", {"orders": orders})
    assert response.status_code == 422
    assert response.json["error"] == {
        "code": "too_many_orders",
        "message": "一次最多提交 1000 个订单",
        "field": "orders",
    }
    assert order_count(desk.app) == 0
    assert desk.merchant.upsert(*orders[:1000])["created"] == 1000


# --- import --------------------------------------------------------------------------------


def test_import_sample_file_then_again_is_noop(desk):
    response = desk.merchant.upload(SAMPLE.read_bytes(), SAMPLE.name)
    assert response.status_code == 200
    assert response.json["created"] == 40 and response.json["rejected"] == []
    assert response.json["platform"] == "pdd"
    again = desk.merchant.upload(SAMPLE.read_bytes(), SAMPLE.name).json
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 40)
    # Cities without a county level are complete without a district.
    dongguan = desk.merchant.order("261119-726629807805700")
    assert dongguan["receiver"]["city"] == "东莞市" and dongguan["assign_blockers"] == []
    assert desk.merchant.get("/orders").json["total"] == 40


def test_import_reports_bad_rows_with_their_row_number(desk):
    lines = SAMPLE.read_bytes().decode("gbk").splitlines()
    cells = lines[3].split(",")
    cells[9] = "两件"  # 商品数量(件)
    lines[3] = ",".join(cells)
    result = desk.merchant.upload("\n".join(lines).encode("gbk")).json
    assert result["created"] == 39
    [rejection] = result["rejected"]
    assert rejection["row"] == 4 and rejection["code"] == "invalid_quantity"
    assert rejection["order_no"] == cells[1].strip()


def test_import_missing_column_imports_nothing(desk):
    text = SAMPLE.read_bytes().decode("gbk")
    header = text.splitlines()[0]
    drop = header.split(",").index("手机")
    stripped = [
        ",".join(c for i, c in enumerate(r.split(",")) if i != drop) for r in text.split("\n")
    ]
    response = desk.merchant.upload("\n".join(stripped).encode("utf-8"))
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "missing_columns" and "手机" in error["message"]
    assert error["field"] == "file"
    assert order_count(desk.app) == 0


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"%PDF-1.7 not a spreadsheet", "orders.pdf"),
        (b"", "orders.csv"),
        (b"PK\x03\x04 broken zip", "orders.xlsx"),
    ],
)
def test_import_unreadable_file(desk, data, filename):
    response = desk.merchant.upload(data, filename)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_file"
    assert response.json["error"]["message"]


def test_import_failing_late_in_the_file_imports_nothing(desk):
    """A damaged tail after more than one batch of good rows: the flushed batches roll back."""
    stream = io.BytesIO()
    orders = generate_orders(1200, seed=3, now=datetime(2026, 11, 21, tzinfo=UTC))
    write_platform_export(orders, stream, encoding="utf-8")
    damaged = stream.getvalue() + b'x,"' + b"a" * 200_000 + b"\r\n"  # unclosed quote
    response = desk.merchant.upload(damaged)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid_file"
    assert order_count(desk.app) == 0


def test_import_without_a_file(desk):
    response = desk.merchant.client.post(
        f"{API}/orders/import", data={"other": "x"}, headers=desk.merchant.headers
    )
    assert response.status_code == 422
    assert response.json["error"]["field"] == "file"


# --- §4.2: what changes on update ----------------------------------------------------------

# kind → (order changes that bring the hold, assignment refusal, cancellation reason, lifted)
HOLDS = {
    "after_sale": (
        {"after_sale_active": True, "after_sale_status": "买家申请退款，待商家处理"},
        "after_sale",
        "after_sale",
        {"after_sale_active": False, "after_sale_status": "无售后或售后取消"},
    ),
    "audit_hold": ({"audit_hold": True}, "audit_hold", "audit_hold", {"audit_hold": False}),
    "cancelled": (
        {"platform_status": "cancelled", "platform_status_text": "未发货，退款成功"},
        "not_awaiting_shipment",
        "cancelled",
        None,
    ),
}


@pytest.mark.parametrize("kind", HOLDS)
def test_hold_on_unassigned_order_blocks_assignment_until_lifted(desk, kind):
    changes, refusal, _reason, lifted = HOLDS[kind]
    api, order_no = desk.merchant, numbers(1)[0]
    api.upsert(order_json(order_no))
    assert api.upsert(order_json(order_no, **changes))["updated"] == 1
    order = api.order(order_no)
    assert refusal in order["assign_blockers"] and order["stage"] == "unassigned"
    result = api.assign([order_no], desk.shop_id)
    assert result["assigned"] == []
    assert [r["code"] for r in result["refused"]] == [refusal]
    if lifted is None:  # a cancelled order stays cancelled
        return
    api.upsert(order_json(order_no, **lifted))
    assert api.order(order_no)["assign_blockers"] == []
    assert api.assign([order_no], desk.shop_id)["assigned"] == [order_no]
    assert ("hold_lifted", "", None) in events(desk.app, order_no)


@pytest.mark.parametrize("kind", HOLDS)
def test_hold_on_assigned_order_cancels_the_assignment(desk, kind):
    changes, _refusal, reason, lifted = HOLDS[kind]
    api, order_no = desk.merchant, numbers(1)[0]
    api.upsert(order_json(order_no))
    assert api.assign([order_no], desk.shop_id)["assigned"] == [order_no]
    assigned = api.order(order_no)
    assert assigned["stage"] == "assigned"
    assert assigned["supplier"] == {"shop_id": desk.shop_id, "shop_name": "义乌毛毯厂"}

    result = api.upsert(order_json(order_no, **changes))
    assert result["updated"] == 1 and result["cancelled_assignments"] == 1
    order = api.order(order_no)
    assert order["stage"] == "unassigned" and order["supplier"] is None
    assert order["print_blockers"] == []
    assert ("assignment_cancelled", reason, None) in events(desk.app, order_no)
    with desk.app.app_context():
        assignment = db.session.scalar(select(Assignment))
        assert assignment.status == "cancelled" and assignment.cancel_reason == reason

    if lifted is not None:  # hold lifted: the merchant re-assigns
        api.upsert(order_json(order_no, **lifted))
        assert api.order(order_no)["stage"] == "unassigned"
        assert api.assign([order_no], desk.shop_id)["assigned"] == [order_no]


@pytest.mark.parametrize("kind", HOLDS)
def test_hold_after_tracking_returned_keeps_the_order_with_its_supplier(desk, kind):
    changes, *_rest = HOLDS[kind]
    api, order_no = desk.merchant, numbers(1)[0]
    api.upsert(order_json(order_no))
    api.assign([order_no], desk.shop_id)
    with desk.app.app_context():  # the factory desk is not built yet: return tracking by hand
        db.session.execute(update(Order).values(stage="returned"))
        db.session.commit()
    result = api.upsert(order_json(order_no, **changes))
    assert result["updated"] == 1 and result["cancelled_assignments"] == 0
    order = api.order(order_no)
    assert order["stage"] == "returned" and order["supplier"]["shop_id"] == desk.shop_id
    assert order["print_blockers"] == []  # blockers end with the returned tracking number


@pytest.mark.parametrize(
    "receiver", [{"name": "李娜"}, {"phone": "13900001111"}, {"detail": "体育西路 1 号"}]
)
def test_address_change_blocks_printing_until_acknowledged(desk, receiver):
    api, (unassigned, assigned) = desk.merchant, numbers(2)
    api.upsert(order_json(unassigned), order_json(assigned))
    api.assign([assigned], desk.shop_id)

    result = api.upsert(
        order_json(unassigned, receiver=receiver), order_json(assigned, receiver=receiver)
    )
    assert result["updated"] == 2 and result["cancelled_assignments"] == 0
    # Not yet assigned: nothing to do.
    order = api.order(unassigned)
    assert not order["address_change_pending"] and order["assign_blockers"] == []
    # Assigned: printing blocked, the order stays with its supplier.
    order = api.order(assigned)
    assert order["stage"] == "assigned" and order["address_change_pending"]
    assert order["print_blockers"] == ["address_changed"]
    for key, value in receiver.items():
        assert order["receiver"][key] == value

    response = api.post(f"/orders/{assigned}/acknowledge-address")
    assert response.status_code == 200
    assert response.json["print_blockers"] == [] and not response.json["address_change_pending"]
    assert response.json["stage"] == "assigned"
    kinds = [kind for kind, _reason, _actor in events(desk.app, assigned)]
    assert kinds[-2:] == ["address_changed", "address_acknowledged"]
    assert events(desk.app, assigned)[-1][2] is not None  # the acknowledging user

    again = api.post(f"/orders/{assigned}/acknowledge-address")
    assert again.status_code == 409
    assert again.json["error"]["code"] == "no_address_change"
    assert api.post(f"/orders/{unassigned}/acknowledge-address").status_code == 409


def test_address_change_after_tracking_returned_warns_the_merchant(desk):
    api, order_no = desk.merchant, numbers(1)[0]
    api.upsert(order_json(order_no))
    api.assign([order_no], desk.shop_id)
    with desk.app.app_context():
        db.session.execute(update(Order).values(stage="returned"))
        db.session.commit()
    api.upsert(order_json(order_no, receiver={"phone": "13900001111"}))
    order = api.order(order_no)
    assert order["address_change_pending"] and order["print_blockers"] == []


# --- allocation ----------------------------------------------------------------------------


def test_allocation_answers_per_order_with_refusal_codes(desk, factory):
    api = desk.merchant
    ok, after_sale, audit, shipped, incomplete, taken = numbers(6)
    api.upsert(
        order_json(ok),
        order_json(after_sale, after_sale_active=True, after_sale_status="退款中"),
        order_json(audit, audit_hold=True),
        order_json(shipped, platform_status="shipped"),
        order_json(incomplete, receiver={"district": ""}),  # 广州市 has districts
        order_json(taken),
    )
    api.assign([taken], desk.shop_id)
    missing = "261121-999999999999999"
    result = api.assign(
        [ok, after_sale, audit, shipped, incomplete, taken, missing, ok], desk.shop_id
    )
    assert result["assigned"] == [ok]
    assert {r["order_no"]: r["code"] for r in result["refused"]} == {
        after_sale: "after_sale",
        audit: "audit_hold",
        shipped: "not_awaiting_shipment",
        incomplete: "address_incomplete",
        taken: "already_assigned",
        missing: "not_found",
    }
    messages = {r["code"]: r["message"] for r in result["refused"]}
    assert messages["after_sale"] == "售后中，不能分配"
    assert messages["not_found"] == "找不到该记录"

    unbound = factory.supplier()
    own = api.get("/me").json["shop_id"]
    for shop_id in (unbound.shop_id, "000000000", own, "not-a-shop-id"):
        result = api.assign([ok, incomplete], shop_id)
        assert result["assigned"] == []
        assert [(r["order_no"], r["code"]) for r in result["refused"]] == [
            (ok, "not_bound"),
            (incomplete, "not_bound"),
        ]
    assert api.order(ok)["supplier"]["shop_id"] == desk.shop_id


def test_allocation_request_errors(desk):
    for body, code, field in (
        ({"supplier_shop_id": "1"}, "validation_error", "order_nos"),
        ({"order_nos": "261121-1", "supplier_shop_id": "1"}, "validation_error", "order_nos"),
        ({"order_nos": {"a": 1}, "supplier_shop_id": "1"}, "validation_error", "order_nos"),
        ({"order_nos": [1], "supplier_shop_id": "1"}, "validation_error", "order_nos[0]"),
        ({"order_nos": ["a", None], "supplier_shop_id": "1"}, "validation_error", "order_nos[1]"),
        ({"order_nos": [], "supplier_shop_id": "1"}, "nothing_selected", "order_nos"),
        ({"order_nos": ["a"] * 10_001, "supplier_shop_id": "1"}, "too_many_orders", "order_nos"),
        ({"order_nos": ["a"]}, "validation_error", "supplier_shop_id"),
        (
            {"order_nos": ["a"], "supplier_shop_id": {"id": 1}},
            "validation_error",
            "supplier_shop_id",
        ),
        ({"order_nos": ["a"], "supplier_shop_id": True}, "validation_error", "supplier_shop_id"),
    ):
        for path in ("/allocations", "/allocations/cancel"):
            if path.endswith("cancel") and field == "supplier_shop_id":
                continue
            response = desk.merchant.post(path, body)
            assert response.status_code == 422, (path, body)
            assert response.json["error"]["code"] == code
            assert response.json["error"]["field"] == field


def test_allocation_takes_10000_order_numbers(desk):
    order_no = numbers(1)[0]
    desk.merchant.upsert(order_json(order_no))
    many = [f"261121-5{i:014d}" for i in range(9_999)] + [order_no]
    result = desk.merchant.assign(many, desk.shop_id)
    assert result["assigned"] == [order_no]
    assert len(result["refused"]) == 9_999
    assert {r["code"] for r in result["refused"]} == {"not_found"}


def test_cancel_assignment(desk):
    api, (assigned, unassigned) = desk.merchant, numbers(2)
    api.upsert(order_json(assigned), order_json(unassigned))
    api.assign([assigned], desk.shop_id)
    response = api.post("/allocations/cancel", {"order_nos": [assigned, unassigned, "nope-404"]})
    assert response.status_code == 200
    assert response.json == {
        "cancelled": [assigned],
        "refused": [
            {"order_no": unassigned, "code": "not_assigned", "message": "订单未分配"},
            {"order_no": "nope-404", "code": "not_found", "message": "找不到该记录"},
        ],
    }
    order = api.order(assigned)
    assert order["stage"] == "unassigned" and order["supplier"] is None
    kind, reason, actor = events(desk.app, assigned)[-1]
    assert (kind, reason) == ("assignment_cancelled", "manual") and actor is not None
    again = api.post("/allocations/cancel", {"order_nos": [assigned]}).json
    assert again["cancelled"] == [] and again["refused"][0]["code"] == "not_assigned"
    # taken back orders can be assigned again
    assert api.assign([assigned], desk.shop_id)["assigned"] == [assigned]
    assert api.post("/allocations/cancel", {"order_nos": []}).status_code == 422


# --- listing -------------------------------------------------------------------------------


def test_order_list_filters_and_pagination(desk, factory, monkeypatch):
    api = desk.merchant
    nos = numbers(6)
    api.upsert(
        *[order_json(no) for no in nos[:4]],
        order_json(nos[4], after_sale_active=True, after_sale_status="退款中"),
        order_json(nos[5], receiver={"phone": "13812345678"}),
    )
    api.assign(nos[:2], desk.shop_id)

    def listed(**params: object) -> tuple[int, list[str]]:
        response = api.get("/orders", **params)
        assert response.status_code == 200, response.json
        return response.json["total"], [o["order_no"] for o in response.json["items"]]

    assert listed() == (6, nos[::-1])  # default: every stage, newest first
    assert listed(stage="assigned") == (2, nos[1::-1])
    assert listed(stage="unassigned") == (3, [nos[5], nos[3], nos[2]])
    assert listed(stage="exceptions") == (1, [nos[4]])
    assert listed(stage="returned") == (0, [])
    assert listed(supplier_shop_id=desk.shop_id) == (2, nos[1::-1])
    assert listed(supplier_shop_id=factory.supplier().shop_id) == (0, [])
    assert listed(supplier_shop_id="000000000") == (0, [])
    assert listed(q=nos[3]) == (1, [nos[3]])
    assert listed(q="138 1234 5678") == (1, [nos[5]])  # phone, through the blind index
    assert listed(per_page=4, page=2) == (6, nos[1::-1])
    assert listed(per_page=4, page=9) == (6, [])

    page = api.get("/orders", per_page=2).json
    assert (page["page"], page["per_page"], page["total"]) == (1, 2, 6)
    assert page["items"][0]["receiver"]["phone"] == "13812345678"  # full receiver
    assert page["items"][0]["receiver"]["name"] == "张伟"

    # Only the page is decrypted, however many orders match.
    import portal.api.orders as orders_api

    calls = []
    real = orders_api.receiver_for_merchant
    monkeypatch.setattr(orders_api, "receiver_for_merchant", lambda *a: calls.append(a) or real(*a))
    api.get("/orders", per_page=2)
    assert len(calls) == 2

    for params, field in (
        ({"stage": "待分配"}, "stage"),
        ({"per_page": 201}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
    ):
        response = api.get("/orders", **params)
        assert response.status_code == 422 and response.json["error"]["field"] == field


def test_list_queries_do_not_grow_with_the_page_and_me_is_one_query(desk):
    api = desk.merchant
    nos = numbers(6)
    api.upsert(*[order_json(no) for no in nos])
    api.assign(nos, desk.shop_id)
    assert api.get("/me").status_code == 200  # the token's use is stamped (once a minute)
    sizes = {}
    for per_page in (1, 6):
        with statements_sent(desk.app) as seen:
            items = api.get("/orders", per_page=per_page, stage="assigned").json["items"]
        assert [o["supplier"]["shop_id"] for o in items] == [desk.shop_id] * per_page
        sizes[per_page] = len(seen)
    assert sizes[1] == sizes[6], sizes
    # Who is asking: the token, its user and the user's shop in one SELECT, nothing written.
    with statements_sent(desk.app) as seen:
        assert api.get("/me").status_code == 200
    assert [s.split()[0].upper() for s in seen if s.split()[0].upper() != "BEGIN"] == ["SELECT"]


# --- tenants and roles ---------------------------------------------------------------------


def test_another_merchants_orders_are_not_found(desk, factory):
    other = Api(desk.merchant.client, factory.token(factory.merchant()))
    order_no = numbers(1)[0]
    desk.merchant.upsert(order_json(order_no))
    desk.merchant.assign([order_no], desk.shop_id)
    # The other merchant may use the same order number for its own order.
    assert other.upsert(order_json(order_no, buyer_note="别家的"))["created"] == 1

    stranger = "261121-777777777777777"
    desk.merchant.upsert(order_json(stranger))
    assert other.get(f"/orders/{stranger}").status_code == 404
    assert other.post(f"/orders/{stranger}/acknowledge-address").status_code == 404
    assert other.get("/orders").json["total"] == 1
    assert other.get("/orders", q=stranger).json["total"] == 0
    refused = other.post("/allocations/cancel", {"order_nos": [stranger]}).json["refused"]
    assert refused[0]["code"] == "not_found"
    assert other.order(order_no)["buyer_note"] == "别家的"
    assert desk.merchant.order(order_no)["stage"] == "assigned"


def test_supplier_token_is_forbidden_everywhere(desk):
    order_no = numbers(1)[0]
    desk.merchant.upsert(order_json(order_no))
    supplier = desk.supplier
    for response in (
        supplier.get("/orders"),
        supplier.get(f"/orders/{order_no}"),
        supplier.post("/orders", {"orders": [order_json()]}),
        supplier.upload(SAMPLE.read_bytes()),
        supplier.post(f"/orders/{order_no}/acknowledge-address"),
        supplier.post("/allocations", {"order_nos": [order_no], "supplier_shop_id": "1"}),
        supplier.post("/allocations/cancel", {"order_nos": [order_no]}),
    ):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
    assert order_count(desk.app) == 1


# --- OpenAPI -------------------------------------------------------------------------------


def test_openapi_documents_every_api_route(app):
    response = app.test_client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.get_data(as_text=True))
    assert spec["openapi"].startswith("3.")
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(f"{API}/") or rule.endpoint in ("api.openapi", "api.reference"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(API) :])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in spec["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, f"undocumented API routes: {missing}"

    # Every reference resolves, and every path parameter is declared.
    schemas = spec["components"]["schemas"]
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec))
    assert refs and not [name for name in refs if name not in schemas]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
            success = ("200", "201", "202", "204")  # 204: DELETE /return-addresses/{id}
            assert any(code in op["responses"] for code in success), (method, path)


# --- orders with several items (DESIGN §10.2) -------------------------------------------

LINES = [
    {
        "goods_id": "9021334455",
        "goods_name": "加厚珊瑚绒毛毯",
        "spec": "150x200cm 灰色",
        "sku_code": "BLK-150-GRY",
        "quantity": 2,
    },
    {
        "goods_id": "3000000000",
        "goods_name": "纯棉四件套",
        "spec": "1.8m床 灰格",
        "sku_code": "BED-18-GRY",
        "quantity": 1,
    },
    {
        "goods_id": "3000000001",
        "goods_name": "记忆棉枕头",
        "spec": "单只装",
        "sku_code": "",
        "quantity": 3,
    },
]


def stored_lines(desk: Desk, order_no: str) -> list[tuple[Any, ...]]:
    with desk.app.app_context():
        return db.session.execute(
            select(OrderLine.line_no, OrderLine.sku_code, OrderLine.quantity, OrderLine.sku_key)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.order_no == order_no)
            .order_by(OrderLine.line_no)
        ).all()


def test_an_order_with_three_lines_goes_in_and_comes_back_whole(desk):
    (number,) = numbers(1)
    result = desk.merchant.upsert(order_json(number, lines=LINES))
    assert result["created"] == 1, result["rejected"]
    assert desk.merchant.order(number)["lines"] == LINES
    assert stored_lines(desk, number) == [
        (1, "BLK-150-GRY", 2, "BLK-150-GRY"),
        (2, "BED-18-GRY", 1, "BED-18-GRY"),
        (3, "", 3, "3000000001|单只装"),
    ]
    # The same order again changes nothing; a changed second line replaces the lines.
    assert desk.merchant.upsert(order_json(number, lines=LINES))["unchanged"] == 1
    changed = [LINES[0], {**LINES[1], "quantity": 5}]
    assert desk.merchant.upsert(order_json(number, lines=changed))["updated"] == 1
    assert desk.merchant.order(number)["lines"] == changed
    assert [row[2] for row in stored_lines(desk, number)] == [2, 5]
    # Listed with the others, lines and all (one query for the page's lines).
    listed = desk.merchant.get("/orders").json["items"]
    assert [item["lines"] for item in listed if item["order_no"] == number] == [changed]


def test_the_factory_gets_every_line_of_an_assigned_order(desk):
    single, several = numbers(2)
    desk.merchant.upsert(order_json(single), order_json(several, lines=LINES))
    assigned = desk.merchant.assign([single, several], desk.shop_id)
    assert sorted(assigned["assigned"]) == sorted([single, several])
    items = {o["order_no"]: o for o in desk.supplier.get("/supplier/orders").json["items"]}
    assert items[several]["lines"] == LINES
    assert items[single]["lines"] == order_json(single)["lines"]


def test_fifty_lines_are_taken_and_fifty_one_refused(desk):
    ok, too_many = numbers(2)
    line = order_json()["lines"][0]
    many = [{**line, "sku_code": f"SKU-{i}"} for i in range(51)]
    result = desk.merchant.post(
        "/orders", {"orders": [order_json(ok, lines=many[:50]), order_json(too_many, lines=many)]}
    ).json
    assert result["created"] == 1
    assert [(r["order_no"], r["field"]) for r in result["rejected"]] == [
        (too_many, "orders[1].lines")
    ]
    assert len(desk.merchant.order(ok)["lines"]) == 50


# --- Douyin (抖店) exports: one row per sub-order, grouped by 主订单编号 -----------------------


def test_douyin_export_is_read_one_order_per_main_order_number(desk):
    response = desk.merchant.upload(DOUYIN_SAMPLE.read_bytes(), DOUYIN_SAMPLE.name)
    assert response.status_code == 200, response.json
    result = response.json
    # 41 sub-order rows, 22 main orders.
    assert (result["platform"], result["created"], result["rejected"]) == ("douyin", 22, [])
    three = desk.merchant.order("6485167005872785518")
    assert [line["quantity"] for line in three["lines"]] == [1, 2, 2]
    assert three["lines"][1]["sku_code"] == "BED-18-GRY"
    assert three["platform_status"] == "awaiting_shipment"
    # 街道 + 详细地址 make the detail line; a district the table lacks is kept, flagged.
    assert three["receiver"]["detail"].startswith("望京街道")
    kaifaqu = desk.merchant.order("6547801783400335560")
    assert kaifaqu["receiver"]["district"] == "经济技术开发区" and kaifaqu["region_unverified"]
    assert kaifaqu["after_sale_active"] and kaifaqu["after_sale_status"] == "售后中"
    closed = desk.merchant.order("6269375076814901600")
    assert closed["platform_status"] == "cancelled" and len(closed["lines"]) == 3
    assert desk.merchant.order("6998132895246656877")["platform_status"] == "shipped"
    again = desk.merchant.upload(DOUYIN_SAMPLE.read_bytes(), DOUYIN_SAMPLE.name).json
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 22)


def test_a_bad_douyin_row_refuses_its_whole_order_by_row_number(desk):
    lines = DOUYIN_SAMPLE.read_bytes().decode("utf-8-sig").splitlines()
    # Rows 15–17 are the three sub-orders of 6485167005872785518; spoil the second.
    cells = lines[15].split(",")
    assert cells[0].strip() == "6485167005872785518"
    cells[4] = "两件"  # 商品数量
    lines[15] = ",".join(cells)
    result = desk.merchant.upload("\n".join(lines).encode("utf-8-sig"), "dy.csv").json
    assert result["created"] == 21
    assert [(r["row"], r["code"]) for r in result["rejected"]] == [
        (16, "invalid_quantity"),
        (15, "order_row_invalid"),
        (17, "order_row_invalid"),
    ]
    assert desk.merchant.get("/orders/6485167005872785518").status_code == 404
