"""The merchant's desk follows the factory: tracking numbers, prints, and the update notice.

Everything goes through HTTP as the merchant's browser sends it; the factory acts through the
same services its own desk uses (return_tracking, print jobs) in its own app context.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import event, select, update

from portal.domain import allocation, bindings
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.printing.jobs import create_print_job, render_print_job
from portal.domain.tracking import TrackingItem, cancel_return, return_tracking
from portal.extensions import db
from portal.models import Merchant, Order, Supplier, User
from tests.conftest import Browser, Factory
from tests.factories import demo_order
from tests.test_order_desk import listed, order_no, trigger

POLL_RE = re.compile(r'<div id="order-updates-poll" hidden\s+hx-get="([^"]+)"')
SEEN_RE = re.compile(r'<input type="hidden" name="seen" value="([^"]+)">')
NOTICE_RE = re.compile(r'<a class="order-updates-notice" href="([^"]+)"[^>]*>([^<]+)</a>')


@dataclass
class Shop:
    """A merchant logged in through a browser, with one bound factory."""

    app: Flask
    browser: Browser
    merchant_user: User
    supplier_user: User

    def seed_assigned(self, numbers: list[str]) -> None:
        with self.app.app_context():
            merchant = db.session.get(Merchant, self.merchant_user.merchant.id)
            upsert_orders(current_keyring(), merchant, [demo_order(no) for no in numbers])
            supplier = db.session.get(Supplier, self.supplier_user.supplier.id)
            actor = db.session.get(User, self.merchant_user.id)
            result = allocation.assign_orders(merchant, numbers, supplier, actor)
            db.session.commit()
            assert len(result.done) == len(numbers), result.refused

    def factory_returns(self, *items: TrackingItem) -> None:
        with self.app.app_context():
            supplier = db.session.get(Supplier, self.supplier_user.supplier.id)
            result = return_tracking(supplier, list(items), None)
            db.session.commit()
            assert not result.refused, result.refused

    def factory_prints(self, numbers: list[str], times: int = 1, courier: str = "SF") -> None:
        with self.app.app_context():
            supplier = db.session.get(Supplier, self.supplier_user.supplier.id)
            job = create_print_job(supplier, numbers, courier, "100x180", "", None).job
            assert job is not None
            for _ in range(times):
                render_print_job(current_keyring(), supplier, job, None)
            db.session.commit()

    def order(self, number: str) -> Order:
        with self.app.app_context():
            order = db.session.scalar(select(Order).where(Order.order_no == number))
            db.session.expunge(order)
            return order

    def set_order(self, number: str, **values: Any) -> None:
        with self.app.app_context():
            db.session.execute(update(Order).where(Order.order_no == number).values(**values))
            db.session.commit()

    def desk(self, query: str, target: str = "order-desk") -> str:
        response = self.browser.get(f"/merchant/orders{query}", htmx=True, target=target)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def drawer(self, number: str) -> str:
        response = self.browser.get(f"/merchant/orders/{number}", htmx=True, target="order-drawer")
        assert response.status_code == 200
        return response.get_data(as_text=True)


@pytest.fixture
def shop(app: Flask, factory: Factory, browser: Browser) -> Shop:
    m_user = factory.merchant()
    s_user = factory.supplier(factory_name="一号工厂")
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        binding = bindings.apply_for_binding(merchant, s_user.shop_id)
        bindings.accept_binding(db.session.get(Supplier, s_user.supplier.id), binding.id)
        db.session.commit()
    browser.login(m_user.username)
    return Shop(app, browser, m_user, s_user)


def row_html(page: str, number: str) -> str:
    """One list row's markup, found by its order number."""
    match = re.search(
        r'<tr id="row-\d+"[^>]*>\s*<td class="check"><input type="checkbox" name="order_no" '
        rf'value="{re.escape(number)}".*?</tr>',
        page,
        re.S,
    )
    assert match, f"no row for {number}"
    return match.group(0)


