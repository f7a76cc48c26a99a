"""Printing from the factory desk through HTTP: print jobs, the PDF, paper numbers, void."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from pypdf import PdfReader
from reportlab.lib.units import mm
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Order, PrintJob, PrintJobOrder, PrintRender
from tests.test_supplier_desk import (
    SupplierDesk,
    build_desk,
    listed,
    order_no,
    private_order,
    row_html,
    tab_bar,
    trigger,
)

JOB_LINK_RE = re.compile(r'href="/supplier/print-jobs/(\d+)/pdf"')
REFUSAL_RE = re.compile(
    r'<li><span class="mono">([^<]+)</span> <span class="reason">([^<]+)</span>'
)


@pytest.fixture
def desk(app, factory, make_browser) -> SupplierDesk:
    return build_desk(app, factory, make_browser)


def print_jobs(desk: SupplierDesk, data: dict[str, Any], target: str = "order-list") -> Any:
    return desk.post("/supplier/print-jobs", {"tab": "to_print", **data}, target=target)


def job_id_in(html: str) -> int:
    return int(JOB_LINK_RE.search(html).group(1))


def pdf_pages(response: Any) -> list[str]:
    """The labels' text (the first page is the job's cover)."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages[1:]]


def job_count(desk: SupplierDesk) -> int:
    with desk.app.app_context():
        return db.session.scalar(select(func.count()).select_from(PrintJob))


def test_print_selected_orders_refuses_blocked_ones_with_their_reason(desk):
    desk.seed_assigned(*(private_order(order_no(n), n - 1) for n in range(1, 5)))
    desk.seed(private_order(order_no(2), 1, detail="卧龙岗东街九十九号院二楼"))  # address changed
    desk.cancel([order_no(3)])
    response = print_jobs(
        desk,
        {
            "order_no": [order_no(n) for n in (1, 2, 3, 4)] + ["261121-999999999999999"],
            "print_courier": "SF",
            "label_size": "100x180",
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="order-list"')
    job_id = job_id_in(html)
    assert f"已生成打印任务 #{job_id}：2 单" in html
    assert dict(REFUSAL_RE.findall(html)) == {
        order_no(2): "收货信息已变更，待商家确认",
        order_no(3): "该订单已取消分配，请勿发货",
        "261121-999999999999999": "订单未分配",
    }
    assert f'href="/supplier/print-jobs/{job_id}"' in html
    # The labels open at once: portal.js opens the link marked data-open-now (a new tab).
    assert re.search(
        rf'href="/supplier/print-jobs/{job_id}/pdf" target="_blank" data-open-now>打开面单 PDF',
        html,
    )
    events = trigger(response)
    assert events["ordersChanged"] is True
    assert events["showToast"] == {
        "message": f"已生成打印任务 #{job_id}：2 单",
        "level": "warning",
    }
    assert response.headers["HX-Replace-Url"] == "/supplier/orders?tab=to_print"
    with desk.app.app_context():
        job = db.session.get(PrintJob, job_id)
        assert (job.courier, job.label_size, job.status, job.order_count) == (
            "SF",
            "100x180",
            "printed",
            2,
        )
        numbers = db.session.scalars(
            select(Order.order_no)
            .join(PrintJobOrder, PrintJobOrder.order_id == Order.id)
            .where(PrintJobOrder.job_id == job_id)
            .order_by(PrintJobOrder.seq)
        ).all()
        assert numbers == [order_no(1), order_no(4)]


def test_pdf_download_has_one_page_per_order_and_moves_them_to_printed(desk):
    desk.seed_assigned(*(private_order(order_no(n), n - 1) for n in range(1, 4)))
    html = print_jobs(
        desk, {"order_no": [order_no(3), order_no(1)], "print_courier": "ZTO"}
    ).get_data(as_text=True)
    job_id = job_id_in(html)
    assert tab_bar(desk)["printed"] == 0  # nothing is printed until the PDF is made
    response = desk.browser.get(f"/supplier/print-jobs/{job_id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f"inline; filename=waybills-job-{job_id}.pdf"
    )
    assert "no-store" in response.headers["Cache-Control"]
    pages = pdf_pages(response)
    assert len(pages) == 2
    assert order_no(3) in pages[0] and order_no(1) in pages[1]  # in print order
    assert "中通快递" in pages[0] and "广州市" in pages[0]
    width, height = PdfReader(io.BytesIO(response.data)).pages[0].mediabox.upper_right
    assert (round(float(width) / mm), round(float(height) / mm)) == (100, 180)
    html = desk.page("?tab=printed")
    assert sorted(listed(html)) == [order_no(1), order_no(3)]
    assert "打印 1 次" in row_html(html, order_no(1))
    assert tab_bar(desk, "?tab=printed")["to_print"] == 1
    # every download is counted and audited
    desk.browser.get(f"/supplier/print-jobs/{job_id}/pdf")
    with desk.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PrintRender)) == 2
        assert db.session.get(PrintJob, job_id).render_count == 2
    detail = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert "<dt>下载次数</dt><dd>2</dd>" in detail


