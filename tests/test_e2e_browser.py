"""The whole story through the real UI, in Debian's chromium (ISSUE 6, item 2).

A merchant and a factory sign up, bind, and work through one batch of orders: import a
platform export (live progress), assign all matching orders, a later export changes a buyer's
address (printing blocked), the factory prints a PDF (the blocked order refused), returns
tracking numbers by CSV and on the scan page, the merchant dispatches, the factory sets
prices, the merchant generates a statement (waits for 已生成, downloads CSV and XLSX, is
refused a second one within 10 minutes) and the factory confirms it.

Along the way: full-page screenshots of every main page in test-artifacts/screenshots/ at
1366×768 (and the desks and dashboards at 390×844), no console errors or page errors on any
page (CSP violations are console errors), no horizontal overflow on a phone, the main nav
reachable there.

Runs the real app (`flask --app wsgi portal serve`, gunicorn with the embedded queue and its
in-process worker) on a free port against a fresh SQLite file, or a `test_e2e` database when
PORTAL_TEST_DATABASE_URL is set. One test on purpose: it shares one server and one story, and
stays whole under pytest-xdist.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from pypdf import PdfReader

from tests.e2e_helpers import (
    DESKTOP,
    PHONE,
    SAMPLE_EXPORT,
    SCREENSHOTS,
    ConsoleErrors,
    LiveServer,
    horizontal_overflow,
    later_orders,
    live_server,
    order_no,
    read_sample,
    tracking_csv,
    wider_than_viewport,
    write_export,
)
from tests.factories import KUAISHOU_HEADER

pytestmark = pytest.mark.browser

PASSWORD = "e2e-correct-horse-9"
TIMEOUT_MS = 15_000  # every action and expectation (Playwright's expect defaults to 5 s)
expect.set_options(timeout=TIMEOUT_MS)
# A statement is built by the app's in-process worker; the list polls every 3 s.
STATEMENT_TIMEOUT_MS = 45_000
IMPORT_TIMEOUT_MS = 45_000
# Each table wrapper's [scrollWidth, clientWidth].
TABLE_WIDTHS = (
    "() => [...document.querySelectorAll('.table-wrap')].map(w => [w.scrollWidth, w.clientWidth])"
)
# A refused htmx form (422, re-rendered with its errors) is logged by chromium as a failed load.
REFUSED_FORM_LOG = r"Failed to load resource: the server responded with a status of 422"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("e2e")) as running:
        yield running


# --- the story's state and small tools ---------------------------------------------------------


@dataclass
class Story:
    base: str
    tmp: Path
    console: ConsoleErrors
    merchant: Page | None = None
    factory: Page | None = None
    factory_shop_id: str = ""
    soft_failures: list[str] = field(default_factory=list)
    overflow: list[str] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str, *, soft: bool = False) -> Iterator[None]:
        """A named step; a soft one records its failure and lets the story go on (the test
        still fails at the end), for steps nothing after them depends on."""
        started = time.monotonic()
        try:
            yield
        except Exception as error:
            self.failure_shots(name)
            if not soft:
                raise AssertionError(f"step「{name}」failed: {error}") from error
            self.soft_failures.append(f"step「{name}」failed: {error}")
        finally:
            self.timings.append((name, time.monotonic() - started))

    def failure_shots(self, step: str) -> None:
        """What each side saw when a step failed (FAILED-… next to the other screenshots)."""
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")[:40] or "step"
        for who, page in (("merchant", self.merchant), ("factory", self.factory)):
            if page is not None and not page.is_closed():
                path = SCREENSHOTS / f"FAILED-{slug}-{who}.png"
                # A failed screenshot must not hide the failure itself.
                try:
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(path), full_page=True, timeout=5_000)
                except Exception as error:
                    print(f"no failure screenshot of the {who}: {error}")

    def shot(self, page: Page, name: str) -> None:
        # Toasts are fixed to the viewport: in a full-page picture they float over the content.
        # (They were read where they matter; clear them for the picture.)
        page.evaluate("() => document.querySelectorAll('#toasts .toast').forEach(t => t.remove())")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        self.screenshots.append(f"{name}.png")

    def check_tables_fit(self, page: Page, name: str) -> None:
        """On a desk at 1366 px the whole table, row actions included, is in view without
        scrolling it sideways."""
        for scroll_width, client_width in page.evaluate(TABLE_WIDTHS):
            if scroll_width > client_width + 1:
                self.overflow.append(
                    f"{name}: a table is {scroll_width} px wide in a {client_width} px "
                    "wrapper: its last columns (row actions) need sideways scrolling"
                )

    def assert_clean(self) -> None:
        """No soft failure, overflow or console error anywhere in the story."""
        problems = [*self.soft_failures]
        if self.overflow:
            problems.append("horizontal overflow:\n  " + "\n  ".join(self.overflow))
        if self.console.errors:
            problems.append("console errors:\n  " + "\n  ".join(self.console.errors))
        assert not problems, "\n".join(problems)

    def check_width(self, page: Page, name: str) -> None:
        scroll_width, inner_width = horizontal_overflow(page)
        if scroll_width > inner_width + 1:
            self.overflow.append(
                f"{name}: scrollWidth {scroll_width} > innerWidth {inner_width}; "
                f"sticking out: {wider_than_viewport(page)}"
            )


def settle(page: Page) -> None:
    """Wait until htmx has no request in flight (and the page has loaded)."""
    page.wait_for_load_state("load")
    expect(page.locator("body.htmx-request, .htmx-request")).to_have_count(0)


def choose_region(form: Locator, province: str, city: str, district: str) -> None:
    """The cascading selects: each change re-renders the fieldset with the next level's options.

    The next choice waits until htmx has settled the new fieldset (.htmx-added is removed in
    the same task that attaches its change trigger): a change made before would be lost.
    """
    form.locator("select[name=province]").select_option(province)
    form.locator(f"select[name=city] option[value='{city}']").wait_for(state="attached")
    expect(form.locator(".region-fields.htmx-added")).to_have_count(0)
    form.locator("select[name=city]").select_option(city)
    if district:
        form.locator(f"select[name=district] option[value='{district}']").wait_for(state="attached")
        expect(form.locator(".region-fields.htmx-added")).to_have_count(0)
        form.locator("select[name=district]").select_option(district)
    expect(form.locator("select[name=province]")).to_have_value(province)


def sign_up(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/signup")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.get_by_role("button", name="注册").click()
    page.wait_for_url(re.compile(r"/account/role$"))
    expect(page.get_by_role("heading", name="选择您的身份")).to_be_visible()


def order_row(page: Page, number: str) -> Locator:
    return page.locator("#order-list tbody tr", has_text=number)


def yuan(value: Decimal) -> str:
    return f"{value:,.2f}"


def open_page(chromium: Browser, console: ConsoleErrors, contexts: list, who: str) -> Page:
    """A page in a context of its own (cookies per user) at 1366 px, its console watched; every
    hx-confirm is answered yes. The context is appended to `contexts` for closing."""
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    context.on("page", lambda page: console.watch(page, who))
    contexts.append(context)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm: the user says yes
    return page


def download(page: Page, link: Locator, tmp: Path, name: str) -> bytes:
    with page.expect_download() as info:
        link.click()
    target = tmp / name
    info.value.save_as(target)
    return target.read_bytes()


# --- the test ----------------------------------------------------------------------------------


def test_whole_story_in_the_browser(server: LiveServer, chromium: Browser, tmp_path: Path) -> None:
    started = time.monotonic()
    for old in SCREENSHOTS.glob("*.png"):  # the artefacts are this run's
        old.unlink()
    console = ConsoleErrors()
    story = Story(server.base_url, tmp_path, console)
    base = server.base_url

    header, sample = read_sample()
    by_no = {order_no(r): r for r in sample}
    # The orders followed through the story (all paid on 11-18: first on the factory's desk).
    changed = "261118-676264143056892"  # its receiver changes in a later export: print blocked
    printed = ["261118-190888440937964", "261118-939889443190443", "261118-572840871588081"]
    scanned = "261118-260341737902100"  # returned on the scan page
    returned = [*printed, scanned]
    tracking_nos = {
        printed[0]: "YT7000000000001",
        printed[1]: "YT7000000000002",
        printed[2]: "YT7000000000003",
        scanned: "YT7000000000004",
    }
    prices = {  # settlement price per SKU (商家编码-SKU维度); any other SKU gets 8.00
        "BLK-150-GRY": Decimal("35.50"),
        "SET-15-BLU": Decimal("88.00"),
        "SET-18-BLU": Decimal("96.00"),
        "CUP-500-BEAR": Decimal("12.30"),
    }
    later = later_orders(sample, 20)  # a later export brings 20 more: more than one page
    assignable = [
        r
        for r in [*sample, *later]
        if r["订单状态"] == "待发货"
        and r["是否审核中"] == "否"
        and r["售后状态"] == "无售后或售后取消"
        and not r["快递单号"]
    ]

    contexts = []

    def new_page(who: str) -> Page:
        return open_page(chromium, console, contexts, who)

    try:
        m = story.merchant = new_page("merchant")
        f = story.factory = new_page("factory")

        with story.step("sign up the merchant (商家, sender info, region selects)"):
            sign_up(m, base, "e2e_shop")
            form = m.locator("#merchant-form")
            form.locator("#shop_name").fill("端到端测试店")
            form.locator("#sender_name").fill("王发货")
            form.locator("#sender_phone").fill("13800138000")
            choose_region(form, "浙江省", "杭州市", "余杭区")
            form.locator("#detail").fill("文一西路 1 号")
            form.get_by_role("button", name="成为商家").click()
            m.wait_for_url(re.compile(r"/merchant/$"))
            expect(m.locator("h1")).to_have_text("端到端测试店")
            expect(m.locator(".topbar .badge")).to_have_text("商家")

        with story.step("sign up the factory (厂家) and read its shop ID"):
            sign_up(f, base, "e2e_factory")
            form = f.locator("#supplier-form")
            form.locator("#factory_name").fill("端到端毛毯厂")
            form.locator("#contact_name").fill("李厂长")
            form.locator("#contact_phone").fill("13900139000")
            form.get_by_role("button", name="我是代发厂家").click()
            f.wait_for_url(re.compile(r"/supplier/$"))
            story.factory_shop_id = f.locator("main .shop-id strong").inner_text().strip()
            assert re.fullmatch(r"\d{9}", story.factory_shop_id), story.factory_shop_id

        with story.step("the merchant applies with the factory's shop ID, the factory accepts"):
            m.locator("nav.sidebar").get_by_role("link", name="厂家").click()
            m.wait_for_url(re.compile(r"/merchant/suppliers$"))
            m.fill("#supplier_shop_id", story.factory_shop_id)
            m.fill("#message", "我们是端到端测试店，想合作毛毯类目")
            m.get_by_role("button", name="申请绑定").click()
            row = m.locator("#bindings tbody tr", has_text=story.factory_shop_id)
            expect(row).to_contain_text("待审核")
            f.locator("nav.sidebar").get_by_role("link", name="商家").click()
            row = f.locator("#bindings tbody tr", has_text="端到端测试店")
            expect(row).to_contain_text("待审核")
            row.get_by_role("button", name="同意").click()
            expect(f.locator("#bindings tbody tr", has_text="端到端测试店")).to_contain_text(
                "已绑定"
            )
            m.reload()
            expect(m.locator("#bindings tbody tr", has_text=story.factory_shop_id)).to_contain_text(
                "已绑定"
            )
            story.shot(m, "merchant-suppliers")

        with story.step("the merchant imports the platform export (GBK CSV) with live progress"):
            m.locator("nav.sidebar").get_by_role("link", name="订单").click()
            m.get_by_role("link", name="导入订单").first.click()
            m.wait_for_url(re.compile(r"/merchant/orders/import"))
            import_file(m, Path("tests/data/pdd_orders_export_gbk.csv").resolve())
            card = m.locator("#import-upload section.card[id^=import-job-]").first
            expect(card).to_contain_text("pdd_orders_export_gbk.csv")
            # The card polls itself (every 1 s) until done; no reload here.
            expect(card.locator(".badge")).to_have_text("已完成", timeout=IMPORT_TIMEOUT_MS)
            expect(card.locator(".stat", has_text="新增").locator(".stat-value")).to_have_text(
                str(len(sample))
            )
            expect(card.locator(".stat", has_text="未导入").locator(".stat-value")).to_have_text(
                "0"
            )
            # The recent-imports list below was refreshed out of band.
            expect(m.locator("#import-list")).to_contain_text("pdd_orders_export_gbk.csv")

        with story.step("a later export brings 20 more orders (the rest unchanged)"):
            more = write_export(story.tmp / "pdd_orders_later.csv", header, [*sample, *later])
            import_file(m, more)
            card = m.locator("#import-upload section.card", has_text="pdd_orders_later.csv")
            expect(card.locator(".badge")).to_have_text("已完成", timeout=IMPORT_TIMEOUT_MS)
            expect(card.locator(".stat", has_text="新增").locator(".stat-value")).to_have_text("20")
            expect(card.locator(".stat", has_text="未变化").locator(".stat-value")).to_have_text(
                str(len(sample))
            )
            story.shot(m, "merchant-import")

        with story.step("the merchant assigns all matching orders to the factory"):
            m.locator("nav.sidebar").get_by_role("link", name="订单").click()
            m.wait_for_url(re.compile(r"/merchant/orders"))
            expect(m.locator("#order-tabs .tab.active")).to_contain_text("待分配")
            rows_shown = m.locator("#order-list tbody input[data-select-row]").count()
            m.locator("#order-list input[data-select-page]").check()
            expect(m.locator("#order-list [data-select-count]")).to_have_text(str(rows_shown))
            match_all = m.locator("#order-list input[data-select-all-matching]")
            expect(match_all).to_be_visible()  # offered once the whole page is ticked
            total = int(match_all.get_attribute("data-total") or 0)
            assert total > rows_shown, (total, rows_shown)
            match_all.check()
            expect(m.locator("#order-list [data-select-count]")).to_have_text(str(total))
            m.locator("#assign-to").select_option(label="端到端毛毯厂")
            m.locator("#order-list").get_by_role("button", name="分配", exact=True).click()
            result = m.locator("#batch-result")
            expect(result).to_contain_text(f"已分配 {len(assignable)} 单给 端到端毛毯厂")
            expect(m.locator("#order-tabs [data-tab=assigned] .count")).to_have_text(
                str(len(assignable))
            )

        with story.step("a new export changes one assigned order's address → 地址已变更"):
            m.get_by_role("link", name="导入订单").first.click()
            edited = [dict(r) for r in [*sample, *later]]
            for r in edited:
                if order_no(r) == changed:
                    r["街道"] = "石牌街道体育西路 191 号中石化大厦 B 座 2208 室"
            path = write_export(story.tmp / "pdd_orders_address_changed.csv", header, edited)
            import_file(m, path)
            card = m.locator("#import-upload section.card", has_text=path.name)
            expect(card.locator(".badge")).to_have_text("已完成", timeout=IMPORT_TIMEOUT_MS)
            expect(card.locator(".stat", has_text="更新").locator(".stat-value")).to_have_text("1")
            m.locator("nav.sidebar").get_by_role("link", name="订单").click()
            m.locator("#order-tabs [data-tab=assigned]").click()
            m.wait_for_url(re.compile(r"tab=assigned"))
            settle(m)
            m.fill("#filter-q", changed)
            m.press("#filter-q", "Enter")
            m.wait_for_url(re.compile(r"q=" + changed))
            row = order_row(m, changed)
            expect(row).to_have_count(1)
            expect(row).to_contain_text("地址已变更")
            expect(row.get_by_role("button", name="确认新地址")).to_be_visible()

        with story.step("the factory's desk shows it blocked for printing, with the reason"):
            f.locator("nav.sidebar").get_by_role("link", name="代发订单").click()
            f.wait_for_url(re.compile(r"/supplier/orders"))
            expect(f.locator("#order-tabs .tab.active")).to_contain_text("待打印")
            expect(f.locator("#order-tabs [data-tab=to_print] .count")).to_have_text(
                str(len(assignable))
            )
            row = order_row(f, changed)
            expect(row.locator(".print-blocker")).to_have_text("地址变更待商家确认")
            # Masked only: the factory never sees the buyer's name, phone or street.
            buyer = by_no[changed]
            assert buyer["手机"] not in row.inner_text()
            assert buyer["收货人"] not in row.inner_text()

        with story.step("the factory opens 备货汇总 (read when opened) and it stays open"):
            f.locator("#goods-summary > summary").click()
            expect(f.locator("#goods-lines tr[data-sku]").first).to_be_visible()
            pieces = f.locator("#goods-lines [data-orders]").all_inner_texts()
            assert sum(int(n) for n in pieces) == len(assignable)
            f.reload()
            expect(f.locator("#goods-summary")).to_have_attribute("open", "")
            expect(f.locator("#goods-lines tr[data-sku]").first).to_be_visible()

        with story.step("the factory prints a PDF: the blocked order refused, the rest print"):
            for number in [changed, *printed]:
                order_row(f, number).locator("input[data-select-row]").check()
            expect(f.locator("#order-list [data-select-count]")).to_have_text("4")
            f.locator("#print-courier").select_option("YTO")
            # The labels open by themselves in a new tab (the PDF, inline), no second click.
            with f.context.expect_page() as opened:
                f.locator("#print-options").get_by_role("button", name="打印面单").click()
            assert re.search(r"/supplier/print-jobs/\d+/pdf$", opened.value.url), opened.value.url
            opened.value.close()
            result = f.locator("#batch-result")
            expect(result).to_contain_text("已生成打印任务")
            expect(result).to_contain_text("3 单")
            refusal = result.locator(".refusals li", has_text=changed)
            expect(refusal).to_have_count(1)
            expect(refusal.locator(".reason")).to_have_text("收货信息已变更，待商家确认")
            link = result.get_by_role("link", name="打开面单 PDF")
            expect(link).to_be_focused()  # where the eye is, one Enter away
            pdf = f.request.get(base + link.get_attribute("href")).body()
            assert pdf.startswith(b"%PDF"), pdf[:20]
            labels = PdfReader(io.BytesIO(pdf)).pages[1:]  # after the job's cover page
            assert len(labels) == len(printed)  # one label per printed order, none for the blocked
            label_text = "".join(page.extract_text() for page in labels)
            assert all(number in label_text for number in printed)
            assert changed not in label_text
            result.get_by_role("link", name="查看打印任务").click()
            f.wait_for_url(re.compile(r"/supplier/print-jobs/\d+$"))
            expect(f.locator("[data-job-status]")).to_have_text("已生成")
            for number in printed:
                expect(f.locator("#print-job tbody tr", has_text=number)).to_have_count(1)
            story.shot(f, "factory-print-job")

        with story.step("the factory returns tracking numbers from a CSV file"):
            f.goto(f"{base}/supplier/orders")
            f.locator(".page-header").get_by_role("link", name="批量导入运单号").click()
            f.wait_for_url(re.compile(r"/supplier/tracking/import$"))
            csv_path = tracking_csv(
                story.tmp / "tracking.csv", [(n, "圆通", tracking_nos[n]) for n in printed]
            )
            f.set_input_files("#tracking-upload input[type=file]", str(csv_path))
            f.get_by_role("button", name="上传并回传").click()
            report = f.locator("#tracking-report")
            expect(report.locator(".badge")).to_have_text("全部回传成功")
            expect(report.locator(".stat", has_text="已回传").locator(".stat-value")).to_have_text(
                "3"
            )
            story.shot(f, "factory-tracking-import")

        with story.step("the factory returns one order on the scan page (scanner: code + Enter)"):
            f.locator(".page-header").get_by_role("link", name="扫描回传").click()
            f.wait_for_url(re.compile(r"/supplier/scan$"))
            f.locator("#scan-courier").select_option("YTO")
            scan_input = f.locator("#scan-code")
            expect(scan_input).to_be_focused()  # back on the input once a courier is chosen
            f.keyboard.type(scanned)
            f.keyboard.press("Enter")
            expect(f.locator("#scan-context [data-scan-pending]")).to_contain_text(scanned)
            expect(f.locator("#scan-result")).to_contain_text("已找到订单，请扫描快递单号")
            expect(scan_input).to_be_focused()
            f.keyboard.type(tracking_nos[scanned])
            f.keyboard.press("Enter")
            expect(f.locator("#scan-result .scan-headline")).to_contain_text("已回传")
            expect(f.locator("#scan-result")).to_contain_text(tracking_nos[scanned])
            expect(f.locator("#scan-log li")).to_have_count(2)
            story.shot(f, "factory-scan")
            # A scan typed while the previous one is still being answered is kept whole:
            # the answer must not select it (the next keystroke would replace it). The
            # answer is held back until the next scan has begun.
            held: list = []
            f.route(re.compile(r"/supplier/scan/"), lambda route: held.append(route))
            f.keyboard.type(printed[0])
            f.keyboard.press("Enter")
            f.keyboard.type("2611")
            while not held:  # waiting lets Playwright run the route handler
                f.wait_for_timeout(20)
            held[0].continue_()
            f.unroute(re.compile(r"/supplier/scan/"))
            expect(f.locator("#scan-log li")).to_have_count(3)
            expect(f.locator(".htmx-settling")).to_have_count(0)  # afterSettle has run
            f.keyboard.type("18")
            expect(scan_input).to_have_value("261118")
            f.keyboard.press("Escape")
            expect(scan_input).to_have_value("")

        with story.step("the merchant sees them under 已回传"):
            m.locator("nav.sidebar").get_by_role("link", name="订单").click()
            m.locator("#order-tabs [data-tab=returned]").click()
            m.wait_for_url(re.compile(r"tab=returned"))
            settle(m)
            expect(m.locator("#order-tabs .tab.active")).to_contain_text("已回传")
            expect(m.locator("#order-list tbody tr")).to_have_count(len(returned))
            for number in returned:
                expect(order_row(m, number)).to_contain_text(tracking_nos[number])

        with story.step("the merchant adds a return address in 设置"):
            m.locator("nav.sidebar").get_by_role("link", name="设置").click()
            m.wait_for_url(re.compile(r"/merchant/settings$"))
            section = m.locator("#addresses-section")
            section.locator("input[name=contact_name]").fill("王退货")
            section.locator("input[name=phone]").fill("13800138001")
            choose_region(section, "浙江省", "杭州市", "余杭区")
            section.locator("input[name=detail]").fill("仓前街道 8 号退货仓")
            section.locator("input[name=make_default]").check()
            section.get_by_role("button", name="添加").click()
            expect(m.locator("#addresses-section tbody tr", has_text="王退货")).to_contain_text(
                "默认"
            )
            story.shot(m, "merchant-settings")

        # The batch dispatch UI on the 已回传 tab (endpoint merchant.order_dispatch) is being
        # finished in parallel: a missing button fails the test at the end, never silently.
        with story.step("the merchant dispatches the returned orders in batch", soft=True):
            m.locator("nav.sidebar").get_by_role("link", name="订单").click()
            m.locator("#order-tabs [data-tab=returned]").click()
            m.wait_for_url(re.compile(r"tab=returned"))
            settle(m)
            expect(m.locator("#order-tabs .tab.active")).to_contain_text("已回传")
            button = m.locator("#order-list [hx-post$='/orders/dispatch'][data-requires-selection]")
            try:
                button.first.wait_for(timeout=5_000)
            except PlaywrightTimeoutError:
                raise AssertionError(
                    "no batch dispatch button on the 已回传 tab "
                    "(expected an htmx POST to merchant.order_dispatch, /merchant/orders/dispatch)"
                ) from None
            m.locator("#order-list input[data-select-page]").check()
            expect(m.locator("#order-list [data-select-count]")).to_have_text(str(len(returned)))
            address = m.locator("#order-list select[name=return_address_id]")
            if address.count():
                expect(address).to_contain_text("王退货")
            button.first.click()
            expect(m.locator("#batch-result")).to_contain_text(f"已发货 {len(returned)} 单")
            expect(m.locator("#order-tabs [data-tab=dispatched] .count")).to_have_text(
                str(len(returned))
            )

        with story.step("the factory sets prices on 结算价 (inline edit)"):
            f.locator("nav.sidebar").get_by_role("link", name="结算价").click()
            f.wait_for_url(re.compile(r"/supplier/prices"))
            expect(f.locator("#price-missing")).to_contain_text("缺少结算价")
            missing = f.locator("#price-desk tbody tr.row-warn")
            to_price = missing.count()
            assert to_price >= len(prices), to_price
            for _ in range(to_price):
                row = missing.first
                row_id = row.get_attribute("id")
                sku = row.locator("td.sku-code .mono").inner_text().strip()
                price = prices.get(sku, Decimal("8.00"))
                price_input = row.locator("[data-price-input]")
                price_input.fill(str(price))
                price_input.press("Enter")
                saved = f.locator(f"#{row_id}")
                expect(saved).not_to_have_class(re.compile(r"\brow-warn\b"))
                expect(saved.locator(".price-value")).to_have_text(f"¥{yuan(price)}")
                settle(f)  # the missing-price badge refreshes itself after each save
            expect(f.locator("#price-missing")).to_contain_text("全部 SKU 都已设置结算价")
            # Change a price no returned order uses, with the 修改 editor.
            row = f.locator("#price-desk tbody tr", has_text="SET-18-BLU")
            row.locator("summary").click()
            price_input = row.locator("[data-price-input]")
            expect(price_input).to_be_focused()
            price_input.fill("99.90")
            price_input.press("Enter")
            expect(
                f.locator("#price-desk tbody tr", has_text="SET-18-BLU").locator(".price-value")
            ).to_have_text("¥99.90")

        expected_total = sum(
            (
                prices[by_no[n]["商家编码-SKU维度"]] * int(by_no[n]["商品数量(件)"])
                for n in returned
            ),
            Decimal("0"),
        )

        with story.step("the merchant generates a statement and waits for 已生成"):
            m.locator("nav.sidebar").get_by_role("link", name="对账单").click()
            m.wait_for_url(re.compile(r"/merchant/statements$"))
            m.locator("#statement-form select[name=supplier]").select_option(
                label=f"端到端毛毯厂（{story.factory_shop_id}）"
            )
            m.locator("#statement-form").get_by_role("button", name="生成对账单").click()
            row = m.locator("#statement-list tbody tr").first
            expect(row).to_contain_text("端到端毛毯厂")
            # The list refreshes itself (every 3 s while something is queued or building).
            expect(row.locator("[data-statement-status]")).to_have_text(
                "已生成", timeout=STATEMENT_TIMEOUT_MS
            )
            cells = row.locator("td.num")
            expect(cells.nth(0)).to_have_text(str(len(returned)))
            expect(cells.nth(1)).to_have_text(yuan(expected_total))
            expect(row.locator("[data-review-status]")).to_have_text("待确认")

        with story.step("the merchant downloads the statement as CSV and XLSX"):
            row = m.locator("#statement-list tbody tr").first
            data = download(m, row.get_by_role("link", name="下载 CSV"), story.tmp, "st.csv")
            text = data.decode("utf-8-sig")
            for number in returned:
                assert number in text, number
            assert tracking_nos[scanned] in text
            data = download(m, row.get_by_role("link", name="下载 Excel"), story.tmp, "st.xlsx")
            assert data.startswith(b"PK"), data[:10]

        with story.step("a second statement within 10 minutes is refused inline"):
            with console.expecting(REFUSED_FORM_LOG):
                m.locator("#statement-form").get_by_role("button", name="生成对账单").click()
                refusal = m.locator("#statement-form .alert-error, #statement-form .error")
                expect(refusal).to_contain_text("两次生成对账单需间隔 10 分钟")
                expect(refusal).to_contain_text("后可再生成")
                settle(m)
            expect(m.locator("#statement-list tbody tr")).to_have_count(1)
            story.shot(m, "merchant-statements")

        with story.step("the factory confirms the statement on its 对账单 page"):
            f.locator("nav.sidebar").get_by_role("link", name="对账单").click()
            f.wait_for_url(re.compile(r"/supplier/statements$"))
            row = f.locator("#statement-list tbody tr").first
            expect(row).to_contain_text("端到端测试店")
            expect(row.locator("td.num").nth(1)).to_have_text(yuan(expected_total))
            row.get_by_role("button", name="确认无误").click()  # hx-confirm: accepted
            expect(
                f.locator("#statement-list tbody tr").first.locator("[data-review-status]")
            ).to_have_text("已确认")
            m.reload()
            expect(
                m.locator("#statement-list tbody tr").first.locator("[data-review-status]")
            ).to_have_text("已确认")

        with story.step("screenshots of every main page at 1366×768"):
            tour = [
                (m, "merchant-dashboard", "/merchant/"),
                (m, "merchant-orders", "/merchant/orders?tab=all"),
                (m, "merchant-import", None),  # taken with the finished import above
                (m, "merchant-suppliers", "/merchant/suppliers"),
                (m, "merchant-statements", None),  # taken with the refusal above
                (m, "merchant-settings", "/merchant/settings"),
                (f, "factory-dashboard", "/supplier/"),
                (f, "factory-orders", "/supplier/orders"),
                (f, "factory-print-job", None),
                (f, "factory-scan", None),
                (f, "factory-tracking-import", None),
                (f, "factory-prices", "/supplier/prices"),
                (f, "factory-statements", "/supplier/statements"),
            ]
            for page, name, path in tour:
                if path is None:
                    assert f"{name}.png" in story.screenshots, name
                    continue
                page.goto(f"{base}{path}")
                settle(page)
                story.check_width(page, f"{name} @1366")
                if name in ("merchant-orders", "factory-orders"):
                    story.check_tables_fit(page, f"{name} @1366")
                story.shot(page, name)

        with story.step("phone width (390×844): dashboards and desks, no overflow, nav reachable"):
            for page in (m, f):
                page.set_viewport_size(PHONE)
            for page, name, path, nav in [
                (m, "merchant-dashboard", "/merchant/", "订单"),
                (m, "merchant-orders", "/merchant/orders?tab=all", "对账单"),
                (f, "factory-dashboard", "/supplier/", "代发订单"),
                (f, "factory-orders", "/supplier/orders", "结算价"),
            ]:
                page.goto(f"{base}{path}")
                settle(page)
                story.check_width(page, f"{name} @390")
                story.shot(page, f"{name}-phone")
                links = page.locator("nav.sidebar a")
                assert links.count() >= 5, name
                for link in links.all():
                    # The nav scrolls sideways on a phone: every entry can be brought on screen.
                    link.scroll_into_view_if_needed()
                    box = link.bounding_box()
                    on_screen = box is not None and box["x"] >= -1
                    on_screen = on_screen and box["x"] + box["width"] <= PHONE["width"] + 1
                    assert on_screen, (name, link.inner_text(), box)
                page.locator("nav.sidebar").get_by_role("link", name=nav).click()
                expect(page.locator("nav.sidebar a[aria-current=page]")).to_have_text(nav)
    finally:
        for context in contexts:
            context.close()
        elapsed = time.monotonic() - started
        print(f"\nbrowser story: {elapsed:.1f} s")
        for name, seconds in story.timings:
            print(f"  {seconds:6.1f} s  {name}")
        if console.expected:
            print("expected console messages (refused forms):", *console.expected, sep="\n  ")

    story.assert_clean()


def import_file(page: Page, path: Path) -> None:
    """Upload a platform export on 导入订单 (the page must be open)."""
    page.set_input_files("#import-upload input[type=file]", str(path))
    page.locator("#import-upload").get_by_role("button", name="开始导入").click()
    expect(
        page.locator("#import-upload section.card[id^=import-job-]", has_text=path.name)
    ).to_have_count(1)


# --- the first day (issue 16) ------------------------------------------------------------------

DEMO_PASSWORD = "demo-pass-2026"  # what `portal demo` prints


def portal_cli(server: LiveServer, *args: str) -> str:
    """A `flask --app wsgi portal …` command against the live server's database."""
    return server.portal(*args)


