"""Statements through the web pages (对账单): request, the self-refreshing list, downloads, the
rate limit, retry, review by both sides, other tenants and the buyer's privacy."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from portal.domain import bindings
from portal.domain.imports.platform_export import ImportedLine
from portal.domain.statements import build as statement_build
from portal.domain.statements import files as statement_files
from portal.domain.statements import requesting as statement_requesting
from portal.extensions import db
from portal.jobs import queue
from portal.models import Merchant, Statement, StatementFile, Supplier
from tests.conftest import Browser
from tests.factories import BASE_ORDER
from tests.test_statements import Clock, Pair, shanghai

# The buyer of every order here (tests.factories.BASE_ORDER): never shown to the supplier.
RECEIVER_PLAINTEXT = (BASE_ORDER.receiver_name, BASE_ORDER.receiver_phone, BASE_ORDER.detail)
LIST = "/merchant/statements"
SUPPLIER_LIST = "/supplier/statements"


@dataclass
class World:
    """A merchant (甲店) bound to a supplier (乙厂) that returned two orders on 2026-11-20:
    one priced at 12.50 × 2, one without a settlement price. Clock: 2026-11-21 09:00."""

    app: Flask
    clock: Clock
    merchant: Browser
    supplier: Browser
    merchant_id: int
    supplier_id: int
    supplier_shop_id: str
    merchant_shop_id: str
    merchant_token: str
    supplier_token: str
    order_nos: list[str] = field(default_factory=list)
    merchant_name: str = ""  # the usernames that act, as histories name them
    supplier_name: str = ""

    def request(self, start: str = "2026-11-15", end: str = "2026-11-21", **extra: Any) -> Any:
        data = {"supplier": self.supplier_id, "start": start, "end": end, **extra}
        return self.merchant.post(LIST, data, target="statement-form")

    def statement_ids(self) -> list[int]:
        with self.app.app_context():
            return list(db.session.scalars(select(Statement.id).order_by(Statement.id)))

    def pair(self) -> Pair:
        """The two shops as a Pair, to seed more orders and prices (inside an app context);
        its order numbers follow the world's own."""
        pair = Pair(
            db.session.get(Merchant, self.merchant_id),
            db.session.get(Supplier, self.supplier_id),
            None,
            None,
        )
        pair.count = len(self.order_nos)
        return pair

    def statement(self, statement_id: int) -> Statement:
        with self.app.app_context():
            statement = db.session.get(Statement, statement_id)
            db.session.expunge(statement)
            return statement


def build_world(app: Flask, factory: Any, make_browser: Any) -> World:
    clock = Clock(shanghai(2026, 11, 21, 9, 0))
    app.config["CLOCK"] = clock
    m_user = factory.merchant(shop_name="甲店")
    s_user = factory.supplier(factory_name="乙厂")
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        supplier = db.session.get(Supplier, s_user.supplier.id)
        bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
        db.session.commit()
        pair = Pair(merchant, supplier, None, None)
        pair.price("BLK-150-GRY", 1250, shanghai(2026, 11, 1, 0, 0))
        order_nos = [
            pair.returned_order(shanghai(2026, 11, 20, 10, 0), quantity=2),
            pair.returned_order(shanghai(2026, 11, 20, 11, 0), sku="NO-PRICE", quantity=1),
        ]
    browsers = []
    for user in (m_user, s_user):
        browser = make_browser()
        browser.login(user.username)
        browsers.append(browser)
    return World(
        app,
        clock,
        *browsers,
        merchant_id=m_user.merchant.id,
        supplier_id=s_user.supplier.id,
        supplier_shop_id=s_user.shop_id,
        merchant_shop_id=m_user.shop_id,
        merchant_token=factory.token(m_user),
        supplier_token=factory.token(s_user),
        order_nos=order_nos,
        merchant_name=m_user.username,
        supplier_name=s_user.username,
    )


def run_queue(app: Flask) -> int:
    """Build what is queued, as the worker would (the test holds no open transaction)."""
    with app.app_context():
        return queue.run_pending()


def request_statement(world: World) -> int:
    response = world.request()
    assert response.status_code == 200, response.get_data(as_text=True)
    return world.statement_ids()[-1]


def built_statement(world: World) -> int:
    statement_id = request_statement(world)
    assert run_queue(world.app) >= 1
    assert world.statement(statement_id).status == "ready"
    return statement_id


def html(response: Any) -> str:
    return response.get_data(as_text=True)


def trigger(response: Any) -> dict[str, Any]:
    return json.loads(response.headers.get("HX-Trigger", "{}"))


def list_fragment(browser: Browser, url: str = LIST) -> str:
    response = browser.get(url, htmx=True, target="statement-list")
    assert response.status_code == 200
    text = html(response)
    assert text.lstrip().startswith('<div id="statement-list"')
    return text