def test_printed_rows_preselect_the_label_courier_for_the_inline_return(desk):
    """The tracking number comes off the label: its courier is the one the row starts on."""
    desk.seed_assigned(*(private_order(order_no(n), n - 1) for n in range(1, 4)))
    for number, courier in ((1, "ZTO"), (2, "ZTO"), (2, "JT")):
        response = print_jobs(desk, {"order_no": [order_no(number)], "print_courier": courier})
        desk.browser.get(f"/supplier/print-jobs/{job_id_in(response.get_data(as_text=True))}/pdf")
    html = desk.page("?tab=printed")
    selected = re.compile(r'<option value="(\w+)" selected>')
    assert selected.findall(row_html(html, order_no(1))) == ["ZTO"]
    assert selected.findall(row_html(html, order_no(2))) == ["JT"]  # its latest label
    assert selected.findall(row_html(desk.page(), order_no(3))) == []  # not printed: no guess
    # A refused return keeps what was typed, the courier included.
    response = desk.post(
        f"/supplier/orders/{order_no(1)}/tracking",
        {"courier": "SF", "tracking_no": ""},
        target=f"row-{order_no(1)}",
    )
    assert selected.findall(response.get_data(as_text=True)) == ["SF"]


def test_small_labels(desk):
    desk.seed_assigned(private_order(order_no(1)))
    html = print_jobs(
        desk, {"order_no": order_no(1), "print_courier": "JT", "label_size": "76x130"}
    ).get_data(as_text=True)
    response = desk.browser.get(f"/supplier/print-jobs/{job_id_in(html)}/pdf")
    width, height = PdfReader(io.BytesIO(response.data)).pages[0].mediabox.upper_right
    assert (round(float(width) / mm), round(float(height) / mm)) == (76, 130)
    assert "极兔速递" in pdf_pages(response)[0]


def test_print_all_matching_orders_across_pages(desk):
    desk.seed_assigned(*(private_order(order_no(n), n % 4, sku_code="BULK") for n in range(1, 56)))
    desk.seed_assigned(private_order(order_no(100), sku_code="KEEP"))
    html = desk.page("?sku=BULK")
    assert len(listed(html)) == 50 and 'data-total="55"' in html
    response = print_jobs(
        desk,
        {
            "sku": "BULK",
            "all_matching": "1",
            "order_no": listed(html),
            "print_courier": "YTO",
        },
    )
    assert "：55 单" in response.get_data(as_text=True)
    with desk.app.app_context():
        job = db.session.scalar(select(PrintJob))
        assert job.order_count == 55


def test_refusals_before_anything_is_made(desk):
    desk.seed_assigned(private_order(order_no(1)))
    cases = [
        ({"print_courier": "SF"}, "请先选择订单"),
        ({"order_no": order_no(1)}, "请选择快递公司"),
        ({"order_no": order_no(1), "print_courier": "火星快递"}, "无法识别的快递公司"),
        ({"order_no": order_no(1), "print_courier": "SF", "label_size": "A4"}, "请选择面单尺寸"),
        (
            {"order_no": order_no(1), "print_courier": "SF", "start_tracking_no": "12#4"},
            "运单号格式不正确（8–32 位字母、数字或短横线）",
        ),
        (
            {"order_no": [order_no(n) for n in range(1, 1002)], "print_courier": "SF"},
            "一次最多提交 1000 个订单",
        ),
    ]
    for data, message in cases:
        response = print_jobs(desk, data)
        assert response.status_code == 422, data
        assert response.headers["HX-Reswap"] == "none"
        assert trigger(response)["showToast"]["message"] == message
    # every order blocked: said so, and no job
    desk.seed(private_order(order_no(1), detail="幸福里小区七号楼乙单元"))
    html = print_jobs(desk, {"order_no": order_no(1), "print_courier": "SF"}).get_data(as_text=True)
    assert "没有可打印的订单" in html and "收货信息已变更，待商家确认" in html
    assert "/pdf" not in html
    assert job_count(desk) == 0


