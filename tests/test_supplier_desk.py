"""The factory order desk (代发订单) through HTTP: tabs, filters, masked rows, inline returns.

Every response a supplier gets here is checked for the receivers' plaintext: names, any five
digits in a row of their phone numbers, and their detail addresses must never appear.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from portal.domain import allocation, bindings, supplier_orders
from portal.domain.couriers import COURIERS, MAX_EXTRA_TRACKING_NOS
from portal.domain.imports.platform_export import ImportedLine
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.printing.jobs import create_print_job, render_print_job
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import Merchant, Order, Supplier, User
from portal.supplier import desk as supplier_desk
from tests.factories import demo_order, later, statements_sent
from tests.incidental_digits import without_incidental_digits

ORDER_NO_RE = re.compile(r'<span class="mono nowrap">(\d{6}-\d{15})</span>')
COUNT_RE = re.compile(r'data-tab="(\w+)">[^<]*<span class="count[^"]*">(\d+)</span>')

# Distinctive plaintext receivers: none of it may reach a supplier's browser.
RECEIVERS = (
    ("欧阳娜娜", "13786429517", "幸福里小区七号楼甲单元"),
    ("司马相如", "18965423178", "卧龙岗东街九十九号院"),
    ("诸葛青云", "15927364851", "望江楼北巷三十六号"),
    ("上官婉儿", "17748396521", "梧桐苑六栋八层东户"),
)


def order_no(n: int) -> str:
    return f"261121-{n:015d}"


def private_order(number: str, receiver: int = 0, **changes: Any) -> Any:
    """An order to one of RECEIVERS, with the phone in the buyer note too (never shown)."""
    name, phone, detail = RECEIVERS[receiver]
    values = {
        "receiver_name": name,
        "receiver_phone": phone,
        "detail": detail,
        "buyer_note": f"到了打电话 {phone}，{detail}",
    }
    return demo_order(number, **{**values, **changes})


def assert_private(body: str) -> None:
    for name, phone, detail in RECEIVERS:
        assert name not in body, name
        assert detail not in body and detail[:4] not in body, detail
        digits = without_incidental_digits(body)
        for i in range(len(phone) - 4):
            assert phone[i : i + 5] not in digits, phone


@dataclass
class SupplierDesk:
    """A supplier bound to a merchant (and a second merchant), logged in through a browser."""

    app: Any
    browser: Any
    merchant_user: User
    supplier_user: User
    other_merchant_user: User
    responses: list[Any] = field(default_factory=list)

    def merchant(self, other: bool = False) -> Merchant:
        user = self.other_merchant_user if other else self.merchant_user
        return db.session.get(Merchant, user.merchant.id)

    def supplier(self) -> Supplier:
        return db.session.get(Supplier, self.supplier_user.supplier.id)

    def seed(self, *orders: Any, other: bool = False) -> None:
        with self.app.app_context():
            result = upsert_orders(current_keyring(), self.merchant(other), list(orders))
            db.session.commit()
            assert result.rejected_count == 0, result.rejected

    def assign(self, numbers: list[str], other: bool = False) -> None:
        with self.app.app_context():
            user = self.other_merchant_user if other else self.merchant_user
            actor = db.session.get(User, user.id)
            result = allocation.assign_orders(self.merchant(other), numbers, self.supplier(), actor)
            db.session.commit()
            assert len(result.done) == len(numbers), result.refused

    def seed_assigned(self, *orders: Any, other: bool = False) -> None:
        self.seed(*orders, other=other)
        self.assign([o.order_no for o in orders], other=other)

    def cancel(self, numbers: list[str]) -> None:
        with self.app.app_context():
            actor = db.session.get(User, self.merchant_user.id)
            assert allocation.cancel_assignments(self.merchant(), numbers, actor).done
            db.session.commit()

    def update(self, numbers: list[str], **values: Any) -> None:
        with self.app.app_context():
            db.session.execute(update(Order).where(Order.order_no.in_(numbers)).values(**values))
            db.session.commit()

    def print_and_render(self, numbers: list[str]) -> None:
        with self.app.app_context():
            supplier = self.supplier()
            job = create_print_job(supplier, numbers, "SF", "100x180", "", None).job
            render_print_job(current_keyring(), supplier, job, None)
            db.session.commit()

    def return_numbers(self, *items: TrackingItem) -> None:
        with self.app.app_context():
            result = return_tracking(self.supplier(), list(items), None)
            assert not result.refused, result.refused
            db.session.commit()

    def order(self, number: str) -> Order:
        with self.app.app_context():
            order = db.session.scalar(select(Order).where(Order.order_no == number))
            db.session.expunge(order)
            return order

    def checked(self, response: Any) -> Any:
        assert response.status_code < 500
        assert_private(response.get_data(as_text=True))
        self.responses.append(response)
        return response

    def get(self, url: str, *, target: str | None = None) -> Any:
        return self.checked(self.browser.get(url, htmx=bool(target), target=target))

    def post(self, url: str, data: dict | None = None, *, target: str | None = None) -> Any:
        return self.checked(self.browser.post(url, data or {}, target=target))

    def page(self, query: str = "", target: str | None = "order-desk") -> str:
        response = self.get(f"/supplier/orders{query}", target=target)
        assert response.status_code == 200
        return response.get_data(as_text=True)


def build_desk(app: Any, factory: Any, make_browser: Any) -> SupplierDesk:
    m_user = factory.merchant(shop_name="甲店")
    other = factory.merchant(shop_name="乙店")
    s_user = factory.supplier(factory_name="一号工厂")
    with app.app_context():
        supplier = db.session.get(Supplier, s_user.supplier.id)
        for user in (m_user, other):
            merchant = db.session.get(Merchant, user.merchant.id)
            bindings.accept_binding(
                supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id
            )
        db.session.commit()
    browser = make_browser()
    browser.login(s_user.username)
    return SupplierDesk(app, browser, m_user, s_user, other)


@pytest.fixture
def desk(app, factory, make_browser) -> SupplierDesk:
    return build_desk(app, factory, make_browser)


def listed(html: str) -> list[str]:
    return ORDER_NO_RE.findall(html)


def counts(html: str) -> dict[str, int]:
    return {tab: int(n) for tab, n in COUNT_RE.findall(html)}


def tab_bar(desk: SupplierDesk, query: str = "") -> dict[str, int]:
    """Every tab's count, as the tab bar loads them (the list counts only its own tab)."""
    return counts(
        desk.get(f"/supplier/orders/counts{query}", target="order-tabs").get_data(as_text=True)
    )


