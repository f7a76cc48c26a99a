"""Per-token API rate limit: a burst goes through, the next request is 429 with Retry-After,
the limit refills at its rate, tokens are counted apart, and the count is shared by every
process (kept in the database, or in Redis when configured)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask

from portal import create_app
from tests.conftest import config

API = "/api/v1"
START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["database", "redis"])
def limited(request, app: Flask) -> Iterator[Flask]:
    """The app with 10 requests a second and bursts of 5, counted in the database or Redis."""
    app.config.update(API_RATE_LIMIT=10.0, API_RATE_BURST=5)
    if request.param == "redis":
        url = os.environ.get("PORTAL_TEST_REDIS_URL")
        if not url:
            pytest.skip("PORTAL_TEST_REDIS_URL is not set: the Redis store needs a Redis server")
        # Nothing to clear: each test's tokens are new, so are their keys (they expire with the
        # window). Clearing every portal:api-rate:* key reset the count of a test running in
        # another xdist worker on the same Redis, which then let extra requests through.
        app.config["API_RATE_LIMIT_REDIS_URL"] = url
    yield app


def get(client, token: str, path: str = "/me", method: str = "GET"):
    return client.open(f"{API}{path}", method=method, headers={"Authorization": f"Bearer {token}"})


def test_a_burst_passes_then_429_with_retry_after_then_it_refills(limited, factory):
    token = factory.token(factory.merchant())
    client = limited.test_client()
    with time_machine.travel(START, tick=False) as clock:
        assert [get(client, token).status_code for _ in range(5)] == [200] * 5
        refused = get(client, token)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json["error"]["code"] == "api_rate_limited"
        assert refused.json["error"]["retry_after"] == 1
        # A refused request does not use up the limit: one interval later one more fits.
        clock.shift(timedelta(milliseconds=100))
        assert get(client, token).status_code == 200
        assert get(client, token).status_code == 429
        # After a quiet half second the whole burst is back.
        clock.shift(timedelta(milliseconds=500))
        assert [get(client, token).status_code for _ in range(5)] == [200] * 5
        assert get(client, token).status_code == 429


def test_sustained_rate_is_held(limited, factory):
    """At 20 requests a second against 10 allowed, about half pass (the burst and the rate)."""
    token = factory.token(factory.merchant())
    client = limited.test_client()
    passed = 0
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(40):  # two seconds
            passed += get(client, token).status_code == 200
            clock.shift(timedelta(milliseconds=50))
    assert passed == 5 + 20 - 1  # the burst, then one per 100 ms (the last one still due)


def test_each_token_has_its_own_limit_and_writes_count_too(limited, factory):
    merchant, supplier = factory.merchant(), factory.supplier()
    first, second = factory.token(merchant), factory.token(supplier)
    client = limited.test_client()
    with time_machine.travel(START, tick=False):
        # A writing request counts like a read (it is counted in its own transaction).
        assert get(client, first, "/bindings", "POST").status_code == 400  # no body: refused
        for _ in range(4):
            assert get(client, first).status_code == 200
        assert get(client, first).status_code == 429
        assert get(client, first, "/bindings", "POST").status_code == 429
        assert [get(client, second).status_code for _ in range(5)] == [200] * 5


def test_the_count_is_shared_by_every_process(limited, factory):
    """Two app instances (two processes' worth of state) share one token's limit."""
    token = factory.token(factory.merchant())
    rate = [k for k in limited.config if k.startswith("API_RATE")]
    keep = ["SQLALCHEMY_DATABASE_URI", "KEYS_FILE", "QUEUE_FILE", *rate]
    other = create_app(config(**{k: limited.config[k] for k in keep}))
    with time_machine.travel(START, tick=False):
        one, two = limited.test_client(), other.test_client()
        statuses = [get(client, token).status_code for client in (one, two, one, two, one, two)]
    assert statuses == [200] * 5 + [429]


def test_off_when_the_rate_is_zero(app, factory):
    app.config.update(API_RATE_LIMIT=0.0, API_RATE_BURST=1)
    token = factory.token(factory.merchant())
    client = app.test_client()
    with time_machine.travel(START, tick=False):
        assert {get(client, token).status_code for _ in range(20)} == {200}
