"""The supplier API (DESIGN §5, §6, §8.2): masked orders, print jobs, tracking numbers."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from openpyxl import Workbook, load_workbook
from pypdf import PdfReader
from sqlalchemy import event, func, select, update

from portal.extensions import db
from portal.models import Merchant, Order, Parcel, PrintRender
from tests.incidental_digits import without_incidental_digits
from tests.test_api_orders import API, Api, order_json

# Distinctive receivers: none of these strings (nor 5 digits in a row of the phones) may ever
# appear in a supplier's JSON.
RECEIVERS = {
    "a": {"name": "欧阳翠花", "phone": "15987623418", "detail": "梅林路宏图大厦2708室"},
    "b": {"name": "司马长风", "phone": "18645239071", "detail": "解放大道双子塔B座1903"},
    "c": {"name": "诸葛青云", "phone": "13329847165", "detail": "珠江新城华夏路蓝湾公寓3栋"},
}
SECRETS = [
    text
    for receiver in RECEIVERS.values()
    for text in (receiver["name"], receiver["name"][1:], receiver["detail"], receiver["detail"][:4])
]
PHONE_RUNS = [receiver["phone"][i : i + 5] for receiver in RECEIVERS.values() for i in range(7)]


class SupplierApi(Api):
    def delete(self, path: str) -> Any:
        return self.client.delete(API + path, headers=self.headers)

    def upload_tracking(self, data: bytes, filename: str = "tracking.csv") -> Any:
        return self.client.post(
            f"{API}/supplier/tracking/import",
            data={"file": (io.BytesIO(data), filename)},
            headers=self.headers,
            content_type="multipart/form-data",
        )

    def orders(self, **params: object) -> dict[str, Any]:
        response = self.get("/supplier/orders", **params)
        assert response.status_code == 200, response.json
        return response.json

    def listed(self, **params: object) -> tuple[int, list[str]]:
        page = self.orders(**params)
        return page["total"], [item["order_no"] for item in page["items"]]

    def order(self, order_no: str) -> dict[str, Any]:
        [item] = self.orders(q=order_no)["items"]
        return item

    def return_tracking(self, *items: dict[str, Any]) -> dict[str, Any]:
        response = self.post("/supplier/tracking", {"items": list(items)})
        assert response.status_code == 200, response.json
        return response.json

    def print_job(self, order_nos: list[str], **fields: object) -> Any:
        return self.post(
            "/supplier/print-jobs", {"order_nos": order_nos, "courier": "SF", **fields}
        )


@dataclass
class Desk:
    app: Flask
    merchant: Api
    other_merchant: Api  # also bound to the supplier
    supplier: SupplierApi
    other_supplier: SupplierApi  # bound to `merchant` only
    shop_id: str
    other_shop_id: str
    merchant_shop_id: str
    other_merchant_shop_id: str

    def orders(self, *order_nos: str, receiver: str = "a", merchant: Api | None = None) -> None:
        """Upsert orders to one receiver and assign them to the supplier."""
        api = merchant or self.merchant
        api.upsert(*[order_json(no, receiver=RECEIVERS[receiver]) for no in order_nos])
        assert api.assign(list(order_nos), self.shop_id)["assigned"] == list(order_nos)

    def set_stage(self, order_no: str, stage: str) -> None:
        with self.app.app_context():
            db.session.execute(update(Order).where(Order.order_no == order_no).values(stage=stage))
            db.session.commit()


def bind(merchant: Api, supplier: Api, shop_id: str) -> None:
    binding = merchant.post("/bindings", {"supplier_shop_id": shop_id}).json
    assert supplier.post(f"/bindings/{binding['id']}/accept").json["status"] == "active"


@pytest.fixture
def desk(app, factory) -> Desk:
    m_user = factory.merchant(shop_name="甲店")
    m_other = factory.merchant(shop_name="乙店")
    s_user, s_other = factory.supplier(factory_name="义乌毛毯厂"), factory.supplier()
    client = app.test_client()
    merchant, other_merchant = (
        Api(client, factory.token(m_user)),
        Api(client, factory.token(m_other)),
    )
    supplier = SupplierApi(client, factory.token(s_user))
    other_supplier = SupplierApi(client, factory.token(s_other))
    bind(merchant, supplier, s_user.shop_id)
    bind(other_merchant, supplier, s_user.shop_id)
    bind(merchant, other_supplier, s_other.shop_id)
    return Desk(
        app,
        merchant,
        other_merchant,
        supplier,
        other_supplier,
        s_user.shop_id,
        s_other.shop_id,
        m_user.shop_id,
        m_other.shop_id,
    )


def nos(count: int, prefix: str = "261121-2000000000000") -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(1, count + 1)]


def codes(answer: dict[str, Any]) -> dict[str, str]:
    return {item["order_no"]: item["code"] for item in answer["refused"]}


def assert_masked(body: str) -> None:
    """No plaintext receiver data: names, detail addresses, 5+ digits in a row of a phone."""
    text = without_incidental_digits(body)
    leaked = [s for s in SECRETS if s in text] + [r for r in PHONE_RUNS if r in text]
    assert not leaked, leaked


def pdf_pages(data: bytes) -> list[Any]:
    """The label pages of a job's PDF (after its cover)."""
    return list(PdfReader(io.BytesIO(data)).pages)[1:]


# --- listing -----------------------------------------------------------------------------------