def trigger(response: Any) -> dict:
    return json.loads(response.headers["HX-Trigger"])


def row_html(html: str, number: str) -> str:
    """The <tr> that lists `number`."""
    for match in re.finditer(r"<tr id=\"(?:row|cancelled)-\d+\".*?</tr>", html, re.S):
        if number in match.group(0):
            return match.group(0)
    raise AssertionError(f"{number} not listed")


# --- tabs, counts, fragments ------------------------------------------------------------------


def test_tabs_list_orders_by_stage_with_counts(desk):
    desk.seed_assigned(*(private_order(order_no(n), n % 4) for n in range(1, 7)))
    desk.print_and_render([order_no(2), order_no(3)])
    desk.return_numbers(TrackingItem(order_no(4), "ZTO", "773000000004"))
    desk.return_numbers(TrackingItem(order_no(5), "ZTO", "773000000005"))
    desk.update([order_no(5)], stage="dispatched")
    desk.cancel([order_no(6)])

    html = desk.page(target=None)
    assert "<html" in html and 'id="order-desk"' in html and "代发订单" in html
    expected = {"to_print": 1, "printed": 2, "returned": 1, "dispatched": 1, "cancelled": 1}
    assert counts(html) == {"to_print": 1}  # the shown tab; the bar loads the rest itself
    assert 'hx-trigger="load, every 30s, ordersChanged from:body"' in html
    assert tab_bar(desk) == expected
    assert listed(html) == [order_no(1)]  # 待打印 is the default tab
    assert sorted(listed(desk.page("?tab=printed"))) == [order_no(2), order_no(3)]
    assert listed(desk.page("?tab=returned")) == [order_no(4)]
    assert listed(desk.page("?tab=dispatched")) == [order_no(5)]
    assert listed(desk.page("?tab=cancelled")) == [order_no(6)]
    assert listed(desk.page("?tab=nonsense")) == [order_no(1)]

    # masked receiver only, with the region in clear
    row = row_html(html, order_no(1))
    assert "司**" in row and "189****3178" in row and "****" in row
    assert "广东省" in row and "广州市" in row and "天河区" in row
    assert "甲店" in row and "加厚珊瑚绒毛毯" in row and "150x200cm 灰色 × 2" in row
    # printed rows say how often and when; returned rows carry their number
    printed = desk.page("?tab=printed")
    assert "打印 1 次" in row_html(printed, order_no(2))
    returned = desk.page("?tab=returned")
    assert "中通快递" in returned and "773000000004" in returned and "取消回传" in returned
    assert "773000000005" in desk.page("?tab=dispatched")
    for page in (html, printed, returned):
        assert "<script>" not in page and 'style="' not in page and " onclick=" not in page


def test_fragments_by_target_and_counts_refresh(desk):
    desk.seed_assigned(private_order(order_no(1)), private_order(order_no(2), sku_code="OTHER"))
    response = desk.get(
        "/supplier/orders?tab=to_print&q=&merchant_id=&sku=BLK-150-GRY&assigned_from="
        "&assigned_to=&due=&sort=&page=1",
        target="order-desk",
    )
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="order-desk">')
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["HX-Push-Url"] == "/supplier/orders?tab=to_print&sku=BLK-150-GRY"
    assert listed(html) == [order_no(1)]
    # the list alone (after an action), and a history restore gets the full page
    fragment = desk.page("?tab=to_print", target="order-list")
    assert fragment.lstrip().startswith('<div id="order-list"')
    restore = desk.checked(
        desk.browser.client.get(
            "/supplier/orders?tab=printed",
            headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
        )
    )
    assert "<html" in restore.get_data(as_text=True)

    tabs = desk.get(
        "/supplier/orders/counts?tab=to_print&sku=BLK-150-GRY", target="order-tabs"
    ).get_data(as_text=True)
    assert tabs.lstrip().startswith('<nav id="order-tabs"')
    assert 'hx-trigger="every 30s, ordersChanged from:body"' in tabs
    assert counts(tabs) == {
        "to_print": 1,
        "printed": 0,
        "returned": 0,
        "dispatched": 0,
        "cancelled": 0,
    }
    assert 'hx-get="/supplier/orders/counts?tab=to_print&amp;sku=BLK-150-GRY"' in tabs
    assert 'href="/supplier/orders?tab=printed&amp;sku=BLK-150-GRY"' in tabs


def test_deadline_rows_are_highlighted(desk):
    desk.seed_assigned(
        private_order(order_no(1), promise_ship_at=later(-2)),
        private_order(order_no(2), promise_ship_at=later(5)),
        private_order(order_no(3), promise_ship_at=later(48)),
        private_order(order_no(4), promise_ship_at=later(-5)),
    )
    desk.return_numbers(TrackingItem(order_no(4), "ZTO", "773000000004"))
    html = desk.page()
    assert 'class="row-danger"' in row_html(html, order_no(1)) and "已超时" in html
    assert 'class="row-warn"' in row_html(html, order_no(2)) and "即将超时" in html
    assert "class=" not in row_html(html, order_no(3)).split(">", 1)[0]
    # past the deadline but the number is returned: the factory's part is done
    returned = desk.page("?tab=returned")
    assert "row-danger" not in row_html(returned, order_no(4))


