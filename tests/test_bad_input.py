"""The bad-input corpus through the paths people and ERPs really take: web forms (with CSRF,
through the Browser helper) and the API (with bearer tokens). Every bad input gets a clear 4xx
(or, for a batch, a refusal of that item) and changes nothing: the tenant tables are compared
before and after.

Covered elsewhere, not repeated here:
- NUL and lone surrogates in query strings, paths, JSON strings and web forms:
  tests/test_unstorable_input.py; deeply nested JSON on POST /bindings: tests/test_web_basics.py.
- Phone normalisation (full-width digits, +86, extensions, landlines) and masks, RTL marks in
  names: tests/test_privacy.py, tests/test_order_privacy.py (emoji receivers, real CSV/XLSX).
- Per-order refusals and JSON type confusion of POST /orders (short order numbers, bad
  phones, too-long fields, 50 wrong types): tests/test_api_orders.py.
- Reader-level encodings (GBK, GB18030, UTF-16 tab text, broken ZIP, ZIP that is no workbook,
  decoding errors late in a file): tests/test_import_readers.py, tests/test_api_orders.py,
  tests/test_import_jobs.py, tests/test_supplier_tracking_ui.py.
- Formula escaping of the dispatch export, the price export, statement files, the import and
  tracking refusal CSVs: tests/test_dispatch.py, tests/test_prices.py, tests/test_statements.py,
  tests/test_import_jobs.py, tests/test_supplier_tracking_ui.py.
- 413 with a lowered limit on the import pages: tests/test_import_jobs.py,
  tests/test_supplier_tracking_ui.py. Another tenant's object in a URL: tests/test_authz_matrix.py.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from portal.config import Config
from portal.domain import accounts, allocation
from portal.domain.demo_data import generate_orders, write_platform_export
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Assignment, Binding, Merchant, Order, ReturnAddress, Supplier
from tests.factories import demo_order
from tests.test_statements_web import World, build_world, run_queue

API = "/api/v1"
LIMIT_MESSAGE = "上传的文件过大（最大 20 MB）"
# Tables a refused request must leave as they were (tokens and logins record their use).
TENANT_TABLES = (
    "merchants",
    "suppliers",
    "bindings",
    "return_addresses",
    "orders",
    "assignments",
    "order_events",
    "parcels",
    "order_parcels",
    "print_jobs",
    "print_job_orders",
    "statements",
    "statement_lines",
    "prices",
    "import_jobs",
    "webhook_deliveries",
)


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    with app.app_context():
        tables = {t.name: t for t in db.metadata.sorted_tables}
        state = {}
        for name in TENANT_TABLES:
            rows = db.session.execute(select(tables[name])).all()
            state[name] = sorted(tuple(map(repr, row)) for row in rows)
        db.session.rollback()
        return state


def changed(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


@dataclass
class Side:
    """One merchant–supplier pair as the outside world sees it."""

    world: World
    merchant_id: int
    supplier_id: int
    assigned: str  # an order assigned to the supplier, not yet returned
    returned: str  # an order with its tracking number returned
    address_id: int
    statement_id: int

    def api(self, role: str, method: str, path: str, **kw: Any) -> Any:
        token = self.world.merchant_token if role == "merchant" else self.world.supplier_token
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        client = self.world.app.test_client()
        response = client.open(API + path, method=method, headers=headers, **kw)
        response.get_data()
        # A streamed download holds its request context (and `g`) until closed.
        response.close()
        return response


def make_side(app: Flask, factory: Any, make_browser: Any, tag: str) -> Side:
    world = build_world(app, factory, make_browser)
    with app.app_context():
        merchant = db.session.get(Merchant, world.merchant_id)
        supplier = db.session.get(Supplier, world.supplier_id)
        assigned = f"261121-{tag}{world.supplier_id:013d}"
        upsert_orders(current_keyring(), merchant, [demo_order(assigned)])
        assert allocation.assign_orders(merchant, [assigned], supplier, None).done
        address = accounts.add_return_address(
            merchant,
            accounts.AddressInput("退货", "13800138000", "北京市", "北京市", "朝阳区", "x 路"),
            make_default=True,
        )
        db.session.commit()
        address_id = address.id
    assert world.request().status_code == 200
    assert run_queue(app) >= 1
    return Side(
        world,
        world.merchant_id,
        world.supplier_id,
        assigned,
        world.order_nos[0],
        address_id,
        world.statement_ids()[-1],
    )


@pytest.fixture
def sides(app, factory, make_browser) -> tuple[Side, Side]:
    return make_side(app, factory, make_browser, "a"), make_side(app, factory, make_browser, "b")


def error_code(response: Any) -> str | None:
    try:
        return response.json["error"]["code"]
    except (TypeError, KeyError):
        return None


def toast(response: Any) -> str:
    trigger = json.loads(response.headers.get("HX-Trigger", "{}") or "{}")
    return (trigger.get("showToast") or {}).get("message", "")


# --- ids beyond the database's range ---------------------------------------------------------


HUGE_IDS = (2**31, 2**63, 10**30)


def test_an_id_beyond_the_column_range_is_a_404_not_a_500(app, sides):
    """Regression: `<int:…>` took any size, and the database refused it (a 500): on SQLite
    above 2**63 - 1, on PostgreSQL above 2**31 - 1. Now every route answers 404."""
    a, _b = sides
    before = snapshot(app)
    failures = []
    for huge in HUGE_IDS:
        for role, method, path in (
            ("supplier", "GET", f"/supplier/print-jobs/{huge}"),
            ("supplier", "GET", f"/supplier/print-jobs/{huge}/pdf"),
            ("supplier", "POST", f"/supplier/print-jobs/{huge}/confirm"),
            ("supplier", "POST", f"/supplier/print-jobs/{huge}/void"),
            ("supplier", "POST", f"/bindings/{huge}/accept"),
            ("merchant", "DELETE", f"/bindings/{huge}"),
            ("merchant", "GET", f"/statements/{huge}"),
            ("merchant", "GET", f"/statements/{huge}/download"),
            ("merchant", "POST", f"/statements/{huge}/settle"),
        ):
            response = a.api(role, method, path)
            if response.status_code != 404 or error_code(response) != "not_found":
                failures.append(f"API {method} {path}: {response.status_code}")
        for browser, method, path in (
            (a.world.supplier, "GET", f"/supplier/print-jobs/{huge}"),
            (a.world.supplier, "GET", f"/supplier/statements/{huge}"),
            (a.world.supplier, "POST", f"/supplier/bindings/{huge}/accept"),
            (a.world.merchant, "GET", f"/merchant/statements/{huge}/download"),
            (a.world.merchant, "POST", f"/merchant/settings/addresses/{huge}/default"),
            (a.world.merchant, "GET", f"/merchant/orders/import/{huge}"),
        ):
            send = browser.get if method == "GET" else browser.post
            response = send(path)
            if response.status_code != 404:
                failures.append(f"web {method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)
    assert changed(before, snapshot(app)) == []


# --- uploads -----------------------------------------------------------------------------------


def test_the_upload_limit_is_20_mb():
    assert Config.MAX_CONTENT_LENGTH == 20 * 1024 * 1024


def test_a_50_mb_upload_is_a_413_with_the_chinese_message_and_stores_nothing(app, sides):
    a, _b = sides
    big = b"x" * (50 * 1024 * 1024)
    before = snapshot(app)
    for role, path in (("merchant", "/orders/import"), ("supplier", "/supplier/tracking/import")):
        response = a.api(role, "POST", path, data={"file": (io.BytesIO(big), "orders.csv")})
        assert response.status_code == 413, path
        assert error_code(response) == "payload_too_large"
        assert response.json["error"]["message"] == LIMIT_MESSAGE
    for browser, path, target in (
        (a.world.merchant, "/merchant/orders/import", "import-upload"),
        (a.world.supplier, "/supplier/tracking/import", "tracking-upload"),
        (a.world.supplier, "/supplier/prices/import", "price-import"),
    ):
        response = browser.post(path, {"file": (io.BytesIO(big), "big.csv")}, target=target)
        assert response.status_code == 413, path
        assert toast(response) == LIMIT_MESSAGE, path
        page = browser.post(path, {"file": (io.BytesIO(big), "big.csv")}, htmx=False)
        assert page.status_code == 413 and LIMIT_MESSAGE in page.get_data(as_text=True), path
    assert changed(before, snapshot(app)) == []


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A hand-made multipart body: (field name, filename or None, content)."""
    boundary = "portal-test-boundary"
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_multipart_part_without_a_name_is_not_a_crash(app, sides):
    """Regression (schemathesis): a part with `name=""` reached the NUL guard as a None key
    and raised TypeError (a 500) on every multipart endpoint, API and web alike."""
    a, _b = sides
    body, content_type = multipart([("", None, b"null"), ("file", "orders.csv", b".")])
    before = snapshot(app)
    for role, path in (("merchant", "/orders/import"), ("supplier", "/supplier/tracking/import")):
        response = a.api(role, "POST", path, data=body, content_type=content_type)
        assert response.status_code == 422, path
        assert error_code(response) in ("invalid_file", "missing_columns"), path
    browser = a.world.merchant
    response = browser.client.post(
        "/merchant/orders/import",
        data=body,
        content_type=content_type,
        headers=browser.headers(True, "import-upload"),
    )
    assert response.status_code == 422
    assert changed(before, snapshot(app)) == []