def text_of(markup: str) -> str:
    """Visible text with the markup and extra white space removed."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


# --- tracking numbers ---------------------------------------------------------------------------


def test_returned_tracking_numbers_show_in_the_row_and_the_drawer(shop: Shop) -> None:
    numbers = [order_no(n) for n in (1, 2, 3)]
    shop.seed_assigned(numbers)
    shop.factory_returns(
        TrackingItem(numbers[0], "顺丰", "SF1234567890123", ("SF1234567890124", "SF1234567890125")),
        TrackingItem(numbers[1], "ZTO", "773012345678"),
    )

    page = shop.desk("?tab=returned")
    assert sorted(listed(page)) == numbers[:2]
    first = text_of(row_html(page, numbers[0]))
    assert "已回传 一号工厂 顺丰速运 SF1234567890123 另有 2 个运单号" in first
    assert "SF1234567890124" in first and "SF1234567890125" in first
    second = text_of(row_html(page, numbers[1]))
    assert "中通快递 773012345678" in second and "另有" not in second
    # the order still waiting for the factory shows no number, only that it is not printed
    waiting = text_of(row_html(shop.desk("?tab=assigned"), numbers[2]))
    assert "未打印" in waiting and "快递" not in waiting

    assert shop.order(numbers[0]).returned_at is not None
    # stored in UTC, shown in Asia/Shanghai: 16:30 UTC is already the next day there
    shop.set_order(numbers[0], returned_at=datetime(2026, 11, 21, 16, 30, tzinfo=UTC))
    drawer = text_of(shop.drawer(numbers[0]))
    assert (
        "运单号 顺丰速运 SF1234567890123 主单号 顺丰速运 SF1234567890124 "
        "顺丰速运 SF1234567890125 回传时间 2026-11-22 00:30" in drawer
    )

    # still shown once the merchant has dispatched
    shop.set_order(numbers[1], stage="dispatched")
    dispatched = text_of(row_html(shop.desk("?tab=dispatched"), numbers[1]))
    assert "中通快递 773012345678" in dispatched


def test_a_taken_back_return_disappears_from_the_desk(shop: Shop) -> None:
    [number] = [order_no(1)]
    shop.seed_assigned([number])
    shop.factory_returns(TrackingItem(number, "YTO", "YT1234567890123"))
    assert "圆通速递 YT1234567890123" in text_of(shop.drawer(number))
    with shop.app.app_context():
        cancel_return(db.session.get(Supplier, shop.supplier_user.supplier.id), number)
        db.session.commit()
    drawer = text_of(shop.drawer(number))
    assert "YT1234567890123" not in drawer and "运单号 未回传" in drawer
    assert "YT1234567890123" not in shop.desk("?tab=assigned")


# --- prints --------------------------------------------------------------------------------------


def test_print_count_and_time_in_the_row_and_history_in_the_drawer(shop: Shop) -> None:
    numbers = [order_no(n) for n in (1, 2)]
    shop.seed_assigned(numbers)
    row = text_of(row_html(shop.desk("?tab=assigned"), numbers[0]))
    assert "未打印" in row

    shop.factory_prints([numbers[0]], times=2)
    shop.factory_prints([numbers[1]], courier="ZTO")  # another job: not in order 1's history
    # pin the last print to 06:05 UTC, which is 14:05 in Shanghai
    shop.set_order(numbers[0], last_printed_at=datetime(2026, 11, 21, 6, 5, tzinfo=UTC))

    page = shop.desk("?tab=assigned")
    assert "已打印 2 次 · 11-21 14:05" in text_of(row_html(page, numbers[0]))
    assert "已打印 1 次" in text_of(row_html(page, numbers[1]))

    drawer_html = shop.drawer(numbers[0])
    drawer = text_of(drawer_html)
    assert "面单打印 已打印 2 次 · 最近 2026-11-21 14:05" in drawer
    assert "运单号 未回传" in drawer
    prints = re.findall(r'<tr class="print-line">(.*?)</tr>', drawer_html, re.S)
    assert len(prints) == 2
    for line in prints:
        assert text_of(line).endswith("一号工厂 顺丰速运 100×180 mm 1 系统")  # no member: 系统
    assert "中通快递" not in drawer
    other_prints = re.findall(r'<tr class="print-line">(.*?)</tr>', shop.drawer(numbers[1]), re.S)
    assert len(other_prints) == 1
    assert text_of(other_prints[0]).endswith("一号工厂 中通快递 100×180 mm 1 系统")


def test_print_history_is_the_orders_own(shop: Shop, factory: Factory, app: Flask) -> None:
    """Another merchant's order printed by the same factory never shows in this drawer."""
    mine = order_no(1)
    shop.seed_assigned([mine])
    other = factory.merchant()
    with app.app_context():
        merchant = db.session.get(Merchant, other.merchant.id)
        binding = bindings.apply_for_binding(merchant, shop.supplier_user.shop_id)
        supplier = db.session.get(Supplier, shop.supplier_user.supplier.id)
        bindings.accept_binding(supplier, binding.id)
        theirs = order_no(2, prefix="261122")
        upsert_orders(current_keyring(), merchant, [demo_order(theirs)])
        allocation.assign_orders(merchant, [theirs], supplier, db.session.get(User, other.id))
        db.session.commit()
    shop.factory_prints([mine])
    shop.factory_prints([theirs], times=3, courier="JT")
    drawer_html = shop.drawer(mine)
    assert len(re.findall(r'<tr class="print-line">', drawer_html)) == 1
    assert "极兔速递" not in drawer_html
    assert shop.browser.get(f"/merchant/orders/{theirs}").status_code == 404


