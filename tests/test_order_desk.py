"""The merchant order desk (订单) through HTTP, as the browser's htmx requests make it."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import event, select, update

from portal.domain import allocation, bindings, maintenance
from portal.domain.imports.platform_export import ImportedLine
from portal.domain.keyring import current_keyring
from portal.domain.orders import queries
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.jobs import queue
from portal.models import Merchant, Order, OrderEvent, Supplier, User
from tests.factories import BASE_ORDER, demo_order, later

ORDER_NO_RE = re.compile(r'name="order_no" value="([^"]+)"')
COUNT_RE = re.compile(r'data-tab="(\w+)">[^<]*<span class="count[^"]*">(\d+)</span>')


def order_no(n: int, prefix: str = "261121") -> str:
    return f"{prefix}-{n:015d}"


@dataclass
class Desk:
    """One merchant with bound suppliers and seeded orders, logged in through a browser."""

    app: object
    browser: object
    merchant_user: User
    suppliers: list[User] = field(default_factory=list)

    def seed(self, *orders: object) -> None:
        with self.app.app_context():
            result = upsert_orders(current_keyring(), self.merchant(), list(orders))
            db.session.commit()
            assert result.rejected_count == 0, result.rejected

    def merchant(self) -> Merchant:
        return db.session.get(Merchant, self.merchant_user.merchant.id)

    def supplier_id(self, index: int = 0) -> int:
        return self.suppliers[index].supplier.id

    def assign(self, order_nos: list[str], index: int = 0) -> None:
        with self.app.app_context():
            supplier = db.session.get(Supplier, self.supplier_id(index))
            actor = db.session.get(User, self.merchant_user.id)
            result = allocation.assign_orders(self.merchant(), order_nos, supplier, actor)
            db.session.commit()
            assert len(result.done) == len(order_nos), result.refused

    def set_stage(self, order_nos: list[str], stage: str, index: int = 0) -> None:
        with self.app.app_context():
            db.session.execute(
                update(Order)
                .where(Order.order_no.in_(order_nos))
                .values(stage=stage, supplier_id=self.supplier_id(index))
            )
            db.session.commit()

    def order(self, number: str) -> Order:
        with self.app.app_context():
            order = db.session.scalar(select(Order).where(Order.order_no == number))
            db.session.expunge(order)
            return order

    def page(self, query: str = "", target: str | None = "order-desk") -> str:
        response = self.browser.get(f"/merchant/orders{query}", htmx=bool(target), target=target)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def post(self, url: str, data: dict, target: str = "order-list") -> object:
        return self.browser.post(url, data, target=target)


@pytest.fixture
def desk(app, factory, browser) -> Desk:
    m_user = factory.merchant()
    s_users = [factory.supplier(factory_name="一号工厂"), factory.supplier(factory_name="二号工厂")]
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        for s_user in s_users:
            binding = bindings.apply_for_binding(merchant, s_user.shop_id)
            bindings.accept_binding(db.session.get(Supplier, s_user.supplier.id), binding.id)
        db.session.commit()
    browser.login(m_user.username)
    return Desk(app, browser, m_user, s_users)


def listed(html: str) -> list[str]:
    return ORDER_NO_RE.findall(html)


def counts(html: str) -> dict[str, int]:
    return {tab: int(n) for tab, n in COUNT_RE.findall(html)}


def tab_bar(desk: Desk, query: str = "") -> dict[str, int]:
    """Every tab's count, as the tab bar loads them (the list counts only its own tab)."""
    html = desk.browser.get(f"/merchant/orders/counts{query}", htmx=True, target="order-tabs")
    return counts(html.get_data(as_text=True))


def trigger(response: object) -> dict:
    return json.loads(response.headers["HX-Trigger"])


# --- tabs, counts, fragments ------------------------------------------------------------------


