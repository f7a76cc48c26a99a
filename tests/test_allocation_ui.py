"""设置 → 自动分配 in the browser (rules, refusals by line, 立即执行 with its preview, the desk's
notice of a stopped rule) and the factory's 修改运单号 on its 已发货 tab."""

from __future__ import annotations

import json

from sqlalchemy import select

from portal.domain import bindings, dispatch
from portal.extensions import db
from portal.models import Binding, Order, OrderEvent, Supplier
from portal.models.base import utcnow
from tests import test_order_desk, test_supplier_desk
from tests.factories import demo_order
from tests.test_dispatch import add_address
from tests.test_order_desk import Desk, order_no
from tests.test_supplier_desk import SupplierDesk, private_order, row_html

desk = test_order_desk.desk  # fixtures: a merchant with two bound factories, logged in
supplier_desk = test_supplier_desk.desk

SETTINGS = "/merchant/settings/allocation"


def save(desk: Desk, **form: str) -> object:
    return desk.browser.post(SETTINGS, form, target="allocation-section")


def toast(response: object) -> str:
    return json.loads(response.headers["HX-Trigger"])["showToast"]["message"]


def placed(desk: Desk, number: str) -> int | None:
    return desk.order(number).supplier_id


def test_rules_are_saved_and_refusals_name_the_line(desk: Desk) -> None:
    one, two = (s.shop_id for s in desk.suppliers)
    page = desk.browser.get(SETTINGS).get_data(as_text=True)
    assert "自动分配规则" in page and "一号工厂" in page and 'value="manual" checked' in page
    refused = save(desk, mode="sku", supplier_shop_id="", sku_rules=f"A {one}\n\nB 999999999")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "SKU 规则第 3 行" in html and "未与该厂家绑定" in html
    assert "B 999999999" in html  # what was typed stays in the form
    assert save(desk, mode="auto").status_code == 422
    saved = save(desk, mode="sku", supplier_shop_id=two, sku_rules=f"BLK-150-GRY, {one}")
    assert saved.status_code == 200 and "自动分配规则已保存" in toast(saved)
    desk.seed(demo_order(order_no(1)), demo_order(order_no(2), sku_code="OTHER"))
    assert placed(desk, order_no(1)) == desk.supplier_id(0)
    assert placed(desk, order_no(2)) == desk.supplier_id(1)  # the fallback factory
    with desk.app.app_context():
        events = db.session.scalars(
            select(OrderEvent.reason).where(OrderEvent.kind == "auto_assigned")
        )
        assert sorted(events) == ["rule_sku", "rule_sku_fallback"]
    detail = desk.browser.get(f"/merchant/orders/{order_no(2)}").get_data(as_text=True)
    assert "自动分配" in detail and "兜底厂家" in detail


def test_apply_now_shows_its_preview_and_assigns(desk: Desk) -> None:
    desk.seed(
        demo_order(order_no(1)), demo_order(order_no(2)), demo_order(order_no(3), audit_hold=True)
    )
    save(desk, mode="shop", supplier_shop_id=desk.suppliers[0].shop_id)
    page = desk.browser.get(SETTINGS).get_data(as_text=True)
    assert "一号工厂：2 单" in page and "立即按规则分配 2 单" in page
    applied = desk.browser.post(f"{SETTINGS}/apply", {}, target="allocation-section")
    assert applied.status_code == 200 and "已按规则分配 2 单" in toast(applied)
    assert [placed(desk, order_no(n)) for n in (1, 2, 3)] == [desk.supplier_id(0)] * 2 + [None]


def test_a_stopped_rule_is_said_on_the_desk(desk: Desk) -> None:
    save(desk, mode="shop", supplier_shop_id=desk.suppliers[0].shop_id)
    status = f"{SETTINGS}/status"
    assert "已暂停" not in desk.browser.get(status).get_data(as_text=True)
    assert f'hx-get="{status}"' in desk.browser.get("/merchant/orders").get_data(as_text=True)
    with desk.app.app_context():
        binding = db.session.scalar(
            select(Binding).where(Binding.supplier_id == desk.supplier_id(0))
        )
        bindings.end_binding(binding, "merchant")
        db.session.commit()
    notice = desk.browser.get(status).get_data(as_text=True)
    assert "自动分配规则已暂停" in notice and "一号工厂" in notice
    desk.seed(demo_order(order_no(1)))
    assert placed(desk, order_no(1)) is None


def test_the_factory_corrects_a_dispatched_number_from_its_desk(
    supplier_desk: SupplierDesk,
) -> None:
    number = order_no(1)
    supplier_desk.seed_assigned(private_order(number))
    supplier_desk.return_numbers(test_supplier_desk.TrackingItem(number, "ZTO", "773000000001"))
    with supplier_desk.app.app_context():
        merchant = supplier_desk.merchant()
        add_address(merchant, default=True)
        dispatch.dispatch_orders(merchant, [number], None, now=utcnow())
        db.session.commit()
    html = supplier_desk.page("?tab=dispatched")
    row = row_html(html, number)
    assert "修改运单号" in row and "还可修改 2 次" in row
    url = f"/supplier/orders/{number}/tracking/correct"

    def correct(courier: str, tracking_no: str) -> object:
        form = {"courier": courier, "tracking_no": tracking_no}
        return supplier_desk.post(url, form, target="row")

    answer = correct("SF", "SF1234567890123")
    assert answer.status_code == 200 and "SF1234567890123" in answer.get_data(as_text=True)
    assert "还可修改 1 次" in answer.get_data(as_text=True)
    same = correct("SF", "SF1234567890123")
    assert same.status_code == 422 and "相同" in same.get_data(as_text=True)
    correct("YTO", "YT1234567890123")
    last = row_html(supplier_desk.page("?tab=dispatched"), number)
    assert "YT1234567890123" in last and "修改运单号" not in last  # no corrections left
    refused = correct("SF", "SF9999999999999")
    assert refused.status_code == 409 and "最多修改 2 次" in refused.get_data(as_text=True)
    with supplier_desk.app.app_context():
        order = db.session.scalar(select(Order).where(Order.order_no == number))
        assert (order.tracking_no, order.tracking_corrections) == ("YT1234567890123", 2)
        assert db.session.get(Supplier, order.supplier_id) is not None
