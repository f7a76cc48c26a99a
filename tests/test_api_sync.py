"""Walking the order lists by cursor (`after`), as an ERP syncs: no OFFSET, no count per page,
each order exactly once while orders change, `updated_since` for the next round, `total` only
with `count=exact`; the same on the factory side."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from portal.domain.formatting import SHANGHAI
from tests.test_api_orders import Api, desk, order_json  # noqa: F401  (desk is a fixture)

ORDERS = 10_000


def no(n: int) -> str:
    return f"261121-{n:015d}"


def walk(api: Api, path: str, between: Any = None, **params: object) -> list[str]:
    """Every order number of a walk by cursor; `between(page_number)` runs after each page."""
    seen: list[str] = []
    after, pages = "", 0
    while True:
        response = api.get(path, after=after, **params)
        assert response.status_code == 200, response.json
        body = response.json
        assert "page" not in body and "total" not in body
        seen += [item["order_no"] for item in body["items"]]
        pages += 1
        if body["next_after"] is None:
            return seen
        assert len(body["items"]) == body["per_page"]
        after = body["next_after"]
        if between is not None:
            between(pages)


def test_ten_thousand_orders_each_seen_once_while_they_change(desk):  # noqa: F811
    api = desk.merchant
    for start in range(0, ORDERS, 1000):
        created = api.upsert(*[order_json(no(n)) for n in range(start, start + 1000)])
        assert created["created"] == 1000
    extra = iter(range(ORDERS, ORDERS + 1000))

    def change(page: int) -> None:
        # Orders already seen and orders still ahead change; new orders arrive; some are
        # assigned (their stage moves). An OFFSET walk newest-first would repeat and skip.
        ahead = (page + 1) * 200
        api.upsert(
            order_json(no(page * 3), merchant_note=f"seen, changed on page {page}"),
            order_json(no(ahead + 7), merchant_note=f"ahead, changed on page {page}"),
            *[order_json(no(next(extra))) for _ in range(5)],
        )
        api.assign([no(ahead + 11), no(page * 3 + 1)], desk.shop_id)

    seen = walk(api, "/orders", change, per_page=200)
    assert len(seen) == len(set(seen)), "an order was listed twice"
    originals = {no(n) for n in range(ORDERS)}
    assert originals <= set(seen), f"{len(originals - set(seen))} orders were skipped"
    assert seen[: ORDERS // 2] == sorted(seen[: ORDERS // 2])  # oldest first, by id


def test_updated_since_total_on_request_and_bad_arguments(desk):  # noqa: F811
    api = desk.merchant
    start = datetime(2027, 1, 10, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        api.upsert(*[order_json(no(n)) for n in range(30)])
        clock.shift(timedelta(minutes=5))
        since = datetime.now(UTC)
        api.upsert(order_json(no(4), merchant_note="后来改过"), order_json(no(31)))
        api.assign([no(7)], desk.shop_id)
    changed = walk(api, "/orders", updated_since=since.isoformat(), per_page=10)
    assert sorted(changed) == [no(4), no(7), no(31)]
    shanghai = since.astimezone(SHANGHAI).isoformat()  # any offset names the same moment
    assert sorted(walk(api, "/orders", updated_since=shanghai)) == sorted(changed)
    # Pages keep their total; a walk gives it only when asked.
    assert api.get("/orders", per_page=5).json["total"] == 31
    counted = api.get("/orders", after="", per_page=5, count="exact").json
    assert counted["total"] == 31 and len(counted["items"]) == 5
    assert api.get("/orders", after=counted["next_after"], per_page=50).json["next_after"] is None
    for params, field in (
        ({"after": "nonsense"}, "after"),
        ({"after": "", "count": "approximate"}, "count"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2027-01-10T10:00:00"}, "updated_since"),  # no time zone
    ):
        response = api.get("/orders", **params)
        assert response.status_code == 422, params
        assert response.json["error"]["field"] == field


@pytest.mark.parametrize("stage", ["assigned", "cancelled"])
def test_the_factory_walks_its_orders_and_cancelled_assignments(desk, stage):  # noqa: F811
    merchant, supplier = desk.merchant, desk.supplier
    numbers = [no(n) for n in range(120)]
    merchant.upsert(*[order_json(n) for n in numbers])
    merchant.assign(numbers, desk.shop_id)
    if stage == "cancelled":
        response = merchant.post("/allocations/cancel", {"order_nos": numbers})
        assert response.status_code == 200, response.json
        merchant.assign(numbers[:10], desk.shop_id)  # back with the factory: not cancelled
        response = merchant.post("/allocations/cancel", {"order_nos": numbers[:10]})
        assert response.status_code == 200, response.json  # a second cancelled assignment

    def change(page: int) -> None:
        merchant.upsert(order_json(no(page * 30 + 40), merchant_note=f"page {page}"))

    seen = walk(supplier, "/supplier/orders", change, stage=stage, per_page=25)
    if stage == "assigned":
        assert sorted(seen) == numbers
    else:  # every cancelled assignment once: ten orders were taken back twice
        assert sorted(seen) == sorted(numbers + numbers[:10])
    total = supplier.get("/supplier/orders", stage=stage, after="", count="exact").json["total"]
    assert total == len(seen)