# --- query discipline ------------------------------------------------------------------------


def _statements(shop: Shop, url: str) -> tuple[int, str]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with shop.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = shop.browser.get(url, htmx=True, target="order-desk")
        assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), response.get_data(as_text=True)


def _return_all(shop: Shop, numbers: list[str]) -> None:
    """Every other order gets an extra parcel, so rows carry one or two numbers."""
    items = []
    for no in numbers:
        n = int(no.rsplit("-", 1)[1])
        items.append(TrackingItem(no, "ZTO", f"77{n:010d}", (f"78{n:010d}",) if n % 2 else ()))
    shop.factory_returns(*items)


def test_tracking_numbers_for_a_page_cost_one_query_not_one_per_order(shop: Shop) -> None:
    few = [order_no(n) for n in range(1, 6)]
    shop.seed_assigned(few)
    _return_all(shop, few)
    few_count, few_page = _statements(shop, "/merchant/orders?tab=returned")
    assert sorted(listed(few_page)) == few

    many = [order_no(n) for n in range(6, 51)]
    shop.seed_assigned(many)
    _return_all(shop, many)
    many_count, many_page = _statements(shop, "/merchant/orders?tab=returned")
    assert len(listed(many_page)) == 50
    assert many_page.count('<div class="tracking-no nowrap">') == 50
    assert many_page.count("另有 1 个运单号") == 25

    assert many_count == few_count, (few_count, many_count)
    # a page without returned orders does not even ask for tracking numbers
    assigned_count, _page = _statements(shop, "/merchant/orders?tab=all&q=" + order_no(999))
    assert assigned_count < few_count


# --- following the factory without a reload --------------------------------------------------


@dataclass
class Poll:
    url: str
    seen: list[str]  # one version per row shown (hidden inputs the poll includes)


def poll_of(page: str) -> Poll:
    match = POLL_RE.search(page)
    assert match, "the list has no update poll"
    return Poll(htmllib.unescape(match.group(1)), SEEN_RE.findall(page))


def ask(shop: Shop, poll: Poll, seen: list[str] | None = None, *, from_list: bool = True) -> str:
    """What the list's update poll gets back (HX-Target order-updates, the poller's target)."""
    params = [("poll", "list")] if from_list else []
    params += [("seen", token) for token in (poll.seen if seen is None else seen)]
    response = shop.browser.client.get(
        f"{poll.url}&{urlencode(params)}",
        headers={"HX-Request": "true", "HX-Target": "order-updates"},
    )
    assert response.status_code == 200
    return response.get_data(as_text=True).strip()


def notice(answer: str) -> tuple[str, str] | None:
    match = NOTICE_RE.search(answer)
    return (htmllib.unescape(match.group(1)), match.group(2)) if match else None


