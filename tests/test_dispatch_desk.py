"""发货 on the merchant order desk through HTTP, as the browser's htmx requests make it: batch
and one-click dispatch, holds and their confirmation, the 已发货 rows, the export file."""

from __future__ import annotations

import csv
import html as htmllib
import io
import re
from datetime import UTC, datetime

import openpyxl
import pytest
from sqlalchemy import event, select

from portal.domain import accounts, bindings, dispatch, dispatch_export
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import Merchant, Order, OrderEvent, ReturnAddress, Supplier, User
from tests.factories import demo_order
from tests.test_order_desk import Desk, counts, listed, order_no, trigger

REFUSAL_RE = re.compile(
    r'<li><span class="mono">([^<]+)</span> <span class="reason">([^<]+)</span>'
)
ROW_RE = r'<tr id="row-{id}"[^>]*>.*?</tr>'
HOLD_CONFIRMATION = "包含售后中/审核中的订单，我已确认仍要发货"
T0 = datetime(2026, 11, 21, 16, 30, tzinfo=UTC)  # 2026-11-22 00:30 in Asia/Shanghai

TRACKING = {
    "ZTO": lambda n: f"7730{n:09d}",
    "YTO": lambda n: f"YT{n:013d}",
    "SF": lambda n: f"SF{n:013d}",
}


@pytest.fixture
def desk(app, factory, browser) -> Desk:
    """The order desk of a merchant bound to one factory, logged in through a browser."""
    m_user, s_user = factory.merchant(), factory.supplier(factory_name="一号工厂")
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        binding = bindings.apply_for_binding(merchant, s_user.shop_id)
        bindings.accept_binding(db.session.get(Supplier, s_user.supplier.id), binding.id)
        db.session.commit()
    browser.login(m_user.username)
    return Desk(app, browser, m_user, [s_user])


def tracking_no(courier: str, number: str) -> str:
    return TRACKING[courier](int(number.rsplit("-", 1)[1]))


def returned(desk: Desk, numbers: list[str], courier: str = "ZTO", **changes: object) -> None:
    """Orders imported, assigned to the first factory, and returned by it for real."""
    desk.seed(*(demo_order(n, **changes) for n in numbers))
    desk.assign(numbers)
    with desk.app.app_context():
        supplier = db.session.get(Supplier, desk.supplier_id(0))
        items = [TrackingItem(n, courier, tracking_no(courier, n)) for n in numbers]
        result = return_tracking(supplier, items, None)
        db.session.commit()
        assert sorted(result.returned) == sorted(numbers), result.refused


def add_address(desk: Desk, name: str, *, default: bool = False, merchant_id: int | None = None):
    with desk.app.app_context():
        merchant = db.session.get(Merchant, merchant_id or desk.merchant_user.merchant.id)
        address = accounts.add_return_address(
            merchant,
            accounts.AddressInput(
                name, "13800138000", "浙江省", "杭州市", "余杭区", "仓前街道 1 号"
            ),
            make_default=default,
        )
        db.session.commit()
        return address.id


def dispatch_at(desk: Desk, numbers: list[str], when: datetime, address_id: int | None = None):
    """Dispatch through the service at a fixed time (the desk's clock is now)."""
    with desk.app.app_context():
        result = dispatch.dispatch_orders(
            desk.merchant(),
            numbers,
            db.session.get(User, desk.merchant_user.id),
            return_address_id=address_id,
            now=when,
        )
        db.session.commit()
        assert sorted(result.dispatched) == sorted(numbers), result.refused


def refusals(html: str) -> dict[str, str]:
    return dict(REFUSAL_RE.findall(html))


def row_of(html: str, order: Order) -> str:
    match = re.search(ROW_RE.format(id=order.id), html, re.S)
    assert match, f"no row for {order.order_no}"
    return match.group(0)


