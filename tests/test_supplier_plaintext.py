"""No supplier output ever carries buyer plaintext: every supplier route, walked from the URL map.

The authorization matrix's world (two merchant–supplier pairs with every kind of tenant object)
gets orders in every state a supplier can see; then every GET route a supplier may call — pages,
the same pages as htmx fragments, JSON answers, CSV and XLSX downloads — is requested and its
body searched for the receivers' plaintext names, detail addresses and any run of five digits of
their phones. The one allowed exception (DESIGN §5) is the waybill PDF, which must carry the
address to ship the parcel. A new supplier route is covered without touching this file.
"""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from portal.domain import allocation
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import Binding, Merchant, Order, Supplier
from tests.authz_access import API_BOTH, API_SUPPLIER, SUPPLIER
from tests.factories import demo_order
from tests.incidental_digits import without_incidental_digits
from tests.test_authz_matrix import ROUTES, _rules, world  # noqa: F401  (fixture)

NAMES = ("张伟", "欧阳娜娜", "李娜")
DETAILS = ("石牌街道团结路887号18栋3004室", "团结路887号", "滨江路十八号院", "人民路1号")
PHONES = ("13577446522", "18983526008", "13390668968")
SUPPLIER_ACCESS = (SUPPLIER, API_SUPPLIER, API_BOTH)
# Labels and packing slips: plaintext unless the merchant chose 隐私面单 (tested apart).
PDF_ENDPOINTS_ALLOWED = {
    "supplier.print_job_pdf",
    "supplier.print_job_slips",
    "api.supplier.print_job_pdf",
    "api.supplier.print_job_slips",
}


def leaks(text: str) -> list[str]:
    found = [value for value in (*NAMES, *DETAILS) if value in text]
    text = without_incidental_digits(text)
    digits = re.sub(r"[^0-9]", " ", text)
    for phone in PHONES:
        found += [phone[i : i + 5] for i in range(len(phone) - 4) if phone[i : i + 5] in digits]
    return found


def test_the_leak_check_ignores_timestamps_but_not_phones():
    # the API's times carry microseconds: "…07:45:12.526004" once failed this suite
    assert leaks('{"updated_at": "2026-11-22T07:45:12.526004+00:00"}') == []
    assert leaks("收件人电话 18983526008") and leaks("…526008 …") == ["52600", "26008"]


def test_the_leak_check_ignores_shop_ids_but_not_phones():
    # shop IDs are random: a merchant's "135774012" once failed the workflow suite ("13577")
    assert leaks("商家 135774012") == []
    assert leaks("商家 135774012 电话 13577446522")
    assert leaks("135****6522 13577") == ["13577"]


def body_text(response) -> str:
    kind = response.headers.get("Content-Type", "")
    if response.mimetype == "application/pdf":  # a pick list: its text read back
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    if "spreadsheetml" in kind:
        sheet = load_workbook(io.BytesIO(response.data), read_only=True)
        return "\n".join(
            " ".join("" if cell is None else str(cell) for cell in row)
            for ws in sheet.worksheets
            for row in ws.iter_rows(values_only=True)
        )
    return response.get_data(as_text=True)


def add_orders_in_every_state(app, merchant_id: int, supplier_id: int) -> None:
    """Besides the world's assigned order: returned, cancelled, held, address-changed orders."""
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        supplier = db.session.get(Supplier, supplier_id)
        numbers = [f"261121-p{merchant_id:03d}000000000{i}" for i in range(1, 6)]
        upsert_orders(
            current_keyring(),
            merchant,
            [
                demo_order(numbers[0], buyer_note="联系电话 13577446522，放门口"),
                demo_order(numbers[1], receiver_name="欧阳娜娜", receiver_phone="18983526008"),
                demo_order(numbers[2], receiver_name="李娜", receiver_phone="13390668968"),
                demo_order(numbers[3], detail="滨江路十八号院"),
                demo_order(numbers[4], detail="人民路1号"),
            ],
        )
        assert allocation.assign_orders(merchant, numbers, supplier, None).done
        assert return_tracking(
            supplier, [TrackingItem(numbers[1], "SF", f"SF{merchant_id:03d}0000000001")], None
        ).returned
        allocation.cancel_assignments(merchant, [numbers[2]], None)
        db.session.commit()
        # A later import: the buyer changed the address of an assigned order.
        upsert_orders(current_keyring(), merchant, [demo_order(numbers[3], detail="人民路1号")])
        db.session.commit()
        assert db.session.scalar(
            select(Order.address_change_pending).where(Order.order_no == numbers[3])
        )


def supplier_requests(app, tenant):
    """(endpoint, url, headers) for every GET a supplier can make, with its own objects."""
    rules = _rules(app)
    for endpoint, (access, params) in sorted(ROUTES.items()):
        if access not in SUPPLIER_ACCESS or "GET" not in rules[endpoint].methods:
            continue
        values = {name: tenant.objects[kind] for name, kind in params.items()}
        with app.test_request_context():
            from flask import url_for

            base = url_for(endpoint, **values)
        variants = [base]
        if "download" in endpoint or "export" in endpoint or "pick_list" in endpoint:
            joiner = "&" if "?" in base else "?"
            variants = [f"{base}{joiner}format=csv", f"{base}{joiner}format=xlsx"]
        for url in variants:
            if access == SUPPLIER:
                yield endpoint, url, {}
                yield endpoint, url, {"HX-Request": "true"}
            else:
                yield endpoint, url, {"Authorization": f"Bearer {tenant.token}"}


def test_no_supplier_route_returns_buyer_plaintext(app, world):  # noqa: F811
    supplier_a = world["supplier_a"]
    with app.app_context():
        binding = db.session.scalar(
            select(Binding).where(Binding.supplier_id == supplier_a.user.supplier.id)
        )
        merchant_id, supplier_id = binding.merchant_id, binding.supplier_id
    add_orders_in_every_state(app, merchant_id, supplier_id)

    checked, failures = 0, []
    for endpoint, url, headers in supplier_requests(app, supplier_a):
        response = supplier_a.browser.client.get(url, headers=headers)
        assert response.status_code < 500, (endpoint, url, response.status_code)
        if response.status_code >= 400:
            continue  # e.g. a download of a statement still queued: nothing sent
        if response.mimetype == "application/pdf" and endpoint in PDF_ENDPOINTS_ALLOWED:
            continue  # labels: plaintext unless the merchant chose 隐私面单 (tested apart)
        checked += 1
        found = leaks(body_text(response))
        if found:
            failures.append(f"{endpoint} {url} {headers}: {found}")
    assert not failures, "\n".join(failures)
    assert checked >= 20  # the walk really covered the supplier's pages and answers

    # The check itself can fail: the merchant's own order page shows the plaintext.
    merchant_a = world["merchant_a"]
    page = merchant_a.browser.client.get(f"/merchant/orders/{merchant_a.objects['order']}")
    assert leaks(page.get_data(as_text=True))
