"""The factory's print day in chromium, on the demo's data: the desk's keyboard shortcuts and
their help, labels by SKU with packing slips, the pick list download, and the scanner-only
scan page (order number, tracking number, count, Ctrl+Z); packing slips in their own PDF and
the pick-list PDF of a job; a merged parcel (one label, one scan for two orders to one
receiver). Screenshots of each step go to
test-artifacts/screenshots/print-day-*.png; console errors (a CSP violation is one) fail.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader
from sqlalchemy import make_url

from tests.e2e_helpers import (
    DESKTOP,
    E2E_DATABASE,
    ROOT,
    SCREENSHOTS,
    ConsoleErrors,
    LiveServer,
    live_server,
    server_environment,
)

pytestmark = pytest.mark.browser
DEMO_PASSWORD = "demo-pass-2026"


@contextmanager
def demo_server(tmp: Path) -> Iterator[LiveServer]:
    """A live portal on the demo's data (the same demo every time: its generator is seeded)."""
    with live_server(tmp) as running:
        pg_url = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
        url = (
            make_url(pg_url).set(database=E2E_DATABASE).render_as_string(hide_password=False)
            if pg_url
            else f"sqlite:///{tmp / 'portal.db'}"
        )
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "portal", "demo"]
        env = server_environment(tmp, url)
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with demo_server(tmp_path_factory.mktemp("print-day")) as running:
        yield running


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    with demo_server(tmp_path) as running:
        yield running


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"print-day-{name}.png"), full_page=True)


