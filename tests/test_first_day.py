"""The first day of a new merchant and a new factory (issue 16): the places they stumbled."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.extensions import db
from portal.models import Binding, Merchant, ReturnAddress


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