def test_list_item_is_masked_with_merchant_and_blockers(desk):
    [no] = nos(1)
    desk.orders(no)
    item = desk.supplier.order(no)
    assert item.pop("receiver_key")
    assert item.pop("assigned_at")
    assert item == {
        "order_no": no,
        "merchant": {"shop_id": desk.merchant_shop_id, "shop_name": "甲店"},
        "platform_status": "awaiting_shipment",
        "after_sale_active": False,
        "audit_hold": False,
        "address_change_pending": False,
        "address_changed": False,
        "note": "",
        "stage": "assigned",
        "paid_at": "2026-11-21T02:00:00+00:00",
        "promise_ship_at": "2026-11-23T02:00:00+00:00",
        "lines": order_json()["lines"],
        "receiver": {
            "name": "欧**",
            "phone": "159****3418",
            "province": "广东省",
            "city": "广州市",
            "district": "天河区",
            "detail": "****",
        },
        "print_count": 0,
        "last_printed_at": None,
        "tracking": [],
        "print_blockers": [],
    }
    assert "buyer_note" not in json.dumps(item)

    # A changed address blocks printing and shows as pending.
    desk.merchant.upsert(order_json(no, receiver={**RECEIVERS["b"]}))
    item = desk.supplier.order(no)
    assert item["address_change_pending"] and item["print_blockers"] == ["address_changed"]
    assert item["receiver"]["name"] == "司**"


