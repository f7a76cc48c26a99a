"""On the factory side an order is (merchant, number): two merchants using one number never
get each other's tracking numbers or labels (DESIGN §10.6, ambiguous_order_no)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, Order, User
from tests import test_api_supplier
from tests.test_api_supplier import RECEIVERS, codes, nos, pdf_pages

desk = test_api_supplier.desk


def _shared(desk) -> str:
    [no] = nos(1, prefix="261121-3000000000000")
    desk.orders(no, receiver="a")
    desk.orders(no, receiver="b", merchant=desk.other_merchant)
    return no


def _tracking_of(desk, merchant_shop_id: str, order_no: str) -> str:
    with desk.app.app_context():
        return db.session.scalar(
            select(Order.tracking_no)
            .join(Merchant, Merchant.id == Order.merchant_id)
            .join(User, User.id == Merchant.user_id)
            .where(User.shop_id == merchant_shop_id, Order.order_no == order_no)
        )


def _return(desk, **item: Any) -> dict[str, Any]:
    return desk.supplier.return_tracking({"courier": "SF", **item})


def test_tracking_items_name_the_merchant_when_two_use_the_number(desk):
    no = _shared(desk)
    answer = _return(desk, order_no=no, tracking_no="SF1234567890123")
    assert answer["returned"] == [] and codes(answer) == {no: "ambiguous_order_no"}
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == ""
    answer = _return(
        desk,
        order_no=no,
        tracking_no="SF1234567890123",
        merchant_shop_id=desk.other_merchant_shop_id,
    )
    assert answer["returned"] == [no]
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == "SF1234567890123"
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""
    # the number alone still works for a number only one merchant uses
    [own] = nos(1, prefix="261121-3100000000000")
    desk.orders(own)
    assert _return(desk, order_no=own, tracking_no="SF1234567890124")["returned"] == [own]


def test_tracking_file_takes_a_merchant_shop_id_column_when_needed(desk):
    no = _shared(desk)
    content = (
        "订单号,快递公司,快递单号,商家店铺ID\n"
        f"{no},SF,SF1234567890125,\n"
        f"{no},SF,SF1234567890126,{desk.merchant_shop_id}\n"
    ).encode()
    response = desk.supplier.upload_tracking(content)
    assert response.status_code == 200, response.json
    refused = response.json["refused"]
    assert [(r["row"], r["code"]) for r in refused] == [(2, "ambiguous_order_no")]
    assert _tracking_of(desk, desk.merchant_shop_id, no) == "SF1234567890126"
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == ""


def test_print_jobs_never_print_the_other_merchants_receiver(desk):
    no = _shared(desk)
    answer = desk.supplier.print_job([no]).json
    assert answer["id"] is None and codes(answer) == {no: "ambiguous_order_no"}
    response = desk.supplier.print_job([no], merchant_shop_id=desk.other_merchant_shop_id)
    assert response.status_code == 201, response.json
    with desk.app.app_context():
        db.session.execute(db.update(Merchant).values(label_style="full"))
        db.session.commit()
    pdf = desk.supplier.get(f"/supplier/print-jobs/{response.json['id']}/pdf")
    [page] = pdf_pages(pdf.data)
    text = page.extract_text()
    assert RECEIVERS["b"]["name"] in text and RECEIVERS["a"]["name"] not in text


def test_cancelling_a_return_names_the_merchant_when_two_use_the_number(desk):
    no = _shared(desk)
    for shop in (desk.merchant_shop_id, desk.other_merchant_shop_id):
        tracking_no = "SF1234567890127" if shop == desk.merchant_shop_id else "SF1234567890128"
        _return(desk, order_no=no, tracking_no=tracking_no, merchant_shop_id=shop)
    response = desk.supplier.delete(f"/supplier/tracking/{no}")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "ambiguous_order_no"
    response = desk.supplier.client.delete(
        f"/api/v1/supplier/tracking/{no}",
        query_string={"merchant_shop_id": desk.merchant_shop_id},
        headers=desk.supplier.headers,
    )
    assert response.status_code == 200
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == "SF1234567890128"