def row(fragment: str, statement_id: int) -> str:
    match = re.search(rf'<tr id="statement-{statement_id}".*?</tr>', fragment, re.S)
    assert match, f"statement {statement_id} not listed"
    return match.group(0)


@pytest.fixture
def world(app, factory, make_browser) -> World:
    return build_world(app, factory, make_browser)


# --- request, the list and polling -----------------------------------------------------------


def test_the_form_proposes_the_last_seven_days_and_the_bound_suppliers(world):
    page = html(world.merchant.get(LIST))
    dates = dict(re.findall(r'<input id="(start|end)" [^>]*type="date" value="([^"]+)"', page))
    assert dates == {"start": "2026-11-15", "end": "2026-11-21"}
    assert f'<option value="{world.supplier_id}">乙厂（{world.supplier_shop_id}）' in page
    assert "还没有对账单" in page


def test_a_request_queues_then_the_list_polls_until_it_is_built(world):
    response = world.request()
    assert response.status_code == 200
    assert html(response).lstrip().startswith('<section class="card" id="statement-form"')
    events = trigger(response)
    assert events["statementsChanged"] is True
    assert "正在排队生成" in events["showToast"]["message"]
    [statement_id] = world.statement_ids()

    fragment = list_fragment(world.merchant)
    queued = row(fragment, statement_id)
    assert "排队中" in queued and "2026-11-15 ~ 2026-11-21" in queued and "乙厂" in queued
    assert 'hx-trigger="statementsChanged from:body, every 3s"' in fragment
    assert "2026-11-21 09:00" in queued  # requested at, shown in Asia/Shanghai
    # The detail page polls too while queued, and has no lines yet.
    detail = html(world.merchant.get(f"{LIST}/{statement_id}"))
    assert 'hx-trigger="every 3s"' in detail and "对账单生成后显示明细" in detail
    # The supplier's list shows it queued and polls as well.
    assert "every 3s" in list_fragment(world.supplier, SUPPLIER_LIST)

    assert run_queue(world.app) == 2  # the build, then its XLSX
    fragment = list_fragment(world.merchant)
    ready = row(fragment, statement_id)
    assert "已生成" in ready and "排队中" not in ready
    assert "every 3s" not in fragment  # nothing left to build: the polling stops
    assert 'hx-trigger="statementsChanged from:body"' in fragment
    assert '<td class="num">2</td>' in ready  # line count
    assert '<td class="num">25.00</td>' in ready  # 12.50 × 2; the unpriced order is left out
    assert 'class="row-warn"' in ready and 'data-missing-prices="1"' in ready
    assert "待确认" in ready
    assert f"/merchant/statements/{statement_id}/download?format=csv" in ready
    assert f"/merchant/statements/{statement_id}/download?format=xlsx" in ready
    assert "every 3s" not in list_fragment(world.supplier, SUPPLIER_LIST)


def test_the_full_page_renders_on_direct_load_and_varies_on_htmx(world):
    request_statement(world)
    response = world.merchant.get(LIST)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = html(response)
    assert "<!doctype html>" in page and 'id="statement-form"' in page and "排队中" in page


