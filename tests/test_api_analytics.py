"""The analytics API (DESIGN §10.5): the contract's fields, the period rules, tenant scoping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from portal.domain.analytics import local_day
from portal.models.base import utcnow
from tests.test_analytics_web import seed
from tests.test_supplier_desk import assert_private, build_desk

ITEM_FIELDS = {
    "shop_id",
    "shop_name",
    "assigned",
    "returned",
    "dispatched",
    "same_day_rate",
    "overdue",
    "overdue_rate",
    "return_hours_p50",
    "return_hours_p90",
    "after_sale_rate",
}


def api(client: Any, token: str, url: str) -> Any:
    return client.get(f"/api/v1{url}", headers={"Authorization": f"Bearer {token}"})


def test_both_reports_follow_the_contract(app: Any, factory: Any, make_browser: Any) -> None:
    desk = build_desk(app, factory, make_browser)
    seed(desk)
    client = app.test_client()
    today = local_day(utcnow())
    period = f"?start={today - timedelta(days=6)}&end={today}"

    answer = api(client, factory.token(desk.merchant_user), f"/analytics/suppliers{period}")
    assert answer.status_code == 200
    body = answer.json
    assert set(body) == {"start", "end", "items", "daily"}
    [item] = body["items"]  # 甲店 is bound to one factory; 乙店's order is not its business
    assert set(item) == ITEM_FIELDS
    assert (item["shop_name"], item["assigned"], item["returned"]) == ("一号工厂", 3, 1)
    assert item["overdue"] == 1 and item["overdue_rate"] == 1.0
    assert item["after_sale_rate"] == 0.0
    assert len(body["daily"]) == 7 and body["daily"][-1]["date"] == today.isoformat()
    assert set(body["daily"][0]) == {"date", "assigned", "dispatched", "on_time_rate"}
    assert sum(day["assigned"] for day in body["daily"]) == 3

    answer = api(
        client, factory.token(desk.supplier_user), f"/supplier/analytics/merchants{period}"
    )
    assert answer.status_code == 200
    assert_private(answer.get_data(as_text=True))
    by_name = {item["shop_name"]: item for item in answer.json["items"]}
    assert set(by_name) == {"甲店", "乙店"}
    assert set(by_name["甲店"]) == ITEM_FIELDS | {"workload"}
    assert by_name["甲店"]["workload"] == {"to_print": 2, "due_within_12h": 1, "overdue": 1}
    assert by_name["乙店"]["assigned"] == 1

    # Without a period: the last seven days.
    default = api(client, factory.token(desk.merchant_user), "/analytics/suppliers").json
    assert (default["start"], default["end"]) == (str(today - timedelta(days=6)), str(today))


def test_periods_are_checked(app: Any, factory: Any) -> None:
    token = factory.token(factory.merchant())
    client = app.test_client()
    today = local_day(utcnow())
    for query, code, field in (
        ("?start=2026-1-5&end=2026-01-09", "validation_error", "start"),
        (f"?start={today}", "validation_error", "end"),
        (f"?start={today}&end=2026-W01-1", "validation_error", "end"),
        (
            f"?start={today + timedelta(days=1)}&end={today + timedelta(days=2)}",
            "invalid_period",
            "period",
        ),
        (f"?start={today - timedelta(days=366)}&end={today}", "invalid_period", "period"),
    ):
        answer = api(client, token, f"/analytics/suppliers{query}")
        assert answer.status_code == 422, query
        assert answer.json["error"]["code"] == code
        assert answer.json["error"]["field"] == field
    # A year (366 days with both ends) is allowed; reversed ends are swapped.
    answer = api(
        client, token, f"/analytics/suppliers?start={today}&end={today - timedelta(days=365)}"
    )
    assert answer.status_code == 200
    assert len(answer.json["daily"]) == 366
