"""On the factory side an order is (merchant, number): two merchants using one number never
get each other's tracking numbers or labels (DESIGN §10.6, ambiguous_order_no)."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, Order, PrintJob, User
from portal.models.base import utcnow
from tests import test_api_supplier
from tests.test_api_supplier import RECEIVERS, codes, nos, pdf_pages
from tests.test_print_day import xlsx_rows

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


def _refused_by_number_alone(desk, no: str, tracking_no: str) -> None:
    answer = _return(desk, order_no=no, tracking_no=tracking_no)
    assert answer["returned"] == [] and codes(answer) == {no: "ambiguous_order_no"}
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""


def test_tracking_items_name_the_merchant_when_two_use_the_number(desk):
    no = _shared(desk)
    _refused_by_number_alone(desk, no, "SF1234567890123")
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == ""
    shop = desk.other_merchant_shop_id
    assert _return(desk, order_no=no, tracking_no="SF1234567890123", merchant_shop_id=shop)[
        "returned"
    ] == [no]
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == "SF1234567890123"
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""
    # the number alone still works for a number only one merchant uses
    [own] = nos(1, prefix="261121-3100000000000")
    desk.orders(own)
    assert _return(desk, order_no=own, tracking_no="SF1234567890124")["returned"] == [own]


def _file_refusals(desk, lines: list[tuple[str, str, str]]) -> list[tuple[int, str]]:
    """Upload a tracking file of (order number, SF tracking number, merchant shop ID) lines;
    the refused rows as (row, code)."""
    body = "".join(f"{no},SF,{number},{shop}\n" for no, number, shop in lines)
    response = desk.supplier.upload_tracking(
        f"订单号,快递公司,快递单号,商家店铺ID\n{body}".encode()
    )
    assert response.status_code == 200, response.json
    return [(r["row"], r["code"]) for r in response.json["refused"]]


def test_tracking_file_takes_a_merchant_shop_id_column_when_needed(desk):
    no = _shared(desk)
    refused = _file_refusals(
        desk,
        [(no, "SF1234567890125", ""), (no, "SF1234567890126", desk.merchant_shop_id)],
    )
    assert refused == [(2, "ambiguous_order_no")]
    assert _tracking_of(desk, desk.merchant_shop_id, no) == "SF1234567890126"
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == ""


def _taken_back_after_printing(desk) -> str:
    """A number both merchants use; 乙店's label was printed, then 乙店 took its order back:
    only 甲店's order of that number is still with the factory."""
    no = _shared(desk)
    assert desk.supplier.print_job([no], merchant_shop_id=desk.other_merchant_shop_id).json["id"]
    taken_back = desk.other_merchant.post("/allocations/cancel", {"order_nos": [no]}).json
    assert taken_back["cancelled"] == [no]
    return no


def test_a_tracking_item_names_the_merchant_after_the_other_took_its_order_back(desk):
    """乙店's parcel was made and labelled before 乙店 took the order back: its number, sent
    by order number alone, must not become 甲店's tracking number."""
    no = _taken_back_after_printing(desk)
    _refused_by_number_alone(desk, no, "SF1234567890141")
    shop = desk.other_merchant_shop_id
    answer = _return(desk, order_no=no, tracking_no="SF1234567890141", merchant_shop_id=shop)
    assert codes(answer) == {no: "assignment_cancelled"}
    answer = _return(
        desk, order_no=no, tracking_no="SF1234567890142", merchant_shop_id=desk.merchant_shop_id
    )
    assert answer["returned"] == [no]
    assert _tracking_of(desk, desk.merchant_shop_id, no) == "SF1234567890142"


def test_a_tracking_file_names_the_merchant_after_the_other_took_its_order_back(desk):
    no = _taken_back_after_printing(desk)
    [own] = nos(1, prefix="261121-3200000000000")
    desk.orders(own)
    refused = _file_refusals(desk, [(no, "SF1234567890143", ""), (own, "SF1234567890144", "")])
    assert refused == [(2, "ambiguous_order_no")]
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""
    # a number no other merchant ever used with this factory still needs no shop ID
    assert _tracking_of(desk, desk.merchant_shop_id, own) == "SF1234567890144"


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


def _dispatched_both(desk) -> str:
    """A number both merchants use, returned for each and dispatched a moment ago."""
    no = _shared(desk)
    for shop, number in (
        (desk.merchant_shop_id, "SF1234567890131"),
        (desk.other_merchant_shop_id, "SF1234567890132"),
    ):
        assert _return(desk, order_no=no, tracking_no=number, merchant_shop_id=shop)["returned"]
    with desk.app.app_context():
        db.session.execute(
            db.update(Order)
            .where(Order.order_no == no)
            .values(stage="dispatched", dispatched_at=utcnow())
        )
        db.session.commit()
    return no