# --- filters ----------------------------------------------------------------------------------


def test_filters_merchant_sku_order_number_and_due(desk):
    desk.seed_assigned(
        private_order(order_no(1), sku_code="SKU-A", promise_ship_at=later(-1)),
        private_order(order_no(2), sku_code="SKU-B", promise_ship_at=later(3)),
        private_order(order_no(3), sku_code="SKU-A", promise_ship_at=later(40)),
    )
    desk.seed_assigned(private_order(order_no(4), 1, sku_code="SKU-A"), other=True)
    with desk.app.app_context():
        first, second = desk.merchant().id, desk.merchant(other=True).id
    html = desk.page()
    assert f'<option value="{first}">甲店</option>' in html
    assert f'<option value="{second}">乙店</option>' in html
    assert sorted(listed(desk.page(f"?merchant_id={first}"))) == [order_no(n) for n in (1, 2, 3)]
    assert listed(desk.page(f"?merchant_id={second}")) == [order_no(4)]
    assert sorted(listed(desk.page("?sku=SKU-A"))) == [order_no(n) for n in (1, 3, 4)]
    assert listed(desk.page(f"?q={order_no(2)}")) == [order_no(2)]
    # Any part of 6+ characters of a number, SKU codes by prefix whatever the case (§10.7)
    assert listed(desk.page(f"?q={order_no(2)[-7:]}")) == [order_no(2)]
    assert listed(desk.page(f"?q={order_no(2)[-5:]}")) == []  # too short to mean anything
    assert sorted(listed(desk.page("?q=sku-a"))) == [order_no(n) for n in (1, 3, 4)]
    assert sorted(listed(desk.page("?sku=sku-"))) == [order_no(n) for n in (1, 2, 3, 4)]
    assert listed(desk.page("?q=%25")) == []  # a wildcard is a character
    assert listed(desk.page("?due=overdue")) == [order_no(1)]
    assert listed(desk.page("?due=soon")) == [order_no(2)]
    filtered = desk.page(f"?merchant_id={first}&sku=SKU-A")
    assert counts(filtered)["to_print"] == 2
    assert f'<option value="{first}" selected>' in filtered
    # junk in the filters is ignored, never an error
    for junk in (
        "?merchant_id=abc&assigned_from=2026-13-40&due=later&sort=x&group=zz",
        "?merchant_id=99999999999999999999&page=99999999999999999999",
        "?merchant_id=-1&assigned_to=2026-11-2&tab=%F0%9F%98%80",
        "?q=" + "9" * 500,
        "?assigned_from=0001-01-01&assigned_to=9999-12-31",
    ):
        response = desk.get(f"/supplier/orders{junk}", target="order-desk")
        assert response.status_code == 200, junk
    # NUL can never match a column: refused as a bad request, not a server error
    assert desk.get("/supplier/orders?q=%00", target="order-desk").status_code in (200, 400)
    assert len(listed(desk.page("?merchant_id=abc&due=later"))) == 4


def test_filter_by_assigned_date_at_shanghai_midnight(desk):
    desk.seed_assigned(*(private_order(order_no(n)) for n in range(1, 5)))
    midnight = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 2026-11-21 00:00 in Shanghai
    times = {
        1: midnight - timedelta(seconds=1),
        2: midnight,
        3: midnight + timedelta(days=1) - timedelta(seconds=1),
        4: midnight + timedelta(days=1),
    }
    for n, moment in times.items():
        desk.update([order_no(n)], assigned_at=moment)
    one_day = desk.page("?assigned_from=2026-11-21&assigned_to=2026-11-21")
    assert sorted(listed(one_day)) == [order_no(2), order_no(3)]
    assert listed(desk.page("?assigned_to=2026-11-20")) == [order_no(1)]
    assert listed(desk.page("?assigned_from=2026-11-22")) == [order_no(4)]
    # reversed bounds are read the right way round
    assert len(listed(desk.page("?assigned_from=2026-11-22&assigned_to=2026-11-20"))) == 4


def test_pagination_keeps_filters(desk):
    desk.seed_assigned(*(private_order(order_no(n), sku_code="PAGED") for n in range(1, 121)))
    desk.seed_assigned(private_order(order_no(500), sku_code="OTHER"))
    first = desk.page("?sku=PAGED")
    assert len(listed(first)) == 50
    assert "共 120 单" in first and "第 1 / 3 页" in first
    assert "/supplier/orders?page=2&amp;sku=PAGED&amp;tab=to_print" in first
    # "select all 120 matching" is offered, the hidden flag off until ticked
    assert 'data-select-all-matching data-total="120"' in first
    assert '<input type="hidden" name="all_matching" value="1" disabled>' in first
    third = desk.page("?sku=PAGED&page=3")
    assert len(listed(third)) == 20 and "第 3 / 3 页" in third
    seen = set(listed(first)) | set(listed(desk.page("?sku=PAGED&page=2"))) | set(listed(third))
    assert len(seen) == 120 and order_no(500) not in seen
    assert listed(desk.page("?sku=PAGED&page=9")) == []


