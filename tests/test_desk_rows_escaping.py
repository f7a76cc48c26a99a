"""The desks' rows are built in Python (portal/web/rows.py), not by Jinja's autoescape: every
text a platform export, a merchant or a factory typed must still reach the page as text."""

from __future__ import annotations

from html.parser import HTMLParser

from portal.domain import allocation, bindings
from portal.domain.imports.platform_export import ImportedLine
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Merchant, Supplier, User
from tests.factories import demo_order

MARKUP = "<img src=x onerror=alert(1)>\"'&"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


class Elements(HTMLParser):
    """Every start tag and attribute name on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _value in attrs)


def assert_inert(html: str) -> None:
    parsed = Elements()
    parsed.feed(html)
    assert "img" not in parsed.tags
    assert "onerror" not in parsed.attributes
    assert ESCAPED in html


def test_hostile_text_is_escaped_on_both_desks(app, factory, browser, make_browser):
    merchant_user = factory.merchant(shop_name=f"店{MARKUP}")
    supplier_user = factory.supplier(factory_name=f"厂{MARKUP}")
    hostile = demo_order(
        "261121-000000000000777",
        goods_name=f"毛毯{MARKUP}",
        spec=f"灰{MARKUP}",
        sku_code="SKU<b>",
        platform_status_text=f"待发货{MARKUP}",
        after_sale_status=f"退款中{MARKUP}",
        after_sale_active=False,
        receiver_name=f"张{MARKUP}",
        more_lines=(ImportedLine("1", f"枕头{MARKUP}", f"白{MARKUP}", "", "P<i>", "", 1),),
    )
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_user.merchant.id)
        supplier = db.session.get(Supplier, supplier_user.supplier.id)
        binding = bindings.apply_for_binding(merchant, supplier_user.shop_id)
        bindings.accept_binding(supplier, binding.id)
        result = upsert_orders(current_keyring(), merchant, [hostile])
        assert result.rejected_count == 0, result.rejected
        actor = db.session.get(User, merchant_user.id)
        assert allocation.assign_orders(merchant, [hostile.order_no], supplier, actor).done
        db.session.commit()

    browser.login(merchant_user.username)
    page = browser.get("/merchant/orders?tab=all").get_data(as_text=True)
    assert_inert(page)
    for text in ("毛毯&lt;img", "灰&lt;img", "SKU&lt;b&gt;", "枕头&lt;img", "张&lt;img"):
        assert text in page, text
    assert "厂&lt;img" in page and "待发货&lt;img" in page
    # one row alone, as an action on the order answers
    answer = browser.get(
        f"/merchant/orders/{hostile.order_no}", htmx=True, target="order-drawer"
    ).get_data(as_text=True)
    assert_inert(answer)

    factory_browser = make_browser()
    factory_browser.login(supplier_user.username)
    page = factory_browser.get("/supplier/orders?tab=to_print").get_data(as_text=True)
    assert_inert(page)
    for text in ("毛毯&lt;img", "枕头&lt;img", "P&lt;i&gt;", "店&lt;img"):
        assert text in page, text