def test_a_tracking_correction_names_the_merchant_when_two_use_the_number(desk):
    no = _dispatched_both(desk)
    api = desk.supplier

    def put(body):
        path = f"/api/v1/supplier/tracking/{no}"
        return api.client.put(path, json=body, headers=api.headers)

    response = put({"courier": "SF", "tracking_no": "SF1234567890133"})
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "ambiguous_order_no"
    body = {"courier": "SF", "tracking_no": "SF1234567890133"}
    response = put({**body, "merchant_shop_id": desk.other_merchant_shop_id})
    assert response.status_code == 200, response.json
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == "SF1234567890133"
    assert _tracking_of(desk, desk.merchant_shop_id, no) == "SF1234567890131"


def _factory_browser(desk, make_browser):
    with desk.app.app_context():
        username = db.session.scalar(select(User.username).where(User.shop_id == desk.shop_id))
    browser = make_browser()
    browser.login(username)
    return browser


def test_the_desk_rows_send_their_merchant(desk, make_browser):
    no = _shared(desk)
    browser = _factory_browser(desk, make_browser)
    page = browser.get("/supplier/orders?tab=to_print").get_data(as_text=True)
    for shop in (desk.merchant_shop_id, desk.other_merchant_shop_id):
        assert f'value="{shop}:{no}"' in page  # the row's box: (merchant, number)
        assert f'name="merchant_shop_id" value="{shop}"' in page  # the row's return form
    response = browser.post(
        "/supplier/print-jobs",
        {
            "tab": "to_print",
            "order_no": [f"{desk.other_merchant_shop_id}:{no}"],
            "print_courier": "SF",
        },
        target="order-desk",
    )
    assert response.status_code == 200
    with desk.app.app_context():
        printed = dict(
            db.session.execute(
                select(User.shop_id, Order.print_count)
                .join(Merchant, Merchant.id == Order.merchant_id)
                .join(User, User.id == Merchant.user_id)
                .where(Order.order_no == no)
            ).all()
        )
    assert printed == {desk.merchant_shop_id: 0, desk.other_merchant_shop_id: 0}  # not yet rendered
    with desk.app.app_context():
        [(job_id, count)] = db.session.execute(select(PrintJob.id, PrintJob.order_count)).all()
    assert count == 1
    pdf = desk.supplier.get(f"/supplier/print-jobs/{job_id}/pdf")
    with desk.app.app_context():
        assert (
            db.session.scalar(
                select(Order.print_count)
                .join(Merchant, Merchant.id == Order.merchant_id)
                .join(User, User.id == Merchant.user_id)
                .where(Order.order_no == no, User.shop_id == desk.other_merchant_shop_id)
            )
            == 1
        )
    assert pdf.status_code == 200

    form = {"courier": "SF", "tracking_no": "SF1234567890134"}
    refused = browser.post(f"/supplier/orders/{no}/tracking", form, target="row-x")
    assert refused.status_code == 422
    assert "两个商家" in refused.get_data(as_text=True) or "商家" in refused.get_data(as_text=True)
    response = browser.post(
        f"/supplier/orders/{no}/tracking",
        {**form, "merchant_shop_id": desk.merchant_shop_id},
        target="row-x",
    )
    assert response.status_code == 200
    assert _tracking_of(desk, desk.merchant_shop_id, no) == "SF1234567890134"
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == ""