def test_list_stages_filters_and_pagination(desk):
    (to_print, printed, returned, dispatched, cancelled, later, other_shop) = nos(7)
    desk.orders(to_print, printed, returned, dispatched, cancelled, later)
    desk.orders(other_shop, receiver="b", merchant=desk.other_merchant)
    api = desk.supplier

    job = api.print_job([printed]).json
    assert api.get(f"/supplier/print-jobs/{job['id']}/pdf").status_code == 200
    assert api.return_tracking(
        {"order_no": returned, "courier": "ZTO", "tracking_no": "773012345678"},
        {"order_no": dispatched, "courier": "YTO", "tracking_no": "YT1234567890123"},
    )["returned"] == [returned, dispatched]
    desk.set_stage(dispatched, "dispatched")
    desk.merchant.post("/allocations/cancel", {"order_nos": [cancelled]})

    everything = [to_print, printed, returned, dispatched, later, other_shop]
    assert api.listed() == (6, everything)  # same promise time: oldest first
    assert api.listed(stage="assigned") == (4, [to_print, printed, later, other_shop])
    assert api.listed(stage="to_print") == (3, [to_print, later, other_shop])
    assert api.listed(stage="printed") == (1, [printed])
    assert api.listed(stage="returned") == (1, [returned])
    assert api.listed(stage="dispatched") == (1, [dispatched])
    assert api.listed(stage="cancelled") == (1, [cancelled])
    assert api.listed(merchant_shop_id=desk.other_merchant_shop_id) == (1, [other_shop])
    assert api.listed(merchant_shop_id=f" {desk.merchant_shop_id} ", stage="printed") == (
        1,
        [printed],
    )
    assert api.listed(merchant_shop_id="000000000") == (0, [])
    assert api.listed(merchant_shop_id=desk.shop_id) == (0, [])  # a supplier's own ID
    assert api.listed(q=returned) == (1, [returned])
    assert api.listed(q="261121-999999999999999") == (0, [])
    # NUL never reaches a query: the whole request is refused (400 invalid_request)
    assert api.get("/supplier/orders", q="x\x00y").status_code == 400
    assert api.listed(per_page=4, page=2) == (6, [later, other_shop])
    assert api.listed(per_page=4, page=9) == (6, [])
    page = api.orders(per_page=2)
    assert (page["page"], page["per_page"], page["total"]) == (1, 2, 6)

    shown = {item["order_no"]: item for item in api.orders(per_page=200)["items"]}
    assert shown[printed]["print_count"] == 1 and shown[printed]["last_printed_at"]
    assert shown[returned]["tracking"] == [{"courier": "ZTO", "tracking_no": "773012345678"}]
    assert shown[returned]["stage"] == "returned" and shown[returned]["print_blockers"] == []
    assert shown[dispatched]["tracking"] == [{"courier": "YTO", "tracking_no": "YT1234567890123"}]
    assert shown[other_shop]["merchant"]["shop_name"] == "乙店"
    assert shown[other_shop]["receiver_key"] != shown[to_print]["receiver_key"]
    assert shown[to_print]["receiver_key"] == shown[later]["receiver_key"]  # same receiver

    [gone] = api.orders(stage="cancelled")["items"]
    assert gone["stage"] == "cancelled" and gone["cancel_reason"] == "manual"
    assert gone["cancelled_at"] and gone["assigned_at"]
    assert gone["print_blockers"] == ["assignment_cancelled"] and gone["tracking"] == []

    for params, field in (
        ({"stage": "已打印"}, "stage"),
        ({"stage": "unassigned"}, "stage"),
        ({"per_page": 201}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
    ):
        response = api.get("/supplier/orders", **params)
        assert response.status_code == 422, params
        assert response.json["error"]["field"] == field


def test_list_reads_tracking_once_per_page(desk):
    order_nos = nos(6)
    desk.orders(*order_nos)
    desk.supplier.return_tracking(
        *[
            {"order_no": no, "courier": "ZTO", "tracking_no": f"7730123456{i:02d}"}
            for i, no in enumerate(order_nos)
        ]
    )
    with desk.app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        sizes = {}
        for per_page in (1, 6):
            statements.clear()
            page = desk.supplier.orders(per_page=per_page)
            assert len(page["items"]) == per_page
            assert all(item["tracking"] for item in page["items"])
            sizes[per_page] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sizes[1] == sizes[6]
    # Only masked columns are selected: no ciphertext, no blind index.
    assert not [s for s in statements if re.search(r"_enc\b|phone_index|blind", s)]


def test_other_suppliers_and_merchants_see_nothing(desk):
    [no] = nos(1)
    desk.orders(no)
    assert desk.other_supplier.listed() == (0, [])
    assert desk.other_supplier.listed(q=no, stage="cancelled") == (0, [])
    response = desk.merchant.get("/supplier/orders")
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


# --- print jobs --------------------------------------------------------------------------------


def test_print_job_refuses_blocked_orders_and_prints_the_rest(desk):
    ok, changed, after_sale, unknown_here = nos(4)
    desk.orders(ok, changed, after_sale, receiver="c")
    desk.merchant.upsert(
        order_json(changed, receiver={**RECEIVERS["c"], "detail": "体育西路 1 号"}),
        order_json(after_sale, receiver=RECEIVERS["c"], after_sale_active=True),
    )
    response = desk.supplier.print_job([ok, changed, after_sale, unknown_here, ok])
    assert response.status_code == 201, response.json
    job = response.json
    assert job["status"] == "printed" and job["printed"] == [ok]
    assert job["pdf_url"] == f"{API}/supplier/print-jobs/{job['id']}/pdf"
    assert codes(job) == {
        changed: "address_changed",
        after_sale: "assignment_cancelled",  # an after-sale takes the order back
        unknown_here: "not_assigned",
    }
    assert {r["code"]: r["message"] for r in job["refused"]}["address_changed"] == (
        "收货信息已变更，待商家确认"
    )

    pdf = desk.supplier.client.get(job["pdf_url"], headers=desk.supplier.headers)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Cache-Control"] == "no-store"
    pages = pdf_pages(pdf.data)
    assert len(pages) == 1 and ok in pages[0].extract_text()
    assert round(float(pages[0].mediabox.width) / 72 * 25.4) == 100  # the default 100x180

    detail = desk.supplier.get(f"/supplier/print-jobs/{job['id']}").json
    assert detail["render_count"] == 1 and detail["courier"] == "SF"
    assert detail["orders"] == [
        {"seq": 1, "order_no": ok, "stage": "assigned", "job_tracking_no": "", "tracking": []}
    ]
    assert desk.supplier.order(ok)["print_count"] == 1
    with desk.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PrintRender)) == 1

    # Blocked after the job was made: left out of the next render, and said so.
    desk.merchant.upsert(order_json(ok, receiver={**RECEIVERS["c"], "detail": "新地址 2 号"}))
    again = desk.supplier.client.get(job["pdf_url"], headers=desk.supplier.headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "nothing_printable"


def test_print_job_sizes_and_several_pages(desk):
    order_nos = nos(3)
    desk.orders(*order_nos)
    job = desk.supplier.print_job(order_nos[::-1], label_size="76x130", courier="中通").json
    assert job["printed"] == order_nos[::-1] and job["refused"] == []
    pdf = desk.supplier.client.get(job["pdf_url"], headers=desk.supplier.headers)
    pages = pdf_pages(pdf.data)
    assert [order_nos[::-1][i] in page.extract_text() for i, page in enumerate(pages)] == [True] * 3
    assert round(float(pages[0].mediabox.width) / 72 * 25.4) == 76
    detail = desk.supplier.get(f"/supplier/print-jobs/{job['id']}").json
    assert [(o["seq"], o["order_no"]) for o in detail["orders"]] == list(
        enumerate(order_nos[::-1], start=1)
    )
    assert detail["label_size"] == "76x130" and detail["courier"] == "ZTO"


def test_print_day_by_api_slips_pick_list_and_a_merged_parcel(desk):
    """An ERP prints the way the desk does: a merged parcel, packing slips in a PDF of their
    own (slips_url) and the job's pick list as PDF or XLSX (pick_list_url); the number
    returned for the carried order is returned for its label's order too."""
    first, carried, other = nos(3)
    desk.orders(first, carried, receiver="a")
    desk.orders(other, receiver="b")
    answer = desk.supplier.print_job(
        [other, first, carried], print_order="desk", packing_slips="separate", merge_parcels=True
    )
    assert answer.status_code == 201, answer.json
    job_id = answer.json["id"]
    detail = desk.supplier.get(f"/supplier/print-jobs/{job_id}").json
    assert detail["merge_parcels"] is True and detail["packing_slips"] == "separate"
    assert detail["slips_url"] == f"{API}/supplier/print-jobs/{job_id}/slips"
    assert detail["pick_list_url"] == f"{API}/supplier/print-jobs/{job_id}/pick-list"

    get = desk.supplier.client.get
    headers = desk.supplier.headers
    labels = [
        p.extract_text()
        for p in PdfReader(io.BytesIO(get(detail["pdf_url"], headers=headers).data)).pages
    ]
    assert "订单 3 单 · 面单 2 张" in labels[0] and len(labels) == 3
    assert first in labels[2] and "合并包裹 2 单，另含 " + carried in labels[2].replace("\n", "")

    slips = get(detail["slips_url"], headers=headers)
    assert slips.status_code == 200 and slips.mimetype == "application/pdf"
    assert slips.headers["Cache-Control"] == "no-store"
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(slips.data)).pages]
    assert len(pages) == 3 and all("发货单" in page for page in pages)
    assert [next(no for no in (other, first, carried) if no in page) for page in pages] == [
        other,
        first,
        carried,
    ]
    with desk.app.app_context():
        assert db.session.scalars(
            select(PrintRender.label_count).where(PrintRender.job_id == job_id)
        ).all() == [3, 0]  # the labels (three orders), then the slips

    pick = get(detail["pick_list_url"], headers=headers)
    assert pick.status_code == 200 and pick.mimetype == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pick.data)).pages)
    assert f"拣货单 · 打印任务 #{job_id}" in text and "BLK-150-GRY" in text
    assert not [secret for secret in SECRETS if secret in text]
    sheet = get(detail["pick_list_url"], query_string={"format": "xlsx", "sort": "goods"},
                headers=headers)  # fmt: skip
    assert sheet.status_code == 200 and sheet.headers["Cache-Control"] == "no-store"
    rows = [
        list(r) for r in load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True)
    ]
    assert rows[0][:3] == ["序号", "库位", "商品"] and rows[-1][2] == "合计" and rows[-1][8] == 3
    bad = get(detail["pick_list_url"], query_string={"sort": "price"}, headers=headers)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"

    returned = desk.supplier.return_tracking(
        {"order_no": carried, "courier": "SF", "tracking_no": "SF1234567890123"}
    )
    assert sorted(returned["returned"]) == sorted([first, carried])
    # the merchant sees one parcel: each order names the other one, in the list and alone
    seen = desk.merchant.order(first)["parcel_mates"]
    assert seen == {"count": 1, "order_nos": [carried]}
    listed = desk.merchant.get("/orders", stage="all").json["items"]
    mates = {item["order_no"]: item["parcel_mates"] for item in listed}
    assert mates[carried] == {"count": 1, "order_nos": [first]} and mates[other] is None
    unmerged = desk.supplier.print_job([other]).json
    detail = desk.supplier.get(f"/supplier/print-jobs/{unmerged['id']}").json
    assert detail["slips_url"] is None and detail["packing_slips"] == ""
    assert desk.other_supplier.get(f"/supplier/print-jobs/{job_id}/slips").status_code == 404