def test_a_plain_form_post_redirects_to_the_list(world):
    response = world.merchant.post(
        LIST,
        {"supplier": world.supplier_id, "start": "2026-11-15", "end": "2026-11-21"},
        htmx=False,
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(LIST)
    assert len(world.statement_ids()) == 1


def test_the_detail_shows_totals_lines_and_missing_prices(world):
    statement_id = built_statement(world)
    page = html(world.merchant.get(f"{LIST}/{statement_id}"))
    assert "¥25.00" in page and 'data-missing-prices="1"' in page
    assert "every 3s" not in page
    lines = re.findall(
        r'<tr( class="row-warn" data-missing-price="true")?>\s*'
        r'<td class="mono nowrap">([^<]+)</td>',
        page,
    )
    assert dict((no, bool(flag)) for flag, no in lines) == {
        world.order_nos[0]: False,
        world.order_nos[1]: True,
    }
    assert "顺丰速运" in page and "12.50" in page and "缺少结算价" in page
    # The lines swap alone for their pagination target.
    fragment = html(
        world.merchant.get(f"{LIST}/{statement_id}?page=1", htmx=True, target="statement-lines")
    )
    assert fragment.lstrip().startswith('<section class="card" id="statement-lines"')


def test_the_list_filters_by_supplier_and_paginates_by_twenty(world, factory):
    other_user = factory.supplier(factory_name="丙厂")
    with world.app.app_context():
        merchant = db.session.get(Merchant, world.merchant_id)
        other = db.session.get(Supplier, other_user.supplier.id)
        bindings.accept_binding(other, bindings.apply_for_binding(merchant, other_user.shop_id).id)
        db.session.commit()
        start = shanghai(2026, 11, 1, 9, 0)
        for n in range(21):  # 3 a day, 11 minutes apart
            now = start + timedelta(days=n // 3, minutes=11 * (n % 3))
            statement_requesting.request_statement(
                merchant, world.supplier_id, date(2026, 11, 1), date(2026, 11, 1), None, now
            )
            db.session.commit()
        statement_requesting.request_statement(
            merchant, other.id, date(2026, 11, 1), date(2026, 11, 1), None, start
        )
        db.session.commit()
    first = list_fragment(world.merchant)
    assert first.count('<tr id="statement-') == 20
    assert "共 22 份" in first
    second = list_fragment(world.merchant, f"{LIST}?page=2")
    assert second.count('<tr id="statement-') == 2
    assert f'hx-get="{LIST}?page=2"' in second  # it refreshes the page it shows
    only_other = list_fragment(world.merchant, f"{LIST}?supplier_id={other_user.supplier.id}")
    assert only_other.count('<tr id="statement-') == 1 and "丙厂" in only_other
    assert "共 1 份" in only_other
    # Junk filters are ignored, never an error.
    for junk in ("abc", "-1", "99999999999999999999999"):
        assert world.merchant.get(f"{LIST}?supplier_id={junk}&page={junk}").status_code == 200


def test_no_bound_supplier_shows_the_way_to_bind(app, factory, make_browser):
    user = factory.merchant()
    browser = make_browser()
    browser.login(user.username)
    page = html(browser.get(LIST))
    assert "还没有绑定厂家" in page and "/merchant/suppliers" in page
    response = browser.post(LIST, {"supplier": "1", "start": "2026-11-01", "end": "2026-11-02"})
    assert response.status_code == 422


def test_invalid_input_is_shown_in_the_form(world, factory):
    response = world.request(start="", end="2026-11-40")
    assert response.status_code == 422
    text = html(response)
    assert "请选择开始日期" in text and "不是有效的日期值" in text
    response = world.request(start="2026-11-22", end="2026-11-23")  # starts tomorrow
    assert response.status_code == 422 and "开始日期不能晚于今天" in html(response)
    stranger = factory.supplier()
    response = world.merchant.post(
        LIST,
        {"supplier": stranger.supplier.id, "start": "2026-11-01", "end": "2026-11-02"},
        target="statement-form",
    )
    assert response.status_code == 422 and "不是有效的选择" in html(response)
    assert world.merchant.post(LIST, {}, target="statement-form").status_code == 422
    assert world.statement_ids() == []


# --- the rate limit --------------------------------------------------------------------------


def test_a_second_request_within_ten_minutes_is_refused_in_the_form(world):
    request_statement(world)
    world.clock.advance(minutes=9, seconds=59)
    response = world.request()
    assert response.status_code == 422
    text = html(response)
    assert text.lstrip().startswith('<section class="card" id="statement-form"')
    assert '<div class="alert alert-error" role="alert">' in text
    assert "两次生成对账单需间隔 10 分钟，11-21 09:10 后可再生成" in text
    assert len(world.statement_ids()) == 1
    world.clock.advance(seconds=1)
    assert world.request().status_code == 200


def test_the_fourth_of_a_day_is_refused_until_midnight(world):
    for _ in range(3):
        assert world.request().status_code == 200
        world.clock.advance(minutes=11)
    response = world.request()
    assert response.status_code == 422
    assert "该厂家今天已生成 3 份对账单（每天最多 3 份），11-22 00:00 后可再生成" in html(response)
    world.clock.now = shanghai(2026, 11, 22, 0, 0)
    assert world.request(end="2026-11-22").status_code == 200
    assert len(world.statement_ids()) == 4


# --- downloads -------------------------------------------------------------------------------


def _csv_rows(response: Any) -> list[list[str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def _xlsx_rows(response: Any) -> list[list[str]]:
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    # Amounts are numbers shown with two decimals; the CSV writes the same text.
    return [
        [
            ""
            if c.value is None
            else f"{c.value:.2f}"
            if c.number_format == "0.00"
            else str(c.value)
            for c in r
        ]
        for r in sheet.iter_rows()
    ]


def test_csv_and_xlsx_downloads_agree_and_are_attachments(world):
    statement_id = built_statement(world)
    name = f"statement-{statement_id}-20261115-20261121"
    files = {}
    for browser, base in ((world.merchant, LIST), (world.supplier, SUPPLIER_LIST)):
        for kind in ("csv", "xlsx"):
            response = browser.get(f"{base}/{statement_id}/download?format={kind}")
            assert response.status_code == 200
            disposition = response.headers["Content-Disposition"]
            assert disposition.startswith("attachment") and f"{name}.{kind}" in disposition
            assert response.headers["Cache-Control"] == "no-store"
            files[base, kind] = _csv_rows(response) if kind == "csv" else _xlsx_rows(response)
    assert files[LIST, "csv"].__len__() == 4  # header, 2 lines, totals
    assert files[LIST, "csv"] == files[LIST, "xlsx"]
    assert files[LIST, "csv"] == files[SUPPLIER_LIST, "csv"] == files[SUPPLIER_LIST, "xlsx"]
    header, priced, unpriced, totals = files[LIST, "csv"]
    assert header[0] == "订单号"
    assert (priced[0], priced[4], priced[5], priced[6]) == (
        world.order_nos[0],
        "2",
        "12.50",
        "25.00",
    )
    assert (unpriced[0], unpriced[5], unpriced[10]) == (world.order_nos[1], "", "缺少结算价")
    assert (totals[0], totals[6]) == ("合计", "25.00")
    # Without a format the CSV is sent; an unknown format is refused, never a 500.
    assert world.merchant.get(f"{LIST}/{statement_id}/download").mimetype == "text/csv"
    assert world.merchant.get(f"{LIST}/{statement_id}/download?format=pdf").status_code == 422


def test_a_statement_is_ready_before_its_xlsx_is_written(world):
    # The build is one job, the stored XLSX the next: the statement is on both sides' pages
    # (and its CSV downloads) as soon as its lines are in.
    statement_id = request_statement(world)
    with world.app.app_context():
        assert queue.run_pending(limit=1) == 1
        assert db.session.scalar(select(func.count()).select_from(StatementFile)) == 0
    assert world.statement(statement_id).status == "ready"
    csv_answer = world.merchant.get(f"{LIST}/{statement_id}/download")
    assert csv_answer.status_code == 200 and world.order_nos[0] in csv_answer.get_data(as_text=True)
    assert run_queue(world.app) == 1  # the XLSX
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StatementFile)) == 1


def test_the_worker_stores_the_xlsx_and_downloads_send_it_as_stored(world, monkeypatch):
    statement_id = built_statement(world)
    with world.app.app_context():
        stored = db.session.scalar(
            select(StatementFile).where(
                StatementFile.statement_id == statement_id, StatementFile.file_format == "xlsx"
            )
        )
        assert stored is not None and stored.size == len(stored.content) > 0
        rows = load_workbook(io.BytesIO(stored.content), read_only=True).active.iter_rows()
        assert next(rows)[0].value == "订单号"
        content = stored.content

    def never(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a download must not write the XLSX again")

    monkeypatch.setattr(statement_files, "statement_xlsx", never)
    for browser, base in ((world.merchant, LIST), (world.supplier, SUPPLIER_LIST)):
        response = browser.get(f"{base}/{statement_id}/download?format=xlsx")
        assert response.status_code == 200 and response.get_data() == content
        assert response.headers["Cache-Control"] == "no-store"
        assert response.mimetype.endswith("spreadsheetml.sheet")
    monkeypatch.undo()
    # A statement built before files were stored (none stored) is written on download.
    with world.app.app_context():
        db.session.execute(delete(StatementFile))
        db.session.commit()
    response = world.merchant.get(f"{LIST}/{statement_id}/download?format=xlsx")
    assert response.status_code == 200 and _xlsx_rows(response)[0][0] == "订单号"


def build_with_broken(world: World, monkeypatch: Any, module: Any, name: str) -> int:
    """Request a statement and let the worker build it while `<module>.<name>` fails."""
    statement_id = request_statement(world)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(module, name, broken)
    run_queue(world.app)
    monkeypatch.undo()
    return statement_id


def test_a_statement_whose_xlsx_could_not_be_stored_is_ready_and_downloads(world, monkeypatch):
    statement_id = build_with_broken(world, monkeypatch, statement_files, "statement_xlsx")
    assert world.statement(statement_id).status == "ready"
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StatementFile)) == 0
    response = world.supplier.get(f"{SUPPLIER_LIST}/{statement_id}/download?format=xlsx")
    assert response.status_code == 200 and _xlsx_rows(response)[-1][0] == "合计"


def test_a_statement_not_built_yet_cannot_be_downloaded(world):
    statement_id = request_statement(world)
    for browser, base in ((world.merchant, LIST), (world.supplier, SUPPLIER_LIST)):
        response = browser.get(f"{base}/{statement_id}/download?format=xlsx")
        assert response.status_code == 409
        assert "Content-Disposition" not in response.headers
        assert "对账单还没有生成完成" in html(response)


# --- a failed build and its retry ------------------------------------------------------------


def test_a_failed_build_shows_the_error_and_a_retry(world, monkeypatch):
    statement_id = build_with_broken(world, monkeypatch, statement_build, "PriceBook")
    fragment = list_fragment(world.merchant)
    failed = row(fragment, statement_id)
    assert "生成失败" in failed and "可重试" in failed and 'class="row-danger"' in failed
    retry_url = f"{LIST}/{statement_id}/retry"
    assert f'hx-post="{retry_url}"' in failed
    assert "every 3s" not in fragment
    assert f"/statements/{statement_id}/retry" not in list_fragment(world.supplier, SUPPLIER_LIST)

    # Retried from the list: nothing swapped there, the list refreshes itself.
    world.clock.advance(minutes=1)  # a failed build does not start the 10 minutes
    response = world.merchant.post(retry_url)
    assert response.status_code == 200 and response.headers["HX-Reswap"] == "none"
    assert trigger(response)["statementsChanged"] is True
    assert "排队中" in row(list_fragment(world.merchant), statement_id)
    # A second retry is refused with a message, not an error page.
    again = world.merchant.post(retry_url)
    assert again.status_code == 409
    assert trigger(again)["showToast"]["message"] == "只有生成失败的对账单可以重试"
    run_queue(world.app)
    assert world.statement(statement_id).status == "ready"
    kinds = re.findall(r'data-event="(\w+)"', html(world.merchant.get(f"{LIST}/{statement_id}")))
    assert kinds == ["requested", "failed", "retried", "built"]


# --- review by both sides --------------------------------------------------------------------


def _timeline(page: str) -> list[tuple[str, str, str]]:
    """(event, who, note) rows of the detail's timeline."""
    rows = re.findall(
        r'<tr data-event="\w+">\s*<td class="nowrap">[^<]+</td>\s*<td>([^<]+)</td>\s*'
        r"<td>([^<]+)</td>\s*<td>(?:<span class=\"[\w-]+\">([^<]*)</span>)?</td>",
        page,
    )
    return [(event, who, note) for event, who, note in rows]


def test_confirm_dispute_and_settle_are_recorded_for_both(world):
    statement_id = built_statement(world)
    detail_url = f"{SUPPLIER_LIST}/{statement_id}"
    page = html(world.supplier.get(detail_url))
    assert 'id="statement-dispute"' in page and "确认无误" in page

    # A dispute needs a reason: the form comes back with the error, nothing changes.
    response = world.supplier.post(
        f"{detail_url}/dispute", {"reason": "   "}, target="statement-detail"
    )
    assert response.status_code == 422
    assert html(response).lstrip().startswith('<div id="statement-detail"')
    assert "此项必填" in html(response)
    assert world.statement(statement_id).review_status == "pending"

    response = world.supplier.post(
        f"{detail_url}/dispute", {"reason": "第 2 单单价应为 9.90 元"}, target="statement-detail"
    )
    assert response.status_code == 200
    assert "有异议" in html(response) and "第 2 单单价应为 9.90 元" in html(response)
    assert 'id="statement-dispute"' not in html(response)  # disputed: confirm, not dispute again

    # The merchant sees the reason in its list and cannot settle a disputed statement.
    merchant_row = row(list_fragment(world.merchant), statement_id)
    assert "有异议" in merchant_row and "原因：第 2 单单价应为 9.90 元" in merchant_row
    assert "/settle" not in merchant_row
    refused = world.merchant.post(f"{LIST}/{statement_id}/settle")
    assert refused.status_code == 409
    assert trigger(refused)["showToast"]["message"] == "厂家确认对账单后才能标记已结算"

    # Confirmed from the supplier's list (the list refreshes itself), then settled.
    response = world.supplier.post(f"{detail_url}/confirm")
    assert response.status_code == 200 and trigger(response)["statementsChanged"] is True
    assert "已确认" in row(list_fragment(world.supplier, SUPPLIER_LIST), statement_id)
    response = world.merchant.post(f"{LIST}/{statement_id}/settle", target="statement-detail")
    assert response.status_code == 200 and "已结算" in html(response)
    assert "/settle" not in html(response)

    expected = [
        ("申请生成", f"商家 · 甲店 · {world.merchant_name}", ""),
        ("生成完成", "系统", ""),
        ("厂家提出异议", f"厂家 · 乙厂 · {world.supplier_name}", "第 2 单单价应为 9.90 元"),
        ("厂家确认", f"厂家 · 乙厂 · {world.supplier_name}", ""),
        ("商家标记已结算", f"商家 · 甲店 · {world.merchant_name}", ""),
    ]
    assert _timeline(html(world.merchant.get(f"{LIST}/{statement_id}"))) == expected
    supplier_page = html(world.supplier.get(detail_url))
    assert _timeline(supplier_page) == expected
    assert "确认无误" not in supplier_page and 'id="statement-dispute"' not in supplier_page
    # Settled is final.
    late = world.supplier.post(
        f"{detail_url}/dispute", {"reason": "晚了"}, target="statement-detail"
    )
    assert late.status_code == 409


def test_review_of_a_statement_not_built_is_refused(world):
    statement_id = request_statement(world)
    assert world.supplier.post(f"{SUPPLIER_LIST}/{statement_id}/confirm").status_code == 409
    assert world.merchant.post(f"{LIST}/{statement_id}/settle").status_code == 409
    response = world.supplier.post(
        f"{SUPPLIER_LIST}/{statement_id}/dispute", {"reason": "x"}, target="statement-detail"
    )
    assert response.status_code == 409
    assert world.statement(statement_id).review_status == "pending"


def test_plain_form_posts_of_actions_redirect_to_the_detail(world):
    statement_id = built_statement(world)
    response = world.supplier.post(f"{SUPPLIER_LIST}/{statement_id}/confirm", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{SUPPLIER_LIST}/{statement_id}")
    assert "已确认对账单" in html(world.supplier.get(response.headers["Location"]))


# --- other tenants ---------------------------------------------------------------------------


def test_other_merchants_and_suppliers_get_404(world, factory, make_browser):
    statement_id = built_statement(world)
    outsiders = []
    for user in (factory.merchant(), factory.supplier()):
        browser = make_browser()
        browser.login(user.username)
        outsiders.append(browser)
    other_merchant, other_supplier = outsiders
    base = f"{LIST}/{statement_id}"
    for url in (base, f"{base}/download?format=csv", f"{base}/download?format=xlsx"):
        assert other_merchant.get(url).status_code == 404
    for action in ("retry", "settle"):
        assert other_merchant.post(f"{base}/{action}").status_code == 404
    base = f"{SUPPLIER_LIST}/{statement_id}"
    for url in (base, f"{base}/download?format=csv"):
        assert other_supplier.get(url).status_code == 404
    assert other_supplier.post(f"{base}/confirm").status_code == 404
    assert other_supplier.post(f"{base}/dispute", {"reason": "x"}).status_code == 404
    assert "乙厂" not in list_fragment(other_merchant)
    assert "甲店" not in list_fragment(other_supplier, SUPPLIER_LIST)
    for huge in (2**31, 2**70):
        assert world.merchant.get(f"{LIST}/{huge}").status_code == 404
        assert world.supplier.get(f"{SUPPLIER_LIST}/{huge}/download").status_code == 404
    assert world.statement(statement_id).review_status == "pending"


# --- the buyer's privacy ---------------------------------------------------------------------


def supplier_responses(world: World, statement_id: int) -> list[tuple[str, str]]:
    """Everything a supplier can get about a statement, over the web and the API."""
    base = f"{SUPPLIER_LIST}/{statement_id}"
    got = [
        (url, html(world.supplier.get(url)))
        for url in (SUPPLIER_LIST, base, f"{base}/download?format=csv")
    ]
    got.append(("list fragment", list_fragment(world.supplier, SUPPLIER_LIST)))
    got.append(
        ("lines", html(world.supplier.get(f"{base}?page=1", htmx=True, target="statement-lines")))
    )
    xlsx = world.supplier.get(f"{base}/download?format=xlsx")
    got.append(("xlsx", json.dumps(_xlsx_rows(xlsx), ensure_ascii=False)))
    api = world.app.test_client()
    headers = {"Authorization": f"Bearer {world.supplier_token}"}
    for url in (
        "/statements",
        f"/statements/{statement_id}",
        f"/statements/{statement_id}/download",
    ):
        response = api.get(f"/api/v1{url}", headers=headers)
        assert response.status_code == 200
        got.append((url, response.get_data(as_text=True)))
    return got


def test_the_supplier_never_sees_the_buyers_plaintext(world):
    statement_id = built_statement(world)
    world.supplier.post(f"{SUPPLIER_LIST}/{statement_id}/confirm")
    # The merchant's own order pages do show the buyer, so the values are real.
    merchant_order = html(world.merchant.get(f"/merchant/orders?tab=all&q={world.order_nos[0]}"))
    assert BASE_ORDER.receiver_name in merchant_order
    responses = supplier_responses(world, statement_id)
    # The detail, its lines, both files and the API download carry the orders themselves.
    with_lines = [where for where, body in responses if world.order_nos[0] in body]
    assert len(with_lines) == 5, with_lines
    for where, body in responses:
        for secret in RECEIVER_PLAINTEXT:
            assert secret not in body, (where, secret)


def test_the_supplier_filters_by_the_merchants_that_requested(world):
    request_statement(world)
    page = html(world.supplier.get(SUPPLIER_LIST))
    assert f'<option value="{world.merchant_id}">甲店</option>' in page
    fragment = list_fragment(world.supplier, f"{SUPPLIER_LIST}?merchant_id={world.merchant_id}")
    assert fragment.count('<tr id="statement-') == 1
    other = list_fragment(world.supplier, f"{SUPPLIER_LIST}?merchant_id={world.merchant_id + 1}")
    assert '<tr id="statement-' not in other and "还没有对账单" in other


# --- settle once, the dispute answered, the dashboards -----------------------------------------


def test_settle_waits_for_the_factory_and_the_dashboards_show_who_is_next(world):
    statement_id = built_statement(world)
    detail_url = f"{SUPPLIER_LIST}/{statement_id}"

    def stat(browser: Browser, url: str, name: str) -> str:
        page = html(browser.get(url))
        match = re.search(rf'data-stat="{name}">\s*<span class="stat-value">(\d+)<', page)
        assert match, name
        return match.group(1)

    # Pending: the factory has one to confirm; the merchant cannot settle it yet.
    assert stat(world.supplier, "/supplier/", "statements_to_confirm") == "1"
    assert "/settle" not in html(world.merchant.get(f"{LIST}/{statement_id}"))
    refused = world.merchant.post(f"{LIST}/{statement_id}/settle")
    assert refused.status_code == 409
    assert world.statement(statement_id).review_status == "pending"

    # Disputed: the merchant is next — it answers, and the factory confirms again.
    world.supplier.post(f"{detail_url}/dispute", {"reason": "缺价那单按 9.90 元算"})
    assert stat(world.merchant, "/merchant/", "statements_disputed") == "1"
    assert stat(world.supplier, "/supplier/", "statements_to_confirm") == "0"
    page = html(world.merchant.get(f"{LIST}/{statement_id}"))
    assert 'id="statement-answer"' in page and 'id="statement-adjustment"' in page
    bad = world.merchant.post(
        f"{LIST}/{statement_id}/adjustments",
        {"amount": "九元九", "reason": "缺价订单"},
        target="statement-detail",
    )
    assert bad.status_code == 422 and "调整金额不正确" in html(bad)
    response = world.merchant.post(
        f"{LIST}/{statement_id}/adjustments",
        {"amount": "9.90", "reason": "缺价订单按 9.90 元"},
        target="statement-detail",
    )
    assert response.status_code == 200
    assert "+9.90" in html(response) and "缺价订单按 9.90 元" in html(response)
    assert world.statement(statement_id).total_fen == 2500 + 990
    for kind, read in (("csv", _csv_rows), ("xlsx", _xlsx_rows)):
        rows = read(world.supplier.get(f"{detail_url}/download?format={kind}"))
        assert rows[-2][:2] == ["调整", "缺价订单按 9.90 元"] and rows[-2][6] == "9.90", kind
        assert rows[-1][6] == "34.90", kind
    assert stat(world.supplier, "/supplier/", "statements_to_confirm") == "1"
    supplier_page = html(world.supplier.get(detail_url))
    assert "商家添加调整" in supplier_page and "缺价订单按 9.90 元" in supplier_page

    # Confirmed: no dispute form any more; the merchant settles.
    world.supplier.post(f"{detail_url}/confirm")
    supplier_page = html(world.supplier.get(detail_url))
    assert 'id="statement-dispute"' not in supplier_page and "提交异议" not in supplier_page
    late = world.supplier.post(f"{detail_url}/dispute", {"reason": "再看看"})
    assert late.status_code == 409
    assert stat(world.merchant, "/merchant/", "statements_to_settle") == "1"
    response = world.merchant.post(f"{LIST}/{statement_id}/settle", target="statement-detail")
    assert response.status_code == 200 and "已结算" in html(response)
    assert stat(world.merchant, "/merchant/", "statements_to_settle") == "0"


def test_the_merchant_answers_a_dispute_in_words(world):
    statement_id = built_statement(world)
    world.supplier.post(f"{SUPPLIER_LIST}/{statement_id}/dispute", {"reason": "单价不对"})
    empty = world.merchant.post(
        f"{LIST}/{statement_id}/answer", {"note": " "}, target="statement-detail"
    )
    assert empty.status_code == 422 and "此项必填" in html(empty)
    response = world.merchant.post(
        f"{LIST}/{statement_id}/answer", {"note": "已按合同单价核对"}, target="statement-detail"
    )
    assert response.status_code == 200
    assert world.statement(statement_id).review_status == "pending"
    page = html(world.supplier.get(f"{SUPPLIER_LIST}/{statement_id}"))
    assert "商家回复异议" in page and "已按合同单价核对" in page and "确认无误" in page


def test_lines_paid_in_a_confirmed_statement_show_as_already_in_it_outside_the_amount_due(world):
    first = built_statement(world)
    world.supplier.post(f"{SUPPLIER_LIST}/{first}/confirm")
    world.clock.advance(minutes=11)
    second = built_statement(world)  # the same period again: the same two orders

    for browser, url in ((world.merchant, LIST), (world.supplier, SUPPLIER_LIST)):
        page = html(browser.get(f"{url}/{second}"))
        assert page.count(f'data-already-in-statement="{first}"') == 2, url
        assert page.count(f"已在对账单 #{first}") == 2 and "不计入合计" in page
        assert 'data-total-fen="0"' in page and 'data-already-billed="2"' in page
        lines = page[page.index('id="statement-lines"') :]
        assert "12.50" not in lines and "25.00" not in lines  # no price, no amount on them
        assert '<td class="num">0.00</td>' in row(list_fragment(browser, url), second)
    for kind, read in (("csv", _csv_rows), ("xlsx", _xlsx_rows)):
        rows = read(world.merchant.get(f"{LIST}/{second}/download?format={kind}"))
        for line in rows[1:3]:
            assert line[6] == "" and line[10] == f"已在对账单 #{first}，不计入合计", kind
        assert rows[-1][6] == "0.00" and "2 行已在其他对账单中" in rows[-1][10], kind
    answer = world.app.test_client().get(
        f"/api/v1/statements/{second}",
        headers={"Authorization": f"Bearer {world.merchant_token}"},
    )
    assert (answer.json["already_in_statement_count"], answer.json["total_amount"]) == (2, "0.00")
    # Nothing left to pay twice: the factory confirms it, the merchant settles it.
    assert world.supplier.post(f"{SUPPLIER_LIST}/{second}/confirm").status_code == 200
    assert world.merchant.post(f"{LIST}/{second}/settle").status_code == 200
    assert world.statement(second).review_status == "settled"


def test_a_disputed_statement_is_regenerated_from_its_page_and_confirmed_again(world):
    statement_id = built_statement(world)
    detail_url = f"{SUPPLIER_LIST}/{statement_id}"
    world.supplier.post(f"{detail_url}/dispute", {"reason": "NO-PRICE 应按 9.90 元"})
    with world.app.app_context():
        pair = world.pair()
        pair.price("NO-PRICE", 990, shanghai(2026, 11, 1, 0, 0))  # the factory fills the gap
    page = html(world.merchant.get(f"{LIST}/{statement_id}"))
    assert f"{LIST}/{statement_id}/regenerate" in page
    # Under the same limits as a request: not within 10 minutes of the last one.
    early = world.merchant.post(f"{LIST}/{statement_id}/regenerate", target="statement-detail")
    assert early.status_code == 429
    assert trigger(early)["showToast"]["message"] == (
        "两次生成对账单需间隔 10 分钟，11-21 09:10 后可再生成"
    )
    assert world.statement(statement_id).review_status == "disputed"
    world.clock.advance(minutes=11)
    response = world.merchant.post(f"{LIST}/{statement_id}/regenerate", target="statement-detail")
    assert response.status_code == 200 and "排队中" in html(response)
    assert run_queue(world.app) >= 1
    rebuilt = world.statement(statement_id)
    assert (rebuilt.status, rebuilt.review_status) == ("ready", "pending")
    assert (rebuilt.total_fen, rebuilt.missing_price_count) == (2500 + 990, 0)
    supplier_page = html(world.supplier.get(detail_url))
    assert "商家重新生成" in supplier_page and "确认无误" in supplier_page
    assert world.supplier.post(f"{detail_url}/confirm").status_code == 200
    assert world.merchant.post(f"{LIST}/{statement_id}/settle").status_code == 200
    assert world.statement(statement_id).review_status == "settled"


def test_counts_on_the_pages_are_lines_not_orders_when_an_order_has_several_items(world):
    with world.app.app_context():
        pair = world.pair()
        pillow = ImportedLine("3000000001", "记忆棉枕头", "单只装", "", "PIL-1", "", 3)
        pair.returned_order(shanghai(2026, 11, 20, 12, 0), more_lines=(pillow,))
    statement_id = built_statement(world)  # 3 orders, 4 lines; 2 lines without a price
    statement = world.statement(statement_id)
    assert (statement.line_count, statement.missing_price_count) == (4, 2)
    page = html(world.merchant.get(f"{LIST}/{statement_id}"))
    assert "<dt>明细行数</dt><dd>4</dd>" in page and "<dt>订单数</dt>" not in page
    assert 'data-missing-prices="2">2 行</span>' in page
    listed = row(list_fragment(world.merchant), statement_id)
    assert 'data-missing-prices="2">2 行</span>' in listed
    assert ">明细行数</th>" in list_fragment(world.supplier, SUPPLIER_LIST)