def test_counts_stop_at_the_cap_and_pages_walk_on(desk, app):
    app.config["COUNT_CAP"] = 60
    desk.seed_assigned(*(private_order(order_no(n), sku_code="PAGED") for n in range(1, 141)))
    desk.cancel([order_no(n) for n in range(121, 141)])
    first = desk.page("?sku=PAGED")
    assert 'data-tab="to_print">待打印 <span class="count warn">60+</span>' in first
    assert tab_bar(desk, "?sku=PAGED")["cancelled"] == 20
    assert "共 60+ 单 · 第 1 页" in first and 'data-total="60+"' in first
    second = desk.page("?sku=PAGED&page=2")
    assert 'rel="next"' in second and "page=3" in second  # past the counted pages
    third = desk.page("?sku=PAGED&page=3")
    assert len(listed(third)) == 20 and 'rel="next"' not in third
    assert len(set(listed(first)) | set(listed(second)) | set(listed(third))) == 120
    assert "60+" in desk.get("/supplier/").get_data(as_text=True)


# --- goods, receivers, blockers, cancelled ----------------------------------------------------


def test_goods_summary_counts_what_to_make(desk):
    desk.seed_assigned(
        private_order(order_no(1)),  # 150x200cm 灰色 × 2
        private_order(order_no(2), 1),
        private_order(order_no(3), 2, spec="1.8m床", sku_code="BED-18", quantity=3),
        private_order(order_no(4), 3, spec="1.8m床", sku_code="BED-18", quantity=1),
        private_order(order_no(5), 3, spec="1.8m床", sku_code="BED-18", quantity=5),
    )
    desk.print_and_render([order_no(1)])  # printed still has to be made
    desk.return_numbers(TrackingItem(order_no(5), "ZTO", "773000000005"))  # done: not counted
    page = desk.page()
    # the desk page only offers the panel; its lines are read when it is opened
    assert 'id="goods-summary" data-remember' in page and 'data-sku="' not in page
    assert 'hx-get="/supplier/orders/goods?tab=to_print"' in page
    html = desk.get("/supplier/orders/goods?tab=to_print", target="goods-lines").get_data(
        as_text=True
    )
    lines = dict(
        (sku, (int(qty), int(n)))
        for sku, qty, n in re.findall(
            r'<tr data-sku="([^"]+)">.*?data-quantity>(\d+)</td>\s*<td class="num" data-orders>'
            r"(\d+)</td>",
            html,
            re.S,
        )
    )
    assert lines == {"BLK-150-GRY": (4, 2), "BED-18": (4, 2)}
    # the summary follows the filters
    only_beds = desk.get("/supplier/orders/goods?sku=BED-18").get_data(as_text=True)
    assert 'data-sku="BLK-150-GRY"' not in only_beds and 'data-sku="BED-18"' in only_beds
    assert "无需备货" in desk.get("/supplier/orders/goods?sku=NOTHING").get_data(as_text=True)


def test_goods_summary_lists_the_biggest_specs_first_up_to_its_limit(desk, monkeypatch):
    monkeypatch.setattr(supplier_desk, "GOODS_LINES", 2)
    desk.seed_assigned(
        *(
            private_order(order_no(n), spec=f"规格{n}", sku_code=f"SKU-{n}", quantity=n)
            for n in range(1, 5)
        )
    )
    html = desk.get("/supplier/orders/goods").get_data(as_text=True)
    assert re.findall(r'<tr data-sku="([^"]+)">', html) == ["SKU-4", "SKU-3"]
    assert "只列出件数最多的 2 个规格" in html


def test_same_receiver_orders_are_badged_and_can_be_grouped(desk):
    desk.seed_assigned(
        private_order(order_no(1), 0, promise_ship_at=later(10)),
        private_order(order_no(2), 1, promise_ship_at=later(20)),
        private_order(order_no(3), 0, promise_ship_at=later(30)),
        private_order(order_no(4), 0, promise_ship_at=later(40)),
    )
    desk.return_numbers(TrackingItem(order_no(4), "SF", "SF1234567890123"))
    html = desk.page()
    assert "同收件人 3 单" in row_html(html, order_no(1))  # two to print + one returned
    assert "同收件人 3 单" in row_html(html, order_no(3))
    assert "同收件人" not in row_html(html, order_no(2))
    group_url = re.search(r'href="(/supplier/orders\?[^"]*group=[0-9a-f]{32}[^"]*)"', html).group(1)
    grouped = desk.page(group_url.replace("&amp;", "&").removeprefix("/supplier/orders"))
    assert listed(grouped) == [order_no(1), order_no(3)]
    assert "只显示寄往同一收件人的订单" in grouped
    assert (
        tab_bar(desk, group_url.replace("&amp;", "&").removeprefix("/supplier/orders"))["returned"]
        == 1
    )
    # sorting by receiver puts the group's members next to each other
    sorted_html = desk.page("?sort=receiver")
    order = listed(sorted_html)
    assert abs(order.index(order_no(1)) - order.index(order_no(3))) == 1
    assert listed(html) == [order_no(1), order_no(2), order_no(3)]  # by deadline otherwise


def test_cancelled_tab_says_do_not_ship_with_the_reason(desk):
    desk.seed_assigned(*(private_order(order_no(n), n % 4) for n in range(1, 4)))
    desk.cancel([order_no(1)])
    desk.seed(private_order(order_no(2), 2, audit_hold=True))  # the platform holds it
    html = desk.page("?tab=cancelled")
    assert counts(html)["cancelled"] == 2
    first, second = row_html(html, order_no(1)), row_html(html, order_no(2))
    for row in (first, second):
        assert "row-danger" in row and "请勿发货" in row
        assert 'name="order_no"' not in row and "<form" not in row  # nothing to print or return
    assert "商家取消分配" in first
    assert "平台审核中" in second
    # ending the binding cancels the rest, said so too
    with desk.app.app_context():
        merchant_id = desk.merchant().id
        active = bindings.bindings_for_supplier(desk.supplier(), "active")
        binding = next(b for b in active if b.merchant_id == merchant_id)
        bindings.end_binding(binding, "supplier")
        db.session.commit()
    html = desk.page("?tab=cancelled")
    assert "绑定已解除" in row_html(html, order_no(3))
    assert tab_bar(desk, "?tab=cancelled")["to_print"] == 0