def test_the_merchant_chooses_masked_slips_and_prices_by_api(desk):
    """GET / PATCH /label-settings: 隐私面单 and prices on packing slips, as in 设置 · 面单与发货;
    the factory's slips follow them."""
    assert desk.merchant.get("/label-settings").json == {
        "label_style": "full",
        "slip_prices": False,
    }
    [no] = nos(1)
    desk.merchant.upsert(order_json(no, goods_total_fen=17980, paid_fen=17180))
    assert desk.merchant.assign([no], desk.shop_id)["assigned"] == [no]
    job = desk.supplier.print_job([no], packing_slips="separate").json
    slips_url = desk.supplier.get(f"/supplier/print-jobs/{job['id']}").json["slips_url"]

    def slip() -> str:
        data = desk.supplier.client.get(slips_url, headers=desk.supplier.headers).data
        return PdfReader(io.BytesIO(data)).pages[0].extract_text().replace("\n", "")

    assert "张伟" in slip() and "¥" not in slip()
    changed = desk.merchant.client.patch(
        f"{API}/label-settings",
        json={"label_style": "private", "slip_prices": True},
        headers=desk.merchant.headers,
    )
    assert changed.status_code == 200, changed.json
    assert changed.json == {"label_style": "private", "slip_prices": True}
    text = slip()
    assert "张伟" not in text and "张**" in text and "商品总价 ¥179.80 · 实付 ¥171.80" in text
    # one field at a time; the other keeps its value; bad values are refused
    patch = desk.merchant.client.patch
    kept = patch(
        f"{API}/label-settings", json={"slip_prices": False}, headers=desk.merchant.headers
    )
    assert kept.json == {"label_style": "private", "slip_prices": False}
    bad = patch(
        f"{API}/label-settings", json={"label_style": "plain"}, headers=desk.merchant.headers
    )
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"
    assert desk.supplier.get("/label-settings").status_code == 403


def test_the_factory_print_settings_by_api(desk):
    """GET / PATCH /supplier/print-settings: the defaults of 设置 · 打单设置 — a job that does
    not choose its print order takes the factory's."""
    api = desk.supplier
    assert api.get("/supplier/print-settings").json == {"pick_order": "sku", "print_order": "desk"}
    patch = api.client.patch
    changed = patch(f"{API}/supplier/print-settings", json={"print_order": "promise"},
                    headers=api.headers)  # fmt: skip
    assert changed.status_code == 200, changed.json
    assert changed.json == {"pick_order": "sku", "print_order": "promise"}
    [no] = nos(1)
    desk.orders(no)
    job = api.print_job([no]).json
    assert api.get(f"/supplier/print-jobs/{job['id']}").json["print_order"] == "promise"
    changed = patch(f"{API}/supplier/print-settings", json={"pick_order": "location"},
                    headers=api.headers)  # fmt: skip
    assert changed.json == {"pick_order": "location", "print_order": "promise"}
    bad = patch(f"{API}/supplier/print-settings", json={"pick_order": "price"}, headers=api.headers)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"
    assert desk.merchant.get("/supplier/print-settings").status_code == 403


def test_nothing_printable_is_an_answer_without_a_job(desk):
    [no] = nos(1)
    desk.orders(no)
    desk.set_stage(no, "dispatched")
    response = desk.supplier.print_job([no, "261121-999999999999999"])
    assert response.status_code == 200
    assert response.json == {
        "id": None,
        "status": None,
        "printed": [],
        "refused": [
            {"order_no": no, "code": "dispatched", "message": "订单已发货"},
            {"order_no": "261121-999999999999999", "code": "not_assigned", "message": "订单未分配"},
        ],
        "pdf_url": None,
    }


def test_print_job_request_errors(desk):
    [no] = nos(1)
    desk.orders(no)
    base = {"order_nos": [no], "courier": "SF"}
    for changes, status, code, field in (
        ({"order_nos": None}, 422, "validation_error", "order_nos"),
        ({"order_nos": no}, 422, "validation_error", "order_nos"),
        ({"order_nos": {"no": no}}, 422, "validation_error", "order_nos"),
        ({"order_nos": []}, 422, "nothing_selected", "order_nos"),
        ({"order_nos": [no] * 1001}, 422, "too_many_orders", "order_nos"),
        ({"order_nos": [no, 261121]}, 422, "validation_error", "order_nos[1]"),
        ({"order_nos": [[no]]}, 422, "validation_error", "order_nos[0]"),
        ({"courier": None}, 422, "validation_error", "courier"),
        ({"courier": {"code": "SF"}}, 422, "validation_error", "courier"),
        ({"courier": "火星快递"}, 422, "unknown_courier", "courier"),
        ({"label_size": "A4"}, 422, "validation_error", "label_size"),
        ({"label_size": 100}, 422, "validation_error", "label_size"),
        ({"start_tracking_no": 1000000000001}, 422, "validation_error", "start_tracking_no"),
        ({"start_tracking_no": "12/34"}, 422, "invalid_tracking_no", "start_tracking_no"),
    ):
        response = desk.supplier.post("/supplier/print-jobs", {**base, **changes})
        assert response.status_code == status, (changes, response.json)
        assert response.json["error"]["code"] == code, changes
        assert response.json["error"]["field"] == field, changes
    for body in (
        [no],
        "x",
        {**base, "order_nos": ["261121-\ud800"]},
        {**base, "courier": "S\x00F"},
    ):
        assert desk.supplier.post("/supplier/print-jobs", body).status_code == 400
    assert desk.supplier.print_job([no]).status_code == 201  # the base request is fine


