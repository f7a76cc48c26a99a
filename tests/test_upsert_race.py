"""Concurrent upserts of one new order number: INSERT … ON CONFLICT DO NOTHING, then re-read.

Eight API requests for the same new order at once: every one answers 200, exactly one order
exists, and the counts add up (one created, the others updated or unchanged). On PostgreSQL a
hook holds every request after its read until all eight have read, so all of them find no order
and all of them insert: the race happens every time, not by luck. SQLite serialises writers
(BEGIN IMMEDIATE), so there the requests queue; the same-session test below makes the lost
insert happen deterministically on both backends.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.domain.keyring import current_keyring
from portal.domain.orders import upsert
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Order
from tests.conftest import PG_URL
from tests.factories import demo_order
from tests.test_api_orders import API, order_json
from tests.test_order_rules import bound_shop

REQUESTS = 8
BARRIER_TIMEOUT = 60  # seconds; only reached when a request failed before its read
NUMBER = "261121-500000000000001"


@pytest.mark.parametrize("content", ["same", "differing"])
def test_concurrent_api_upserts_of_one_new_order(
    app: Flask, factory: Any, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    headers = {"Authorization": f"Bearer {factory.token(factory.merchant())}"}
    if PG_URL:
        everyone_has_read = threading.Barrier(REQUESTS, timeout=BARRIER_TIMEOUT)
        first_read = threading.local()
        original = upsert._existing

        def read_then_wait(*args: Any) -> Any:
            found = original(*args)
            if not getattr(first_read, "done", False):
                first_read.done = True
                everyone_has_read.wait()
            return found

        monkeypatch.setattr(upsert, "_existing", read_then_wait)

    def post(index: int) -> Any:
        note = f"备注{index}" if content == "differing" else ""
        body = {"orders": [order_json(NUMBER, merchant_note=note)]}
        with app.test_client() as client:
            return client.post(f"{API}/orders", json=body, headers=headers)

    with ThreadPoolExecutor(REQUESTS) as pool:
        responses = list(pool.map(post, range(REQUESTS)))

    assert [r.status_code for r in responses] == [200] * REQUESTS, [r.json for r in responses]
    counts = [(r.json["created"], r.json["updated"], r.json["unchanged"]) for r in responses]
    assert all(sum(c) == 1 for c in counts)
    assert not [r.json["rejected"] for r in responses if r.json["rejected"]]
    assert sum(c[0] for c in counts) == 1
    if content == "same":
        assert sum(c[2] for c in counts) == REQUESTS - 1
    else:
        assert sum(c[1] for c in counts) == REQUESTS - 1
    with app.app_context():
        stored = db.session.scalars(select(Order).where(Order.order_no == NUMBER)).all()
        assert len(stored) == 1
        if content == "same":
            assert stored[0].merchant_note == ""
        else:
            assert stored[0].merchant_note in {f"备注{i}" for i in range(REQUESTS)}


def test_an_order_inserted_between_read_and_insert_is_updated(
    app_ctx: Any, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another request inserts the order after our read: our insert does nothing, we update."""
    shop = bound_shop(factory)
    original = upsert._existing
    other, ours = demo_order(NUMBER, merchant_note="先到"), demo_order(NUMBER, merchant_note="后到")
    fresh = demo_order("261121-500000000000002")

    def concurrent_insert(*args: Any) -> Any:
        found = original(*args)
        monkeypatch.setattr(upsert, "_existing", original)
        assert upsert_orders(current_keyring(), shop.merchant, [other]).created == 1
        return found

    monkeypatch.setattr(upsert, "_existing", concurrent_insert)
    result = upsert_orders(current_keyring(), shop.merchant, [ours, fresh])
    db.session.commit()

    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 2
    stored = db.session.scalars(select(Order).where(Order.order_no == NUMBER)).one()
    assert stored.merchant_note == "后到"
