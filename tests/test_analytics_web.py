"""The 数据 pages through HTTP: figures from real orders, periods, downloads, the cut-off."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from openpyxl import load_workbook

from portal.domain.tracking import TrackingItem
from portal.extensions import db
from portal.jobs import queue
from portal.models import Merchant
from tests.factories import later
from tests.test_supplier_desk import SupplierDesk, build_desk, order_no, private_order


def seed(desk: SupplierDesk) -> None:
    """Three orders of 甲店 and one of 乙店 assigned to 一号工厂 now; one returned.

    承诺发货时间: №1 an hour ago (open: overdue), №2 in 30 h (returned: on time, after the
    period), №3 in 5 h (open: due soon, not decided yet)."""
    promises = (later(-1), later(30), later(5))
    desk.seed_assigned(
        *(
            private_order(order_no(n), n - 1, paid_at=later(-2), promise_ship_at=promise)
            for n, promise in enumerate(promises, start=1)
        )
    )
    desk.seed_assigned(private_order(order_no(9), 3, paid_at=later(-2)), other=True)
    desk.return_numbers(TrackingItem(order_no(2), "ZTO", "773000000002"))
    # The worker's pass (a sweeper: at start-up and every minute).
    queue.sweep(desk.app)


def cells(html: str, name: str) -> list[str]:
    """The cells of the partner table's row whose header holds `name`."""
    table = html.split('id="analytics-partners"', 1)[1].split("</table>", 1)[0]
    for row in table.split("<tr>")[1:]:
        if name in row:
            return [
                re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)
            ]
    raise AssertionError(f"{name} not listed")


def test_factory_page_lists_each_merchant_with_todays_work(
    app: Any, factory: Any, make_browser: Any
) -> None:
    desk = build_desk(app, factory, make_browser)
    seed(desk)
    response = desk.get("/supplier/analytics?period=7d")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "echarts.min.js" in html
    # assigned, returned, dispatched, same-day, overdue, overdue rate … then the workload
    first = cells(html, "甲店")
    assert first[:3] == ["3", "1", "0"]
    assert first[4:6] == ["1", "100.0%"]  # №1 is the only one decided: overdue
    assert first[-3:] == ["2", "1", "1"]  # to print, due within 12 h, overdue
    assert cells(html, "乙店")[:3] == ["1", "0", "0"]


def test_merchant_page_the_period_form_and_bad_periods(
    app: Any, factory: Any, make_browser: Any
) -> None:
    desk = build_desk(app, factory, make_browser)
    seed(desk)
    browser = make_browser()
    browser.login(desk.merchant_user.username)
    html = browser.get("/merchant/analytics").get_data(as_text=True)
    assert 'aria-current="page"' in html and "一号工厂" in html
    assert cells(html, "一号工厂")[:3] == ["3", "1", "0"]  # 乙店's order is not 甲店's

    fragment = browser.get("/merchant/analytics?period=30d", htmx=True, target="analytics-report")
    assert fragment.status_code == 200
    assert "<html" not in fragment.get_data(as_text=True)
    assert "一号工厂" in fragment.get_data(as_text=True)

    for query in ("period=custom&start=2000-01-01&end=2001-06-01", "period=custom&start=&end="):
        answer = browser.get(f"/merchant/analytics?{query}", htmx=True, target="analytics-report")
        assert answer.status_code == 422
        assert "请选择正确的日期范围" in answer.get_data(as_text=True)


def test_downloads_carry_the_table(app: Any, factory: Any, make_browser: Any) -> None:
    desk = build_desk(app, factory, make_browser)
    seed(desk)
    answer = desk.get("/supplier/analytics/download?format=csv&period=7d")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["商家", "店铺ID", "分配"]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["甲店"][2:5] == ["3", "1", "0"]
    assert by_name["合计"][2] == "4"

    answer = desk.browser.get("/supplier/analytics/download?format=xlsx&period=7d")
    sheet = load_workbook(io.BytesIO(answer.get_data())).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "商家" and values[-1][0] == "合计" and values[-1][2] == 4

    assert desk.browser.get("/supplier/analytics/download?format=pdf").status_code == 422
    bad = desk.browser.get("/supplier/analytics/download?period=custom&start=2000-01-01&end=x")
    assert bad.status_code == 422


def test_cutoff_setting_recounts_the_same_day_rate(
    app: Any, factory: Any, make_browser: Any
) -> None:
    user = factory.merchant()
    browser = make_browser()
    browser.login(user.username)
    settings = browser.get("/merchant/settings").get_data(as_text=True)
    assert 'name="same_day_cutoff"' in settings and 'value="16:00"' in settings
    answer = browser.post(
        "/merchant/settings/preferences",
        {"label_style": "private", "same_day_cutoff": "18:30"},
        target="preferences-section",
    )
    assert answer.status_code == 200
    with app.app_context():
        assert db.session.get(Merchant, user.merchant.id).same_day_cutoff == 18 * 60 + 30
        assert queue.run_pending(app) == 1  # the recount of the merchant's orders
    assert "18:30" in browser.get("/merchant/analytics").get_data(as_text=True)
    # Leaving the field out keeps the setting; nonsense is refused with the form.
    browser.post("/merchant/settings/preferences", {"label_style": "full"})
    refused = browser.post(
        "/merchant/settings/preferences", {"label_style": "full", "same_day_cutoff": "25:99"}
    )
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.get(Merchant, user.merchant.id).same_day_cutoff == 18 * 60 + 30


def test_pages_load_only_same_origin_scripts(app: Any, factory: Any, make_browser: Any) -> None:
    user = factory.merchant()
    browser = make_browser()
    browser.login(user.username)
    response = browser.get("/merchant/analytics")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag, tag  # no inline script, no CDN
    assert browser.get("/static/vendor/echarts/echarts.min.js").status_code == 200
    assert browser.get("/static/js/analytics.js").status_code == 200