def test_another_suppliers_print_job_is_not_found(desk):
    mine, theirs = nos(2)
    desk.orders(mine)
    desk.merchant.upsert(order_json(theirs))
    desk.merchant.assign([theirs], desk.other_shop_id)
    other_job = desk.other_supplier.print_job([theirs], start_tracking_no="SF5000000000001").json
    assert other_job["status"] == "pending_confirmation"
    path = f"/supplier/print-jobs/{other_job['id']}"
    for response in (
        desk.supplier.get(path),
        desk.supplier.get(f"{path}/pdf"),
        desk.supplier.post(f"{path}/confirm"),
        desk.supplier.post(f"{path}/void"),
        desk.supplier.get("/supplier/print-jobs/999999"),
    ):
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    # Nor can another supplier's order go into a job.
    assert codes(desk.supplier.print_job([theirs]).json) == {theirs: "not_assigned"}
    detail = desk.other_supplier.get(path).json
    assert detail["status"] == "pending_confirmation" and detail["render_count"] == 0


def test_sequential_numbers_confirm_and_void(desk):
    first, second, third, fourth = nos(4)
    desk.orders(first, second, third, fourth)
    api = desk.supplier
    job = api.print_job([first, second, third], start_tracking_no="sf1000000000099").json
    assert job["status"] == "pending_confirmation"
    detail = api.get(f"/supplier/print-jobs/{job['id']}").json
    assert detail["start_tracking_no"] == "SF1000000000099"
    assert [o["job_tracking_no"] for o in detail["orders"]] == [
        "SF1000000000099",
        "SF1000000000100",
        "SF1000000000101",
    ]
    pages = pdf_pages(api.client.get(job["pdf_url"], headers=api.headers).data)
    assert "SF1000000000100" in pages[1].extract_text()
    assert api.listed(stage="returned") == (0, [])  # nothing returned before confirmation

    confirmed = api.post(f"/supplier/print-jobs/{job['id']}/confirm")
    assert confirmed.status_code == 200
    assert confirmed.json == {"returned": [first, second, third], "refused": [], "warnings": []}
    assert api.listed(stage="returned") == (3, [first, second, third])
    assert api.order(second)["tracking"] == [{"courier": "SF", "tracking_no": "SF1000000000100"}]
    detail = api.get(f"/supplier/print-jobs/{job['id']}").json
    assert detail["status"] == "confirmed" and detail["decided_at"]
    assert detail["orders"][0]["stage"] == "returned"
    assert detail["orders"][0]["tracking"] == [{"courier": "SF", "tracking_no": "SF1000000000099"}]
    for action in ("confirm", "void"):
        response = api.post(f"/supplier/print-jobs/{job['id']}/{action}")
        assert response.status_code == 409
        assert response.json["error"]["code"] == "print_job_decided"

    # Numbers already returned cannot start another job.
    taken = api.print_job([fourth], start_tracking_no="SF1000000000101")
    assert taken.status_code == 409
    assert taken.json["error"]["code"] == "duplicate_tracking_no"
    assert taken.json["error"]["number"] == "SF1000000000101"

    other = api.print_job([fourth], start_tracking_no="SF2000000000001").json
    voided = api.post(f"/supplier/print-jobs/{other['id']}/void")
    assert voided.status_code == 200 and voided.json["status"] == "voided"
    assert voided.json["orders"][0]["job_tracking_no"] == "SF2000000000001"
    pdf = api.client.get(other["pdf_url"], headers=api.headers)
    assert pdf.status_code == 409 and pdf.json["error"]["code"] == "print_job_voided"
    assert api.order(fourth)["stage"] == "assigned" and api.order(fourth)["tracking"] == []
    # A job without paper numbers has nothing to confirm.
    plain = api.print_job([fourth]).json
    assert api.post(f"/supplier/print-jobs/{plain['id']}/confirm").status_code == 409


# --- tracking numbers --------------------------------------------------------------------------