def test_print_blockers_are_shown_per_row(desk):
    desk.seed_assigned(*(private_order(order_no(n), n - 1) for n in range(1, 5)))
    desk.seed(private_order(order_no(1), 0, detail="幸福里小区七号楼乙单元"))  # address changed
    desk.update([order_no(2)], after_sale_active=True)
    desk.update([order_no(3)], audit_hold=True)
    html = desk.page()
    assert "地址变更待商家确认" in row_html(html, order_no(1))
    assert "售后中" in row_html(html, order_no(2))
    assert "审核中" in row_html(html, order_no(3))
    assert "print-blocker" not in row_html(html, order_no(4))


# --- inline tracking return -------------------------------------------------------------------


def _return_url(number: str) -> str:
    return f"/supplier/orders/{number}/tracking"


def test_inline_return_saves_and_rerenders_the_row(desk):
    desk.seed_assigned(private_order(order_no(1)), private_order(order_no(2), 1))
    order = desk.order(order_no(1))
    html = desk.page()
    assert f'hx-post="{_return_url(order_no(1))}"' in html
    response = desk.post(
        _return_url(order_no(1)),
        {
            "courier": "SF",
            "tracking_no": " sf1234567890123 ",
            "extra_tracking_nos": "SF1234567890124，SF1234567890125",
        },
        target=f"row-{order.id}",
    )
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="row-{order.id}"')
    for number in ("SF1234567890123", "SF1234567890124", "SF1234567890125"):
        assert number in row
    assert "已回传" in row and "取消回传" in row and 'name="tracking_no"' not in row
    events = trigger(response)
    assert events["ordersChanged"] is True
    assert events["showToast"] == {"message": f"已回传 {order_no(1)} 的运单号", "level": "success"}
    saved = desk.order(order_no(1))
    assert (saved.stage, saved.courier, saved.tracking_no) == (
        "returned",
        "SF",
        "SF1234567890123",
    )
    assert tab_bar(desk)["returned"] == 1


def test_every_row_of_a_page_carries_a_whole_tracking_form(desk):
    # The row's words, courier options and CSRF token are rendered once per page and shared
    # by the rows: each row must still get all of them, and a refused row its typed courier.
    desk.seed_assigned(private_order(order_no(1)), private_order(order_no(2), 1))
    html = desk.page()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    for number in (order_no(1), order_no(2)):
        row = row_html(html, number)
        form = row[row.index('<form class="tracking-form"') :]
        assert f'name="csrf_token" value="{token}"' in form
        for courier in COURIERS:
            assert f'<option value="{courier.code}">{courier.name}</option>' in form
        assert " selected" not in form
        assert f"多包裹：其他运单号，逗号分隔（最多 {MAX_EXTRA_TRACKING_NOS} 个）" in form
        assert ">回传</button>" in form and 'placeholder="运单号"' in form
    # the print toolbar offers the same couriers
    start = html.index('id="print-options"')
    toolbar = html[start : html.index("</select>", start)]
    assert all(f'<option value="{c.code}">' in toolbar for c in COURIERS)
    order = desk.order(order_no(1))
    refused = desk.post(
        _return_url(order_no(1)),
        {"courier": "ZTO", "tracking_no": "12#45"},
        target=f"row-{order.id}",
    ).get_data(as_text=True)
    assert '<option value="ZTO" selected>' in refused
    assert refused.count(" selected") == 1
    assert 'name="csrf_token" value="' in refused and "请勿发货" not in refused


def test_inline_return_refusals_are_shown_in_the_row(desk):
    desk.seed_assigned(private_order(order_no(1)), private_order(order_no(2), 1))
    desk.return_numbers(TrackingItem(order_no(2), "ZTO", "773000000002"))
    order = desk.order(order_no(1))
    cases = [
        ({}, "请选择快递公司"),
        ({"courier": "SF"}, "请填写运单号"),
        ({"courier": "火星快递", "tracking_no": "SF1234567890123"}, "无法识别的快递公司"),
        ({"courier": "SF", "tracking_no": "12#45"}, "运单号格式不正确"),
        ({"courier": "ZTO", "tracking_no": "773000000002"}, "该运单号已用于其他收件人的订单"),
        (
            {
                "courier": "SF",
                "tracking_no": "SF1234567890123",
                "extra_tracking_nos": " ".join(f"SF12345678901{n:02d}" for n in range(30, 41)),
            },
            "每个订单最多 10 个额外运单号",
        ),
    ]
    for data, message in cases:
        response = desk.post(_return_url(order_no(1)), data, target=f"row-{order.id}")
        assert response.status_code == 422, data
        row = response.get_data(as_text=True)
        assert row.lstrip().startswith(f'<tr id="row-{order.id}"')
        assert message in row, (data, row)
        assert 'role="alert"' in row and 'name="tracking_no"' in row  # the form stays
    # what was typed stays in the form
    assert 'value="773000000002"' in row_html(
        desk.post(
            _return_url(order_no(1)),
            {"courier": "ZTO", "tracking_no": "773000000002"},
            target=f"row-{order.id}",
        ).get_data(as_text=True),
        order_no(1),
    )
    assert desk.order(order_no(1)).stage == "assigned"
    assert desk.order(order_no(1)).tracking_no == ""