def test_paper_numbers_are_confirmed_as_returned(desk):
    desk.seed_assigned(*(private_order(order_no(n), n - 1) for n in range(1, 4)))
    html = print_jobs(
        desk,
        {
            "order_no": [order_no(n) for n in (1, 2, 3)],
            "print_courier": "SF",
            "start_tracking_no": "sf1000000000001",
        },
    ).get_data(as_text=True)
    job_id = job_id_in(html)
    assert "请在打印任务中确认" in html
    pages = pdf_pages(desk.browser.get(f"/supplier/print-jobs/{job_id}/pdf"))
    assert "SF1000000000001" in pages[0] and "SF1000000000003" in pages[2]
    detail = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert "<html" in detail and 'data-job-status="pending_confirmation"' in detail
    for n in (1, 2, 3):
        assert f"SF100000000000{n}" in detail
    assert "确认打印无误" in detail and "作废" in detail
    assert detail.count('<span class="badge badge-muted">已打印</span>') == 3
    assert desk.order(order_no(1)).stage == "assigned"  # not returned before confirmation

    response = desk.post(f"/supplier/print-jobs/{job_id}/confirm", target="print-job")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="print-job"')
    assert f"已确认打印任务 #{job_id}，3 单运单号已回传" in html
    assert 'data-job-status="confirmed"' in html and "确认打印无误" not in html
    assert html.count('<span class="badge badge-muted">已回传</span>') == 3
    assert trigger(response)["ordersChanged"] is True
    stages = {
        n: (desk.order(order_no(n)).stage, desk.order(order_no(n)).tracking_no) for n in (1, 3)
    }
    assert stages == {1: ("returned", "SF1000000000001"), 3: ("returned", "SF1000000000003")}
    assert tab_bar(desk)["returned"] == 3
    # twice: refused, nothing changes
    again = desk.post(f"/supplier/print-jobs/{job_id}/confirm", target="print-job")
    assert again.status_code == 409
    assert trigger(again)["showToast"]["message"] == "该打印任务已确认或作废"
    void = desk.post(f"/supplier/print-jobs/{job_id}/void", target="print-job")
    assert void.status_code == 409


def test_confirm_reports_orders_that_cannot_take_their_number(desk):
    desk.seed_assigned(*(private_order(order_no(n), n - 1) for n in range(1, 3)))
    html = print_jobs(
        desk,
        {
            "order_no": [order_no(1), order_no(2)],
            "print_courier": "SF",
            "start_tracking_no": "SF2000000000001",
        },
    ).get_data(as_text=True)
    job_id = job_id_in(html)
    desk.cancel([order_no(2)])  # the merchant took it back meanwhile
    detail = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert "已取消分配，请勿发货" in detail
    html = desk.post(f"/supplier/print-jobs/{job_id}/confirm", target="print-job").get_data(
        as_text=True
    )
    assert "1 单运单号已回传" in html
    assert dict(REFUSAL_RE.findall(html)) == {order_no(2): "该订单已取消分配，请勿发货"}
    assert desk.order(order_no(1)).tracking_no == "SF2000000000001"
    assert desk.order(order_no(2)).tracking_no == ""


def test_void_leaves_orders_unreturned_and_stops_downloads(desk):
    desk.seed_assigned(private_order(order_no(1)))
    html = print_jobs(
        desk,
        {"order_no": order_no(1), "print_courier": "SF", "start_tracking_no": "SF3000000000001"},
    ).get_data(as_text=True)
    job_id = job_id_in(html)
    response = desk.post(f"/supplier/print-jobs/{job_id}/void", target="print-job")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-job-status="voided"' in html and "/pdf" not in html
    assert (
        trigger(response)["showToast"]["message"] == f"打印任务 #{job_id} 已作废，纸质面单号未回传"
    )
    assert (desk.order(order_no(1)).stage, desk.order(order_no(1)).tracking_no) == ("assigned", "")
    # a stale download link: back to the job with the reason
    pdf = desk.browser.get(f"/supplier/print-jobs/{job_id}/pdf")
    assert pdf.status_code == 303
    assert pdf.headers["Location"] == f"/supplier/print-jobs/{job_id}"
    page = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert "该打印任务已作废" in page  # the flash
    # the same paper numbers may be printed again in a new job
    html = print_jobs(
        desk,
        {"order_no": order_no(1), "print_courier": "SF", "start_tracking_no": "SF3000000000001"},
    ).get_data(as_text=True)
    assert job_id_in(html) != job_id