def log_in(page: Page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/(merchant|supplier)/$"))


def test_first_day_in_the_browser(server: LiveServer, chromium: Browser, tmp_path: Path) -> None:
    """Issue 16, point by point, on the demo's data: labels, dispatch to the platform, search,
    imports, settings and lists, the scan page and the demo itself; every point's screen at
    1366 and 390 px (test-artifacts/screenshots/first-day-*.png)."""
    base = server.base_url
    demo = portal_cli(server, "demo")
    assert "statement #" in demo and "confirmed" in demo, demo
    created = portal_cli(
        server, "create-user", "day_factory", "--role", "supplier", "--password", PASSWORD
    )
    new_factory_id = re.search(r"\b(\d{9})\b", created).group(1)
    console = ConsoleErrors()
    story = Story(base, tmp_path, console)
    contexts = []

    def new_page(who: str) -> Page:
        return open_page(chromium, console, contexts, who)

    def both_widths(page: Page, name: str) -> None:
        story.check_width(page, f"{name} @1366")
        story.shot(page, f"first-day-{name}")
        page.set_viewport_size(PHONE)
        story.check_width(page, f"{name} @390")
        story.shot(page, f"first-day-{name}-phone")
        page.set_viewport_size(DESKTOP)

    def order_nos_on(page: Page) -> list[str]:
        """The order numbers listed, in order (the merchant's are links, the factory's text)."""
        cells = page.locator("#order-list tbody tr td:nth-child(2) .mono:first-child")
        return [n.strip() for n in cells.all_inner_texts()]

    try:
        m = story.merchant = new_page("merchant")
        f = story.factory = new_page("factory")
        log_in(m, base, "demo_shop")
        log_in(f, base, "demo_factory")

        with story.step("labels: the PDF opens at once, the return starts on the label's courier"):
            f.goto(f"{base}/supplier/orders?tab=to_print")
            rows = f.locator("#order-list tbody tr")
            to_print = [  # a box holds the order's merchant and number: "shop ID:number"
                rows.nth(i).locator("input[data-select-row]").get_attribute("value").split(":")[-1]
                for i in range(2)
            ]
            for number in to_print:
                order_row(f, number).locator("input[data-select-row]").check()
            f.locator("#print-courier").select_option("JT")
            with f.context.expect_page() as opened:
                f.locator("#print-options").get_by_role("button", name="打印面单").click()
            pdf_tab = opened.value
            assert re.search(r"/supplier/print-jobs/\d+/pdf$", pdf_tab.url), pdf_tab.url
            pdf_tab.close()
            expect(
                f.locator("#batch-result").get_by_role("link", name="打开面单 PDF")
            ).to_be_focused()
            both_widths(f, "labels-printed")
            f.goto(f"{base}/supplier/orders?tab=printed")
            for number in to_print:
                expect(order_row(f, number).locator("select[name=courier]")).to_have_value("JT")
            both_widths(f, "labels-return-courier")
            m.goto(f"{base}/merchant/settings")
            expect(m.locator("#label-style-help")).to_contain_text("隐私面单只适用于平台电子面单")
            expect(m.locator("input[name=label_style][value=full]")).to_be_checked()

        with story.step("scan page: a colour and a sound for ok, refused and already returned"):
            f.goto(f"{base}/supplier/orders?tab=returned")
            already = order_nos_on(f)[0]
            f.goto(f"{base}/supplier/scan")
            result = f.locator("#scan-result")
            sound = f.locator("html")
            f.locator("#scan-code").fill(already)
            f.keyboard.press("Enter")
            expect(result).to_have_class(re.compile(r"\balready\b"))
            expect(result).to_contain_text("该订单已回传运单号")
            expect(sound).to_have_attribute("data-last-scan-sound", "already")
            both_widths(f, "scan-already")
            f.locator("[data-scan-reset]").click()  # not adding a parcel: back to order numbers
            f.locator("#scan-code").fill("NOSUCH-0000001")
            f.keyboard.press("Enter")
            expect(result).to_have_class(re.compile(r"\bbad\b"))
            expect(sound).to_have_attribute("data-last-scan-sound", "refused")
            f.locator("#scan-courier").select_option("JT")
            f.locator("#scan-code").fill(to_print[0])
            f.keyboard.press("Enter")
            expect(result).to_contain_text("已找到订单，请扫描快递单号")
            f.locator("#scan-code").fill("JT1600000000001")
            f.keyboard.press("Enter")
            expect(result).to_have_class(re.compile(r"\bok\b"))
            expect(result.locator(".scan-headline")).to_contain_text(
                f"运单号 JT1600000000001 → 订单号 {to_print[0]}"
            )
            expect(sound).to_have_attribute("data-last-scan-sound", "ok")
            both_widths(f, "scan-returned")

        with story.step("dispatch: the row leaves 已回传, the panel names the platform's file"):
            m.goto(f"{base}/merchant/orders?tab=returned")
            first = order_nos_on(m)[0]
            order_row(m, first).get_by_role("button", name="发货").click()
            panel = m.locator("#batch-result")
            expect(panel).to_contain_text("已发货 1 单")
            expect(panel).to_contain_text("下一步：平台还不知道这些订单已发货")
            expect(order_row(m, first)).to_have_count(0)
            href = panel.get_by_role("link", name="下载批量发货文件（CSV）").get_attribute("href")
            rows = m.request.get(base + href).text().lstrip("\ufeff").splitlines()
            assert len(rows) == 2 and rows[1].startswith(first), rows
            both_widths(m, "dispatch-next-step")
            m.goto(f"{base}/merchant/orders?tab=dispatched")
            expect(order_row(m, first)).to_contain_text("平台待同步")
            both_widths(m, "dispatch-platform-pending")

        with story.step("search: part of an order number, a SKU code in lower case"):
            m.goto(f"{base}/merchant/orders?tab=all")
            number = order_nos_on(m)[3]
            m.fill("#filter-q", number[-8:])
            m.keyboard.press("Enter")
            expect(m.locator("#order-list tbody tr")).to_have_count(1)
            expect(order_row(m, number)).to_have_count(1)
            sku = m.locator("#order-list tbody tr td:nth-child(3) .mono").first.inner_text().strip()
            m.fill("#filter-q", sku.lower())
            m.keyboard.press("Enter")
            expect(m.locator("#order-list tbody tr td:nth-child(3)").first).to_contain_text(sku)
            both_widths(m, "search")

        with story.step("imports: another platform named, the file kept, 去分配 N 单 at the end"):
            kuaishou = tmp_path / "kuaishou.csv"
            kuaishou.write_text(
                ",".join(KUAISHOU_HEADER) + "\n" + ",".join(["1"] * 7) + "\n", "utf-8-sig"
            )
            m.goto(f"{base}/merchant/orders/import")
            with console.expecting(REFUSED_FORM_LOG):
                m.set_input_files("#import-upload input[type=file]", str(kuaishou))
                m.locator("#import-upload").get_by_role("button", name="开始导入").click()
                expect(m.locator("#import-upload")).to_contain_text("这是快手小店导出的订单文件")
            kept = m.evaluate(
                "() => document.querySelector('#import-upload input[type=file]').files.length"
            )
            assert kept == 1
            both_widths(m, "import-refused")
            m.set_input_files("#import-upload input[type=file]", str(SAMPLE_EXPORT))
            m.locator("#import-upload").get_by_role("button", name="开始导入").click()
            expect(m.locator("#toasts")).to_contain_text("正在后台导入")
            next_step = m.locator("#import-upload a", has_text=re.compile(r"去分配 \d+ 单"))
            expect(next_step).to_be_visible(timeout=IMPORT_TIMEOUT_MS)
            expect(m.locator("#toasts")).to_contain_text("导入完成：新增")
            expect(m.locator("#toasts")).not_to_contain_text("正在后台导入")
            both_widths(m, "import-done")

        with story.step("settings and lists: return address edited, prices typed with Enter"):
            m.goto(f"{base}/merchant/settings")
            section = m.locator("#addresses-section")
            section.locator("tbody tr").first.get_by_role("link", name="编辑").click()
            expect(section.locator("#address-form-title")).to_have_text("编辑退货地址")
            section.locator("input[name=detail]").fill("良睦路 99 号新退货仓")
            section.get_by_role("button", name="保存").click()
            expect(section.locator("tbody")).to_contain_text("良睦路 99 号新退货仓")
            both_widths(m, "return-address-edited")
            f.goto(f"{base}/supplier/prices")
            rows = f.locator("#price-desk tbody tr")
            first_row, second_row = rows.nth(0).get_attribute("id"), rows.nth(1).get_attribute("id")
            rows.nth(0).locator("details.price-edit > summary").click()
            # the caret lands in the input once the editor has opened (portal.js, after the click)
            expect(rows.nth(0).locator("[data-price-input]")).to_be_focused()
            f.keyboard.press("Control+A")
            f.keyboard.type("41.20")
            f.keyboard.press("Enter")
            expect(f.locator(f"#{first_row}")).to_contain_text("¥41.20")
            expect(f.locator(f"#{second_row} [data-price-input]")).to_be_focused()
            both_widths(f, "prices-enter")

        with story.step("a shop ID typed with spaces binds; the 厂家 page follows the answer"):
            m.goto(f"{base}/merchant/suppliers")
            spaced = f"{new_factory_id[:3]} {new_factory_id[3:6]}-{new_factory_id[6:]}"
            m.fill("#supplier_shop_id", spaced)
            m.get_by_role("button", name="申请绑定").click()
            row = m.locator("#binding-list tbody tr", has_text=new_factory_id)
            expect(row).to_contain_text("待审核")
            day = new_page("new factory")
            log_in(day, base, "day_factory", PASSWORD)
            day.goto(f"{base}/supplier/merchants")
            day.locator("#bindings tbody tr", has_text="暖居家纺旗舰店").get_by_role(
                "button", name="同意"
            ).click()
            expect(row).to_contain_text(
                "已绑定", timeout=12_000
            )  # no reload on the merchant's side
            both_widths(m, "binding-accepted")

        with story.step("the demo's statement, built and confirmed"):
            m.goto(f"{base}/merchant/statements")
            expect(m.locator("main")).to_contain_text("已确认")
            both_widths(m, "statements")
    finally:
        for context in contexts:
            context.close()

    story.assert_clean()
