"""The merchant corrects a receiver (DESIGN §10.2): PATCH /orders/{order_no}/receiver and the
drawer's form. Stored like an import; on an assigned order an acknowledged address change."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.domain.demo_data import write_platform_export
from portal.extensions import db
from portal.models import Order, OrderEvent
from tests.factories import SESSION_HOUR
from tests.incidental_digits import without_incidental_digits
from tests.test_api_orders import API
from tests.test_api_supplier import RECEIVERS, desk, nos, order_json  # noqa: F401

NEW = {"name": "慕容秋水", "phone": "13762519084", "detail": "滨江路望江苑9栋1102室"}
NEW_SECRETS = [NEW["name"], NEW["name"][1:], NEW["detail"], NEW["detail"][:4]]
NEW_RUNS = [NEW["phone"][i : i + 5] for i in range(7)]


def patch(api: Any, order_no: str, body: object) -> Any:
    return api.client.patch(f"{API}/orders/{order_no}/receiver", json=body, headers=api.headers)


def assert_no_new_plaintext(body: str) -> None:
    text = without_incidental_digits(body)
    leaked = [s for s in NEW_SECRETS if s in text] + [r for r in NEW_RUNS if r in text]
    assert not leaked, leaked


def stored(app: Any, order_no: str) -> Order:
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.order_no == order_no))
        db.session.expunge(order)
        return order


def history(app: Any, order_no: str) -> list[OrderEvent]:
    with app.app_context():
        events = list(
            db.session.scalars(
                select(OrderEvent)
                .join(Order, Order.id == OrderEvent.order_id)
                .where(Order.order_no == order_no)
                .order_by(OrderEvent.id)
            )
        )
        db.session.expunge_all()
        return events


def test_edit_is_encrypted_masked_indexed_and_audited(desk):  # noqa: F811
    [no] = nos(1)
    desk.merchant.upsert(order_json(no, receiver=RECEIVERS["a"]))
    response = patch(desk.merchant, no, {"name": NEW["name"], "phone": "137-6251-9084"})
    assert response.status_code == 200, response.json
    receiver = response.json["receiver"]
    # Normalised as an import normalises: the phone canonical, the detail kept.
    assert receiver["name"] == NEW["name"] and receiver["phone"] == NEW["phone"]
    assert receiver["detail"] == RECEIVERS["a"]["detail"]

    order = stored(desk.app, no)
    for column in (order.name_enc, order.phone_enc, order.detail_enc):
        assert NEW["name"] not in column and NEW["phone"] not in column
    assert (order.name_mask, order.phone_mask) == ("慕**", "137****9084")
    # The keyed search index follows: the new name and phone find it, the old ones no longer.
    for q, found in ((NEW["phone"], [no]), (NEW["name"], [no]), (RECEIVERS["a"]["phone"], [])):
        listed = desk.merchant.get("/orders", q=q).json["items"]
        assert [item["order_no"] for item in listed] == found, q

    [event] = [e for e in history(desk.app, no) if e.kind == "receiver_edited"]
    assert event.actor_id is not None and event.supplier_id is None
    assert event.note.startswith("欧** 159****3418 ") and "→ 慕** 137****9084 " in event.note
    assert_no_new_plaintext(event.note)

    # The same values again: nothing to do, nothing recorded.
    assert patch(desk.merchant, no, {"phone": NEW["phone"]}).status_code == 200
    assert [e.kind for e in history(desk.app, no)].count("receiver_edited") == 1


def test_street_and_detail_and_region_rules(desk):  # noqa: F811
    [no] = nos(1)
    desk.merchant.upsert(order_json(no))
    answer = patch(desk.merchant, no, {"street": "西湖街道", "detail": "文三路 8 号"}).json
    assert answer["receiver"]["detail"] == "西湖街道文三路 8 号"
    # A district the division table does not know is kept and flagged, never blocking.
    answer = patch(desk.merchant, no, {"district": "高新区"}).json
    assert answer["receiver"]["district"] == "高新区" and answer["region_unverified"]
    assert answer["assign_blockers"] == []
    # An empty detail line makes the address incomplete: it cannot be assigned any more.
    answer = patch(desk.merchant, no, {"detail": ""}).json
    assert answer["assign_blockers"] == ["address_incomplete"]
    answer = patch(desk.merchant, no, {"district": "天河区", "detail": "体育西路 1 号"}).json
    assert answer["assign_blockers"] == [] and not answer["region_unverified"]


def test_assigned_order_counts_as_acknowledged_and_must_be_printed_again(desk):  # noqa: F811
    [no] = nos(1)
    desk.orders(no)
    job = desk.supplier.print_job([no]).json
    assert desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf").status_code == 200
    assert desk.supplier.order(no)["print_count"] == 1

    answer = patch(desk.merchant, no, NEW).json
    assert answer["stage"] == "assigned" and not answer["address_change_pending"]
    assert answer["print_blockers"] == []
    item = desk.supplier.order(no)
    assert item["address_changed"] and item["print_count"] == 0
    assert item["receiver"]["name"] == "慕**" and item["print_blockers"] == []
    assert desk.supplier.listed(stage="to_print")[1] == [no]
    listing = desk.supplier.get("/supplier/orders").get_data(as_text=True)
    assert_no_new_plaintext(listing)
    kinds = [(e.kind, e.supplier_id is not None) for e in history(desk.app, no)]
    assert kinds[-1] == ("receiver_edited", True)

    # Printed again: 地址已修改 is over.
    job = desk.supplier.print_job([no]).json
    assert desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf").status_code == 200
    item = desk.supplier.order(no)
    assert not item["address_changed"] and item["print_count"] == 1


def test_an_imported_change_acknowledged_also_sends_a_printed_label_back(desk):  # noqa: F811
    [no] = nos(1)
    desk.orders(no)
    job = desk.supplier.print_job([no]).json
    desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf")
    desk.merchant.upsert(order_json(no, receiver=RECEIVERS["b"]))
    assert desk.supplier.order(no)["print_blockers"] == ["address_changed"]
    assert desk.merchant.post(f"/orders/{no}/acknowledge-address").status_code == 200
    item = desk.supplier.order(no)
    assert item["address_changed"] and item["print_count"] == 0 and item["print_blockers"] == []


@pytest.mark.parametrize("stage", ["returned", "dispatched"])
def test_refused_once_a_tracking_number_is_back(desk, stage):  # noqa: F811
    [no] = nos(1)
    desk.orders(no)
    desk.set_stage(no, stage)
    response = patch(desk.merchant, no, {"name": NEW["name"]})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "tracking_returned"
    assert desk.merchant.order(no)["receiver"]["name"] == RECEIVERS["a"]["name"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"phone": "无号码"}, "invalid_phone", "phone"),
        ({"name": 12}, "validation_error", "name"),
        ({"nickname": "x"}, "validation_error", "nickname"),
        ({"detail": "路" * 201}, "field_too_long", "detail"),
        ({"street": "街" * 150, "detail": "路" * 100}, "field_too_long", "detail"),
    ],
)
def test_bad_input_is_a_named_refusal_and_changes_nothing(desk, body, code, field):  # noqa: F811
    [no] = nos(1)
    desk.merchant.upsert(order_json(no))
    response = patch(desk.merchant, no, body)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == code and response.json["error"]["field"] == field
    assert desk.merchant.order(no)["receiver"] == {**order_json(no)["receiver"], "street": ""}


def test_other_tenants_and_suppliers(desk):  # noqa: F811
    [no] = nos(1)
    desk.merchant.upsert(order_json(no))
    assert patch(desk.other_merchant, no, {"name": "王五"}).status_code == 404
    assert patch(desk.supplier, no, {"name": "王五"}).status_code == 403
    assert desk.merchant.order(no)["receiver"]["name"] == "张伟"


# --- later imports of the same order ------------------------------------------------------------


def export(order_no: str, receiver: str = "a", **changes: Any) -> bytes:
    """The order as the platform's export has it: a Pinduoduo CSV of one row."""
    order = order_json(order_no, receiver=RECEIVERS[receiver], **changes)
    order.update(
        paid_at=SESSION_HOUR - timedelta(days=1),
        promise_ship_at=SESSION_HOUR + timedelta(days=2),
        goods_total_fen=17980,
        paid_fen=17180,
    )
    stream = io.BytesIO()
    write_platform_export([order], stream, encoding="utf-8")
    return stream.getvalue()