def test_blocked_after_the_job_was_made_is_left_out_of_the_pdf(desk):
    desk.seed_assigned(*(private_order(order_no(n), n - 1) for n in range(1, 3)))
    job_id = job_id_in(
        print_jobs(desk, {"order_no": [order_no(1), order_no(2)], "print_courier": "SF"}).get_data(
            as_text=True
        )
    )
    desk.seed(private_order(order_no(2), 1, detail="卧龙岗东街九十九号院三楼"))
    detail = desk.get(f"/supplier/print-jobs/{job_id}").get_data(as_text=True)
    assert "地址变更待商家确认" in detail and "下载时不会打印这一单" in detail
    pages = pdf_pages(desk.browser.get(f"/supplier/print-jobs/{job_id}/pdf"))
    assert len(pages) == 1 and order_no(1) in pages[0]


def test_job_list_is_paginated_and_fragments_by_target(desk):
    desk.seed_assigned(private_order(order_no(1)))
    empty = desk.get("/supplier/print-jobs").get_data(as_text=True)
    assert "还没有打印任务" in empty
    for _ in range(23):
        print_jobs(desk, {"order_no": order_no(1), "print_courier": "SF"})
    first = desk.get("/supplier/print-jobs").get_data(as_text=True)
    assert "<html" in first and first.count('<tr id="job-') == 20
    assert "共 23 个任务" in first and "第 1 / 2 页" in first
    ids = [int(n) for n in re.findall(r'<tr id="job-(\d+)"', first)]
    assert ids == sorted(ids, reverse=True)  # newest first
    second = desk.get("/supplier/print-jobs?page=2", target="print-job-list")
    html = second.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="print-job-list"') and html.count('<tr id="job-') == 3
    assert 'hx-get="/supplier/print-jobs?page=1"' in html
    assert "HX-Request" in second.headers["Vary"]
    assert "没有更多打印任务" in desk.get("/supplier/print-jobs?page=9").get_data(as_text=True)
    detail = desk.get(f"/supplier/print-jobs/{ids[0]}", target="print-job").get_data(as_text=True)
    assert "<html" not in detail and detail.lstrip().startswith('<div id="print-job"')


def test_other_suppliers_jobs_are_not_found(desk, app, factory, make_browser):
    desk.seed_assigned(private_order(order_no(1)))
    job_id = job_id_in(
        print_jobs(
            desk,
            {
                "order_no": order_no(1),
                "print_courier": "SF",
                "start_tracking_no": "SF4000000000001",
            },
        ).get_data(as_text=True)
    )
    other = build_desk(app, factory, make_browser)
    for url in (
        f"/supplier/print-jobs/{job_id}",
        f"/supplier/print-jobs/{job_id}/pdf",
    ):
        assert other.get(url).status_code == 404
        assert other.get(url, target="print-job").status_code == 404
    for url in (
        f"/supplier/print-jobs/{job_id}/confirm",
        f"/supplier/print-jobs/{job_id}/void",
    ):
        response = other.post(url, target="print-job")
        assert response.status_code == 404
        assert trigger(response)["showToast"]["message"] == "找不到该记录"
    # nor any number the database cannot hold
    for job in ("99999999999999999999999", "2147483648", "0"):
        assert desk.get(f"/supplier/print-jobs/{job}").status_code == 404
        assert desk.get(f"/supplier/print-jobs/{job}/pdf").status_code == 404
        assert desk.post(f"/supplier/print-jobs/{job}/confirm").status_code == 404
    assert desk.get("/supplier/print-jobs/abc").status_code == 404
    with desk.app.app_context():
        job = db.session.get(PrintJob, job_id)
        assert (job.status, job.render_count) == ("pending_confirmation", 0)
    assert "还没有打印任务" in other.get("/supplier/print-jobs").get_data(as_text=True)
    # a merchant may not print at all
    merchant = make_browser()
    merchant.login(desk.merchant_user.username)
    assert merchant.get(f"/supplier/print-jobs/{job_id}/pdf").status_code == 403