def test_inline_return_with_an_unusual_format_is_saved_with_a_warning(desk):
    desk.seed_assigned(private_order(order_no(1)))
    order = desk.order(order_no(1))
    response = desk.post(
        _return_url(order_no(1)),
        {"courier": "SF", "tracking_no": "ZZ12345678"},
        target=f"row-{order.id}",
    )
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert "与顺丰速运常见格式（SF+13位数字）不符" in row and "ZZ12345678" in row
    toast = trigger(response)["showToast"]
    assert toast["level"] == "warning" and "请核对" in toast["message"]
    assert desk.order(order_no(1)).tracking_no == "ZZ12345678"


def test_cancel_return(desk):
    desk.seed_assigned(private_order(order_no(1)), private_order(order_no(2), 1))
    desk.return_numbers(
        TrackingItem(order_no(1), "ZTO", "773000000001"),
        TrackingItem(order_no(2), "ZTO", "773000000002"),
    )
    desk.update([order_no(2)], stage="dispatched")
    order = desk.order(order_no(1))
    url = f"/supplier/orders/{order_no(1)}/tracking/cancel"
    response = desk.post(url, target=f"row-{order.id}")
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert "773000000001" not in row and 'name="tracking_no"' in row and "待打印" in row
    assert trigger(response)["ordersChanged"] is True
    assert (desk.order(order_no(1)).stage, desk.order(order_no(1)).tracking_no) == ("assigned", "")
    again = desk.post(url, target=f"row-{order.id}")
    assert again.status_code == 422 and "该订单还没有回传运单号" in again.get_data(as_text=True)
    dispatched = desk.post(f"/supplier/orders/{order_no(2)}/tracking/cancel", target="row-x")
    assert dispatched.status_code == 422 and "订单已发货" in dispatched.get_data(as_text=True)
    assert desk.order(order_no(2)).tracking_no == "773000000002"
    # the number is free again: another order to another receiver may use it
    response = desk.post(
        _return_url(order_no(1)), {"courier": "ZTO", "tracking_no": "773000000001"}, target="r"
    )
    assert response.status_code == 200


def test_plain_form_posts_go_back_to_the_desk(desk):
    desk.seed_assigned(private_order(order_no(1)))
    response = desk.checked(
        desk.browser.client.post(
            _return_url(order_no(1)),
            data={"courier": "ZTO", "tracking_no": "773000000001"},
            headers={"X-CSRFToken": desk.browser.token},
        )
    )
    assert response.status_code == 303 and response.headers["Location"] == "/supplier/orders"
    assert desk.order(order_no(1)).stage == "returned"
    follow = desk.get("/supplier/orders?tab=returned").get_data(as_text=True)
    assert f"已回传 {order_no(1)} 的运单号" in follow  # the flash


def test_orders_of_others_are_not_found(desk, factory, make_browser):
    desk.seed_assigned(private_order(order_no(1)))
    # an order of a merchant not bound to this supplier, and one assigned to another supplier
    stranger = factory.supplier(factory_name="二号工厂")
    with desk.app.app_context():
        merchant = desk.merchant()
        supplier = db.session.get(Supplier, stranger.supplier.id)
        bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, stranger.shop_id).id)
        upsert_orders(current_keyring(), merchant, [private_order(order_no(2), 1)])
        actor = db.session.get(User, desk.merchant_user.id)
        assert allocation.assign_orders(merchant, [order_no(2)], supplier, actor).done
        db.session.commit()
    for number in (order_no(2), "261121-999999999999999", "x" * 300):
        for url in (_return_url(number), f"/supplier/orders/{number}/tracking/cancel"):
            response = desk.post(url, {"courier": "SF", "tracking_no": "SF1234567890123"})
            assert response.status_code == 404, url
            assert trigger(response)["showToast"]["message"] == "找不到该记录"
    assert desk.order(order_no(2)).stage == "assigned" and desk.order(order_no(2)).tracking_no == ""
    assert listed(desk.page("?q=" + order_no(2))) == []
    # the other supplier sees only its own
    browser = make_browser()
    browser.login(stranger.username)
    html = browser.get("/supplier/orders").get_data(as_text=True)
    assert listed(html) == [order_no(2)]
    assert_private(html)


def _statements(desk: SupplierDesk, url: str) -> int:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    with desk.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert desk.get(url, target="order-desk").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_page_queries_do_not_grow_with_the_rows(desk):
    desk.seed_assigned(*(private_order(order_no(n), n % 4, sku_code="MANY") for n in range(1, 61)))
    desk.seed_assigned(*(private_order(order_no(n), n % 4, sku_code="FEW") for n in (100, 101)))
    desk.return_numbers(
        *(TrackingItem(order_no(n), "ZTO", f"77300000{n:04d}") for n in (1, 2, 3, 100))
    )
    for tab in ("to_print", "returned"):
        many = _statements(desk, f"/supplier/orders?tab={tab}&sku=MANY")
        few = _statements(desk, f"/supplier/orders?tab={tab}&sku=FEW")
        assert many == few and many <= 15, (tab, many, few)