def imported(desk: Any, content: bytes) -> tuple[int, int, int]:  # noqa: F811
    """Upload the file through POST /orders/import: (created, updated, unchanged)."""
    answer = desk.merchant.upload(content).json
    assert answer["rejected"] == [], answer
    return answer["created"], answer["updated"], answer["unchanged"]


def test_a_correction_survives_imports_that_bring_the_same_platform_receiver(desk):  # noqa: F811
    [no] = nos(1)
    assert imported(desk, export(no)) == (1, 0, 0)
    assert desk.merchant.assign([no], desk.shop_id)["assigned"] == [no]
    assert patch(desk.merchant, no, NEW).status_code == 200
    corrected = desk.merchant.order(no)["receiver"]

    # The same row again (daily re-imports of open orders): nothing changed.
    assert imported(desk, export(no)) == (0, 0, 1)
    # Another change in the row, the platform's receiver still the old one: the note is
    # taken, the correction stays, and it is no address change for the factory.
    assert imported(desk, export(no, merchant_note="买家要求顺丰")) == (0, 1, 0)
    order = desk.merchant.order(no)
    assert order["receiver"] == corrected and order["merchant_note"] == "买家要求顺丰"
    assert not order["address_change_pending"] and order["print_blockers"] == []
    assert "address_changed" not in [e.kind for e in history(desk.app, no)]
    # The factory's masks follow the kept receiver; 地址已修改 is the edit's, as before.
    item = desk.supplier.order(no)
    assert (item["receiver"]["name"], item["receiver"]["phone"]) == ("慕**", "137****9084")
    assert item["address_changed"] and item["print_blockers"] == []
    # The keyed indexes are the correction's too.
    found = desk.merchant.get("/orders", q=NEW["phone"]).json["items"]
    assert [item["order_no"] for item in found] == [no]
    assert imported(desk, export(no, merchant_note="买家要求顺丰")) == (0, 0, 1)