def test_tracking_return_refuses_each_item_with_its_code(desk):
    (ok, shared, cancelled, dispatched, bad_no, other_receiver, unknown_courier, many) = nos(8)
    desk.orders(ok, shared, receiver="a")
    desk.orders(cancelled, dispatched, bad_no, other_receiver, unknown_courier, many, receiver="b")
    desk.merchant.post("/allocations/cancel", {"order_nos": [cancelled]})
    desk.set_stage(dispatched, "dispatched")
    stranger = "261121-888888888888888"
    desk.other_merchant.upsert(order_json(stranger))  # not assigned to anyone

    result = desk.supplier.return_tracking(
        {"order_no": ok, "courier": "顺丰", "tracking_no": " sf1234567890123 "},
        {"order_no": shared, "courier": "SF", "tracking_no": "SF1234567890123"},  # same receiver
        {"order_no": cancelled, "courier": "ZTO", "tracking_no": "773000000001"},
        {"order_no": dispatched, "courier": "ZTO", "tracking_no": "773000000002"},
        {"order_no": bad_no, "courier": "ZTO", "tracking_no": "12/34"},
        {"order_no": other_receiver, "courier": "SF", "tracking_no": "SF1234567890123"},
        {"order_no": unknown_courier, "courier": "火星快递", "tracking_no": "773000000003"},
        {
            "order_no": many,
            "courier": "ZTO",
            "tracking_no": "773000000004",
            "extra_tracking_nos": [f"7731000000{i:02d}" for i in range(11)],
        },
        {"order_no": stranger, "courier": "ZTO", "tracking_no": "773000000005"},
    )
    assert result["returned"] == [ok, shared]
    assert codes(result) == {
        cancelled: "assignment_cancelled",
        dispatched: "dispatched",
        bad_no: "invalid_tracking_no",
        other_receiver: "duplicate_tracking_no",
        unknown_courier: "unknown_courier",
        many: "too_many_tracking_nos",
        stranger: "not_assigned",
    }
    refused = {item["order_no"]: item for item in result["refused"]}
    assert refused[other_receiver]["tracking_no"] == "SF1234567890123"
    assert refused[bad_no]["tracking_no"] == "12/34"
    assert refused[dispatched]["message"] == "订单已发货"
    assert result["warnings"] == []
    assert desk.supplier.order(shared)["tracking"] == [
        {"courier": "SF", "tracking_no": "SF1234567890123"}
    ]
    with desk.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Parcel)) == 1  # one parcel

    # Ten extra numbers are fine; a format that does not fit the courier is only a warning.
    extras = [f"7732000000{i:02d}" for i in range(10)]
    result = desk.supplier.return_tracking(
        {
            "order_no": many,
            "courier": "ZTO",
            "tracking_no": "773000000004",
            "extra_tracking_nos": extras,
        },
        {"order_no": bad_no, "courier": "SF", "tracking_no": "773000000009"},
    )
    assert result["returned"] == [many, bad_no] and result["refused"] == []
    [warning] = result["warnings"]
    assert warning["order_no"] == bad_no and warning["tracking_no"] == "773000000009"
    assert warning["courier"] == "SF" and warning["code"] == "tracking_format_mismatch"
    assert "顺丰" in warning["message"]
    assert len(desk.supplier.order(many)["tracking"]) == 11
    assert desk.supplier.order(many)["tracking"][0]["tracking_no"] == "773000000004"


def test_tracking_type_confusion_is_a_422_naming_the_item(desk):
    [no] = nos(1)
    desk.orders(no)
    good = {"order_no": no, "courier": "ZTO", "tracking_no": "773000000001"}

    def item(**changes: object) -> dict[str, Any]:
        return {
            "items": [{key: value for key, value in {**good, **changes}.items() if value != ...}]
        }

    first = "items[0]"
    for body, code, field in (
        ({}, "validation_error", "items"),
        ({"items": None}, "validation_error", "items"),
        ({"items": good}, "validation_error", "items"),
        ({"items": "773000000001"}, "validation_error", "items"),
        ({"items": []}, "nothing_selected", "items"),
        ({"items": [good] * 1001}, "too_many_orders", "items"),
        ({"items": [good, "773000000001"]}, "validation_error", "items[1]"),
        ({"items": [good, [good]]}, "validation_error", "items[1]"),
        ({"items": [good, None]}, "validation_error", "items[1]"),
        (item(tracking_no=773000000001), "validation_error", f"{first}.tracking_no"),
        (item(tracking_no={"no": "773000000001"}), "validation_error", f"{first}.tracking_no"),
        (item(tracking_no=None), "validation_error", f"{first}.tracking_no"),
        (item(tracking_no=7.5e10), "validation_error", f"{first}.tracking_no"),
        (item(order_no=["x"]), "validation_error", f"{first}.order_no"),
        (item(courier=True), "validation_error", f"{first}.courier"),
        (item(courier=...), "validation_error", f"{first}.courier"),
        (
            item(extra_tracking_nos="773000000002"),
            "validation_error",
            f"{first}.extra_tracking_nos",
        ),
        (item(extra_tracking_nos={"a": 1}), "validation_error", f"{first}.extra_tracking_nos"),
        (
            item(extra_tracking_nos=["773000000002", 7]),
            "validation_error",
            f"{first}.extra_tracking_nos[1]",
        ),
        (
            item(extra_tracking_nos=[["7730000002"]]),
            "validation_error",
            f"{first}.extra_tracking_nos[0]",
        ),
    ):
        response = desk.supplier.post("/supplier/tracking", body)
        case = json.dumps(body, ensure_ascii=False)[:80]
        assert response.status_code == 422, (case, response.status_code)
        error = response.json["error"]
        assert (error["code"], error["field"]) == (code, field), case
        if code == "validation_error":
            assert field in error["message"] or field == "items", case
    for body in ([good], "items", None):
        response = desk.supplier.post("/supplier/tracking", body)
        assert response.status_code == 400 and response.json["error"]["code"] == "invalid_request"
    deep = '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = desk.supplier.client.post(
        f"{API}/supplier/tracking",
        data=deep,
        headers={**desk.supplier.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert desk.supplier.order(no)["stage"] == "assigned"  # nothing went in
    # extra_tracking_nos may be null or absent
    ok = desk.supplier.return_tracking({**good, "extra_tracking_nos": None})
    assert ok["returned"] == [no]


def tracking_csv(rows: list[list[str]], encoding: str = "gbk") -> bytes:
    handle = io.StringIO()
    csv.writer(handle).writerows([["订单号", "快递公司", "快递单号"], *rows])
    return handle.getvalue().encode(encoding)


def test_tracking_import_reports_bad_rows_with_their_row_number(desk):
    first, second, third, fourth = nos(4)
    desk.orders(first, second, receiver="a")
    desk.orders(third, fourth, receiver="b")
    data = tracking_csv(
        [
            [first, "中通", "773000000001"],
            [third, "火星", "773000000002"],
            [fourth, "ZTO", ""],
            [second, "中通快递", "773000000001"],  # same receiver: the same parcel
            ["261121-999999999999999", "ZTO", "773000000003"],
            [third, "SF", "773000000004"],  # format warning, and a repeated order number
        ]
    )
    response = desk.supplier.upload_tracking(data)
    assert response.status_code == 200, response.json
    result = response.json
    assert result["returned"] == [first, second]
    refused = [(r["row"], r["order_no"], r["code"]) for r in result["refused"]]
    assert sorted(refused) == [
        (3, third, "unknown_courier"),
        (4, fourth, "missing_tracking_no"),
        (6, "261121-999999999999999", "not_assigned"),
        (7, third, "duplicate_in_file"),
    ]
    messages = {r["code"]: r["message"] for r in result["refused"]}
    assert messages["missing_tracking_no"] == "快递单号为空"  # the reader's own message
    assert messages["unknown_courier"] == "无法识别的快递公司"
    assert result["warnings"] == []

    book = Workbook()
    sheet = book.active
    sheet.append(["订单号", "物流公司", "运单号", "额外运单号"])
    sheet.append([third, "顺丰", "773000000004", "773000000005，773000000006"])
    stream = io.BytesIO()
    book.save(stream)
    result = desk.supplier.upload_tracking(stream.getvalue(), "tracking.xlsx").json
    assert result["returned"] == [third] and result["refused"] == []
    assert [(w["row"], w["order_no"]) for w in result["warnings"]] == [(2, third)] * 3
    assert [t["tracking_no"] for t in desk.supplier.order(third)["tracking"]] == [
        "773000000004",
        "773000000005",
        "773000000006",
    ]


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"%PDF-1.7 not a spreadsheet", "tracking.pdf", "invalid_file"),
        (b"", "tracking.csv", "invalid_file"),
        (b"PK\x03\x04 broken zip", "tracking.xlsx", "invalid_file"),
        (
            "订单号,快递单号\n261121-200000000000001,773000000001\n".encode(),
            "t.csv",
            "missing_columns",
        ),
    ],
)
def test_tracking_import_unusable_file(desk, data, filename, code):
    [no] = nos(1)
    desk.orders(no)
    response = desk.supplier.upload_tracking(data, filename)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == code and error["field"] == "file" and error["message"]
    if code == "missing_columns":
        assert error["columns"] == ["快递公司"]
    assert desk.supplier.order(no)["stage"] == "assigned"


