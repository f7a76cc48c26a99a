"""The first day of a new merchant and a new factory (issue 16): the places they stumbled."""

from __future__ import annotations

import re

from portal.extensions import db
from portal.models import Merchant


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
