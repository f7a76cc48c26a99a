"""The factory's print day through HTTP: pick lists (拣货单) as PDF and XLSX, 库位, settings.

Pick lists are about goods: no receiver name, phone, address or buyer note reaches them.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select, update

from portal.domain import accounts, tracking
from portal.domain.errors import DomainError
from portal.domain.imports.platform_export import ImportedLine
from portal.domain.tracking import TrackingItem
from portal.extensions import db
from portal.models import (
    Merchant,
    Order,
    OrderEvent,
    OrderParcel,
    Parcel,
    PrintJob,
    PrintJobOrder,
    PrintRender,
)
from portal.models.orders import STAGE_ASSIGNED
from portal.supplier import desk as supplier_desk
from tests.factories import SESSION_HOUR, statements_sent
from tests.test_supplier_desk import (
    RECEIVERS,
    SupplierDesk,
    assert_private,
    build_desk,
    order_no,
    private_order,
)


@pytest.fixture
def desk(app, factory, make_browser) -> SupplierDesk:
    return build_desk(app, factory, make_browser)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def xlsx_rows(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def set_code(desk: SupplierDesk, sku_key: str, code: str, location: str | None = None) -> str:
    with desk.app.app_context():
        merchant_id = desk.merchant().id
    data = {"merchant_id": merchant_id, "sku_key": sku_key, "supplier_code": code}
    if location is not None:
        data["location"] = location
    response = desk.post("/supplier/prices/code", data, target="price-row")
    return response


def seed_goods(desk: SupplierDesk) -> None:
    """Three SKUs of merchant 甲店 (two orders of one), one of 乙店."""
    desk.seed_assigned(
        private_order(
            order_no(1), 0, sku_code="ZZ-TOWEL", goods_name="毛巾", spec="白", quantity=3
        ),
        private_order(order_no(2), 1, sku_code="AA-BLANKET", goods_name="毯子", spec="灰"),
        private_order(order_no(3), 2, sku_code="MM-PILLOW", goods_name="枕头", spec="大"),
        private_order(
            order_no(4), 3, sku_code="ZZ-TOWEL", goods_name="毛巾", spec="白", quantity=1
        ),
    )
    desk.seed_assigned(
        private_order(order_no(5), 0, sku_code="BB-MAT", goods_name="地垫", spec="蓝"),
        other=True,
    )


def seed_two_line_order(desk: SupplierDesk, number: str) -> None:
    """An order of two items: a towel and a blanket (an order's lines, DESIGN §10.2)."""
    blanket = ImportedLine("9001", "毯子", "灰", "", "AA-BLANKET", "", 5)
    order = private_order(number, 2, sku_code="ZZ-TOWEL", goods_name="毛巾", spec="白", quantity=1)
    desk.seed_assigned(replace(order, more_lines=(blanket,)))


def pick(desk: SupplierDesk, fmt: str = "pdf", **data: str):
    form = {"tab": "to_print", "format": fmt, **data}
    response = desk.browser.client.post(
        "/supplier/pick-list", data={**form, "csrf_token": desk.browser.token}
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response


def assert_no_buyer_data(text: str) -> None:
    assert_private(text)
    for _name, phone, _detail in RECEIVERS:
        assert phone[-4:] not in text  # not even a masked phone
    assert "到了打电话" not in text  # the buyer note


def test_pick_list_of_all_matching_orders_sorted_by_sku_pdf_and_xlsx(desk):
    seed_goods(desk)
    assert set_code(desk, "ZZ-TOWEL", "F-TW", "C-03").status_code == 200
    response = pick(desk, all_matching="1")
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    text = pdf_text(response.data)
    assert "拣货单" in text and "所选 5 单" in text and "一号工厂" in text
    # sorted by the merchant's code (the default): AA, BB, MM, ZZ
    positions = [text.index(sku) for sku in ("AA-BLANKET", "BB-MAT", "MM-PILLOW", "ZZ-TOWEL")]
    assert positions == sorted(positions)
    assert "F-TW" in text and "C-03" in text
    assert_no_buyer_data(text)

    rows = xlsx_rows(pick(desk, "xlsx", all_matching="1").data)
    assert rows[0][:9] == [
        "序号",
        "库位",
        "商品",
        "规格",
        "商家编码",
        "厂家编码",
        "商家",
        "件数",
        "订单数",
    ]
    towel = next(r for r in rows if r[4] == "ZZ-TOWEL")
    assert towel[1] == "C-03" and towel[5] == "F-TW" and towel[6] == "甲店"
    assert towel[7] == 4 and towel[8] == 2  # 3 + 1 pieces, two orders
    assert rows[-1][2] == "合计" and rows[-1][7] == 10 and rows[-1][8] == 5
    assert_no_buyer_data(repr(rows))


def test_a_sku_listed_under_another_title_is_one_pick_line(desk):
    """The platform renamed the towel's listing between two orders: one SKU, one line to pick
    from (it was a line per title); another merchant's SKU of the same code stays apart."""
    desk.seed_assigned(
        private_order(
            order_no(1), 0, sku_code="ZZ-TOWEL", goods_name="毛巾", spec="白", quantity=1
        ),
        private_order(
            order_no(2), 1, sku_code="ZZ-TOWEL", goods_name="毛巾 加厚款", spec="白", quantity=2
        ),
    )
    desk.seed_assigned(
        private_order(
            order_no(3), 2, sku_code="ZZ-TOWEL", goods_name="毛巾", spec="白", quantity=1
        ),
        other=True,
    )
    rows = xlsx_rows(pick(desk, "xlsx", all_matching="1").data)
    towels = sorted((r[6], r[7], r[8]) for r in rows[1:-1] if r[4] == "ZZ-TOWEL")
    assert towels == [("乙店", 1, 1), ("甲店", 3, 2)]


def test_pick_list_of_ticked_rows_by_location_and_goods(desk):
    seed_goods(desk)
    set_code(desk, "MM-PILLOW", "", "A-01")
    set_code(desk, "AA-BLANKET", "", "B-02")
    chosen = {"order_no": [order_no(1), order_no(2), order_no(3)]}
    rows = xlsx_rows(pick(desk, "xlsx", pick_order="location", **chosen).data)
    # 库位 first (A-01, B-02), then the SKU without one
    assert [r[4] for r in rows[1:-1]] == ["MM-PILLOW", "AA-BLANKET", "ZZ-TOWEL"]
    assert rows[-1][8] == 3
    rows = xlsx_rows(pick(desk, "xlsx", pick_order="goods", **chosen).data)
    names = [r[2] for r in rows[1:-1]]
    assert names == sorted(names)


def test_a_pick_list_of_all_matching_orders_counts_past_the_print_limit(desk, monkeypatch):
    """A print job takes at most MAX_PRINT_ORDERS; a pick list of every matching order is a
    sum and takes them all (it had stopped after MAX_PRINT_ORDERS + 1, saying nothing)."""
    seed_goods(desk)
    monkeypatch.setattr(supplier_desk, "MAX_PRINT_ORDERS", 2)
    rows = xlsx_rows(pick(desk, "xlsx", all_matching="1").data)
    assert rows[-1][2] == "合计" and rows[-1][7:9] == [10, 5]
    assert "所选 5 单" in pdf_text(pick(desk, all_matching="1").data)


def test_the_factory_setting_orders_its_pick_lists(desk):
    seed_goods(desk)
    set_code(desk, "ZZ-TOWEL", "F-TW", "A-00")
    page = desk.get("/supplier/settings").get_data(as_text=True)
    assert "拣货单排序" in page
    bad = desk.post("/supplier/settings/printing", {"pick_order": "random"}, target="print-section")
    assert bad.status_code == 422
    saved = desk.post(
        "/supplier/settings/printing",
        {"pick_order": "location", "print_order": "desk"},
        target="print-section",
    )
    assert saved.status_code == 200
    rows = xlsx_rows(pick(desk, "xlsx", all_matching="1").data)
    assert rows[1][4] == "ZZ-TOWEL"  # the only SKU with a 库位 comes first


def test_print_job_pick_list_and_nothing_selected(desk):
    seed_goods(desk)
    response = desk.post(
        "/supplier/print-jobs",
        {"tab": "to_print", "order_no": [order_no(1), order_no(4)], "print_courier": "SF"},
        target="order-list",
    )
    assert response.status_code == 200
    with desk.app.app_context():
        job_id = db.session.scalar(select(PrintJob.id))
    job_page = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert f"/supplier/print-jobs/{job_id}/pick-list" in job_page
    text = pdf_text(desk.browser.client.get(f"/supplier/print-jobs/{job_id}/pick-list").data)
    assert f"打印任务 #{job_id}" in text and "ZZ-TOWEL" in text and "AA-BLANKET" not in text
    assert_no_buyer_data(text)
    rows = xlsx_rows(
        desk.browser.client.get(f"/supplier/print-jobs/{job_id}/pick-list?format=xlsx").data
    )
    assert rows[1][7] == 4 and rows[1][8] == 2
    # nothing ticked: refused with a message, no file
    refused = desk.browser.client.post(
        "/supplier/pick-list", data={"tab": "to_print", "csrf_token": desk.browser.token}
    )
    assert refused.status_code == 422


def test_location_is_kept_apart_from_the_code(desk):
    seed_goods(desk)
    saved = set_code(desk, "ZZ-TOWEL", "F-TW", "C-03").get_data(as_text=True)
    assert 'value="C-03"' in saved and 'value="F-TW"' in saved
    # clearing the code keeps the location, and the reverse
    html = set_code(desk, "ZZ-TOWEL", "", "C-03").get_data(as_text=True)
    assert 'value="C-03"' in html and 'name="supplier_code" value=""' in html
    html = set_code(desk, "ZZ-TOWEL", "F-2", "").get_data(as_text=True)
    assert 'name="location" value=""' in html and 'value="F-2"' in html
    # a code alone (the old form, or the file import) leaves the location as it is
    set_code(desk, "ZZ-TOWEL", "F-3", "D-9")
    html = set_code(desk, "ZZ-TOWEL", "F-4").get_data(as_text=True)
    assert 'value="D-9"' in html and 'value="F-4"' in html
    too_long = set_code(desk, "ZZ-TOWEL", "F-4", "x" * 40)
    assert too_long.status_code == 422 and "库位" in too_long.get_data(as_text=True)


def job_pdf(desk: SupplierDesk, job_id: int) -> list[str]:
    data = desk.browser.client.get(f"/supplier/print-jobs/{job_id}/pdf").data
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def print_job(desk: SupplierDesk, numbers: list[str], **data: str) -> int:
    form = {"tab": "to_print", "order_no": numbers, "print_courier": "SF", **data}
    assert desk.post("/supplier/print-jobs", form, target="order-list").status_code == 200
    with desk.app.app_context():
        return db.session.scalar(select(PrintJob.id).order_by(PrintJob.id.desc()).limit(1))


def label_order(pages: list[str]) -> list[str]:
    return [next(no for no in map(order_no, range(1, 6)) if no in page) for page in pages]


def test_labels_by_sku_after_a_cover_page_with_counts(desk):
    seed_goods(desk)
    set_code(desk, "ZZ-TOWEL", "F-TW")
    numbers = [order_no(1), order_no(2), order_no(3), order_no(4)]
    job_id = print_job(desk, numbers, print_order="sku")
    cover, *labels = job_pdf(desk, job_id)
    assert label_order(labels) == [order_no(2), order_no(3), order_no(1), order_no(4)]
    assert f"打印任务 #{job_id}" in cover and "按 SKU" in cover
    assert "订单 4 单 · 面单 4 张 · 共 8 件" in cover
    # per SKU totals, in print order, with the factory's code
    positions = [cover.index(sku) for sku in ("AA-BLANKET", "MM-PILLOW", "ZZ-TOWEL")]
    assert positions == sorted(positions)
    assert "ZZ-TOWEL · F-TW ×4（2 单）" in cover.replace("\n", "")
    assert_no_buyer_data(cover)
    assert "按 SKU" in desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)


def test_labels_by_promise_time_and_the_factory_default(desk):
    seed_goods(desk)
    with desk.app.app_context():
        for hours, n in ((30, 1), (10, 2), (20, 3)):
            db.session.execute(
                update(Order)
                .where(Order.order_no == order_no(n))
                .values(promise_ship_at=SESSION_HOUR + timedelta(hours=hours))
            )
        db.session.commit()
    numbers = [order_no(1), order_no(2), order_no(3)]
    job_id = print_job(desk, numbers, print_order="promise")
    assert label_order(job_pdf(desk, job_id)[1:]) == [order_no(2), order_no(3), order_no(1)]
    # desk order as ticked
    job_id = print_job(desk, numbers, print_order="desk")
    assert label_order(job_pdf(desk, job_id)[1:]) == numbers
    # the factory's default (设置 · 打单设置) when the job does not choose
    saved = desk.post(
        "/supplier/settings/printing",
        {"pick_order": "sku", "print_order": "promise"},
        target="print-section",
    )
    assert saved.status_code == 200
    page = desk.page()
    assert 'value="promise" selected' in page
    job_id = print_job(desk, numbers)
    assert label_order(job_pdf(desk, job_id)[1:]) == [order_no(2), order_no(3), order_no(1)]


def test_orders_of_several_items_count_per_line(desk):
    seed_goods(desk)
    seed_two_line_order(desk, order_no(6))
    rows = xlsx_rows(pick(desk, "xlsx", order_no=[order_no(2), order_no(6)]).data)
    blanket = next(r for r in rows if r[4] == "AA-BLANKET")
    towel = next(r for r in rows if r[4] == "ZZ-TOWEL")
    assert blanket[7:9] == [7, 2] and towel[7:9] == [1, 1]  # 2 + 5 blankets in two orders
    assert rows[-1][7:9] == [8, 2]  # two orders
    job_id = print_job(desk, [order_no(6)])
    cover = job_pdf(desk, job_id)[0].replace("\n", "")
    assert "订单 1 单 · 面单 1 张 · 共 6 件" in cover
    assert "AA-BLANKET ×5（1 单）" in cover and "ZZ-TOWEL ×1（1 单）" in cover


def merchant_settings(desk: SupplierDesk, **values: object) -> None:
    with desk.app.app_context():
        merchant = desk.merchant()
        for name, value in values.items():
            setattr(merchant, name, value)
        db.session.commit()


def test_packing_slip_after_each_label_full_data_and_no_prices(desk):
    seed_goods(desk)
    seed_two_line_order(desk, order_no(6))
    job_id = print_job(desk, [order_no(6), order_no(1)], packing_slips="after")
    cover, label6, slip6, label1, slip1 = job_pdf(desk, job_id)
    assert "订单 2 单 · 面单 2 张" in cover
    assert "发货单 · 甲店" in slip6 and order_no(6) in slip6 and "运单号" not in slip6
    flat = slip6.replace("\n", "")
    assert "毛巾 白 · ZZ-TOWEL ×1" in flat and "毯子 灰 · AA-BLANKET ×5" in flat
    name, phone, detail = RECEIVERS[2]
    assert name in slip6 and phone in slip6 and detail in flat  # 隐私面单 off: as on the label
    assert "¥" not in slip6 and "实付" not in slip6  # the merchant hides prices by default
    assert "发货单" in slip1 and order_no(1) in slip1 and order_no(1) in label1
    assert "发货单" not in label6
    page = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert "每张面单后附发货单" in page and "data-packing-slips" not in page


def test_packing_slips_as_their_own_pdf_masked_with_prices(desk):
    seed_goods(desk)
    merchant_settings(desk, label_style="private", slip_prices=True)
    job_id = print_job(desk, [order_no(1), order_no(2)], packing_slips="separate")
    assert len(job_pdf(desk, job_id)) == 3  # the cover and two labels, no slips
    page = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert f"/supplier/print-jobs/{job_id}/slips" in page
    response = desk.browser.client.get(f"/supplier/print-jobs/{job_id}/slips")
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    slips = [p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages]
    assert len(slips) == 2 and order_no(1) in slips[0] and order_no(2) in slips[1]
    text = "\n".join(slips)
    assert_private(text.replace("****", ""))  # masked: 欧**, 137****9517, ****
    assert "欧**" in text and "137****9517" in text and "到了打电话" not in text
    assert "商品总价 ¥179.80 · 实付 ¥171.80" in text.replace("\n", "")
    with desk.app.app_context():
        renders = db.session.scalars(
            select(PrintRender.label_count).where(PrintRender.job_id == job_id)
        ).all()
    assert renders == [2, 0]  # the labels, then the slips (audited, no label printed)


def test_the_merchant_chooses_prices_on_slips(app, factory, make_browser):
    user = factory.merchant()
    browser = make_browser()
    browser.login(user.username)
    page = browser.get("/merchant/settings").get_data(as_text=True)
    assert "厂家打印的发货单显示商品总价和实付金额" in page
    response = browser.post(
        "/merchant/settings/preferences",
        {"label_style": "private", "slip_prices": "y", "same_day_cutoff": "16:00"},
        target="preferences-section",
    )
    assert response.status_code == 200
    with app.app_context():
        merchant = db.session.get(Merchant, user.merchant.id)
        assert merchant.slip_prices is True and merchant.label_style == "private"


def test_merged_parcel_one_label_one_number_for_all(desk, make_browser):
    seed_goods(desk)  # order 1 goes to receiver 0 of 甲店; order 5 to the same person of 乙店
    desk.seed_assigned(
        private_order(order_no(7), 0, sku_code="MM-PILLOW", goods_name="枕头", spec="大")
    )
    numbers = [order_no(1), order_no(2), order_no(7), order_no(5)]
    job_id = print_job(desk, numbers, merge_parcels="1")
    cover, *labels = job_pdf(desk, job_id)
    assert len(labels) == 3  # 1 (carrying 7), 2, 5 (another merchant: never merged)
    assert "订单 4 单 · 面单 3 张" in cover
    merged = labels[0].replace("\n", "")
    assert order_no(1) in merged and "合并包裹 2 单，另含 " + order_no(7) in merged
    assert "毛巾" in merged and "枕头" in merged
    assert all(order_no(7) not in page for page in labels[1:])
    page = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert "data-merge-parcels" in page
    # the number scanned for the label's order is returned for both: one parcel
    response = desk.post(
        "/supplier/scan/return",
        {"order_no": order_no(1), "code": "SF1234567890123", "courier": "SF"},
        target="scan-result",
    )
    assert response.status_code == 200 and 'data-scan-kind="returned"' in response.get_data(
        as_text=True
    )
    with desk.app.app_context():
        stages = dict(
            db.session.execute(
                select(Order.order_no, Order.tracking_no).where(
                    Order.order_no.in_([order_no(1), order_no(7), order_no(2)])
                )
            ).all()
        )
        assert stages == {order_no(1): "SF1234567890123", order_no(7): "SF1234567890123",
                          order_no(2): ""}  # fmt: skip
        assert db.session.scalar(select(func.count()).select_from(Parcel)) == 1
        assert db.session.scalar(select(func.count()).select_from(OrderParcel)) == 2
    # the merchant sees them as one parcel
    merchant = make_browser()
    merchant.login(desk.merchant_user.username)
    drawer = merchant.get(f"/merchant/orders/{order_no(7)}").get_data(as_text=True)
    assert "同一包裹" in drawer and order_no(1) in drawer and "SF1234567890123" in drawer
    # undoing that scan takes the number back from the whole label, not from order 1 alone
    undo = {"order_no": order_no(1), "tracking_no": "SF1234567890123", "courier": "SF"}
    response = desk.post("/supplier/scan/undo", undo, target="scan-result")
    assert 'data-scan-kind="undone"' in response.get_data(as_text=True)
    with desk.app.app_context():
        kept = db.session.execute(
            select(Order.order_no, Order.stage, Order.tracking_no).where(
                Order.order_no.in_([order_no(1), order_no(7)])
            )
        ).all()
        assert {(stage, number) for _no, stage, number in kept} == {(STAGE_ASSIGNED, "")}
        assert db.session.scalar(select(func.count()).select_from(Parcel)) == 0


def test_merged_parcel_shares_its_paper_number(desk):
    seed_goods(desk)
    desk.seed_assigned(private_order(order_no(7), 0, sku_code="MM-PILLOW"))
    job_id = print_job(
        desk, [order_no(1), order_no(2), order_no(7)], merge_parcels="1",
        start_tracking_no="SF1000000000001",
    )  # fmt: skip
    with desk.app.app_context():
        given = dict(
            db.session.execute(
                select(Order.order_no, PrintJobOrder.tracking_no)
                .join(PrintJobOrder, PrintJobOrder.order_id == Order.id)
                .where(PrintJobOrder.job_id == job_id)
            ).all()
        )
    assert given == {
        order_no(1): "SF1000000000001",
        order_no(7): "SF1000000000001",
        order_no(2): "SF1000000000002",
    }
    response = desk.post(f"/supplier/print-jobs/{job_id}/confirm", {}, target="print-job")
    assert response.status_code == 200
    with desk.app.app_context():
        returned = db.session.scalars(
            select(Order.order_no).where(Order.tracking_no == "SF1000000000001")
        ).all()
    assert sorted(returned) == [order_no(1), order_no(7)]


def test_a_merged_order_gets_its_own_label_when_its_labels_order_is_blocked(desk):
    desk.seed_assigned(private_order(order_no(1), 0), private_order(order_no(7), 0))
    job_id = print_job(desk, [order_no(1), order_no(7)], merge_parcels="1")
    assert len(job_pdf(desk, job_id)) == 2  # the cover and one label
    desk.update([order_no(1)], address_change_pending=True)  # the label's order is blocked
    _cover, *labels = job_pdf(desk, job_id)
    assert len(labels) == 1 and order_no(7) in labels[0] and "合并包裹" not in labels[0]


def test_a_scan_with_no_courier_chosen_takes_the_courier_of_the_orders_label(desk):
    """Scanner only: with no courier chosen on the scan page, the number is returned for the
    courier the order's label was printed for; an order with no label still asks for one."""
    seed_goods(desk)
    print_job(desk, [order_no(1)], print_courier="ZTO")
    scanned = {"order_no": order_no(1), "code": "773100000001", "courier": ""}
    response = desk.post("/supplier/scan/return", scanned, target="scan-result")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-scan-kind="returned"' in html, html[:400]
    unprinted = {"order_no": order_no(2), "code": "773100000002", "courier": ""}
    response = desk.post("/supplier/scan/return", unprinted, target="scan-result")
    assert response.status_code == 422 and "请先选择快递公司" in response.get_data(as_text=True)
    with desk.app.app_context():
        returned = db.session.execute(
            select(Order.order_no, Order.courier, Order.tracking_no).where(
                Order.order_no.in_([order_no(1), order_no(2)])
            )
        ).all()
    assert sorted(map(tuple, returned)) == [
        (order_no(1), "ZTO", "773100000001"),
        (order_no(2), "", ""),
    ]


def test_a_scan_for_another_courier_than_the_labels_is_returned_with_a_warning(desk):
    """The scan page keeps the last courier chosen; a parcel whose label was printed for
    another one is still returned as chosen, but the answer says so in the warning colour."""
    seed_goods(desk)
    print_job(desk, [order_no(1)], print_courier="ZTO")
    scanned = {"order_no": order_no(1), "code": "SF1234567890123", "courier": "SF"}
    response = desk.post("/supplier/scan/return", scanned, target="scan-result")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-scan-kind="returned"' in html
    assert 'class="scan-result warn"' in html and "面单打印的快递是中通快递" in html, html[:600]
    matching = {"order_no": order_no(2), "code": "SF1234567890124", "courier": "SF"}
    print_job(desk, [order_no(2)], print_courier="SF")
    html = desk.post("/supplier/scan/return", matching, target="scan-result").get_data(as_text=True)
    assert 'class="scan-result ok"' in html and "面单打印的快递" not in html


def merged_and_returned(desk: SupplierDesk) -> None:
    """Orders 1 and 7 of 甲店 (one receiver) on one merged label, returned by one scan."""
    seed_goods(desk)
    desk.seed_assigned(
        private_order(order_no(7), 0, sku_code="MM-PILLOW", goods_name="枕头", spec="大")
    )
    print_job(desk, [order_no(1), order_no(2), order_no(7)], merge_parcels="1")
    scanned = {"order_no": order_no(1), "code": "SF1234567890123", "courier": "SF"}
    response = desk.post("/supplier/scan/return", scanned, target="scan-result")
    assert 'data-scan-kind="returned"' in response.get_data(as_text=True)
    desk.return_numbers(TrackingItem(order_no(2), "SF", "SF1234567890124"))


def merchant_browser(desk: SupplierDesk, make_browser) -> Any:
    with desk.app.app_context():
        accounts.add_return_address(
            desk.merchant(),
            accounts.AddressInput("北仓", "13800138000", "浙江省", "杭州市", "余杭区", "1 号"),
            make_default=True,
        )
        db.session.commit()
    browser = make_browser()
    browser.login(desk.merchant_user.username)
    return browser


def test_merchant_desk_rows_show_a_merged_parcel_with_its_other_orders(desk, make_browser):
    merged_and_returned(desk)
    merchant = merchant_browser(desk, make_browser)
    page = merchant.get("/merchant/orders?tab=returned").get_data(as_text=True)
    rows = {no: row_html(page, no) for no in (order_no(1), order_no(2), order_no(7))}
    for no, mate in ((order_no(1), order_no(7)), (order_no(7), order_no(1))):
        assert "合并包裹 · 2 单" in rows[no], no
        badge = re.search(
            r'<span class="badge[^"]*" data-merged-parcel\s+title="([^"]*)"', rows[no]
        )
        assert badge and badge.group(1) == f"与订单 {mate} 同一包裹（同一运单号）", rows[no]
    assert "合并包裹" not in rows[order_no(2)]  # its own parcel
    # once dispatched the row still says so; the drawer lists the same mates
    response = merchant.post(f"/merchant/orders/{order_no(7)}/dispatch", target="order-drawer")
    assert response.status_code == 200
    page = merchant.get("/merchant/orders?tab=dispatched").get_data(as_text=True)
    assert "合并包裹 · 2 单" in row_html(page, order_no(7))
    drawer = merchant.get(f"/merchant/orders/{order_no(1)}", htmx=True, target="order-drawer")
    assert "同一包裹" in drawer.get_data(as_text=True) and order_no(7) in drawer.get_data(
        as_text=True
    )


def test_merchant_desk_parcel_badges_cost_one_query_for_the_page(desk, make_browser):
    merged_and_returned(desk)
    merchant = merchant_browser(desk, make_browser)
    with statements_sent(desk.app) as few:
        assert merchant.get("/merchant/orders?tab=returned").status_code == 200
    # two more merged parcels on the page: the same statements
    desk.seed_assigned(
        private_order(order_no(8), 1, sku_code="AA-BLANKET"),
        private_order(order_no(9), 1, sku_code="MM-PILLOW"),
        private_order(order_no(10), 2, sku_code="AA-BLANKET"),
        private_order(order_no(11), 2, sku_code="ZZ-TOWEL"),
    )
    desk.return_numbers(
        *(TrackingItem(order_no(n), "SF", "SF2234567890123") for n in (8, 9)),
        *(TrackingItem(order_no(n), "SF", "SF3234567890123") for n in (10, 11)),
    )
    with statements_sent(desk.app) as many:
        page = merchant.get("/merchant/orders?tab=returned").get_data(as_text=True)
    assert page.count("合并包裹 · 2 单") == 6
    assert len(many) == len(few), (few, many)


def test_undo_of_a_merged_parcel_partly_dispatched_is_refused_whole(desk, make_browser):
    """The merchant dispatched order 7 of the parcel: like an undo of a dispatched order, the
    undo is refused — for the whole parcel, naming the dispatched order; nothing changes."""
    merged_and_returned(desk)
    merchant = merchant_browser(desk, make_browser)
    response = merchant.post(f"/merchant/orders/{order_no(7)}/dispatch", target="order-drawer")
    assert response.status_code == 200

    def state() -> set[tuple[str, str, str]]:
        with desk.app.app_context():
            rows = db.session.execute(
                select(Order.order_no, Order.stage, Order.tracking_no).where(
                    Order.order_no.in_([order_no(1), order_no(7)])
                )
            )
            return {tuple(row) for row in rows}

    before = state()
    assert before == {
        (order_no(1), "returned", "SF1234567890123"),
        (order_no(7), "dispatched", "SF1234567890123"),
    }
    undo = {"order_no": order_no(1), "tracking_no": "SF1234567890123", "courier": "SF"}
    response = desk.post("/supplier/scan/undo", undo, target="scan-result")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'data-scan-kind="refused"' in html
    assert "未撤销" in html and "合并包裹" in html and f"订单 {order_no(7)} 已由商家发货" in html
    assert state() == before
    with desk.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OrderParcel)) == 3
        cancelled = (
            select(func.count())
            .select_from(OrderEvent)
            .where(OrderEvent.kind == "tracking_cancelled")
        )
        assert db.session.scalar(cancelled) == 0
    # the order the merchant dispatched itself: refused the same way
    undo_seven = {**undo, "order_no": order_no(7)}
    response = desk.post("/supplier/scan/undo", undo_seven, target="scan-result")
    assert response.status_code == 422 and "订单已发货" in response.get_data(as_text=True)
    assert state() == before