def test_tabs_list_orders_by_stage_with_counts(desk):
    desk.seed(
        demo_order(order_no(1)),
        demo_order(order_no(2)),
        demo_order(order_no(3)),
        demo_order(order_no(4)),
        demo_order(order_no(5)),
        demo_order(order_no(6), after_sale_status="退款中", after_sale_active=True),
        demo_order(order_no(7), audit_hold=True),
        demo_order(order_no(8), district=""),  # 广州市 has districts: incomplete
        demo_order(order_no(9), platform_status="cancelled", platform_status_text="已取消"),
    )
    desk.assign([order_no(3), order_no(4)])
    desk.set_stage([order_no(5)], "returned")

    html = desk.page(target=None)
    assert "<html" in html and 'id="order-desk"' in html
    assert '<aside id="order-drawer" class="drawer" aria-label="订单详情" hidden></aside>' in html
    # The page counts only the tab it shows; the tab bar loads the others as soon as it is shown.
    assert counts(html) == {"unassigned": 2}
    assert html.count('<span class="count pending" aria-hidden="true">…</span>') == 5
    assert 'hx-trigger="load, every 30s, ordersChanged from:body"' in html
    assert tab_bar(desk) == {
        "unassigned": 2,
        "assigned": 2,
        "returned": 1,
        "dispatched": 0,
        "exceptions": 3,
        "all": 9,
    }
    assert sorted(listed(html)) == [order_no(1), order_no(2)]  # 待分配 is the default tab
    assert sorted(listed(desk.page("?tab=assigned"))) == [order_no(3), order_no(4)]
    assert listed(desk.page("?tab=returned")) == [order_no(5)]
    assert listed(desk.page("?tab=dispatched")) == []
    assert sorted(listed(desk.page("?tab=exceptions"))) == [order_no(n) for n in (6, 7, 8)]
    assert len(listed(desk.page("?tab=all"))) == 9

    # the merchant reads its own receivers in clear, and every badge says why
    html = desk.page("?tab=all")
    assert "张伟" in html and "13577446522" in html
    for badge in ("售后中", "审核中", "地址不完整", "已取消", "一号工厂"):
        assert badge in html
    assert "<script>" not in html and 'style="' not in html and " onclick=" not in html