def test_the_list_offers_a_refresh_when_the_factory_works(shop: Shop) -> None:
    numbers = [order_no(n) for n in range(1, 5)]
    shop.seed_assigned(numbers)
    page = shop.desk("?tab=assigned")
    poll = poll_of(page)
    assert poll.url == "/merchant/orders/counts?tab=assigned"
    assert len(poll.seen) == 4
    assert (
        """hx-include="#order-list input[name='seen']" hx-vals='{"poll": "list"}'
       hx-trigger="every 30s" hx-target="#order-updates" hx-swap="innerHTML"></div>"""
        in page
    )
    assert '<div id="order-updates" class="order-updates" aria-live="polite"></div>' in page
    assert ask(shop, poll) == ""  # nothing happened yet

    shop.factory_prints([numbers[0]])
    assert notice(ask(shop, poll)) == (
        "/merchant/orders?tab=assigned",
        "有 1 条订单状态更新，点击刷新",
    )

    shop.factory_returns(TrackingItem(numbers[1], "ZTO", "773012345678"))
    answer = ask(shop, poll)
    assert notice(answer) == ("/merchant/orders?tab=assigned", "有 2 条订单状态更新，点击刷新")
    assert "<script" not in answer and "style=" not in answer
    assert 'hx-target="#order-list" hx-swap="outerHTML" data-keep-selection' in answer

    # the tab counts (their own 30 s poll) move with it
    tabs = shop.browser.get(
        "/merchant/orders/counts?tab=assigned", htmx=True, target="order-tabs"
    ).get_data(as_text=True)
    assert tabs.lstrip().startswith('<nav id="order-tabs"')
    assert 'data-tab="assigned">已分配 <span class="count">3</span>' in tabs
    assert 'data-tab="returned">已回传 <span class="count">1</span>' in tabs

    # the refresh the notice offers: the list alone, same address, counts told to follow
    response = shop.browser.get("/merchant/orders?tab=assigned", htmx=True, target="order-list")
    fresh = response.get_data(as_text=True)
    assert fresh.lstrip().startswith('<div id="order-list"')
    assert "HX-Push-Url" not in response.headers
    assert trigger(response)["ordersChanged"] is True
    assert sorted(listed(fresh)) == [numbers[0], numbers[2], numbers[3]]
    assert "已打印 1 次" in text_of(row_html(fresh, numbers[0]))
    assert ask(shop, poll_of(fresh)) == ""


def test_new_returns_are_announced_on_the_returned_tab(shop: Shop) -> None:
    numbers = [order_no(n) for n in range(1, 4)]
    shop.seed_assigned(numbers)
    shop.factory_returns(TrackingItem(numbers[0], "SF", "SF1234567890123"))
    poll = poll_of(shop.desk("?tab=returned"))
    assert ask(shop, poll) == ""
    shop.factory_returns(
        TrackingItem(numbers[1], "SF", "SF1234567890124"),
        TrackingItem(numbers[2], "SF", "SF1234567890125"),
    )
    assert notice(ask(shop, poll))[1] == "有 2 条订单状态更新，点击刷新"


def test_a_row_leaving_a_full_page_counts_once_and_other_pages_stay_quiet(shop: Shop) -> None:
    numbers = [order_no(n) for n in range(1, 56)]  # 50 on page 1 (newest first), 5 on page 2
    shop.seed_assigned(numbers)
    first_page = poll_of(shop.desk("?tab=assigned"))
    second_page = poll_of(shop.desk("?tab=assigned&page=2"))
    assert second_page.url == "/merchant/orders/counts?tab=assigned&page=2"
    assert len(first_page.seen) == 50 and len(second_page.seen) == 5

    # an order on page 2 is printed: page 1 is unchanged
    shop.factory_prints([numbers[0]])
    assert ask(shop, first_page) == ""
    assert notice(ask(shop, second_page))[1] == "有 1 条订单状态更新，点击刷新"

    # an order on page 1 is returned: it leaves, the next one moves up — one update, not two
    shop.factory_returns(TrackingItem(numbers[30], "ZTO", "773012345678"))
    assert notice(ask(shop, first_page))[1] == "有 1 条订单状态更新，点击刷新"