def export_text(rows: int = 2) -> str:
    buffer = io.BytesIO()
    write_platform_export(list(generate_orders(rows, seed=3)), buffer, fmt="csv", encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def xlsx_bytes(text: str) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in csv.reader(io.StringIO(text)):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("orders.csv", export_text())
    return out.getvalue()


def wrong_files() -> dict[str, bytes]:
    text = export_text()
    return {
        "UTF-16 without BOM": text.encode("utf-16-le"),
        "Shift-JIS": "注文番号,商品,受取人,電話番号\r\n1,毛布,山田,09012345678\r\n".encode(
            "shift_jis"
        ),
        "binary garbage": bytes(range(256)) * 40,
        "a ZIP renamed .csv": zip_bytes(),
    }


def test_unreadable_order_files_are_refused_whole(app, sides):
    a, _b = sides
    before = snapshot(app)
    for name, content in wrong_files().items():
        response = a.api(
            "merchant", "POST", "/orders/import", data={"file": (io.BytesIO(content), "o.csv")}
        )
        assert response.status_code == 422, name
        assert error_code(response) in ("invalid_file", "missing_columns"), name
        page = a.world.merchant.post(
            "/merchant/orders/import",
            {"file": (io.BytesIO(content), "o.csv")},
            target="import-upload",
        )
        assert page.status_code == 422, name
        assert run_queue(app) == 0, name  # nothing was queued
    for name, content in wrong_files().items():
        response = a.api(
            "supplier",
            "POST",
            "/supplier/tracking/import",
            data={"file": (io.BytesIO(content), "t.csv")},
        )
        assert response.status_code == 422, name
        assert error_code(response) in ("invalid_file", "missing_columns"), name
    assert changed(before, snapshot(app)) == []


def test_a_workbook_renamed_csv_is_read_as_the_workbook_it_is(app, sides):
    """The content decides, not the name: an XLSX called .csv imports its orders."""
    a, _b = sides
    content = xlsx_bytes(export_text(3))
    response = a.api(
        "merchant", "POST", "/orders/import", data={"file": (io.BytesIO(content), "o.csv")}
    )
    assert response.status_code == 200, response.json
    assert response.json["created"] == 3 and response.json["rejected"] == []


# --- receiver data: phones, names, addresses ------------------------------------------------


def order_json(order_no: str, **receiver: str) -> dict[str, Any]:
    return {
        "order_no": order_no,
        "platform_status": "awaiting_shipment",
        "receiver": {
            "name": "张伟",
            "phone": "13577446522",
            "province": "广东省",
            "city": "广州市",
            "district": "天河区",
            "detail": "团结路887号",
            **receiver,
        },
        "lines": [{"goods_name": "毛毯", "quantity": 1}],
    }


PHONES = {
    # phone → canonical form stored, or the refusal code
    "1234": "invalid_phone",  # 5–20 digits make an "other" number (DESIGN §5: ****1234)
    "13": "invalid_phone",
    "138" + "0" * 20: "invalid_phone",  # beyond 20 digits
    "１３８１２３４５６７８": "13812345678",
    "+86 138 1234 5678": "13812345678",
    "+86-138-1234-5678": "13812345678",
    "＋８６　１３８１２３４５６７８": "13812345678",
}


def test_phones_through_the_api(app, sides):
    a, _b = sides
    for index, (phone, expected) in enumerate(PHONES.items()):
        order_no = f"261121-p{index:014d}"
        before = snapshot(app)
        response = a.api(
            "merchant", "POST", "/orders", json={"orders": [order_json(order_no, phone=phone)]}
        )
        assert response.status_code == 200, phone
        result = response.json
        if expected == "invalid_phone":
            assert [r["code"] for r in result["rejected"]] == ["invalid_phone"], phone
            assert result["rejected"][0]["field"] == "orders[0].receiver.phone"
            assert changed(before, snapshot(app)) == [], phone
        else:
            assert result["created"] == 1, (phone, result)
            stored = a.api("merchant", "GET", f"/orders/{order_no}").json["receiver"]["phone"]
            assert stored == expected, phone
    # A return address takes the same phones; a bad one is a 422 and creates nothing.
    before = snapshot(app)
    address = {"contact_name": "退货", "province": "北京市", "city": "北京市"}
    address |= {"district": "朝阳区", "detail": "x 路"}
    for phone in ("1234", "电话号码", "13800138000" * 3):
        response = a.api("merchant", "POST", "/return-addresses", json={**address, "phone": phone})
        assert response.status_code == 422, phone
    assert changed(before, snapshot(app)) == []
    response = a.api(
        "merchant",
        "POST",
        "/return-addresses",
        json={**address, "phone": "＋８６ １３８００１３８０００"},
    )
    assert response.status_code == 201 and response.json["phone"] == "13800138000"


def test_a_phone_with_letters_is_refused(app, sides):
    """Was accepted as the 'other' number 1385678 (only its digits were kept)."""
    a, _b = sides
    before = snapshot(app)
    order = order_json("261121-p00000000000099", phone="138abcd5678")
    response = a.api("merchant", "POST", "/orders", json={"orders": [order]})
    assert [r["code"] for r in response.json["rejected"]] == ["invalid_phone"]
    address = {"contact_name": "退货", "province": "北京市", "city": "北京市"}
    address |= {"district": "朝阳区", "detail": "x 路", "phone": "138abcd5678"}
    assert a.api("merchant", "POST", "/return-addresses", json=address).status_code == 422
    assert changed(before, snapshot(app)) == []


def test_phones_through_the_settings_form(app, sides):
    a, _b = sides
    before = snapshot(app)
    profile = {
        "shop_name": "甲店",
        "sender_name": "王发货",
        "province": "浙江省",
        "city": "杭州市",
        "district": "余杭区",
        "detail": "文一西路 1 号",
    }
    for phone in ("1234", "电话号码", ""):
        response = a.world.merchant.post(
            "/merchant/settings/profile", {**profile, "sender_phone": phone}, target="x"
        )
        assert response.status_code == 422, phone
    assert changed(before, snapshot(app)) == []
    response = a.world.merchant.post(
        "/merchant/settings/profile", {**profile, "sender_phone": "＋８６ １３９００１３９０００"}
    )
    assert response.status_code == 200
    with app.app_context():
        assert db.session.get(Merchant, a.merchant_id).sender_phone == "13900139000"


def test_names_and_addresses_through_the_api(app, sides):
    a, _b = sides
    refused = {
        "a 10 000 character name": ({"name": "张" * 10_000}, "field_too_long"),
        "a 10 000 character address": ({"detail": "路" * 10_000}, "field_too_long"),
    }
    for what, (receiver, code) in refused.items():
        before = snapshot(app)
        response = a.api(
            "merchant",
            "POST",
            "/orders",
            json={"orders": [order_json("261121-n000001", **receiver)]},
        )
        assert response.status_code == 200, what
        assert [r["code"] for r in response.json["rejected"]] == [code], what
        assert changed(before, snapshot(app)) == [], what

    accepted = {
        "261121-n000002": {"name": "🐼熊猫", "detail": "竹林路 1 号 🏠"},
        "261121-n000003": {"name": "\u202e伟张", "detail": "\u202e号1路民人"},
        "261121-n000004": {"name": "", "detail": ""},
        # NUL is cleaned out of order text (tests/test_api_orders.py), not a refusal.
        "261121-n000005": {"name": "张\x00伟", "detail": "团结路\x00887号"},
    }
    response = a.api(
        "merchant",
        "POST",
        "/orders",
        json={"orders": [order_json(n, **r) for n, r in accepted.items()]},
    )
    assert response.status_code == 200 and response.json["created"] == 4, response.json
    emoji = a.api("merchant", "GET", "/orders/261121-n000002").json
    assert emoji["receiver"]["name"] == "🐼熊猫"
    rtl = a.api("merchant", "GET", "/orders/261121-n000003").json["receiver"]
    assert "\u202e" not in rtl["name"] + rtl["detail"]  # no direction override survives
    cleaned = a.api("merchant", "GET", "/orders/261121-n000005").json["receiver"]
    assert (cleaned["name"], cleaned["detail"]) == ("张伟", "团结路887号")
    nameless = a.api("merchant", "GET", "/orders/261121-n000004").json
    # Without an address the order goes in (the platform exports such rows) but waits,
    # unassignable, with its reason.
    assert nameless["assign_blockers"] == ["address_incomplete"]

    before = snapshot(app)
    address = {"contact_name": "退货", "phone": "13800138000", "province": "北京市"}
    address |= {"city": "北京市", "district": "朝阳区", "detail": "x 路"}
    for what, change, status in (
        ("empty name", {"contact_name": ""}, 422),
        ("10 000 character name", {"contact_name": "退" * 10_000}, 422),
        ("10 000 character address", {"detail": "路" * 10_000}, 422),
        ("NUL in the address", {"detail": "x\x00路"}, 400),
        ("an unknown province", {"province": "火星省"}, 422),
    ):
        response = a.api("merchant", "POST", "/return-addresses", json={**address, **change})
        assert response.status_code == status, what
    assert changed(before, snapshot(app)) == []


def test_names_and_addresses_through_the_address_form(app, sides):
    a, _b = sides
    form = {
        "contact_name": "退货员",
        "phone": "13900001111",
        "province": "广东省",
        "city": "广州市",
        "district": "天河区",
        "detail": "天河路 1 号",
    }
    before = snapshot(app)
    for what, change in (
        ("empty name", {"contact_name": ""}),
        ("10 000 character name", {"contact_name": "退" * 10_000}),
        ("10 000 character address", {"detail": "路" * 10_000}),
        ("empty address", {"detail": "   "}),
    ):
        response = a.world.merchant.post(
            "/merchant/settings/addresses", {**form, **change}, target="addresses-section"
        )
        assert response.status_code == 422, what
    assert changed(before, snapshot(app)) == []
    response = a.world.merchant.post(
        "/merchant/settings/addresses",
        {**form, "contact_name": "🐼\u202e退货"},
        target="addresses-section",
    )
    assert response.status_code == 200
    with app.app_context():
        names = db.session.scalars(
            select(ReturnAddress.contact_name).where(ReturnAddress.merchant_id == a.merchant_id)
        ).all()
    assert "🐼退货" in names


# --- tracking numbers ------------------------------------------------------------------------


BAD_TRACKING = {
    "too short": "SF12345",
    "too long": "SF" + "1" * 40,
    "a formula": "=cmd|' /C calc'!A0",
    "punctuation": "SF1234567890123!",
    "empty": "",
    "only spaces": "   ",
    "Chinese": "顺丰一二三四五六七八九",
}
# Normalised (NFKC, spaces out, upper case) into one valid number.
GOOD_TRACKING = {
    "lowercase": "sf1234567890123",
    "full-width": "ＳＦ１２３４５６７８９０１２３",
    "spaces": " SF 1234 5678 9012 3 ",
}


def test_tracking_numbers_through_the_api(app, sides):
    a, _b = sides
    before = snapshot(app)
    for what, number in BAD_TRACKING.items():
        item = {"order_no": a.assigned, "courier": "SF", "tracking_no": number}
        response = a.api("supplier", "POST", "/supplier/tracking", json={"items": [item]})
        assert response.status_code in (200, 422), what
        if response.status_code == 200:
            assert response.json["returned"] == [], what
            assert [r["code"] for r in response.json["refused"]] == ["invalid_tracking_no"], what
    extra = {"order_no": a.assigned, "courier": "SF", "tracking_no": "SF1234567890123"}
    response = a.api(
        "supplier",
        "POST",
        "/supplier/tracking",
        json={"items": [{**extra, "extra_tracking_nos": ["=1+1"]}]},
    )
    assert [r["code"] for r in response.json["refused"]] == ["invalid_tracking_no"]
    assert changed(before, snapshot(app)) == []

    for what, number in GOOD_TRACKING.items():
        item = {"order_no": a.assigned, "courier": "SF", "tracking_no": number}
        response = a.api("supplier", "POST", "/supplier/tracking", json={"items": [item]})
        assert response.json["returned"] == [a.assigned], what
        [order] = a.api("supplier", "GET", f"/supplier/orders?q={a.assigned}").json["items"]
        assert order["tracking"] == [{"courier": "SF", "tracking_no": "SF1234567890123"}], what
        assert a.api("supplier", "DELETE", f"/supplier/tracking/{a.assigned}").status_code == 200


def test_tracking_numbers_through_the_desk_and_the_scan_page(app, sides):
    a, _b = sides
    browser = a.world.supplier
    before = snapshot(app)
    for what, number in BAD_TRACKING.items():
        response = browser.post(
            f"/supplier/orders/{a.assigned}/tracking",
            {"courier": "SF", "tracking_no": number},
            target=f"row-{a.assigned}",
        )
        assert 400 <= response.status_code < 500, (what, response.status_code)
        response = browser.post(
            "/supplier/scan/return",
            {"order_no": a.assigned, "code": number, "courier": "SF"},
            target="scan-result",
        )
        assert response.status_code < 500, what
    assert changed(before, snapshot(app)) == []


# --- formula cells in what people download ------------------------------------------------------


def test_formula_cells_reach_downloads_as_text(app, sides):
    """Goods names are the merchant's free text: in the statement files (both sides, CSV and
    XLSX, through the API) a cell that starts like a formula is prefixed with '."""
    a, _b = sides
    formula = "=cmd|' /C calc'!A0"
    with app.app_context():
        db.session.execute(
            Order.__table__.update()
            .where(Order.order_no.in_(a.world.order_nos))
            .values(goods_name=formula, spec="+SUM(A1)")
        )
        db.session.commit()
    app.config["CLOCK"].advance(minutes=11)  # past the 10-minute rule
    response = a.api(
        "merchant",
        "POST",
        "/statements",
        json={
            "supplier_shop_id": a.world.supplier_shop_id,
            "start": "2026-11-15",
            "end": "2026-11-21",
        },
    )
    assert response.status_code == 202, response.json
    assert run_queue(app) >= 1
    statement_id = response.json["id"]
    for role in ("merchant", "supplier"):
        text = a.api(role, "GET", f"/statements/{statement_id}/download?format=csv").get_data(
            as_text=True
        )
        cells = [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]
        assert "'" + formula in cells and "'+SUM(A1)" in cells
        assert formula not in cells and "+SUM(A1)" not in cells
        book = a.api(role, "GET", f"/statements/{statement_id}/download?format=xlsx").data
        values = [
            cell
            for sheet in load_workbook(io.BytesIO(book)).worksheets
            for row in sheet.iter_rows(values_only=True)
            for cell in row
        ]
        assert "'" + formula in values and formula not in values


# --- another tenant's ids ----------------------------------------------------------------------


def test_another_tenants_ids_in_api_bodies_are_refused_and_change_nothing(app, sides):
    a, b = sides
    b_supplier_shop = b.world.supplier_shop_id
    before = snapshot(app)
    failures = []

    def expect(response: Any, status: int, check: Any = None, what: str = "") -> None:
        if response.status_code != status or (check and not check(response.json)):
            failures.append(f"{what}: {response.status_code} {response.get_data(as_text=True)}")

    def refused_all(code: str) -> Any:
        return lambda body: body.get("refused") and {r["code"] for r in body["refused"]} == {code}

    for orders in ([b.assigned], [b.returned], [b.assigned, b.returned]):
        body = {"order_nos": orders, "supplier_shop_id": a.world.supplier_shop_id}
        expect(a.api("merchant", "POST", "/allocations", json=body), 200, refused_all("not_found"))
        expect(
            a.api("merchant", "POST", "/allocations/cancel", json={"order_nos": orders}),
            200,
            refused_all("not_found"),
            "cancel",
        )
        expect(
            a.api("merchant", "POST", "/dispatches", json={"order_nos": orders}),
            200,
            refused_all("not_found"),
            "dispatch",
        )
        expect(
            a.api(
                "supplier",
                "POST",
                "/supplier/print-jobs",
                json={"order_nos": orders, "courier": "SF"},
            ),
            200,
            refused_all("not_assigned"),
            "print",
        )
        items = [{"order_no": n, "courier": "SF", "tracking_no": "SF9999999999999"} for n in orders]
        expect(
            a.api("supplier", "POST", "/supplier/tracking", json={"items": items}),
            200,
            refused_all("not_assigned"),
            "tracking",
        )
    # Own orders to the other tenant's supplier: not bound.
    body = {"order_nos": [a.world.order_nos[0]], "supplier_shop_id": b_supplier_shop}
    expect(a.api("merchant", "POST", "/allocations", json=body), 200, refused_all("not_bound"))
    # Own returned order, the other merchant's return address.
    body = {"order_nos": [a.returned], "return_address_id": b.address_id}
    expect(
        a.api("merchant", "POST", "/dispatches", json=body),
        404,
        lambda e: e["error"]["code"] == "not_found",
        "dispatch with b's address",
    )
    body = {"supplier_shop_id": b_supplier_shop, "start": "2026-11-15", "end": "2026-11-21"}
    expect(a.api("merchant", "POST", "/statements", json=body), 422, None, "statement for b")
    body = {"supplier_shop_id": b.world.merchant_shop_id}
    expect(a.api("merchant", "POST", "/bindings", json=body), 422, None, "bind a merchant")
    for role, path in (
        ("merchant", f"/orders/{b.assigned}"),
        ("merchant", f"/statements/{b.statement_id}"),
        ("supplier", f"/statements/{b.statement_id}"),
    ):
        expect(a.api(role, "GET", path), 404, None, path)
    expect(a.api("merchant", "POST", f"/orders/{b.assigned}/acknowledge-address"), 404, None, "ack")
    expect(a.api("supplier", "DELETE", f"/supplier/tracking/{b.returned}"), 404, None, "take back")
    # Filters with the other tenant's shop ids show nothing.
    listed = a.api("merchant", "GET", f"/orders?supplier_shop_id={b_supplier_shop}")
    expect(listed, 200, lambda body: body["items"] == [] and body["total"] == 0, "filter")
    listed = a.api(
        "supplier", "GET", f"/supplier/orders?merchant_shop_id={b.world.merchant_shop_id}"
    )
    expect(listed, 200, lambda body: body["items"] == [], "supplier filter")
    prices = {"items": [{"merchant_shop_id": b.world.merchant_shop_id, "sku_key": "BLK-150-GRY"}]}
    prices["items"][0]["price"] = "1.00"
    response = a.api("supplier", "PUT", "/supplier/prices", json=prices)
    if response.status_code == 200:
        expect(response, 200, lambda body: body.get("refused") and not body.get("saved"), "prices")
    elif not 400 <= response.status_code < 500:
        failures.append(f"prices: {response.status_code}")
    assert not failures, "\n".join(failures)
    assert changed(before, snapshot(app)) == []


def test_another_tenants_ids_in_web_forms_are_refused_and_change_nothing(app, sides):
    a, b = sides
    browser = a.world.merchant
    before = snapshot(app)
    response = browser.post(
        "/merchant/orders/assign",
        {"order_no": [b.assigned, b.returned], "assign_to": str(a.supplier_id)},
        target="order-desk",
    )
    assert response.status_code in (200, 422)
    response = browser.post(
        "/merchant/orders/assign",
        {"order_no": [a.world.order_nos[1]], "assign_to": str(b.supplier_id)},
        target="order-desk",
    )
    assert response.status_code in (200, 422)
    response = browser.post(
        "/merchant/orders/dispatch",
        {"order_no": [a.returned], "return_address_id": str(b.address_id)},
        target="order-desk",
    )
    assert 400 <= response.status_code < 500 or "找不到该退货地址" in toast(response)
    response = browser.post(
        "/merchant/orders/cancel", {"order_no": [b.assigned]}, target="order-desk"
    )
    assert response.status_code in (200, 422)
    response = browser.post(
        "/merchant/statements",
        {"supplier": str(b.supplier_id), "start": "2026-11-15", "end": "2026-11-21"},
        target="statement-form",
    )
    assert response.status_code == 422
    supplier = a.world.supplier
    response = supplier.post(
        "/supplier/print-jobs", {"order_no": [b.assigned], "courier": "SF"}, target="order-desk"
    )
    assert response.status_code < 500
    response = supplier.post(
        f"/supplier/orders/{b.returned}/tracking/cancel", {}, target=f"row-{b.returned}"
    )
    assert response.status_code == 404
    assert changed(before, snapshot(app)) == []


# --- repeated parameters -----------------------------------------------------------------------


def test_repeated_query_and_form_parameters(app, sides):
    a, _b = sides
    before = snapshot(app)
    for browser, url in (
        (a.world.merchant, "/merchant/orders?tab=assigned&tab=all"),
        (a.world.merchant, "/merchant/orders?tab=nope&tab=assigned&page=1&page=2"),
        (a.world.merchant, "/merchant/statements?supplier=1&supplier=2"),
        (a.world.supplier, "/supplier/orders?tab=to_print&tab=returned"),
        (a.world.supplier, "/supplier/orders?merchant_id=1&merchant_id=x&q=a&q=b"),
        (a.world.supplier, "/supplier/prices?merchant_id=1&merchant_id=2&missing=1&missing=0"),
    ):
        for htmx in (False, True):
            response = browser.get(url, htmx=htmx, target="order-desk" if htmx else None)
            assert response.status_code in (200, 422), (url, response.status_code)
    for role, path in (
        ("merchant", "/orders?stage=assigned&stage=all"),
        ("merchant", "/orders?page=1&page=2"),
        ("merchant", "/orders?per_page=10&per_page=500"),
        ("supplier", "/supplier/orders?stage=returned&stage=bogus"),
        ("merchant", "/statements?status=ready&status=failed"),
    ):
        response = a.api(role, "GET", path)
        assert response.status_code in (200, 422), (path, response.status_code)
        if response.status_code == 422:
            assert error_code(response) == "validation_error"
    assert a.api("merchant", "GET", "/orders?page=1&page=2").status_code == 422
    assert changed(before, snapshot(app)) == []

    # The same order twice in one form or body is one order, assigned once.
    numbers = ["261121-q00000000000001", "261121-q00000000000002"]
    a.api("merchant", "POST", "/orders", json={"orders": [order_json(n) for n in numbers]})
    response = a.world.merchant.post(
        "/merchant/orders/assign",
        {"order_no": [numbers[0], numbers[0]], "assign_to": str(a.supplier_id)},
        target="order-desk",
    )
    assert response.status_code == 200
    body = {"order_nos": [numbers[1]] * 3, "supplier_shop_id": a.world.supplier_shop_id}
    answer = a.api("merchant", "POST", "/allocations", json=body).json
    assert answer == {"assigned": [numbers[1]], "refused": []}
    with app.app_context():
        for number in numbers:
            order_id = db.session.scalar(select(Order.id).where(Order.order_no == number))
            count = db.session.scalar(
                select(db.func.count())
                .select_from(Assignment)
                .where(Assignment.order_id == order_id)
            )
            assert count == 1, number


# --- JSON type confusion beyond the order upsert -------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def confusion_cases(a: Side) -> list[tuple[str, str, str, Any]]:
    shop = a.world.supplier_shop_id
    good_order = a.world.order_nos[0]
    return [
        # (role, method, path, body)
        ("merchant", "POST", "/allocations", {"order_nos": good_order, "supplier_shop_id": shop}),
        (
            "merchant",
            "POST",
            "/allocations",
            {"order_nos": {"0": good_order}, "supplier_shop_id": shop},
        ),
        ("merchant", "POST", "/allocations", {"order_nos": [7], "supplier_shop_id": shop}),
        (
            "merchant",
            "POST",
            "/allocations",
            {"order_nos": [good_order], "supplier_shop_id": [shop]},
        ),
        (
            "merchant",
            "POST",
            "/allocations",
            {"order_nos": [good_order], "supplier_shop_id": 10**40},
        ),
        (
            "merchant",
            "POST",
            "/allocations",
            {"order_nos": [[good_order]], "supplier_shop_id": shop},
        ),
        ("merchant", "POST", "/allocations/cancel", {"order_nos": None}),
        ("merchant", "POST", "/allocations/cancel", {"order_nos": nested(50)}),
        (
            "merchant",
            "POST",
            "/dispatches",
            {"order_nos": [a.returned], "return_address_id": 10**30},
        ),
        ("merchant", "POST", "/dispatches", {"order_nos": [a.returned], "return_address_id": "1"}),
        ("merchant", "POST", "/dispatches", {"order_nos": [a.returned], "return_address_id": True}),
        ("merchant", "POST", "/dispatches", {"order_nos": [a.returned], "return_address_id": 1.5}),
        ("merchant", "POST", "/dispatches", {"order_nos": [a.returned], "confirm_holds": "yes"}),
        ("merchant", "POST", "/dispatches", {"order_nos": {"a": a.returned}}),
        (
            "merchant",
            "POST",
            "/statements",
            {"supplier_shop_id": shop, "start": 20261115, "end": "2026-11-21"},
        ),
        (
            "merchant",
            "POST",
            "/statements",
            {"supplier_shop_id": shop, "start": "2026-11-15", "end": {}},
        ),
        (
            "merchant",
            "POST",
            "/statements",
            {"supplier_shop_id": shop, "start": "2026-13-45", "end": "2026-11-21"},
        ),
        (
            "merchant",
            "POST",
            "/statements",
            {"supplier_shop_id": shop, "start": "99999-01-01", "end": "2026-11-21"},
        ),
        (
            "merchant",
            "POST",
            "/statements",
            {"supplier_shop_id": {"id": shop}, "start": "2026-11-15", "end": "2026-11-21"},
        ),
        (
            "merchant",
            "POST",
            "/return-addresses",
            {
                "contact_name": 5,
                "phone": 13800138000,
                "province": "北京市",
                "city": "北京市",
                "detail": "x",
            },
        ),
        (
            "merchant",
            "POST",
            "/return-addresses",
            {
                "contact_name": "退货",
                "phone": "13800138000",
                "province": ["北京市"],
                "city": "北京市",
                "detail": "x",
            },
        ),
        (
            "merchant",
            "POST",
            "/return-addresses",
            {
                "contact_name": "退货",
                "phone": "13800138000",
                "province": "北京市",
                "city": "北京市",
                "detail": "x",
                "is_default": "yes",
            },
        ),
        ("merchant", "POST", "/bindings", {"supplier_shop_id": 10**40}),
        ("merchant", "POST", "/bindings", {"supplier_shop_id": []}),
        ("merchant", "POST", "/bindings", {"supplier_shop_id": shop, "message": {"text": "hi"}}),
        ("supplier", "POST", "/supplier/print-jobs", {"order_nos": {}, "courier": "SF"}),
        ("supplier", "POST", "/supplier/print-jobs", {"order_nos": [a.assigned], "courier": 5}),
        (
            "supplier",
            "POST",
            "/supplier/print-jobs",
            {"order_nos": [a.assigned], "courier": "SF", "label_size": []},
        ),
        (
            "supplier",
            "POST",
            "/supplier/print-jobs",
            {"order_nos": [a.assigned], "courier": "SF", "start_tracking_no": 10**30},
        ),
        ("supplier", "POST", "/supplier/tracking", {"items": {}}),
        ("supplier", "POST", "/supplier/tracking", {"items": [[]]}),
        (
            "supplier",
            "POST",
            "/supplier/tracking",
            {"items": [{"order_no": 5, "courier": "SF", "tracking_no": "SF1234567890123"}]},
        ),
        (
            "supplier",
            "POST",
            "/supplier/tracking",
            {"items": [{"order_no": a.assigned, "courier": "SF", "tracking_no": 1234567890123}]},
        ),
        (
            "supplier",
            "POST",
            "/supplier/tracking",
            {
                "items": [
                    {
                        "order_no": a.assigned,
                        "courier": "SF",
                        "tracking_no": "SF1234567890123",
                        "extra_tracking_nos": "SF1234567890124",
                    }
                ]
            },
        ),
        ("supplier", "POST", "/supplier/tracking", {"items": nested(200)}),
        ("supplier", "PUT", "/supplier/prices", {"items": {}}),
        (
            "supplier",
            "PUT",
            "/supplier/prices",
            {
                "items": [
                    {
                        "merchant_shop_id": a.world.merchant_shop_id,
                        "sku_key": "BLK-150-GRY",
                        "price": 1e309,
                    }
                ]
            },
        ),
        (
            "supplier",
            "PUT",
            "/supplier/prices",
            {
                "items": [
                    {
                        "merchant_shop_id": a.world.merchant_shop_id,
                        "sku_key": ["BLK"],
                        "price": "1.00",
                    }
                ]
            },
        ),
        (
            "supplier",
            "PUT",
            "/supplier/prices",
            {"items": [{"merchant_shop_id": 10**40, "sku_key": "BLK-150-GRY", "price": "1.00"}]},
        ),
        ("supplier", "POST", f"/statements/{a.statement_id}/dispute", {"reason": ["bad"]}),
    ]


def test_json_type_confusion_is_a_4xx_and_changes_nothing(app, sides):
    a, _b = sides
    before = snapshot(app)
    failures = []
    for role, method, path, body in confusion_cases(a):
        response = a.api(role, method, path, json=body)
        status = response.status_code
        answer = response.json or {}
        batch_refusal = (
            status == 200
            and answer.get("refused")
            and not any(
                answer.get(key)
                for key in ("assigned", "cancelled", "dispatched", "returned", "saved")
            )
        )
        if not (400 <= status < 500 or batch_refusal):
            failures.append(f"{method} {path} {json.dumps(body)[:120]}: {status} {answer}")
        elif status >= 400 and not error_code(response):
            failures.append(f"{method} {path}: no error code in {answer}")
    # Not an object at all, or not JSON.
    for role, method, path in (
        ("merchant", "POST", "/allocations"),
        ("merchant", "POST", "/dispatches"),
        ("supplier", "POST", "/supplier/tracking"),
        ("supplier", "PUT", "/supplier/prices"),
    ):
        for raw in ("[]", '"text"', "42", "null", "{", "[" * 50_000):
            response = a.api(role, method, path, data=raw, content_type="application/json")
            if response.status_code != 400 or error_code(response) != "invalid_request":
                failures.append(f"{method} {path} {raw[:10]!r}: {response.status_code}")
        response = a.api(role, method, path, data="order_nos=1", content_type="text/plain")
        if response.status_code != 400:
            failures.append(f"{method} {path} text/plain: {response.status_code}")
    assert not failures, "\n".join(failures)
    assert changed(before, snapshot(app)) == []


def test_the_snapshot_sees_a_change(app, sides):
    """The comparison this module relies on is not blind."""
    a, _b = sides
    before = snapshot(app)
    with app.app_context():
        db.session.execute(
            Binding.__table__.update()
            .where(Binding.merchant_id == a.merchant_id)
            .values(message="changed")
        )
        db.session.commit()
    assert changed(before, snapshot(app)) == ["bindings"]