def test_tracking_import_failing_late_returns_nothing(desk):
    order_nos = nos(2)
    desk.orders(*order_nos)
    rows = [[no, "ZTO", f"77300000000{i}"] for i, no in enumerate(order_nos)]
    rows += [[f"261121-3{i:014d}", "ZTO", f"7740{i:08d}"] for i in range(1200)]
    damaged = tracking_csv(rows, "utf-8") + b'x,"' + b"a" * 200_000 + b"\r\n"  # unclosed quote
    response = desk.supplier.upload_tracking(damaged)
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_file"
    assert desk.supplier.listed(stage="returned") == (0, [])
    response = desk.supplier.client.post(
        f"{API}/supplier/tracking/import", data={"other": "x"}, headers=desk.supplier.headers
    )
    assert response.status_code == 422 and response.json["error"]["field"] == "file"


def test_cancel_a_return_until_dispatch(desk):
    returned, dispatched, assigned, theirs = nos(4)
    desk.orders(returned, dispatched)
    desk.orders(assigned, receiver="b")
    desk.merchant.upsert(order_json(theirs))
    desk.merchant.assign([theirs], desk.other_shop_id)
    desk.other_supplier.return_tracking(
        {"order_no": theirs, "courier": "ZTO", "tracking_no": "773000000009"}
    )
    api = desk.supplier
    api.return_tracking(
        {"order_no": returned, "courier": "ZTO", "tracking_no": "773000000001"},
        {"order_no": dispatched, "courier": "ZTO", "tracking_no": "773000000002"},
    )
    desk.set_stage(dispatched, "dispatched")

    response = api.delete(f"/supplier/tracking/{returned}")
    assert response.status_code == 200
    assert response.json == {"order_no": returned, "stage": "assigned"}
    item = api.order(returned)
    assert item["stage"] == "assigned" and item["tracking"] == []
    # The number is free again, for anyone.
    assert api.return_tracking(
        {"order_no": assigned, "courier": "ZTO", "tracking_no": "773000000001"}
    )["returned"] == [assigned]

    for order_no, status, code in (
        (returned, 409, "not_returned"),
        (dispatched, 409, "dispatched"),
        (theirs, 404, "not_found"),  # another supplier's order
        ("261121-999999999999999", 404, "not_found"),
        ("261121-%00", 400, "invalid_request"),  # NUL: refused before any query
    ):
        response = api.delete(f"/supplier/tracking/{order_no}")
        assert response.status_code == status, order_no
        assert response.json["error"]["code"] == code
    assert desk.other_supplier.order(theirs)["stage"] == "returned"
    assert api.order(dispatched)["stage"] == "dispatched"


# --- buyer data protection ---------------------------------------------------------------------