def test_fragments_by_target_and_counts_refresh(desk):
    desk.seed(demo_order(order_no(1)))
    # what the filter form sends: every field, empty or not
    response = desk.browser.get(
        "/merchant/orders?tab=all&q=&supplier_id=&sku=BLK-150-GRY&paid_from=&paid_to=&page=1",
        htmx=True,
        target="order-desk",
    )
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="order-desk">')
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["HX-Push-Url"] == "/merchant/orders?tab=all&sku=BLK-150-GRY"
    # a history restore (htmx without a target) gets the full page
    restore = desk.browser.client.get(
        "/merchant/orders?tab=all",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.get_data(as_text=True)

    tabs = desk.browser.get(
        "/merchant/orders/counts?tab=all&sku=BLK-150-GRY", htmx=True, target="order-tabs"
    ).get_data(as_text=True)
    assert tabs.lstrip().startswith('<nav id="order-tabs"')
    assert 'hx-trigger="every 30s, ordersChanged from:body"' in tabs
    assert counts(tabs)["all"] == 1
    # the polling URL and the tab links keep the filters
    assert 'hx-get="/merchant/orders/counts?tab=all&amp;sku=BLK-150-GRY"' in tabs
    assert 'href="/merchant/orders?tab=unassigned&amp;sku=BLK-150-GRY"' in tabs


def test_deadline_rows_are_highlighted(desk):
    desk.seed(
        demo_order(order_no(1), promise_ship_at=later(-2)),
        demo_order(order_no(2), promise_ship_at=later(5)),
        demo_order(order_no(3), promise_ship_at=later(48)),
    )
    html = desk.page()
    rows = dict(
        (number, attrs)
        for attrs, number in re.findall(
            r'<tr id="row-\d+"([^>]*)>\s*<td class="check"><input type="checkbox" '
            r'name="order_no" value="([^"]+)"',
            html,
        )
    )
    assert 'class="row-danger"' in rows[order_no(1)] and "已超时" in html
    assert 'class="row-warn"' in rows[order_no(2)] and "即将超时" in html
    assert "class=" not in rows[order_no(3)]


# --- filters ----------------------------------------------------------------------------------


def test_filter_by_supplier(desk):
    desk.seed(*(demo_order(order_no(n)) for n in range(1, 5)))
    desk.assign([order_no(1), order_no(2)], index=0)
    desk.assign([order_no(3)], index=1)
    first = desk.page(f"?tab=assigned&supplier_id={desk.supplier_id(0)}")
    assert sorted(listed(first)) == [order_no(1), order_no(2)]
    assert counts(first) == {"assigned": 2}
    assert tab_bar(desk, f"?tab=assigned&supplier_id={desk.supplier_id(0)}")["all"] == 2
    second = desk.page(f"?tab=all&supplier_id={desk.supplier_id(1)}")
    assert listed(second) == [order_no(3)]
    # junk in the filter is ignored, not an error
    assert len(listed(desk.page("?tab=all&supplier_id=abc&paid_from=2026-13-40"))) == 4


def test_filter_by_paid_date_at_shanghai_midnight(desk):
    midnight = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 2026-11-21 00:00 in Shanghai
    desk.seed(
        demo_order(order_no(1), paid_at=midnight - timedelta(seconds=1)),
        demo_order(order_no(2), paid_at=midnight),
        demo_order(order_no(3), paid_at=midnight + timedelta(days=1) - timedelta(seconds=1)),
        demo_order(order_no(4), paid_at=midnight + timedelta(days=1)),
    )
    assert sorted(listed(desk.page("?paid_from=2026-11-21&paid_to=2026-11-21"))) == [
        order_no(2),
        order_no(3),
    ]
    assert listed(desk.page("?paid_to=2026-11-20")) == [order_no(1)]
    assert listed(desk.page("?paid_from=2026-11-22")) == [order_no(4)]
    # reversed bounds are read the right way round
    assert len(listed(desk.page("?paid_from=2026-11-22&paid_to=2026-11-20"))) == 4
    # far-off dates are typing errors: ignored, never a 500 (9999-12-31 + 1 day overflowed)
    assert len(listed(desk.page("?paid_to=9999-12-31&paid_from=0001-01-01"))) == 4


def test_filter_by_sku_and_search_by_order_number_or_phone(desk):
    desk.seed(
        demo_order(order_no(1), sku_code="SKU-A", receiver_phone="13577446522"),
        demo_order(order_no(2), sku_code="SKU-B", receiver_phone="13900001111"),
        demo_order(order_no(3), sku_code="SKU-A", receiver_phone="0755-26541234"),
    )
    assert sorted(listed(desk.page("?sku=SKU-A"))) == [order_no(1), order_no(3)]
    assert listed(desk.page(f"?q={order_no(2)}")) == [order_no(2)]
    # any part of 6+ characters of the number; shorter parts match nothing (§10.7)
    assert listed(desk.page("?" + _query(q=order_no(2)[-8:]))) == [order_no(2)]
    assert listed(desk.page("?" + _query(q=order_no(2)[-4:]))) == []
    assert sorted(listed(desk.page("?sku=sku-a"))) == [order_no(1), order_no(3)]
    full_width = order_no(2).translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    assert listed(desk.page("?" + _query(q=full_width))) == [order_no(2)]
    # the phone in another notation finds the order through the blind index
    for typed in (
        "+86 135 7744 6522",
        "135-7744-6522",
        "008613577446522",
        "１３５７７４４６５２２",
    ):
        html = desk.page("?" + _query(q=typed))
        assert listed(html) == [order_no(1)], typed
        assert f'value="{unicodedata.normalize("NFKC", typed)}"' in html
    assert listed(desk.page("?" + _query(q="(0755) 2654 1234"))) == [order_no(3)]
    assert listed(desk.page("?" + _query(q="13800000000"))) == []


def _query(**values: str) -> str:
    return urlencode(values)


def test_pagination_keeps_filters(desk):
    desk.seed(*(demo_order(order_no(n), sku_code="PAGED") for n in range(1, 121)))
    desk.seed(demo_order(order_no(500), sku_code="OTHER"))
    first = desk.page("?sku=PAGED")
    assert len(listed(first)) == 50
    assert "共 120 单" in first and "第 1 / 3 页" in first
    assert "/merchant/orders?page=2&amp;sku=PAGED&amp;tab=unassigned" in first
    third = desk.page("?sku=PAGED&page=3")
    assert len(listed(third)) == 20 and "第 3 / 3 页" in third
    seen = set(listed(first)) | set(listed(desk.page("?sku=PAGED&page=2"))) | set(listed(third))
    assert len(seen) == 120 and order_no(500) not in seen
    # newest first, and a page past the end is empty rather than an error
    assert listed(first)[0] == order_no(120)
    assert listed(desk.page("?sku=PAGED&page=9")) == []


def test_counts_stop_at_the_cap_and_pages_walk_on(desk, app):
    """Above COUNT_CAP a tab reads "N+" and its pages go on with 下一页 until the last row."""
    app.config["COUNT_CAP"] = 60
    desk.seed(*(demo_order(order_no(n), sku_code="PAGED") for n in range(1, 121)))
    desk.seed(*(demo_order(order_no(n), sku_code="FEW") for n in range(200, 205)))
    first = desk.page("?sku=PAGED")
    assert 'data-tab="unassigned">待分配 <span class="count">60+</span>' in first
    assert "共 60+ 单 · 第 1 页" in first and "/ 3 页" not in first
    assert 'data-total="60+"' in first and "选择全部 60+ 个符合条件的订单" in first
    second = desk.page("?sku=PAGED&page=2")
    assert "page=3" in second and 'rel="next"' in second  # past the counted pages
    third = desk.page("?sku=PAGED&page=3")
    assert len(listed(third)) == 20 and 'rel="next"' not in third
    seen = set(listed(first)) | set(listed(second)) | set(listed(third))
    assert len(seen) == 120
    # under the cap nothing changes
    few = desk.page("?sku=FEW")
    assert "共 5 单 · 第 1 / 1 页" in few and counts(few)["unassigned"] == 5
    assert "60+" in desk.browser.get("/merchant/").get_data(as_text=True)


def test_the_worker_keeps_sqlite_statistics_for_the_supplier_filtered_counts(desk, app, factory):
    """Without statistics SQLite counted 待分配 under a supplier filter on the 6-column partial
    index, reading every assignable order of the merchant (36 ms at 1M orders); with them it
    takes the empty (merchant, supplier, stage) range. PostgreSQL analyses by itself."""
    # a merchant's usual shape: a small backlog, a history spread over suppliers and stages
    desk.suppliers.extend(factory.supplier() for _ in range(4))
    desk.seed(*(demo_order(order_no(n)) for n in range(1, 301)))
    stages = ("assigned", "returned", "dispatched")
    for n in range(1, 271):
        desk.set_stage([order_no(n)], stages[n % 3], index=n // 3 % len(desk.suppliers))
    with app.app_context():
        merchant = desk.merchant()
        filters = queries.OrderFilters(supplier_id=desk.supplier_id())
        where = queries.filter_conditions(current_keyring(), merchant, filters)
        query = select(Order.id).where(*where, queries.tab_condition(queries.TAB_UNASSIGNED))
        compiled = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))

        def plan() -> str:
            rows = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + compiled)
            text = " ".join(str(row) for row in rows)
            db.session.rollback()
            return text

        if db.engine.dialect.name != "sqlite":
            assert maintenance.refresh_statistics() is False
            return
        assert "ix_orders_merchant_assignable" in plan()  # the guess, before any statistics
        queue.sweep(app)  # what the worker runs when it starts (then hourly)
        db.session.remove()
        db.engine.dispose()  # connections load statistics when they open
        assert "ix_orders_merchant_supplier_stage" in plan()
        analyses = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: analyses.append(a[2]))
        queue.sweep(app)  # within the hour: nothing to do
        assert "ANALYZE" not in analyses
        app.extensions[maintenance.STATE_KEY]["next"] = 0.0  # an hour later
        queue.sweep(app)
        assert "ANALYZE" in analyses