def test_the_poll_only_reads_the_merchants_own_page(
    shop: Shop, factory: Factory, app: Flask
) -> None:
    """Order ids of another merchant in `seen` reveal nothing: the answer is the same whether
    the version given for them is right or wrong; nonsense is ignored."""
    mine = order_no(1)
    shop.seed_assigned([mine])
    other = factory.merchant()
    with app.app_context():
        merchant = db.session.get(Merchant, other.merchant.id)
        theirs = order_no(2, prefix="261122")
        upsert_orders(current_keyring(), merchant, [demo_order(theirs)])
        db.session.commit()
        order = db.session.scalar(select(Order).where(Order.order_no == theirs))
        micros = int(order.updated_at.timestamp()) * 1_000_000 + order.updated_at.microsecond
        right, wrong = f"{order.id}.{micros:x}", f"{order.id}.{micros + 1:x}"
    poll = poll_of(shop.desk("?tab=assigned"))
    assert ask(shop, poll) == ""
    with_right = ask(shop, poll, [*poll.seen, right])
    with_wrong = ask(shop, poll, [*poll.seen, wrong])
    assert with_right == with_wrong and notice(with_right)[1] == "有 1 条订单状态更新，点击刷新"
    assert ask(shop, poll, [*poll.seen, "../etc", "x.y", "1.ZZ", "<b>", ""]) == ""
    # something changed, but a request that is not the list's own poll gets no notice
    shop.factory_prints([mine])
    assert notice(ask(shop, poll))[1] == "有 1 条订单状态更新，点击刷新"
    assert ask(shop, poll, from_list=False) == ""


def test_the_merchants_own_row_update_moves_the_baseline(shop: Shop) -> None:
    """A row swapped in alone (确认新地址) carries its new version: no notice for one's own act."""
    numbers = [order_no(n) for n in (1, 2)]
    shop.seed_assigned(numbers)
    with shop.app.app_context():
        merchant = db.session.get(Merchant, shop.merchant_user.merchant.id)
        upsert_orders(current_keyring(), merchant, [demo_order(numbers[0], detail="新地址 9 号")])
        db.session.commit()
    page = shop.desk("?tab=assigned")
    poll = poll_of(page)
    assert ask(shop, poll) == ""
    order_id = shop.order(numbers[0]).id
    response = shop.browser.post(
        f"/merchant/orders/{numbers[0]}/acknowledge-address", {}, target=f"row-{order_id}"
    )
    [new_version] = SEEN_RE.findall(response.get_data(as_text=True))
    [old_version] = SEEN_RE.findall(row_html(page, numbers[0]))
    assert new_version != old_version
    # what the browser now shows: the same list with that one row replaced
    assert notice(ask(shop, poll))[1] == "有 1 条订单状态更新，点击刷新"
    shown = [new_version if token == old_version else token for token in poll.seen]
    assert ask(shop, poll, shown) == ""


def test_the_merchant_api_carries_the_returned_tracking_numbers(app, factory):
    """Was always [] in GET /orders and GET /orders/{order_no} (DESIGN §8.2 lists it)."""
    from portal.domain import allocation, bindings
    from portal.domain.keyring import current_keyring
    from portal.domain.orders.upsert import upsert_orders
    from portal.domain.tracking import TrackingItem, return_tracking
    from portal.extensions import db
    from portal.models import Merchant, Supplier
    from tests.factories import demo_order

    m_user, s_user = factory.merchant(), factory.supplier()
    token = factory.token(m_user)
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        supplier = db.session.get(Supplier, s_user.supplier.id)
        bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
        numbers = ["261121-000000000000101", "261121-000000000000102"]
        upsert_orders(current_keyring(), merchant, [demo_order(n) for n in numbers])
        assert allocation.assign_orders(merchant, numbers, supplier, None).done
        item = TrackingItem(numbers[0], "SF", "SF1234567890123", ("SF1234567890124",))
        assert return_tracking(supplier, [item], None).returned
        db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    detail = client.get(f"/api/v1/orders/{numbers[0]}", headers=headers).json
    assert detail["tracking"] == [
        {"courier": "SF", "tracking_no": "SF1234567890123"},
        {"courier": "SF", "tracking_no": "SF1234567890124"},
    ]
    listed = client.get("/api/v1/orders", headers=headers).json["items"]
    by_no = {order["order_no"]: order["tracking"] for order in listed}
    assert by_no[numbers[0]][0]["tracking_no"] == "SF1234567890123"
    assert by_no[numbers[1]] == []