def test_no_plaintext_receiver_data_in_any_answer(desk):
    """Walk every JSON answer of the supplier API with orders in every state (DESIGN §5)."""
    order_nos = nos(6)
    desk.orders(*order_nos[:2], receiver="a")
    desk.orders(*order_nos[2:4], receiver="b")
    desk.orders(*order_nos[4:], receiver="c", merchant=desk.other_merchant)
    with desk.app.app_context():
        db.session.execute(update(Merchant).values(label_style="full"))
        db.session.commit()
    api = desk.supplier
    bodies = []

    def keep(response: Any) -> Any:
        assert response.mimetype == "application/json", response.mimetype
        bodies.append(response.get_data(as_text=True))
        return response

    desk.merchant.upsert(
        order_json(order_nos[1], receiver={**RECEIVERS["a"], "detail": RECEIVERS["c"]["detail"]})
    )
    job = keep(api.print_job(order_nos)).json
    paper = keep(api.print_job([order_nos[2]], start_tracking_no="SF3000000000001")).json
    pdf = api.client.get(job["pdf_url"], headers=api.headers)
    assert pdf.status_code == 200  # the label itself carries the full receiver …
    assert RECEIVERS["a"]["name"] in pdf_pages(pdf.data)[0].extract_text()
    keep(api.get(f"/supplier/print-jobs/{job['id']}"))
    keep(api.post(f"/supplier/print-jobs/{paper['id']}/confirm"))
    keep(api.post("/supplier/tracking", {"items": [
        {"order_no": order_nos[3], "courier": "SF", "tracking_no": "773000000001"},
        {"order_no": order_nos[4], "courier": "ZTO", "tracking_no": "773000000001"},
    ]}))  # fmt: skip
    keep(api.upload_tracking(tracking_csv([[order_nos[5], "ZTO", "773000000002"]])))
    keep(api.delete(f"/supplier/tracking/{order_nos[3]}"))
    desk.merchant.post("/allocations/cancel", {"order_nos": [order_nos[0]]})
    listed = {
        stage: keep(api.get("/supplier/orders", stage=stage, per_page=200)).json
        for stage in ("", *STAGE_NAMES)
    }
    keep(api.get("/supplier/orders", q=order_nos[1]))
    keep(api.post("/supplier/tracking", {"items": [{"order_no": 1}]}))
    keep(api.delete(f"/supplier/tracking/{order_nos[0]}"))
    keep(api.get("/me"))

    assert len(bodies) == 18 and all(body for body in bodies)
    assert listed[""]["total"] == 5 and listed["cancelled"]["total"] == 1
    assert listed["returned"]["total"] == 2 and listed["printed"]["total"] == 2
    for body in bodies:  # … and no JSON does
        assert_masked(body)


STAGE_NAMES = ("assigned", "returned", "dispatched", "to_print", "printed", "cancelled")


def test_openapi_schemas_match_the_answers(desk):
    """The documented supplier shapes list exactly the keys the endpoints send."""
    schemas = desk.supplier.get("/openapi.json").json["components"]["schemas"]
    paper, cancelled = nos(2)
    desk.orders(paper, cancelled)
    desk.merchant.post("/allocations/cancel", {"order_nos": [cancelled]})
    job = desk.supplier.print_job([paper, cancelled], start_tracking_no="SF4000000000001").json
    detail = desk.supplier.get(f"/supplier/print-jobs/{job['id']}").json
    confirmed = desk.supplier.post(f"/supplier/print-jobs/{job['id']}/confirm").json
    warned = desk.supplier.return_tracking(
        {"order_no": paper, "courier": "SF", "tracking_no": "773000000001"}
    )
    [current] = desk.supplier.orders()["items"]
    [gone] = desk.supplier.orders(stage="cancelled")["items"]

    def keys(name: str) -> set[str]:
        return set(schemas[name]["properties"])

    assert set(current) | set(gone) == keys("SupplierOrder")
    assert set(current) == set(schemas["SupplierOrder"]["required"]) | {
        "platform_status",
        "after_sale_active",
        "audit_hold",
        "address_change_pending",
        "paid_at",
        "promise_ship_at",
        "assigned_at",
        "print_count",
        "last_printed_at",
    }
    assert set(current["receiver"]) == keys("MaskedReceiver")
    assert set(job) == keys("PrintJobCreated")
    assert set(job["refused"][0]) == keys("PrintRefusal")
    assert set(detail) == keys("PrintJob")
    assert set(detail["orders"][0]) == keys("PrintJobLine")
    assert set(confirmed) == keys("TrackingResult")
    assert set(warned["warnings"][0]) == keys("TrackingWarning") - {"row"}
    assert gone["cancel_reason"] in schemas["SupplierOrder"]["properties"]["cancel_reason"]["enum"]


def test_a_number_taken_by_another_request_meanwhile_is_a_409_not_a_500(desk, monkeypatch):
    """TrackingRaceError (another request filed the number for another receiver between our
    check and our insert) reached the API as a 500; now the whole request is refused as a
    duplicate and nothing of it is saved."""
    from portal.domain import tracking

    [no] = nos(1)
    desk.orders(no)

    def raced(*_args, **_kwargs):
        raise tracking.TrackingRaceError("SF1234567890555")

    monkeypatch.setattr(tracking, "_store_numbers", raced)
    response = desk.supplier.post(
        "/supplier/tracking",
        {"items": [{"order_no": no, "courier": "SF", "tracking_no": "SF1234567890555"}]},
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "duplicate_tracking_no"
    assert response.json["error"]["number"] == "SF1234567890555"
    monkeypatch.undo()
    assert desk.supplier.order(no)["stage"] == "assigned"


def test_after_the_binding_ends_the_factory_keeps_no_receiver_data_and_prints_nothing(desk):
    returned, assigned = nos(2)
    desk.orders(returned, assigned)
    job = desk.supplier.print_job([returned]).json
    desk.supplier.return_tracking(
        {"order_no": returned, "courier": "SF", "tracking_no": "SF1234567890123"}
    )
    [binding] = [
        b
        for b in desk.merchant.get("/bindings").json["items"]
        if b["status"] == "active" and b["supplier"]["shop_id"] == desk.shop_id
    ]
    ended = desk.merchant.client.delete(
        f"{API}/bindings/{binding['id']}", headers=desk.merchant.headers
    )
    assert ended.status_code == 200
    item = desk.supplier.order(returned)  # returned, not dispatched: still listed (statements)
    assert item["tracking"][0]["tracking_no"] == "SF1234567890123"
    assert item["receiver"]["name"] == "" and item["receiver"]["phone"] == ""
    assert item["receiver"]["province"] == "" and item["receiver_key"] == ""
    answer = desk.supplier.print_job([returned]).json
    assert answer["id"] is None and codes(answer) == {returned: "not_bound"}
    pdf = desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf")
    assert pdf.status_code == 409 and pdf.json["error"]["code"] == "nothing_printable"