# --- batch actions ----------------------------------------------------------------------------


def test_batch_assign_reports_each_refusal_in_chinese(desk):
    desk.seed(
        demo_order(order_no(1)),
        demo_order(order_no(2)),
        demo_order(order_no(3), after_sale_status="退款中", after_sale_active=True),
        demo_order(order_no(4), audit_hold=True),
        demo_order(order_no(5)),
    )
    desk.assign([order_no(5)], index=1)
    response = desk.post(
        "/merchant/orders/assign",
        {
            "tab": "all",
            "order_no": [order_no(n) for n in (1, 2, 3, 4, 5)] + ["261121-999999999999999"],
            "assign_to": str(desk.supplier_id(0)),
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="order-list"')
    assert "已分配 2 单给 一号工厂" in html
    refusals = dict(
        re.findall(
            r'<li><span class="mono">([^<]+)</span> <span class="reason">([^<]+)</span>', html
        )
    )
    assert refusals == {
        order_no(3): "售后中，不能分配",
        order_no(4): "平台审核中，不能分配",
        order_no(5): "订单已分配",
        "261121-999999999999999": "找不到该记录",
    }
    events = trigger(response)
    assert events["ordersChanged"] is True
    assert events["showToast"]["message"] == "已分配 2 单给 一号工厂"
    assert response.headers["HX-Replace-Url"] == "/merchant/orders?tab=all"
    assert desk.order(order_no(1)).supplier_id == desk.supplier_id(0)
    assert desk.order(order_no(5)).supplier_id == desk.supplier_id(1)  # untouched
    # the supplier choice survives the refresh
    assert f'<option value="{desk.supplier_id(0)}" selected>' in html


def test_assign_to_an_unbound_supplier_is_refused(desk, app, factory):
    stranger = factory.supplier(factory_name="陌生工厂")
    desk.seed(demo_order(order_no(1)))
    response = desk.post(
        "/merchant/orders/assign",
        {"order_no": order_no(1), "assign_to": str(stranger.supplier.id)},
    )
    html = response.get_data(as_text=True)
    assert "已分配 0 单" in html and "未与该厂家绑定或绑定已解除" in html
    assert desk.order(order_no(1)).stage == "unassigned"


def test_nothing_selected_or_no_supplier_does_nothing(desk):
    desk.seed(demo_order(order_no(1)))
    response = desk.post("/merchant/orders/assign", {"assign_to": str(desk.supplier_id(0))})
    assert response.status_code == 422
    assert response.headers["HX-Reswap"] == "none"
    assert trigger(response)["showToast"]["message"] == "请先选择订单"
    response = desk.post("/merchant/orders/cancel", {"tab": "assigned"})
    assert trigger(response)["showToast"]["message"] == "请先选择订单"
    response = desk.post("/merchant/orders/assign", {"order_no": order_no(1)})
    assert response.status_code == 422
    assert trigger(response)["showToast"]["message"] == "请选择要分配的厂家"
    assert desk.order(order_no(1)).stage == "unassigned"


def test_select_all_matching_assigns_every_matching_order(desk):
    desk.seed(*(demo_order(order_no(n), sku_code="BULK") for n in range(1, 121)))
    desk.seed(*(demo_order(order_no(n), sku_code="KEEP") for n in range(200, 205)))
    html = desk.page("?sku=BULK")
    assert 'data-select-all-matching data-total="120"' in html
    assert '<input type="hidden" name="all_matching" value="1" disabled>' in html
    # what the browser sends: the page's ticked rows, the enabled all_matching and #order-state
    response = desk.post(
        "/merchant/orders/assign",
        {
            "tab": "unassigned",
            "sku": "BULK",
            "all_matching": "1",
            "order_no": listed(html),
            "assign_to": str(desk.supplier_id(1)),
        },
    )
    html = response.get_data(as_text=True)
    assert "已分配 120 单给 二号工厂" in html
    assert listed(html) == []  # the 待分配 list under this filter is now empty
    with desk.app.app_context():
        assigned = db.session.scalars(select(Order.sku_code).where(Order.stage == "assigned"))
        assert sorted(assigned) == ["BULK"] * 120
    tabs = desk.browser.get(
        "/merchant/orders/counts?tab=unassigned", htmx=True, target="order-tabs"
    ).get_data(as_text=True)
    assert counts(tabs)["assigned"] == 120 and counts(tabs)["unassigned"] == 5


def test_cancel_assignment_batch_and_per_row(desk):
    desk.seed(*(demo_order(order_no(n)) for n in range(1, 5)))
    desk.assign([order_no(1), order_no(2), order_no(3)])
    desk.set_stage([order_no(3)], "returned")
    html = desk.page("?tab=assigned")
    assert html.count(">取消分配</button>") == 3  # toolbar + one per row
    response = desk.post(
        "/merchant/orders/cancel",
        {"tab": "assigned", "order_no": [order_no(1), order_no(3), order_no(4)]},
    )
    html = response.get_data(as_text=True)
    assert "已取消分配 1 单" in html
    assert f'{order_no(3)}</span> <span class="reason">厂家已回传运单号，不能取消分配' in html
    assert f'{order_no(4)}</span> <span class="reason">订单未分配' in html
    assert listed(html) == [order_no(2)]
    assert desk.order(order_no(1)).stage == "unassigned"
    # the row button posts the one order number plus the filter state
    response = desk.post("/merchant/orders/cancel", {"tab": "assigned", "order_no": order_no(2)})
    assert "已取消分配 1 单" in response.get_data(as_text=True)
    with desk.app.app_context():
        reasons = db.session.scalars(
            select(OrderEvent.reason).where(OrderEvent.kind == "assignment_cancelled")
        ).all()
        assert reasons == ["manual", "manual"]


# --- address change, detail -------------------------------------------------------------------


def _changed_address(desk: Desk, number: str) -> Order:
    desk.seed(demo_order(number))
    desk.assign([number])
    desk.seed(demo_order(number, detail="石牌街道新地址9号"))
    order = desk.order(number)
    assert order.address_change_pending
    return order


def test_acknowledge_address_from_the_row(desk):
    order = _changed_address(desk, order_no(1))
    html = desk.page("?tab=exceptions")
    assert listed(html) == [order_no(1)] and "确认新地址" in html and "地址已变更" in html
    url = f"/merchant/orders/{order_no(1)}/acknowledge-address"
    response = desk.post(url, {}, target=f"row-{order.id}")
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="row-{order.id}"')
    assert "确认新地址" not in row and "hx-swap-oob" not in row
    events = trigger(response)
    assert events["ordersChanged"] is True
    assert events["showToast"]["message"] == "已确认新地址，厂家可以重新打印面单"
    assert not desk.order(order_no(1)).address_change_pending
    # again: nothing to acknowledge, said so
    again = desk.post(url, {}, target=f"row-{order.id}")
    assert trigger(again)["showToast"]["message"] == "该订单没有待确认的地址变更"


def test_acknowledge_address_from_the_drawer_refreshes_the_row_too(desk):
    order = _changed_address(desk, order_no(1))
    drawer = desk.browser.get(
        f"/merchant/orders/{order_no(1)}", htmx=True, target="order-drawer"
    ).get_data(as_text=True)
    assert "确认新地址" in drawer and "石牌街道新地址9号" in drawer
    response = desk.post(
        f"/merchant/orders/{order_no(1)}/acknowledge-address", {}, target="order-drawer"
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div class="drawer-header">')
    assert f'<template><tr id="row-{order.id}"' in html.replace("\n", "")
    assert 'hx-swap-oob="true"' in html
    assert "商家确认新地址" in html and "收货信息变更" in html
    # without htmx: back to the detail page
    plain = desk.browser.client.post(
        f"/merchant/orders/{order_no(1)}/acknowledge-address",
        headers={"X-CSRFToken": desk.browser.token},
    )
    assert plain.status_code == 303
    assert plain.headers["Location"].endswith(f"/merchant/orders/{order_no(1)}")


def test_detail_drawer_shows_receiver_money_and_history(desk):
    desk.seed(demo_order(order_no(1), merchant_note="加急"))
    desk.assign([order_no(1)], index=0)
    desk.post("/merchant/orders/cancel", {"order_no": order_no(1)})
    desk.assign([order_no(1)], index=1)
    response = desk.browser.get(f"/merchant/orders/{order_no(1)}", htmx=True, target="order-drawer")
    html = response.get_data(as_text=True)
    assert "<html" not in html
    for text in (
        "张伟",
        "13577446522",
        "石牌街道团结路887号18栋3004室",
        "广东省 广州市 天河区",
        "加厚珊瑚绒毛毯",
        "¥179.80",
        "¥171.80",
        "¥174.80",
        "请尽快发货",
        "加急",
        # paid_at (UTC) shown in Asia/Shanghai
        (BASE_ORDER.paid_at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M"),
        "二号工厂",
    ):
        assert text in html, text
    history = re.findall(
        r"<tr>\s*<td class=\"nowrap\">([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]*)", html
    )
    assert [(kind, reason.strip()) for _time, kind, reason in history] == [
        ("分配给厂家", ""),
        ("取消分配", "商家取消分配"),
        ("分配给厂家", ""),
    ]
    assert html.count(desk.merchant_user.username) >= 3  # the actor of each event
    assert "一号工厂" in html  # the supplier of the first assignment and its cancellation

    # a direct load renders the desk with the drawer open
    page = desk.browser.get(f"/merchant/orders/{order_no(1)}").get_data(as_text=True)
    assert "<html" in page and 'id="order-desk"' in page
    assert re.search(
        r'<aside id="order-drawer" class="drawer" aria-label="[^"]+">\s*'
        r'<div class="drawer-header">',
        page,
    )


def test_another_merchants_orders_are_not_found(desk, app, factory, make_browser):
    desk.seed(demo_order(order_no(1)))
    other = factory.merchant()
    with app.app_context():
        merchant = db.session.get(Merchant, other.merchant.id)
        upsert_orders(current_keyring(), merchant, [demo_order(order_no(2), receiver_name="李四")])
        db.session.commit()
    assert desk.browser.get(f"/merchant/orders/{order_no(2)}").status_code == 404
    assert (
        desk.browser.get(f"/merchant/orders/{order_no(2)}", htmx=True, target="order-drawer")
    ).status_code == 404
    response = desk.post(f"/merchant/orders/{order_no(2)}/acknowledge-address", {})
    assert response.status_code == 404
    response = desk.post(
        "/merchant/orders/assign",
        {"order_no": order_no(2), "assign_to": str(desk.supplier_id(0))},
    )
    assert "找不到该记录" in response.get_data(as_text=True)
    assert desk.order(order_no(2)).stage == "unassigned"
    html = desk.page("?tab=all&q=" + order_no(2))
    assert listed(html) == [] and "李四" not in html
    # the other merchant sees only its own
    browser = make_browser()
    browser.login(other.username)
    html = browser.get("/merchant/orders?tab=all").get_data(as_text=True)
    assert listed(html) == [order_no(2)]


# --- query discipline -------------------------------------------------------------------------


def _statements(app, browser, url: str) -> int:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = browser.get(url, htmx=True, target="order-desk")
        assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_page_queries_are_constant_and_only_the_page_is_decrypted(desk, app, monkeypatch):
    desk.seed(*(demo_order(order_no(n), sku_code="MANY") for n in range(1, 61)))
    desk.seed(*(demo_order(order_no(n), sku_code="FEW") for n in range(100, 103)))
    desk.assign([order_no(n) for n in range(1, 31)], index=0)
    desk.assign([order_no(n) for n in range(31, 61)], index=1)
    desk.assign([order_no(100)], index=0)

    calls = []
    real = queries.reveal_receiver
    monkeypatch.setattr(
        queries, "reveal_receiver", lambda *a, **k: calls.append(a[2]) or real(*a, **k)
    )
    many = _statements(app, desk.browser, "/merchant/orders?tab=assigned&sku=MANY")
    assert len(calls) == 50  # a page of 50 rows, never the 60 matching orders
    few = _statements(app, desk.browser, "/merchant/orders?tab=assigned&sku=FEW")
    assert many == few, (many, few)
    assert many <= 12  # user, bindings, the page, one capped count per tab (6), tracking …


def test_nav_and_dashboard(desk):
    desk.seed(
        demo_order(order_no(1), promise_ship_at=later(-3)),
        demo_order(order_no(2), promise_ship_at=later(4)),
        demo_order(order_no(3), promise_ship_at=later(72)),
        demo_order(order_no(4), audit_hold=True, promise_ship_at=later(72)),
    )
    desk.set_stage([order_no(2)], "returned")
    html = desk.browser.get("/merchant/").get_data(as_text=True)
    nav = html[html.index('class="sidebar"') :]
    assert nav.index("工作台") < nav.index(">订单<") < nav.index(">厂家<")
    assert 'href="/merchant/orders"' in html
    due = html[html.index('id="due-orders"') :]
    assert order_no(1) in due and order_no(2) in due and order_no(3) not in due
    assert due.index(order_no(1)) < due.index(order_no(2))  # soonest first
    assert "row-danger" in due and "row-warn" in due
    assert "1 / 2" in html  # late / due within 12 h
    assert 'href="/merchant/orders/import"' in html


def test_a_multi_item_order_shows_every_line_on_the_desk_and_in_the_drawer(desk):
    pillow = ImportedLine("3000000001", "记忆棉枕头", "单只装", "", "PIL-1", "", 3)
    desk.seed(demo_order(order_no(1), more_lines=(pillow,)), demo_order(order_no(2)))
    html = desk.page()
    row = re.search(rf'<tr id="row-\d+".*?{order_no(1)}.*?</tr>', html, re.S).group(0)
    assert "2 种商品，共 5 件" in row and "记忆棉枕头" in row and "PIL-1" in row
    assert "加厚珊瑚绒毛毯" in row
    # a SKU code of the second line finds the order
    assert listed(desk.page("?sku=pil-1")) == [order_no(1)]
    drawer = desk.browser.get(f"/merchant/orders/{order_no(1)}", htmx=True, target="order-drawer")
    text = drawer.get_data(as_text=True)
    assert text.count('class="kv goods-line"') == 2 and "单只装" in text
