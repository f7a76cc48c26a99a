"""The `analytics` section: the 数据 pages and APIs read from the worker's daily roll-ups.

Measured: the worker's first pass over every order (building the facts and roll-ups), an
incremental pass after 1 000 orders changed, and the latency of the merchant page, the factory
page and the merchant API over periods from today to a year. The raw-SQL twin computes the
merchant page's counts straight from the orders (one GROUP BY per period, no roll-ups): what
the page would cost without them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from bench.dataset import PASSWORD, shanghai_today
from bench.measure import latency_summary
from bench.sections import Raw, Scene, in_app_context, login, time_requests
from portal.domain import accounts, analytics
from portal.extensions import db
from portal.models import Order

CHANGED = 1000
PERIODS = ("today", "7d", "30d", "month", "last_month", "year")


def _query(period: str, today: Any) -> str:
    if period == "year":
        return f"period=custom&start={today - timedelta(days=365)}&end={today}"
    return f"period={period}"


def page_urls(prefix: str, count: int) -> list[str]:
    today = shanghai_today()
    return [f"{prefix}?{_query(PERIODS[i % len(PERIODS)], today)}" for i in range(count)]


def api_urls(count: int) -> list[str]:
    today = shanghai_today()
    spans = (0, 6, 29, 90, 365)
    return [
        f"/api/v1/analytics/suppliers?start={today - timedelta(days=spans[i % len(spans)])}"
        f"&end={today}"
        for i in range(count)
    ]


@in_app_context
def build_rollups(scene: Scene) -> dict[str, Any]:
    """The worker's passes: everything (first start), then 1 000 returned orders whose
    after-sale flag changed (each moves its facts)."""
    started = time.perf_counter()
    facts = analytics.refresh()
    first = time.perf_counter() - started
    ids = db.session.scalars(
        select(Order.id)
        .where(Order.merchant_id == scene.merchant_id, Order.returned_at.is_not(None))
        .order_by(Order.id.desc())
        .limit(CHANGED)
    ).all()
    db.session.execute(
        update(Order)
        .where(Order.id.in_(ids))
        .values(after_sale_active=~Order.after_sale_active, updated_at=datetime.now(UTC))
    )
    db.session.commit()
    started = time.perf_counter()
    changed = analytics.refresh()
    incremental = time.perf_counter() - started
    # Put the flags back (and the roll-ups with them) for the sections that follow.
    db.session.execute(
        update(Order)
        .where(Order.id.in_(ids))
        .values(after_sale_active=~Order.after_sale_active, updated_at=datetime.now(UTC))
    )
    db.session.commit()
    analytics.refresh()
    return {"first": first, "facts": facts, "incremental": incremental, "changed": changed}


@in_app_context
def merchant_token(scene: Scene) -> str:
    _record, token = accounts.create_api_token(scene.merchant_user(), "bench analytics")
    db.session.commit()
    return token


def raw_timings(scene: Scene, count: int) -> dict[str, float]:
    """The merchant page's counts computed from the orders directly, per period."""
    today = shanghai_today()
    now = datetime.now(UTC)
    spans = (0, 6, 29, 30, 30, 365)
    seconds = []
    with scene.app.app_context(), db.engine.connect() as conn:
        raw = Raw(conn)
        for i in range(count):
            start_day = today - timedelta(days=spans[i % len(spans)])
            start = datetime.combine(start_day, datetime.min.time()) - timedelta(hours=8)
            end = datetime.combine(today + timedelta(days=1), datetime.min.time()) - timedelta(
                hours=8
            )
            window = [start, end] * 4
            started = time.perf_counter()
            raw.run(
                "SELECT supplier_id,"
                " SUM(CASE WHEN assigned_at >= ? AND assigned_at < ? THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN returned_at >= ? AND returned_at < ? THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN dispatched_at >= ? AND dispatched_at < ? THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN promise_ship_at >= ? AND promise_ship_at < ? AND"
                " (returned_at > promise_ship_at OR (returned_at IS NULL AND promise_ship_at < ?))"
                " THEN 1 ELSE 0 END)"
                " FROM orders WHERE merchant_id = ? AND supplier_id IS NOT NULL"
                " GROUP BY supplier_id",
                [*window, now.replace(tzinfo=None), scene.merchant_id],
            ).all()
            raw.run(
                "SELECT supplier_id, returned_at, assigned_at FROM orders"
                " WHERE merchant_id = ? AND returned_at >= ? AND returned_at < ?"
                " ORDER BY supplier_id",
                [scene.merchant_id, start, end],
            ).all()
            seconds.append(time.perf_counter() - started)
    return latency_summary(seconds)


def _row(name: str, unit: str, value: float, note: str, **extra: Any) -> dict[str, Any]:
    return {
        "section": "analytics",
        "name": name,
        "unit": unit,
        "value": value,
        "note": note,
        **extra,
    }


def _latency(
    name: str, timed: tuple[dict[str, float], int], raw: dict[str, float] | None, note: str
) -> dict[str, Any]:
    app, statements_per_request = timed
    return _row(
        name,
        "ms",
        app["p95_ms"],
        note,
        app=app,
        raw=raw,
        raw_value=raw["p95_ms"] if raw else None,
        ratio=round(app["p50_ms"] / raw["p50_ms"], 2) if raw and raw["p50_ms"] else None,
        ratio_basis="p50",
        sql_statements=statements_per_request,
    )


def run_analytics(scene: Scene, requests: int) -> list[dict[str, Any]]:
    built = build_rollups(scene)
    names = scene.accounts
    client = scene.app.test_client()
    login(client, names.merchant_usernames[scene.merchant_index], PASSWORD)
    with scene.profiler("analytics_merchant_page"):
        merchant = time_requests(scene, client, page_urls("/merchant/analytics", requests))
    supplier_client = scene.app.test_client()
    login(supplier_client, names.supplier_usernames[scene.big_supplier_index], PASSWORD)
    with scene.profiler("analytics_supplier_page"):
        supplier = time_requests(scene, supplier_client, page_urls("/supplier/analytics", requests))
    api_client = scene.app.test_client()
    api_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {merchant_token(scene)}"
    with scene.profiler("analytics_api"):
        api = time_requests(scene, api_client, api_urls(requests))
    raw = raw_timings(scene, requests)
    periods = "today, 7 d, 30 d, this month, last month, a year"
    return [
        _row(
            "analytics_rollup_build",
            "s",
            round(built["first"], 2),
            f"the worker's first pass: facts and roll-ups of {built['facts']:,} assigned orders",
        ),
        _row(
            "analytics_rollup_incremental",
            "s",
            round(built["incremental"], 3),
            f"the next pass after {CHANGED:,} orders changed ({built['changed']:,} facts moved)",
        ),
        _latency(
            "analytics_merchant_page",
            merchant,
            raw,
            f"merchant 1's 数据 page, {periods}; raw: the counts straight from the orders",
        ),
        _latency(
            "analytics_supplier_page",
            supplier,
            None,
            f"the busiest factory's 数据 page with today's workload, {periods}",
        ),
        _latency(
            "analytics_api",
            api,
            None,
            "GET /api/v1/analytics/suppliers, 1 day to a year",
        ),
    ]