def text_of(markup: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def tab_counts(desk: Desk) -> dict[str, int]:
    response = desk.browser.get("/merchant/orders/counts?tab=returned", htmx=True)
    return counts(response.get_data(as_text=True))


# --- the batch action ---------------------------------------------------------------------


def test_returned_tab_offers_batch_dispatch_with_the_default_address_chosen(desk):
    other = add_address(desk, "北仓")
    default = add_address(desk, "南仓", default=True)
    returned(desk, [order_no(1)])
    html = desk.page("?tab=returned")
    assert re.search(r'<select id="dispatch-address" name="return_address_id">', html)
    assert f'<option value="{default}" selected>退货地址：南仓 ' in html
    assert f'<option value="{other}">退货地址：北仓 ' in html
    assert '<input type="checkbox" name="confirm_holds" value="1">' in html
    assert HOLD_CONFIRMATION in html
    assert re.search(
        r'data-requires-selection\s+hx-post="/merchant/orders/dispatch" hx-include="#order-list"',
        html,
    )
    # 全部 has the action too; 已分配 and 待分配 do not
    assert 'hx-post="/merchant/orders/dispatch"' in desk.page("?tab=all")
    for tab in ("assigned", "unassigned", "dispatched"):
        assert "/merchant/orders/dispatch" not in desk.page(f"?tab={tab}").replace(
            "/merchant/orders/dispatch-export", ""
        )


def test_batch_dispatch_reports_each_refusal_with_its_dispatch_reason(desk):
    chosen = add_address(desk, "北仓")
    add_address(desk, "南仓", default=True)
    returned(desk, [order_no(n) for n in (1, 2, 3, 4, 5)])
    # after the return the platform reports holds and a cancellation: the orders stay returned
    desk.seed(
        demo_order(order_no(3), after_sale_status="退款中", after_sale_active=True),
        demo_order(order_no(4), audit_hold=True),
        demo_order(order_no(5), platform_status="cancelled", platform_status_text="已取消"),
        demo_order(order_no(6)),
        demo_order(order_no(7)),
    )
    desk.assign([order_no(7)])
    response = desk.post(
        "/merchant/orders/dispatch",
        {
            "tab": "returned",
            "order_no": [order_no(n) for n in range(1, 8)] + ["261121-999999999999999"],
            "return_address_id": str(chosen),
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="order-list"')
    assert "已发货 2 单" in html
    assert refusals(html) == {
        order_no(3): "售后中，需确认后才能发货",
        order_no(4): "平台审核中，需确认后才能发货",
        order_no(5): "订单已取消，不能发货",
        order_no(6): "订单还没有分配给厂家",
        order_no(7): "厂家还没有回传运单号",
        "261121-999999999999999": "找不到该记录",
    }
    assert f"请勾选「{HOLD_CONFIRMATION}」后再次发货" in html
    events = trigger(response)
    assert events["ordersChanged"] is True
    assert events["showToast"] == {"message": "已发货 2 单", "level": "warning"}
    assert response.headers["HX-Replace-Url"] == "/merchant/orders?tab=returned"
    # the address chosen stays chosen; the list no longer shows what was dispatched
    assert f'<option value="{chosen}" selected>' in html
    assert sorted(listed(html)) == [order_no(n) for n in (3, 4, 5)]
    for n in (1, 2):
        order = desk.order(order_no(n))
        assert (order.stage, order.return_address_id) == ("dispatched", chosen)
        assert order.dispatched_by == desk.merchant_user.id and order.dispatched_at is not None
    for n in (3, 4, 5):
        assert desk.order(order_no(n)).stage == "returned"


def test_held_orders_go_out_only_with_the_explicit_confirmation(desk):
    add_address(desk, "南仓", default=True)
    returned(desk, [order_no(1), order_no(2), order_no(3)])
    desk.seed(
        demo_order(order_no(1), after_sale_status="退款中", after_sale_active=True),
        demo_order(order_no(2), audit_hold=True),
    )
    form = {"tab": "returned", "order_no": [order_no(1), order_no(2), order_no(3)]}
    html = desk.post("/merchant/orders/dispatch", form).get_data(as_text=True)
    assert "已发货 1 单" in html and set(refusals(html)) == {order_no(1), order_no(2)}
    assert desk.order(order_no(1)).stage == "returned"

    # a confirmation that is not the ticked checkbox's value confirms nothing
    html = desk.post("/merchant/orders/dispatch", {**form, "confirm_holds": "on"}).get_data(
        as_text=True
    )
    assert "已发货 0 单" in html and desk.order(order_no(2)).stage == "returned"

    response = desk.post("/merchant/orders/dispatch", {**form, "confirm_holds": "1"})
    html = response.get_data(as_text=True)
    assert "已发货 2 单" in html
    assert refusals(html) == {order_no(3): "订单已发货"}
    assert "请勾选" not in html
    with desk.app.app_context():
        notes = db.session.scalars(
            select(OrderEvent.note).where(OrderEvent.kind == "dispatched").order_by(OrderEvent.id)
        ).all()
    assert "已确认售后中发货" in notes[1] and "已确认审核中发货" in notes[2]


def test_select_all_matching_dispatches_every_matching_order(desk):
    add_address(desk, "南仓", default=True)
    bulk = [order_no(n) for n in range(1, 61)]
    keep = [order_no(n) for n in range(100, 103)]
    returned(desk, bulk, sku_code="BULK")
    returned(desk, keep, sku_code="KEEP")
    html = desk.page("?tab=returned&sku=BULK")
    assert 'data-select-all-matching data-total="60"' in html
    response = desk.post(
        "/merchant/orders/dispatch",
        {"tab": "returned", "sku": "BULK", "all_matching": "1", "order_no": listed(html)},
    )
    html = response.get_data(as_text=True)
    assert "已发货 60 单" in html and listed(html) == []
    assert response.headers["HX-Replace-Url"] == "/merchant/orders?tab=returned&sku=BULK"
    with desk.app.app_context():
        stages = set(db.session.scalars(select(Order.stage).where(Order.sku_code == "KEEP")))
    assert stages == {"returned"}
    assert tab_counts(desk)["dispatched"] == 60


def test_without_a_return_address_dispatch_is_disabled_and_refused(desk):
    returned(desk, [order_no(1)])
    order = desk.order(order_no(1))
    html = desk.page("?tab=returned")
    assert (
        'href="/merchant/settings#addresses-section">发货需要退货地址，请先在「设置」中添加</a>'
        in html
    )
    assert '<button type="button" class="btn btn-primary btn-sm" disabled>批量发货</button>' in html
    row = row_of(html, order)
    assert "添加退货地址" in row and "/dispatch" not in row

    for url, target in (
        ("/merchant/orders/dispatch", "order-list"),
        (f"/merchant/orders/{order_no(1)}/dispatch", f"row-{order.id}"),
    ):
        response = desk.post(url, {"order_no": order_no(1)}, target=target)
        assert response.status_code == 422
        assert response.headers["HX-Reswap"] == "none"
        message = trigger(response)["showToast"]["message"]
        assert message == "发货需要退货地址，请先在「设置」中添加退货地址"
    assert desk.order(order_no(1)).stage == "returned"


def test_nothing_selected_dispatches_nothing(desk):
    add_address(desk, "南仓", default=True)
    returned(desk, [order_no(1)])
    response = desk.post("/merchant/orders/dispatch", {"tab": "returned"})
    assert response.status_code == 422
    assert trigger(response)["showToast"]["message"] == "请先选择订单"
    # junk for the address falls back to the default, junk numbers are simply not found
    response = desk.post(
        "/merchant/orders/dispatch",
        {"order_no": ["", "   ", "x" * 500], "return_address_id": "abc", "tab": "nonsense"},
    )
    assert response.status_code == 200
    assert "已发货 0 单" in response.get_data(as_text=True)
    assert desk.order(order_no(1)).stage == "returned"


# --- one click --------------------------------------------------------------------------------


def test_one_click_dispatch_from_the_row(desk):
    """A batch of one: the list answers, so the row leaves 已回传 at once (a select-all after
    it no longer picks it up), and the panel offers the platform's file for it."""
    address = add_address(desk, "南仓", default=True)
    returned(desk, [order_no(1), order_no(2)])
    order = desk.order(order_no(1))
    row = row_of(desk.page("?tab=returned"), order)
    assert 'hx-post="/merchant/orders/dispatch"' in row
    assert f"""hx-vals='{{"order_no": "{order_no(1)}"}}'""" in row
    assert 'hx-include="#order-state" hx-target="#order-list"' in row
    assert "hx-confirm" not in row and "confirm_holds" not in row

    response = desk.post(
        "/merchant/orders/dispatch",
        {"tab": "returned", "order_no": order_no(1)},
        target="order-list",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert order_no(1) not in listed(html) and listed(html) == [order_no(2)]
    assert "已发货 1 单" in text_of(html)
    assert "下一步：平台还不知道这些订单已发货" in text_of(html)
    assert trigger(response)["ordersChanged"] is True
    assert desk.order(order_no(1)).return_address_id == address
    tabs = tab_counts(desk)  # what the ordersChanged event makes the tab bar fetch
    assert (tabs["returned"], tabs["dispatched"]) == (1, 1)

    # the drawer's 发货 (one order, its row refreshed): again is refused with the reason
    again = desk.post(f"/merchant/orders/{order_no(1)}/dispatch", {}, target=f"row-{order.id}")
    assert again.status_code == 200
    assert trigger(again)["showToast"] == {"message": "订单已发货", "level": "warning"}


def test_one_click_on_a_held_order_asks_first(desk):
    add_address(desk, "南仓", default=True)
    returned(desk, [order_no(1)])
    desk.seed(demo_order(order_no(1), after_sale_status="退款中", after_sale_active=True))
    order = desk.order(order_no(1))
    row = row_of(desk.page("?tab=returned"), order)
    assert f"""hx-vals='{{"confirm_holds": "1", "order_no": "{order_no(1)}"}}'""" in row
    assert f'hx-confirm="订单 {order_no(1)} 售后中，确认仍要发货？"' in row

    # the hold came after the page was shown: a click without the confirmation is refused
    url = f"/merchant/orders/{order_no(1)}/dispatch"
    response = desk.post(url, {}, target=f"row-{order.id}")
    assert trigger(response)["showToast"] == {
        "message": "售后中，需确认后才能发货",
        "level": "warning",
    }
    assert "hx-confirm" in response.get_data(as_text=True)  # the row now asks
    assert desk.order(order_no(1)).stage == "returned"

    response = desk.post(url, {"confirm_holds": "1"}, target=f"row-{order.id}")
    assert trigger(response)["showToast"]["message"] == f"订单 {order_no(1)} 已发货"
    assert desk.order(order_no(1)).stage == "dispatched"


def test_one_click_from_the_drawer_refreshes_the_row_too(desk):
    add_address(desk, "南仓", default=True)
    returned(desk, [order_no(1)])
    desk.seed(demo_order(order_no(1), audit_hold=True))
    order = desk.order(order_no(1))
    drawer = desk.browser.get(
        f"/merchant/orders/{order_no(1)}", htmx=True, target="order-drawer"
    ).get_data(as_text=True)
    panel = text_of(drawer)
    assert "厂家已回传运单号，可以发货" in panel and "该订单审核中，发货前需要你确认。" in panel
    assert "退货地址：南仓 13800138000 浙江省杭州市余杭区仓前街道 1 号" in panel
    assert 'hx-target="#order-drawer"' in drawer
    assert f'hx-confirm="订单 {order_no(1)} 审核中，确认仍要发货？"' in drawer

    response = desk.post(
        f"/merchant/orders/{order_no(1)}/dispatch", {"confirm_holds": "1"}, target="order-drawer"
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div class="drawer-header">')
    assert f'<template><tr id="row-{order.id}" hx-swap-oob="true"' in html.replace("\n", "")
    assert trigger(response)["ordersChanged"] is True
    drawer = text_of(html.split("<template>")[0])
    assert "可以发货" not in drawer
    assert re.search(r"发货时间 \d{4}-\d{2}-\d{2} \d{2}:\d{2}", drawer)
    assert "退货地址 南仓 13800138000 浙江省杭州市余杭区仓前街道 1 号" in drawer
    assert "商家发货" in drawer and "已确认审核中发货" in drawer  # the history line

    # without htmx: to the order's page
    plain = desk.browser.client.post(
        f"/merchant/orders/{order_no(1)}/dispatch", headers={"X-CSRFToken": desk.browser.token}
    )
    assert plain.status_code == 303
    assert plain.headers["Location"].endswith(f"/merchant/orders/{order_no(1)}")


def test_another_merchants_order_is_not_found(desk, app, factory):
    add_address(desk, "南仓", default=True)
    other = factory.merchant()
    add_address(desk, "他仓", default=True, merchant_id=other.merchant.id)
    with app.app_context():
        merchant = db.session.get(Merchant, other.merchant.id)
        upsert_orders(current_keyring(), merchant, [demo_order(order_no(2))])
        db.session.commit()
    response = desk.post(f"/merchant/orders/{order_no(2)}/dispatch", {"confirm_holds": "1"})
    assert response.status_code == 404
    html = desk.post("/merchant/orders/dispatch", {"order_no": order_no(2)}).get_data(as_text=True)
    assert refusals(html) == {order_no(2): "找不到该记录"}
    with app.app_context():
        theirs = db.session.scalar(
            select(ReturnAddress.id).where(ReturnAddress.contact_name == "他仓")
        )
    # another merchant's address is no choice either
    response = desk.post(
        "/merchant/orders/dispatch",
        {"order_no": order_no(2), "return_address_id": str(theirs)},
    )
    assert response.status_code == 404
    assert trigger(response)["showToast"]["message"] == "找不到该退货地址"


# --- 已发货 ------------------------------------------------------------------------------------


def _statements(desk: Desk, url: str) -> int:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    with desk.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert desk.browser.get(url, htmx=True, target="order-desk").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_dispatched_tab_shows_time_and_return_address_without_a_query_per_row(desk):
    north = add_address(desk, "北仓")
    add_address(desk, "南仓", default=True)
    few = [order_no(n) for n in range(1, 4)]
    many = [order_no(n) for n in range(10, 50)]
    returned(desk, few + many)
    dispatch_at(desk, [few[0]], T0, north)
    dispatch_at(desk, few[1:], T0)

    html = desk.page("?tab=dispatched")
    first = text_of(row_of(html, desk.order(few[0])))
    assert "发货 2026-11-22 00:30" in first  # stored UTC, shown in Asia/Shanghai
    assert "退货地址：北仓 浙江省杭州市余杭区仓前街道 1 号" in first
    assert "退货地址：南仓" in text_of(row_of(html, desk.order(few[1])))
    drawer = text_of(
        desk.browser.get(f"/merchant/orders/{few[0]}", htmx=True, target="order-drawer").get_data(
            as_text=True
        )
    )
    assert "发货时间 2026-11-22 00:30 退货地址 北仓 13800138000" in drawer

    few_count = _statements(desk, "/merchant/orders?tab=dispatched")
    dispatch_at(desk, many, T0, north)
    assert len(listed(desk.page("?tab=dispatched"))) == 43
    assert _statements(desk, "/merchant/orders?tab=dispatched") == few_count


# --- the batch-shipping file ------------------------------------------------------------------


def _csv_rows(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # Excel/WPS read the Chinese
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_export_in_the_platform_batch_shipping_layout(desk, factory, make_browser):
    add_address(desk, "南仓", default=True)
    yto, sf, zto = order_no(1), order_no(2), order_no(3)
    returned(desk, [yto], courier="YTO")
    returned(desk, [sf], courier="SF")
    returned(desk, [zto, order_no(4)])
    dispatch_at(desk, [yto], datetime(2026, 11, 20, 15, 59, tzinfo=UTC))  # 11-20 23:59 Shanghai
    dispatch_at(desk, [sf], datetime(2026, 11, 20, 16, 0, tzinfo=UTC))  # 11-21 00:00 Shanghai
    dispatch_at(desk, [zto], T0)  # 11-22 00:30 Shanghai

    html = desk.page("?tab=dispatched")
    assert 'action="/merchant/orders/dispatch-export"' in html and "data-no-busy" in html
    assert "导出发货文件" in html and re.search(r'name="since" value="\d{4}-\d{2}-\d{2}"', html)
    assert "导出发货文件" not in desk.page("?tab=returned")

    response = desk.browser.get("/merchant/orders/dispatch-export?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.fullmatch(
        r'attachment; filename="dispatch-\d{8}-\d{4}\.csv"', response.headers["Content-Disposition"]
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert _csv_rows(response) == [
        ["订单号", "快递公司", "快递单号"],
        [yto, "圆通快递", tracking_no("YTO", yto)],  # the platform's spelling, not 圆通速递
        [sf, "顺丰速运", tracking_no("SF", sf)],
        [zto, "中通快递", tracking_no("ZTO", zto)],
    ]
    # Shanghai days, both included; reversed dates are swapped
    window = desk.browser.get(
        "/merchant/orders/dispatch-export?format=csv&since=2026-11-22&until=2026-11-21"
    )
    assert [row[0] for row in _csv_rows(window)[1:]] == [sf, zto]
    one_day = desk.browser.get("/merchant/orders/dispatch-export?since=2026-11-20&until=2026-11-20")
    assert [row[0] for row in _csv_rows(one_day)[1:]] == [yto]
    # junk dates and formats are ignored, as the desk's filters are
    junk = desk.browser.get("/merchant/orders/dispatch-export?since=tomorrow&format=pdf")
    assert junk.mimetype == "text/csv" and len(_csv_rows(junk)) == 4

    xlsx = desk.browser.get("/merchant/orders/dispatch-export?format=xlsx&since=2026-11-21")
    assert xlsx.status_code == 200
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert re.fullmatch(
        r"attachment; filename=dispatch-\d{8}-\d{4}\.xlsx", xlsx.headers["Content-Disposition"]
    )
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_data())).active
    xlsx.close()  # a WSGI server closes the response, and with it the spooled file
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["订单号", "快递公司", "快递单号"],
        [sf, "顺丰速运", tracking_no("SF", sf)],
        [zto, "中通快递", tracking_no("ZTO", zto)],  # all digits, kept as text
    ]

    # another merchant's export has none of these
    other = factory.merchant()
    browser = make_browser()
    browser.login(other.username)
    assert _csv_rows(browser.get("/merchant/orders/dispatch-export")) == [
        ["订单号", "快递公司", "快递单号"]
    ]


def test_export_streams_batch_after_batch(desk, monkeypatch):
    add_address(desk, "南仓", default=True)
    numbers = [order_no(n) for n in range(1, 8)]
    returned(desk, numbers)
    for index, number in enumerate(numbers):
        dispatch_at(desk, [number], datetime(2026, 11, 21, 1, index, tzinfo=UTC))
    # keyset batches of 2 rows: the stream reads four times after the view has returned
    monkeypatch.setattr(dispatch_export.dispatch_export_rows, "__defaults__", (None, None, 2))
    response = desk.browser.get("/merchant/orders/dispatch-export")
    assert [row[0] for row in _csv_rows(response)[1:]] == numbers


@pytest.mark.parametrize("url", ["/merchant/orders/dispatch", "/merchant/orders/dispatch-export"])
def test_a_supplier_cannot_dispatch_or_export(url, app, factory, make_browser):
    supplier = factory.supplier()
    browser = make_browser()
    browser.login(supplier.username)
    response = browser.post(url) if url.endswith("dispatch") else browser.get(url)
    assert response.status_code == 403


def test_batch_dispatch_names_the_next_step_and_its_file_holds_exactly_that_batch(desk):
    """After 发货 the platform still says 待发货: the panel offers the batch-shipping file of
    exactly the dispatched orders, and they read 平台待同步 until an import says 已发货."""
    add_address(desk, "南仓", default=True)
    earlier, first, second, held = (order_no(n) for n in range(1, 5))
    returned(desk, [earlier, first, second, held])
    dispatch_at(desk, [earlier], T0)  # an earlier batch: not in this one's file
    desk.seed(demo_order(held, audit_hold=True))
    response = desk.post(
        "/merchant/orders/dispatch",
        {"tab": "returned", "order_no": [first, second, held]},
        target="order-list",
    )
    html = response.get_data(as_text=True)
    panel = text_of(
        html[html.index('id="batch-result"') : html.index('id="dispatch-next-step"') + 900]
    )
    assert (
        "已发货 2 单" in panel
        and "下一步：平台还不知道这些订单已发货。请下载这 2 单的批量发货文件" in panel
    )
    links = re.findall(r'href="(/merchant/orders/dispatch-export\?batch=[^"]+)"', html)
    assert len(links) == 2 and links[0].endswith("format=csv") and links[1].endswith("format=xlsx")
    rows = _csv_rows(desk.browser.get(htmllib.unescape(links[0])))
    assert rows[0] == ["订单号", "快递公司", "快递单号"]
    assert sorted(row[0] for row in rows[1:]) == [first, second]  # not the earlier, not the held
    sheet = desk.browser.get(htmllib.unescape(links[1]))
    book = openpyxl.load_workbook(io.BytesIO(sheet.get_data())).active
    sheet.close()
    assert sorted(row[0] for row in book.iter_rows(min_row=2, values_only=True)) == [first, second]

    dispatched = desk.page("?tab=dispatched")
    for number in (earlier, first, second):
        assert "平台待同步" in text_of(row_of(dispatched, desk.order(number)))
    # A later export shows the platform's own 已发货 for one of them.
    desk.seed(demo_order(first, platform_status="shipped", platform_status_text="已发货，待签收"))
    dispatched = desk.page("?tab=dispatched")
    assert "平台待同步" not in text_of(row_of(dispatched, desk.order(first)))
    assert "已发货，待签收" in text_of(row_of(dispatched, desk.order(first)))
    assert "平台待同步" in text_of(row_of(dispatched, desk.order(second)))
    # a junk batch is ignored like the other junk arguments: the whole export
    junk = _csv_rows(desk.browser.get("/merchant/orders/dispatch-export?batch=yesterday"))
    assert len(junk) == 4