def factory_page(server: LiveServer, chromium: Browser) -> tuple[Page, ConsoleErrors]:
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    console = ConsoleErrors()
    console.watch(page, "factory")
    page.goto(f"{server.base_url}/login")
    page.fill("input[name=username]", "demo_factory")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/supplier/**")
    return page, console


def pdf_text(page: Page, href: str) -> str:
    response = page.request.get(urljoin(page.url, href))
    assert response.ok and response.headers["content-type"] == "application/pdf", href
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.body())).pages)


def test_print_day_by_keyboard_and_scanner(server: LiveServer, chromium: Browser) -> None:
    page, console = factory_page(server, chromium)
    context = page.context

    # The desk: ? shows the shortcuts, A selects the page.
    page.goto(f"{server.base_url}/supplier/orders?tab=to_print")
    rows = page.locator("input[data-select-row]")
    expect(rows.first).to_be_visible()
    count = rows.count()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    help_dialog = page.locator("dialog[data-shortcuts-help]")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("下一页")
    shot(page, "shortcuts")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("a")
    expect(page.locator("[data-select-count]").first).to_have_text(str(count))

    # The pick list of the selection, as a spreadsheet.
    with page.expect_download() as download:
        page.click("[data-pick-list=xlsx]")
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ["序号", "库位", "商品"]
    assert values[-1][2] == "合计" and values[-1][8] == count

    # Print by SKU with a packing slip after each label: P prints the selection.
    page.select_option("#print-courier", "ZTO")
    page.select_option("#print-order", "sku")
    page.select_option("#print-slips", "after")
    page.locator("body").click(position={"x": 5, "y": 5})
    with context.expect_page() as pdf_tab:
        page.keyboard.press("p")
    pdf_tab.value.close()
    outcome = page.locator("#order-list")
    expect(outcome).to_contain_text("已生成打印任务")
    shot(page, "printed")
    page.click("#order-list a[href*='/supplier/print-jobs/']:not([href$='/pdf'])")
    expect(page.locator("#print-job")).to_contain_text("按 SKU")
    expect(page.locator("#print-job")).to_contain_text("每张面单后附发货单")
    shot(page, "job")
    order_numbers = page.locator("table.print-job-orders td:nth-child(2) .mono").all_inner_texts()
    assert len(order_numbers) == count

    # The scan page: order number, tracking number, the count, Ctrl+Z.
    page.goto(f"{server.base_url}/supplier/scan")
    page.select_option("#scan-courier", "ZTO")
    scan = page.locator("[data-scan-input]")
    scan.fill(order_numbers[0])
    scan.press("Enter")
    expect(page.locator("#scan-result")).to_have_attribute("data-scan-kind", "found")
    expect(scan).to_be_focused()
    scan.fill("773100009901")
    scan.press("Enter")
    result = page.locator("#scan-result")
    expect(result).to_have_attribute("data-scan-kind", "returned")
    expect(result).to_have_class("scan-result ok")
    sound = page.locator("html")
    expect(sound).to_have_attribute("data-last-scan-sound", "ok")
    expect(page.locator("[data-scan-count]")).to_have_text("1")
    shot(page, "scan-returned")
    page.keyboard.press("Control+z")
    expect(result).to_have_attribute("data-scan-kind", "undone")
    expect(page.locator("[data-scan-count]")).to_have_text("0")
    expect(page.locator("[data-scan-pending]")).to_contain_text(order_numbers[0])
    shot(page, "scan-undone")
    scan.fill("773100009902")  # the right number now: no mouse in between
    scan.press("Enter")
    expect(result).to_have_attribute("data-scan-kind", "returned")
    expect(page.locator("[data-scan-count]")).to_have_text("1")
    scan.fill("NO-SUCH-ORDER-42")  # refused: red and the low buzz, the count unchanged
    scan.press("Enter")
    expect(result).to_have_attribute("data-scan-signal", "refused")
    expect(result).to_have_class("scan-result bad")
    expect(sound).to_have_attribute("data-last-scan-sound", "refused")
    expect(page.locator("[data-scan-count]")).to_have_text("1")
    expect(scan).to_be_focused()
    shot(page, "scan-refused")
    scan.fill(order_numbers[0])  # the same order again: already returned
    scan.press("Enter")
    expect(result).to_have_attribute("data-scan-signal", "already")
    expect(result).to_have_class("scan-result already")
    expect(sound).to_have_attribute("data-last-scan-sound", "already")
    shot(page, "scan-already")
    assert not console.errors, console.errors
    context.close()


def test_separate_slips_and_the_pick_list_pdf_of_a_job(
    fresh_server: LiveServer, chromium: Browser
) -> None:
    page, console = factory_page(fresh_server, chromium)
    page.goto(f"{fresh_server.base_url}/supplier/orders?tab=to_print")
    rows = page.locator("input[data-select-row]")
    expect(rows.first).to_be_visible()
    count = rows.count()
    page.select_option("#print-courier", "ZTO")
    page.check("#print-merge")  # the demo's to-print orders go to four receivers: nothing merges
    page.select_option("#print-slips", "separate")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("a")
    expect(page.locator("[data-select-count]").first).to_have_text(str(count))
    page.keyboard.press("p")
    expect(page.locator("#order-list")).to_contain_text("已生成打印任务")
    page.click("#order-list a[href*='/supplier/print-jobs/']:not([href$='/pdf'])")
    job = page.locator("#print-job")
    expect(job).to_contain_text("发货单单独成 PDF")
    shot(page, "separate-slips-job")

    labels = pdf_text(page, job.locator("a[href$='/pdf']").first.get_attribute("href") or "")
    cover = labels.split("\n")
    assert any(f"订单 {count} 单" in line for line in cover), labels[:300]
    slips = pdf_text(page, job.locator("[data-packing-slips]").get_attribute("href") or "")
    assert slips.count("发货单") >= count  # one slip per order, in a PDF of their own
    pick = pdf_text(page, job.locator("a[data-pick-list=pdf]").get_attribute("href") or "")
    assert "拣货单" in pick and "合计" in pick
    assert not console.errors, console.errors
    page.context.close()


# Two of the demo factory's waiting orders of one merchant sent to one receiver: the merchant
# corrects the second order's receiver to the first's, through the portal's own receiver edit.
SAME_RECEIVER = """
from sqlalchemy import select
from portal import create_app
from portal.domain.keyring import current_keyring
from portal.domain.orders.edits import edit_receiver
from portal.domain.orders.queries import receiver_for_merchant
from portal.extensions import db
from portal.models import Merchant, Order

app = create_app()
with app.app_context():
    waiting = select(Order).where(Order.stage == "assigned", Order.print_count == 0)
    first = db.session.scalars(waiting.order_by(Order.id)).first()
    second = db.session.scalars(
        waiting.where(
            Order.id != first.id,
            Order.merchant_id == first.merchant_id,
            Order.supplier_id == first.supplier_id,
        ).order_by(Order.id)
    ).first()
    merchant = db.session.get(Merchant, first.merchant_id)
    keyring = current_keyring()
    plain = receiver_for_merchant(keyring, merchant, first)
    same = {"name": plain.name, "phone": plain.phone, "detail": plain.detail}
    same |= {"province": first.province, "city": first.city, "district": first.district}
    edit_receiver(keyring, merchant, second, same, None)
    db.session.commit()
    print(first.order_no, second.order_no)
"""


def test_merged_parcel_one_label_one_scan(fresh_server: LiveServer, chromium: Browser) -> None:
    output = fresh_server.python(SAME_RECEIVER)
    first, second = output.split()
    page, console = factory_page(fresh_server, chromium)
    page.goto(f"{fresh_server.base_url}/supplier/orders?tab=to_print")
    rows = page.locator("input[data-select-row]")
    expect(rows.first).to_be_visible()
    count = rows.count()
    page.select_option("#print-courier", "ZTO")
    page.check("#print-merge")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("a")
    page.keyboard.press("p")
    expect(page.locator("#order-list")).to_contain_text("已生成打印任务")
    page.click("#order-list a[href*='/supplier/print-jobs/']:not([href$='/pdf'])")
    job = page.locator("#print-job")
    expect(job.locator("[data-merge-parcels]")).to_be_visible()
    shot(page, "merged-job")
    labels = pdf_text(page, job.locator("a[href$='/pdf']").first.get_attribute("href") or "")
    assert f"订单 {count} 单 · 面单 {count - 1} 张" in labels, labels[:300]
    assert "合并包裹 2 单" in labels

    # One scan of the label's order returns the number for both orders of the parcel.
    page.goto(f"{fresh_server.base_url}/supplier/scan")
    page.select_option("#scan-courier", "ZTO")
    scan = page.locator("[data-scan-input]")
    scan.fill(first)
    scan.press("Enter")
    expect(page.locator("#scan-result")).to_have_attribute("data-scan-kind", "found")
    scan.fill("773100009977")
    scan.press("Enter")
    expect(page.locator("#scan-result")).to_have_attribute("data-scan-kind", "returned")
    shot(page, "merged-scan")
    page.goto(f"{fresh_server.base_url}/supplier/orders?tab=returned&q={second}")
    expect(page.locator("#order-list")).to_contain_text("773100009977")
    assert not console.errors, console.errors
    page.context.close()


# Sixty more of the demo merchant's waiting orders go to the demo factory: a second desk page.
MORE_ORDERS = """
from sqlalchemy import select
from portal import create_app
from portal.domain.allocation import assign_orders
from portal.extensions import db
from portal.models import Merchant, Order, Supplier, User

app = create_app()
with app.app_context():
    merchant = db.session.scalar(
        select(Merchant).join(User, User.id == Merchant.user_id).where(User.username == "demo_shop")
    )
    supplier = db.session.scalar(
        select(Supplier).join(User, User.id == Supplier.user_id)
        .where(User.username == "demo_factory")
    )
    waiting = select(Order.order_no).where(
        Order.merchant_id == merchant.id, Order.supplier_id.is_(None)
    )
    result = assign_orders(merchant, db.session.scalars(waiting).all(), supplier, None)
    db.session.commit()
    print(len(result.done))
"""


def test_desk_keys_after_ticking_a_row_and_across_pages(
    fresh_server: LiveServer, chromium: Browser
) -> None:
    """The keys work right after a row was ticked with the mouse (the focus is on its box, not
    in a text field): A selects the page, N / B turn it; P prints what is ticked."""
    output = fresh_server.python(MORE_ORDERS)
    assert int(output.split()[-1]) > 50
    page, console = factory_page(fresh_server, chromium)
    page.goto(f"{fresh_server.base_url}/supplier/orders?tab=to_print")
    rows = page.locator("input[data-select-row]")
    expect(rows.first).to_be_visible()
    assert rows.count() == 50
    rows.first.check()  # ticked with the mouse: the focus is on the box
    expect(page.locator("[data-select-count]").first).to_have_text("1")
    page.keyboard.press("a")
    expect(page.locator("[data-select-count]").first).to_have_text("50")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"page=2"))
    shot(page, "next-page")
    page.keyboard.press("b")
    expect(page).to_have_url(re.compile(r"page=1|tab=to_print$"))
    rows.nth(1).check()
    page.select_option("#print-courier", "ZTO")  # the focus is in the select now …
    rows.nth(1).focus()  # … and back on the row's box, as after a click on it
    with page.context.expect_page() as pdf_tab:
        page.keyboard.press("p")
    pdf_tab.value.close()
    expect(page.locator("#order-list")).to_contain_text("已生成打印任务")
    assert not console.errors, console.errors
    page.context.close()


def download_rows(page: Page, selector: str) -> list[list[object]]:
    with page.expect_download() as download:
        page.click(selector)
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_a_location_typed_per_sku_and_the_factory_settings_order_the_print_day(
    fresh_server: LiveServer, chromium: Browser
) -> None:
    """库位 typed beside a SKU's code on the price list, 按库位 and 按承诺发货时间 chosen in
    设置 · 打单设置: the desk's pick list puts that SKU first with its 库位 and 厂家编码, and the
    print bar starts on the factory's print order."""
    page, console = factory_page(fresh_server, chromium)
    desk = f"{fresh_server.base_url}/supplier/orders?tab=to_print"
    page.goto(desk)
    expect(page.locator("input[data-select-row]").first).to_be_visible()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("a")
    rows = download_rows(page, "[data-pick-list=xlsx]")
    skus = [row[4] for row in rows[1:-1]]
    assert len(skus) >= 2 and skus == sorted(skus), skus  # by SKU code, the default
    last = skus[-1]

    page.goto(f"{fresh_server.base_url}/supplier/prices")
    row = page.locator("tr", has=page.locator(".sku-code", has_text=last)).first
    row.locator("input[name=supplier_code]").fill("F-LAST")
    row.locator("input[name=location]").fill("A-01")
    row.locator(".code-form button[type=submit]").click()
    saved = page.locator("tr", has=page.locator(".sku-code", has_text=last)).first
    expect(saved.locator("input[name=location]")).to_have_value("A-01")
    shot(page, "location-typed")

    page.goto(f"{fresh_server.base_url}/supplier/settings")
    section = page.locator("#print-section")
    section.locator("select[name=pick_order]").select_option("location")
    section.locator("select[name=print_order]").select_option("promise")
    section.locator("button[type=submit]").click()
    expect(page.locator("#print-section select[name=pick_order]")).to_have_value("location")
    shot(page, "print-settings")

    page.goto(desk)
    expect(page.locator("#print-order")).to_have_value("promise")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("a")
    rows = download_rows(page, "[data-pick-list=xlsx]")
    first = rows[1]
    assert (first[1], first[4], first[5]) == ("A-01", last, "F-LAST"), rows
    assert [row[4] for row in rows[2:-1]] == skus[:-1]  # no 库位: by SKU code after it
    assert not console.errors, console.errors
    page.context.close()
