"""The first day of a new merchant and a new factory (issue 16): the places they stumbled."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.privacy.lookups import name_index
from portal.extensions import db
from portal.models import Binding, Merchant, Order, ReturnAddress
from tests.factories import demo_order


def test_self_printed_labels_carry_full_receiver_data_by_default_and_say_why(app, browser, factory):
    user = factory.merchant()
    with app.app_context():
        assert db.session.get(Merchant, user.merchant.id).label_style == "full"
    browser.login(user.username)
    html = browser.get("/merchant/settings").get_data(as_text=True)
    checked = re.search(
        r'<input checked id="label_style-\d" name="label_style"[^>]*value="(\w+)"', html
    )
    assert checked.group(1) == "full"
    hint = html[html.index('id="label-style-help"') :]
    assert "隐私面单只适用于平台电子面单" in hint[:300] and "快递员无法派送" in hint[:300]


def test_shop_id_typed_with_spaces_dashes_or_full_width_digits_binds(app, factory, make_browser):
    supplier = factory.supplier(factory_name="义乌毛毯厂")
    digits = supplier.shop_id
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in digits)
    typed = [
        f"{digits[:3]} {digits[3:6]} {digits[6:]}",
        f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
        f"{fullwidth[:4]}\u3000{fullwidth[4:]}",
        f" {digits[:5]}－{digits[5:]} ",
    ]
    for text in typed:
        merchant = make_browser()
        merchant.login(factory.merchant().username)
        response = merchant.post(
            "/merchant/suppliers", {"supplier_shop_id": text}, target="bindings"
        )
        assert response.status_code == 200, text
        assert "义乌毛毯厂" in response.get_data(as_text=True) and "待审核" in response.get_data(
            as_text=True
        )
    merchant = make_browser()
    merchant.login(factory.merchant().username)
    response = merchant.post(
        "/merchant/suppliers", {"supplier_shop_id": f"{digits}-1"}, target="bindings"
    )
    assert response.status_code == 422  # separators go, the digits must still be the ID


def test_merchants_list_follows_the_factorys_answer_without_a_reload(app, factory, make_browser):
    supplier, merchant_user = factory.supplier(factory_name="义乌毛毯厂"), factory.merchant()
    merchant, factory_side = make_browser(), make_browser()
    merchant.login(merchant_user.username)
    factory_side.login(supplier.username)
    page = merchant.get("/merchant/suppliers").get_data(as_text=True)
    assert 'id="binding-list"' in page and 'hx-trigger="every' not in page  # nothing to wait for
    html = merchant.post(
        "/merchant/suppliers", {"supplier_shop_id": supplier.shop_id}, target="bindings"
    ).get_data(as_text=True)
    polling = re.search(
        r'<section class="card" id="binding-list" hx-get="([^"]+)" hx-trigger="every 5s"', html
    )
    assert polling and polling.group(1) == "/merchant/suppliers"
    poll = merchant.get("/merchant/suppliers", htmx=True, target="binding-list")
    fragment = poll.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section class="card" id="binding-list"')
    assert "待审核" in fragment and 'name="supplier_shop_id"' not in fragment  # the form stays
    with app.app_context():
        binding_id = db.session.scalar(select(Binding.id))
    factory_side.post(f"/supplier/bindings/{binding_id}/accept", target="bindings")
    fragment = merchant.get("/merchant/suppliers", htmx=True, target="binding-list").get_data(
        as_text=True
    )
    assert "已绑定" in fragment and "hx-trigger" not in fragment  # answered: the polling stops


ADDRESS = {
    "contact_name": "退货员",
    "phone": "13900001111",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路 1 号",
}


def test_return_addresses_are_edited_and_deleted_in_settings(app, browser, factory):
    user = factory.merchant()
    browser.login(user.username)
    browser.post("/merchant/settings/addresses", ADDRESS, target="addresses-section")
    with app.app_context():
        address_id = db.session.scalar(select(ReturnAddress.id))
    html = browser.get(
        f"/merchant/settings/addresses/{address_id}/edit", htmx=True, target="addresses-section"
    ).get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card" id="addresses-section"')
    assert "编辑退货地址" in html and 'value="文三路 1 号"' in html and 'value="退货员"' in html
    assert f'hx-post="/merchant/settings/addresses/{address_id}"' in html
    response = browser.post(
        f"/merchant/settings/addresses/{address_id}",
        {**ADDRESS, "detail": "文三路 2 号", "make_default": "y"},
        target="addresses-section",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "浙江省杭州市西湖区文三路 2 号" in html and "文三路 1 号" not in html
    assert "新增退货地址" in html  # back to adding
    response = browser.post(
        f"/merchant/settings/addresses/{address_id}",
        {**ADDRESS, "phone": ""},
        target="addresses-section",
    )
    assert response.status_code == 422 and "编辑退货地址" in response.get_data(as_text=True)
    response = browser.post(
        f"/merchant/settings/addresses/{address_id}/delete", target="addresses-section"
    )
    assert response.status_code == 200 and "还没有退货地址" in response.get_data(as_text=True)
    assert browser.get(f"/merchant/settings/addresses/{address_id}/edit").status_code == 404


def test_search_finds_orders_by_number_part_sku_prefix_receiver_name_and_phone(app, factory):
    """One search box (DESIGN §10.7), through the keyed indexes — nothing is decrypted."""
    user = factory.merchant()
    nos = [f"231121-5382920304218{n:02d}" for n in range(4)]
    with app.app_context():
        merchant = db.session.get(Merchant, user.merchant.id)
        upsert_orders(
            current_keyring(),
            merchant,
            [
                demo_order(nos[0], sku_code="BLK-150-GRY", receiver_name="欧阳娜娜"),
                demo_order(nos[1], sku_code="BLK-200-RED", receiver_name="张伟"),
                demo_order(nos[2], sku_code="WHT-150", receiver_phone="13912345678"),
                demo_order(nos[3], sku_code="", receiver_name="欧阳 娜娜"),
            ],
        )
        db.session.commit()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {factory.token(user)}"}

    def found(q: str) -> list[str]:
        response = api.get("/api/v1/orders", query_string={"q": q}, headers=headers)
        assert response.status_code == 200, response.json
        return sorted(o["order_no"] for o in response.json["items"])

    assert found("0304218") == nos  # any part of 6+ characters
    assert found("421802") == [nos[2]]
    assert found("blk-150-gry") == [nos[0]]  # SKU codes: case-insensitive prefix
    assert found("blk") == nos[:2]
    assert found("欧阳娜娜") == [nos[0], nos[3]]  # full name, spaces ignored
    assert found("欧阳") == []  # a name only in full: the index is of the whole name
    assert found("139 1234 5678") == [nos[2]]
    assert found("_") == [] and found("%") == []


def test_index_names_gives_older_orders_their_name_index(app, factory):
    user = factory.merchant()
    with app.app_context():
        merchant = db.session.get(Merchant, user.merchant.id)
        upsert_orders(
            current_keyring(),
            merchant,
            [demo_order("231121-000000000000777", receiver_name="司马光")],
        )
        db.session.execute(update(Order).values(name_index=""))  # as written before the index
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["portal", "index-names"], catch_exceptions=False)
    assert result.exit_code == 0 and "indexed the receiver name of 1 orders" in result.output
    with app.app_context():
        merchant = db.session.get(Merchant, user.merchant.id)
        stored = db.session.scalar(select(Order.name_index))
        assert stored == name_index(current_keyring(), merchant.id, "司马光")