def test_the_desk_takes_back_the_return_of_the_rows_merchant(desk, make_browser):
    no = _shared(desk)
    for shop, number in (
        (desk.merchant_shop_id, "SF1234567890151"),
        (desk.other_merchant_shop_id, "SF1234567890152"),
    ):
        assert _return(desk, order_no=no, tracking_no=number, merchant_shop_id=shop)["returned"]
    browser = _factory_browser(desk, make_browser)
    page = browser.get("/supplier/orders?tab=returned").get_data(as_text=True)
    cancel = f"/supplier/orders/{no}/tracking/cancel"
    assert page.count(f'hx-post="{cancel}"') == 2
    for shop in (desk.merchant_shop_id, desk.other_merchant_shop_id):
        assert f'name="merchant_shop_id" value="{shop}"' in page
    response = browser.post(
        cancel, {"merchant_shop_id": desk.other_merchant_shop_id}, target="row-x"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == ""
    assert _tracking_of(desk, desk.merchant_shop_id, no) == "SF1234567890151"


def test_the_tracking_upload_page_takes_a_merchant_shop_id_column(desk, make_browser):
    no = _shared(desk)
    browser = _factory_browser(desk, make_browser)
    page = browser.get("/supplier/tracking/import").get_data(as_text=True)
    assert "商家店铺ID" in page  # the page says how to name the merchant
    content = (
        "订单号,快递公司,快递单号,商家店铺ID\n"
        f"{no},SF,SF1234567890141,\n"
        f"{no},SF,SF1234567890142,{desk.other_merchant_shop_id}\n"
    ).encode()
    data = {"file": (io.BytesIO(content), "tracking.csv")}
    response = browser.post("/supplier/tracking/import", data, target="tracking-upload")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "部分未回传" in html and "第 2 行" in html
    assert "请注明商家店铺ID" in html  # the refused row says what to add
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == "SF1234567890142"
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""


def test_a_pick_list_counts_only_the_ticked_merchants_order(desk, make_browser):
    no = _shared(desk)
    browser = _factory_browser(desk, make_browser)
    form = {
        "tab": "to_print",
        "format": "xlsx",
        "order_no": [f"{desk.other_merchant_shop_id}:{no}"],
    }
    response = browser.client.post(
        "/supplier/pick-list", data={**form, "csrf_token": browser.token}
    )
    assert response.status_code == 200
    *_header_and_lines, totals = xlsx_rows(response.data)
    assert totals[-1] == 1  # one order, not both merchants' orders of that number


def test_the_scan_page_asks_which_merchant(desk, make_browser):
    no = _shared(desk)
    browser = _factory_browser(desk, make_browser)
    answer = browser.post(
        "/supplier/scan/lookup", {"code": no, "courier": "SF"}, target="scan-result"
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "甲店" in html and "乙店" in html and "请选择" in html
    for shop in (desk.merchant_shop_id, desk.other_merchant_shop_id):
        assert f'name="merchant_shop_id" value="{shop}"' in html
    assert '<input type="hidden" name="order_no" value="">' in html  # nothing waits yet
    chosen = browser.post(
        "/supplier/scan/lookup",
        {"code": no, "courier": "SF", "merchant_shop_id": desk.other_merchant_shop_id},
        target="scan-result",
    ).get_data(as_text=True)
    assert f'<input type="hidden" name="order_no" value="{no}">' in chosen
    assert f'name="order_merchant" value="{desk.other_merchant_shop_id}"' in chosen
    returned = browser.post(
        "/supplier/scan/return",
        {
            "order_no": no,
            "order_merchant": desk.other_merchant_shop_id,
            "code": "SF1234567890135",
            "courier": "SF",
        },
        target="scan-result",
    )
    assert returned.status_code == 200, returned.get_data(as_text=True)
    assert _tracking_of(desk, desk.other_merchant_shop_id, no) == "SF1234567890135"
    assert _tracking_of(desk, desk.merchant_shop_id, no) == ""


def test_the_scan_page_asks_when_the_other_merchant_took_its_order_back(desk, make_browser):
    """乙店's label was printed, then 乙店 took the order back: its parcel, scanned, must not
    take 甲店's tracking number (甲店's order of that number is still with the factory)."""
    no = _shared(desk)
    assert desk.supplier.print_job([no], merchant_shop_id=desk.other_merchant_shop_id).json["id"]
    taken_back = desk.other_merchant.post("/allocations/cancel", {"order_nos": [no]}).json
    assert taken_back["cancelled"] == [no]
    browser = _factory_browser(desk, make_browser)
    answer = browser.post(
        "/supplier/scan/lookup", {"code": no, "courier": "SF"}, target="scan-result"
    ).get_data(as_text=True)
    assert "请选择" in answer and "已取消" in answer
    assert '<input type="hidden" name="order_no" value="">' in answer  # nothing waits yet
    for shop in (desk.merchant_shop_id, desk.other_merchant_shop_id):
        assert f'name="merchant_shop_id" value="{shop}"' in answer
    cancelled = browser.post(
        "/supplier/scan/lookup",
        {"code": no, "courier": "SF", "merchant_shop_id": desk.other_merchant_shop_id},
        target="scan-result",
    ).get_data(as_text=True)
    assert 'data-scan-kind="cancelled"' in cancelled and "请勿发货" in cancelled
    assert '<input type="hidden" name="order_no" value="">' in cancelled
    current = browser.post(
        "/supplier/scan/lookup",
        {"code": no, "courier": "SF", "merchant_shop_id": desk.merchant_shop_id},
        target="scan-result",
    ).get_data(as_text=True)
    assert f'name="order_merchant" value="{desk.merchant_shop_id}"' in current