# SQLite's statistics of the 1 000 000-order benchmark (bench/run.py), for the tables the desk's
# page query reads: the plan it chose there is what is pinned below.
MILLION_ORDER_STATISTICS = (
    ("bindings", "ix_bindings_merchant_status", "50 10 10"),
    ("bindings", "ix_bindings_supplier_status", "50 5 5"),
    ("bindings", "uq_bindings_open_pair", "50 10 1"),
    ("merchants", "sqlite_autoindex_merchants_1", "5 1"),
    ("users", "sqlite_autoindex_users_1", "15 1"),
    ("users", "sqlite_autoindex_users_2", "15 1"),
    ("users", "ix_users_owner_id", "15 15"),
    ("orders", "ix_orders_merchant_assignable", "94117 18824 18824 18824 18824 18824 18824 1"),
    ("orders", "ix_orders_merchant_attention", "5439 1088 101 1"),
    ("orders", "ix_orders_merchant_dispatched_at", "1000000 200000 2"),
    ("orders", "ix_orders_merchant_name_index", "1000000 200000 200000"),
    ("orders", "ix_orders_merchant_paid_at", "1000000 200000 1"),
    ("orders", "ix_orders_merchant_phone_index", "1000000 200000 7"),
    ("orders", "ix_orders_merchant_stage_id", "1000000 200000 50000 1"),
    ("orders", "ix_orders_merchant_supplier_stage", "1000000 200000 18182 6452 1"),
    ("orders", "ix_orders_supplier_merchant_returned", "1000000 90910 18182 2"),
    ("orders", "ix_orders_supplier_merchant_sku", "1000000 90910 18182 237 1"),
    ("orders", "ix_orders_supplier_order_no", "1000000 90910 1"),
    ("orders", "ix_orders_supplier_receiver", "1000000 90910 2 2"),
    ("orders", "ix_orders_supplier_stage_printed", "1000000 90910 32259 24391"),
    ("orders", "ix_orders_supplier_stage_promise", "1000000 90910 32259 1 1"),
    ("orders", "ix_orders_supplier_stage_workload", "80000 8000 8000 1600 800 1"),
    ("orders", "ix_orders_updated_at", "1000000 1 1"),
    ("orders", "uq_orders_merchant_order_no", "1000000 200000 1"),
)


def test_every_tab_reads_its_page_from_orders_in_order(desk):
    """At 1M orders SQLite began the 已打印 page at merchants, read each one's printed orders
    with every column and sorted them all (13 ms of SQL, the factory desk's p95); the page
    must walk the orders of the tab by (承诺发货时间, id) and stop after the page."""
    with desk.app.app_context():
        if db.engine.dialect.name != "sqlite":
            return
        supplier = desk.supplier()
        connection = db.session.connection()
        connection.exec_driver_sql("ANALYZE")  # makes sqlite_stat1
        connection.exec_driver_sql("DELETE FROM sqlite_stat1")
        for row in MILLION_ORDER_STATISTICS:
            connection.exec_driver_sql("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", row)
        connection.exec_driver_sql("ANALYZE sqlite_schema")  # load them
        for tab in ("to_print", "printed", "returned", "dispatched"):
            filters = supplier_orders.SupplierFilters(tab=tab)
            query = supplier_orders.orders_query(supplier, filters, datetime.now(UTC))
            compiled = (
                query.limit(51)
                .offset(100)
                .compile(db.engine, compile_kwargs={"literal_binds": True})
            )
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
            assert plan[0].startswith("SEARCH orders USING INDEX ix_orders_supplier_stage_promise")
            assert not any("TEMP B-TREE" in step for step in plan), (tab, plan)
        db.session.rollback()


# --- nav, dashboard, privacy across every page ------------------------------------------------


def test_nav_and_dashboard(desk):
    desk.seed_assigned(
        private_order(order_no(1), promise_ship_at=later(-3)),
        private_order(order_no(2), 1, promise_ship_at=later(4)),
        private_order(order_no(3), 2, promise_ship_at=later(6)),
        private_order(order_no(4), 3, promise_ship_at=later(72)),
    )
    desk.print_and_render([order_no(4)])
    html = desk.get("/supplier/").get_data(as_text=True)
    nav = html[html.index('class="sidebar"') :]
    assert nav.index("工作台") < nav.index(">代发订单<") < nav.index(">商家<")
    stats = dict(re.findall(r'data-stat="(\w+)">\s*<span class="stat-value">(\d+)</span>', html))
    assert stats == {
        "to_print": "3",
        "printed": "1",
        "returned": "0",
        "dispatched": "0",
        "cancelled": "0",
        "overdue": "1",
        "soon": "2",
        "statements_to_confirm": "0",
    }
    assert 'href="/supplier/orders?tab=to_print&amp;due=overdue"' in html
    assert 'href="/supplier/orders?tab=to_print&amp;due=soon"' in html
    assert listed(desk.page("?tab=to_print&due=soon")) == [order_no(2), order_no(3)]


def test_no_supplier_page_shows_receiver_plaintext(desk):
    """Every page and fragment of the desk, in every state, through desk.checked()."""
    desk.seed_assigned(*(private_order(order_no(n), n % 4) for n in range(1, 9)))
    desk.seed(private_order(order_no(1), 1, detail="卧龙岗东街九十九号院二楼"))  # changed
    desk.print_and_render([order_no(2)])
    desk.return_numbers(TrackingItem(order_no(3), "ZTO", "773000000003"))
    desk.return_numbers(TrackingItem(order_no(4), "ZTO", "773000000004"))
    desk.update([order_no(4)], stage="dispatched")
    desk.cancel([order_no(5)])
    for tab in ("to_print", "printed", "returned", "dispatched", "cancelled"):
        for target in (None, "order-desk", "order-list"):
            desk.page(f"?tab={tab}", target=target)
        desk.page(f"?tab={tab}&sort=receiver")
        desk.get(f"/supplier/orders/counts?tab={tab}", target="order-tabs")
    desk.get("/supplier/")
    order = desk.order(order_no(6))
    desk.post(_return_url(order_no(6)), {"courier": "SF", "tracking_no": "1"}, target="x")
    desk.post(_return_url(order_no(6)), {"courier": "SF", "tracking_no": "SF12345678"}, target="x")
    desk.post(f"/supplier/orders/{order_no(6)}/tracking/cancel", target=f"row-{order.id}")
    desk.post(_return_url(order_no(5)), {"courier": "SF", "tracking_no": "SF1234567890999"})
    response = desk.post(
        "/supplier/print-jobs",
        {"tab": "to_print", "order_no": [order_no(n) for n in (1, 6, 7)], "print_courier": "SF"},
        target="order-list",
    )
    job_id = int(re.search(r"/supplier/print-jobs/(\d+)", response.get_data(as_text=True))[1])
    desk.get("/supplier/print-jobs")
    desk.get("/supplier/print-jobs", target="print-job-list")
    desk.get(f"/supplier/print-jobs/{job_id}")
    desk.get(f"/supplier/print-jobs/{job_id}", target="print-job")
    assert len(desk.responses) == 35
    # the merchant, by contrast, reads its own receivers in clear (the check is not vacuous)
    merchant_browser = desk.browser.__class__(desk.app.test_client())
    merchant_browser.login(desk.merchant_user.username)
    merchant_page = merchant_browser.get("/merchant/orders?tab=all").get_data(as_text=True)
    with pytest.raises(AssertionError):
        assert_private(merchant_page)