def test_undo_of_a_merged_parcel_raced_by_a_dispatch_changes_nothing(desk, monkeypatch):
    """The merchant dispatches order 7 between the undo's check and its update: the savepoint
    takes order 1 back too, and the refusal names order 7."""
    merged_and_returned(desk)
    real = tracking._refuse_dispatched_parcel
    calls = []

    def dispatch_meanwhile(order: Order, shipped: list[Order]) -> None:
        if not calls:  # the check before the update: the merchant is quicker
            db.session.execute(
                update(Order).where(Order.order_no == order_no(7)).values(stage="dispatched")
            )
        calls.append(shipped)
        real(order, shipped)

    monkeypatch.setattr(tracking, "_refuse_dispatched_parcel", dispatch_meanwhile)
    with desk.app.app_context():
        supplier = desk.supplier()
        with pytest.raises(DomainError) as refused:
            tracking.cancel_return(supplier, order_no(1), with_label=True)
        assert refused.value.code == "dispatched" and order_no(7) in refused.value.message
        assert [[o.order_no for o in shipped] for shipped in calls] == [[], [order_no(7)]]
        rows = db.session.execute(
            select(Order.order_no, Order.stage, Order.tracking_no).where(
                Order.order_no.in_([order_no(1), order_no(7)])
            )
        )
        assert {tuple(row) for row in rows} == {
            (order_no(1), "returned", "SF1234567890123"),
            (order_no(7), "dispatched", "SF1234567890123"),
        }
        assert db.session.scalar(select(func.count()).select_from(OrderParcel)) == 3
        db.session.rollback()


def row_html(page: str, number: str) -> str:
    """The desk row of one order (from its <tr> to the next)."""
    [row] = [part for part in page.split('<tr id="row-')[1:] if f">{number}</a>" in part]
    return row.split("</tr>", 1)[0]