def test_a_new_platform_receiver_wins_over_the_correction(desk):  # noqa: F811
    [no] = nos(1)
    imported(desk, export(no))
    desk.merchant.assign([no], desk.shop_id)
    job = desk.supplier.print_job([no]).json
    assert desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf").status_code == 200
    patch(desk.merchant, no, NEW)

    # The buyer changed the address on the platform: the platform's receiver is taken, printing
    # waits for the merchant, as for any imported change.
    assert imported(desk, export(no, receiver="b")) == (0, 1, 0)
    order = desk.merchant.order(no)
    assert order["receiver"]["name"] == RECEIVERS["b"]["name"]
    assert order["address_change_pending"]
    assert desk.supplier.order(no)["print_blockers"] == ["address_changed"]
    assert desk.merchant.post(f"/orders/{no}/acknowledge-address").status_code == 200
    item = desk.supplier.order(no)
    assert item["address_changed"] and item["print_blockers"] == []
    assert item["receiver"]["name"] == "司**"
    # From now on that receiver is the platform's: a later change elsewhere keeps it.
    imported(desk, export(no, receiver="b", merchant_note="已催发货"))
    assert desk.merchant.order(no)["receiver"]["name"] == RECEIVERS["b"]["name"]
    assert not desk.merchant.order(no)["address_change_pending"]


def test_api_upserts_keep_the_correction_too(desk):  # noqa: F811
    [no] = nos(1)
    desk.merchant.upsert(order_json(no, receiver=RECEIVERS["a"]))
    patch(desk.merchant, no, {"name": NEW["name"]})

    answer = desk.merchant.upsert(order_json(no, receiver=RECEIVERS["a"]))
    assert (answer["updated"], answer["unchanged"]) == (0, 1)
    later = order_json(no, receiver=RECEIVERS["a"], platform_status_text="待发货（买家已催单）")
    assert desk.merchant.upsert(later)["updated"] == 1
    order = desk.merchant.order(no)
    assert order["platform_status_text"] == "待发货（买家已催单）"
    assert order["receiver"]["name"] == NEW["name"]
    assert order["receiver"]["phone"] == RECEIVERS["a"]["phone"]

    # The buyer moved on the platform: the platform's receiver, whole, is the order's again.
    moved = {**RECEIVERS["a"], "detail": "梅林路宏图大厦2709室"}
    assert desk.merchant.upsert(order_json(no, receiver=moved))["updated"] == 1
    receiver = desk.merchant.order(no)["receiver"]
    assert (receiver["name"], receiver["detail"]) == (moved["name"], moved["detail"])


# --- the drawer ---------------------------------------------------------------------------------


def test_drawer_form_edits_and_the_factory_desk_says_address_changed(
    app, factory, browser, make_browser
):
    from tests.test_order_desk import order_no as number

    m_user, s_user = factory.merchant(), factory.supplier()
    merchant_api_token = factory.token(m_user)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {merchant_api_token}"}
    binding = client.post(
        f"{API}/bindings", json={"supplier_shop_id": s_user.shop_id}, headers=headers
    ).json
    s_headers = {"Authorization": f"Bearer {factory.token(s_user)}"}
    client.post(f"{API}/bindings/{binding['id']}/accept", headers=s_headers)
    no = number(1)
    client.post(f"{API}/orders", json={"orders": [order_json(no)]}, headers=headers)
    client.post(
        f"{API}/allocations",
        json={"order_nos": [no], "supplier_shop_id": s_user.shop_id},
        headers=headers,
    )

    browser.login(m_user.username)
    drawer = browser.get(f"/merchant/orders/{no}", htmx=True, target="order-drawer")
    page = drawer.get_data(as_text=True)
    assert "修改收货信息" in page and 'value="张伟"' in page

    form = {**order_json(no)["receiver"], **NEW}
    refused = browser.post(
        f"/merchant/orders/{no}/receiver", {**form, "phone": "无号码"}, target="order-drawer"
    )
    assert refused.status_code == 200
    toast = json.loads(refused.headers["HX-Trigger"])["showToast"]
    assert toast == {"message": "请输入正确的手机号或固定电话", "level": "warning"}
    assert 'value="无号码"' in refused.get_data(as_text=True)  # the form stays open, as typed

    saved = browser.post(f"/merchant/orders/{no}/receiver", form, target="order-drawer")
    page = saved.get_data(as_text=True)
    assert saved.status_code == 200 and NEW["name"] in page and "商家修改收货信息" in page

    factory_browser = make_browser()
    factory_browser.login(s_user.username)
    desk_page = factory_browser.get("/supplier/orders").get_data(as_text=True)
    assert "地址已修改" in desk_page and "慕**" in desk_page
    assert_no_new_plaintext(desk_page)