def test_a_reassigned_order_is_to_print_again(desk):
    desk.seed_assigned(private_order(order_no(1)))
    desk.print_and_render([order_no(1)])
    assert desk.order(order_no(1)).print_count == 1
    assert listed(desk.page("?tab=printed")) == [order_no(1)]
    desk.cancel([order_no(1)])
    desk.assign([order_no(1)])
    # A label printed for the cancelled assignment is not one for this one.
    order = desk.order(order_no(1))
    assert (order.print_count, order.last_printed_at) == (0, None)
    assert listed(desk.page("?tab=printed")) == []
    assert listed(desk.page("?tab=to_print")) == [order_no(1)]


# --- orders with several items (DESIGN §10.2) ----------------------------------------------


def test_a_multi_item_order_shows_every_line_counts_in_the_summary_and_is_found_by_any_sku(
    desk,
):
    pillow = ImportedLine("3000000001", "记忆棉枕头", "单只装", "", "PIL-1", "", 3)
    sheets = ImportedLine("3000000000", "纯棉四件套", "1.8m床", "", "BED-18", "", 1)
    desk.seed_assigned(
        private_order(order_no(1), more_lines=(pillow, sheets)),  # BLK-150-GRY × 2 first
        private_order(
            order_no(2), 1, sku_code="PIL-1", goods_name="记忆棉枕头", spec="单只装", quantity=1
        ),
    )
    with statements_sent(desk.app) as sent:
        html = desk.page()
    row = row_html(html, order_no(1))
    assert "3 种商品，共 6 件" in row
    for text in ("加厚珊瑚绒毛毯", "记忆棉枕头", "单只装 × 3", "PIL-1", "纯棉四件套", "BED-18"):
        assert text in row
    assert "种商品" not in row_html(html, order_no(2))
    # the page's lines come in one query, whatever the number of orders
    assert sum("order_lines" in statement for statement in sent) == 1
    summary = desk.get("/supplier/orders/goods?tab=to_print", target="goods-lines")
    lines = dict(
        (sku, (int(qty), int(n)))
        for sku, qty, n in re.findall(
            r'<tr data-sku="([^"]+)">.*?data-quantity>(\d+)</td>\s*<td class="num" data-orders>'
            r"(\d+)</td>",
            summary.get_data(as_text=True),
            re.S,
        )
    )
    assert lines == {"BLK-150-GRY": (2, 1), "PIL-1": (4, 2), "BED-18": (1, 1)}
    # a SKU on the order's third line finds it
    assert listed(desk.page("?sku=bed-18")) == [order_no(1)]
    assert sorted(listed(desk.page("?q=PIL-1"))) == sorted([order_no(1), order_no(2)])
    desk.print_and_render([order_no(1)])  # its label lists all three items


# --- an ended binding ends access ----------------------------------------------------------------


def test_after_the_binding_ends_no_page_shows_that_merchants_receivers(desk):
    """The merchant ends the binding: its returned order stays listed (statements need it), but
    the desk row, the print job's page and the scan page show no receiver, and neither its
    labels nor its packing slips are drawn again."""
    desk.seed_assigned(private_order(order_no(1), 0), private_order(order_no(2), 1))
    with desk.app.app_context():
        job = create_print_job(
            desk.supplier(), [order_no(1)], "SF", "100x180", "", None, packing_slips="separate"
        ).job
        job_id = job.id
        db.session.commit()
    desk.return_numbers(TrackingItem(order_no(1), "SF", "SF1234567890161"))
    mask = desk.order(order_no(1)).name_mask
    job_url = f"/supplier/print-jobs/{job_id}"
    assert mask in row_html(desk.page("?tab=returned"), order_no(1))
    assert mask in desk.get(job_url).get_data(as_text=True)
    with desk.app.app_context():
        [binding] = [
            b
            for b in bindings.bindings_for_merchant(desk.merchant(), "active")
            if b.supplier_id == desk.supplier().id
        ]
        bindings.end_binding(binding, "merchant")
        db.session.commit()
    row = row_html(desk.page("?tab=returned"), order_no(1))
    assert "SF1234567890161" in row and mask not in row
    assert mask not in desk.get(job_url).get_data(as_text=True)
    scan = desk.post("/supplier/scan/lookup", {"code": order_no(1)}, target="scan-result")
    assert order_no(1) in scan.get_data(as_text=True)
    assert mask not in scan.get_data(as_text=True)
    for pdf in ("pdf", "slips"):
        response = desk.get(f"{job_url}/{pdf}")
        assert response.headers.get("Content-Type") != "application/pdf"
        assert response.status_code in (200, 303) and not response.data.startswith(b"%PDF")
