"""The merchant's note to the factory and its flags (DESIGN §10.2): PUT /orders/{order_no}/note,
the drawer's form, the factory's desk and label (masked), the merchant desk's flag filter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_api_orders import API
from tests.test_api_supplier import RECEIVERS, desk, nos, order_json, pdf_pages  # noqa: F401

# A note naming the receiver, another person after a cue, and two phone numbers.
NOTE = "麻烦联系欧阳翠花或收件人：王小明，电话15987623418，备用 0571-88223344，周末送"
SECRETS = ["欧阳翠花", "翠花", "王小明", "小明", "15987623418", "88223344"]


def put_note(api: Any, order_no: str, body: object) -> Any:
    return api.client.put(f"{API}/orders/{order_no}/note", json=body, headers=api.headers)


def assert_note_masked(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, leaked


def test_note_and_flag_round_trip_and_the_factory_sees_it_masked(desk):  # noqa: F811
    [no] = nos(1)
    desk.orders(no)
    response = put_note(desk.merchant, no, {"note": NOTE, "flag": 3})
    assert response.status_code == 200, response.json
    assert response.json["note"] == NOTE and response.json["flag"] == 3
    # The flag alone may be left out: it stays.
    answer = put_note(desk.merchant, no, {"note": NOTE + "。"}).json
    assert answer["flag"] == 3 and answer["note"] == NOTE + "。"

    item = desk.supplier.order(no)
    assert "flag" not in item
    assert item["note"].startswith("麻烦联系欧**或收件人:王**")
    assert "159****3418" in item["note"] and "周末送" in item["note"]
    assert_note_masked(json.dumps(item, ensure_ascii=False))

    job = desk.supplier.print_job([no]).json
    pdf = desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf")
    [page] = pdf_pages(pdf.data)
    # A plain (not 隐私) label carries the receiver itself; the merchant's note stays masked.
    note = page.extract_text().replace("\n", "").partition("商家：")[2]
    assert note.startswith("麻烦联系欧**") and "159****3418" in note
    assert_note_masked(note)

    # Cleared.
    assert put_note(desk.merchant, no, {"note": ""}).json["note"] == ""
    assert desk.supplier.order(no)["note"] == ""


def test_receiver_edit_masks_the_new_name_in_the_note(desk):  # noqa: F811
    [no] = nos(1)
    desk.orders(no)
    put_note(desk.merchant, no, {"note": "交付前请给慕容秋水打电话"})
    patched = desk.merchant.client.patch(
        f"{API}/orders/{no}/receiver", json={"name": "慕容秋水"}, headers=desk.merchant.headers
    )
    assert patched.status_code == 200
    assert "慕容秋水" not in desk.supplier.order(no)["note"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"note": "字" * 201}, "note"),
        ({"note": "x", "flag": 6}, "flag"),
        ({"note": "x", "flag": -1}, "flag"),
        ({"note": "x", "flag": "1"}, "flag"),
        ({"flag": 1}, "note"),
        ({"note": 5}, "note"),
        ({"note": "x", "colour": 1}, "colour"),
    ],
)
def test_bad_note_input_is_refused_by_field(desk, body, field):  # noqa: F811
    [no] = nos(1)
    desk.merchant.upsert(order_json(no))
    response = put_note(desk.merchant, no, body)
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == field
    assert desk.merchant.order(no)["note"] == ""


def test_other_tenants_and_suppliers_cannot_write_notes(desk):  # noqa: F811
    [no] = nos(1)
    desk.merchant.upsert(order_json(no))
    assert put_note(desk.other_merchant, no, {"note": "x"}).status_code == 404
    assert put_note(desk.supplier, no, {"note": "x"}).status_code == 403


def test_order_list_filters_by_flag(desk):  # noqa: F811
    red, green, grey = nos(3)
    desk.merchant.upsert(*(order_json(no) for no in (red, green, grey)))
    put_note(desk.merchant, red, {"note": "", "flag": 1})
    put_note(desk.merchant, green, {"note": "", "flag": 3})

    def listed(**params: object) -> list[str]:
        answer = desk.merchant.get("/orders", **params)
        assert answer.status_code == 200, answer.json
        return sorted(item["order_no"] for item in answer.json["items"])

    assert listed(flag=1) == [red]
    assert listed(flag=0) == [grey]
    assert listed() == sorted([red, green, grey])
    assert desk.merchant.get("/orders", flag=7).status_code == 422


# --- the web desk and drawer --------------------------------------------------------------------


def test_drawer_note_form_and_desk_flag_filter(app, factory, browser, make_browser):
    m_user, s_user = factory.merchant(), factory.supplier()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {factory.token(m_user)}"}
    s_headers = {"Authorization": f"Bearer {factory.token(s_user)}"}
    binding = client.post(
        f"{API}/bindings", json={"supplier_shop_id": s_user.shop_id}, headers=headers
    ).json
    client.post(f"{API}/bindings/{binding['id']}/accept", headers=s_headers)
    flagged, plain = nos(2)
    orders = [order_json(no, receiver=RECEIVERS["a"]) for no in (flagged, plain)]
    client.post(f"{API}/orders", json={"orders": orders}, headers=headers)
    client.post(
        f"{API}/allocations",
        json={"order_nos": [flagged], "supplier_shop_id": s_user.shop_id},
        headers=headers,
    )

    browser.login(m_user.username)
    saved = browser.post(
        f"/merchant/orders/{flagged}/note", {"note": NOTE, "flag": "1"}, target="order-drawer"
    )
    page = saved.get_data(as_text=True)
    assert saved.status_code == 200 and NOTE in page and "厂家看到" in page
    assert 'value="1" class="flag-1" selected' in page

    too_long = browser.post(
        f"/merchant/orders/{flagged}/note", {"note": "字" * 201}, target="order-drawer"
    )
    assert json.loads(too_long.headers["HX-Trigger"])["showToast"]["level"] == "warning"

    desk_page = browser.get(
        "/merchant/orders?tab=all&flag=1", htmx=True, target="order-desk"
    ).get_data(as_text=True)
    assert flagged in desk_page and plain not in desk_page and 'data-flag="1"' in desk_page
    grey_page = browser.get(
        "/merchant/orders?tab=all&flag=0", htmx=True, target="order-desk"
    ).get_data(as_text=True)
    assert plain in grey_page and flagged not in grey_page

    factory_browser = make_browser()
    factory_browser.login(s_user.username)
    factory_page = factory_browser.get("/supplier/orders").get_data(as_text=True)
    assert "商家备注" in factory_page and "159****3418" in factory_page
    assert_note_masked(factory_page)
    assert "data-flag" not in factory_page
