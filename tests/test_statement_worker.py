"""A statement built by a separate `portal worker` process on the Redis queue, killed mid-build.

The worker is SIGKILLed while it is writing lines (some batches committed, more to come). A new
worker finds the statement stale on start-up, builds it again from scratch and completes it
exactly once: every order one line, no duplicates, the right totals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import func, select, update

from portal.domain import allocation, bindings
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.statements import requesting as statement_requesting
from portal.extensions import db
from portal.jobs import queue
from portal.models import Merchant, Order, Price, Statement, StatementLine, Supplier
from portal.models.orders import STAGE_RETURNED
from portal.models.settlement import STATEMENT_BUILDING, STATEMENT_READY
from tests.factories import demo_order

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
ORDERS = 3000
BATCH = 25  # small committed batches, so the kill lands in the middle of the build

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not REDIS_URL,
        reason="PORTAL_TEST_REDIS_URL is not set: the Redis queue tests need a Redis server",
    ),
]


def start_worker(app, database_url: str, tmp_path: Path, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_KEYS_FILE": app.config["KEYS_FILE"],
        "PORTAL_SECRET_KEY": app.config["SECRET_KEY"],
        "PORTAL_QUEUE_URL": REDIS_URL,
        "PORTAL_QUEUE_NAME": app.config["QUEUE_NAME"],
        "PORTAL_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "PORTAL_STATEMENT_BATCH_SIZE": str(BATCH),
        "PORTAL_STATEMENT_STALE_SECONDS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "portal", "worker", "--threads", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=(tmp_path / f"{name}.log").open("w"),
        stderr=subprocess.STDOUT,
    )


def state(app, statement_id: int) -> tuple[str, int]:
    with app.app_context():
        status = db.session.scalar(select(Statement.status).where(Statement.id == statement_id))
        lines = db.session.scalar(
            select(func.count()).where(StatementLine.statement_id == statement_id)
        )
        return status, lines


def wait_for(condition, worker: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert worker.poll() is None, f"the worker exited ({worker.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_a_killed_worker_leaves_a_statement_that_the_next_one_completes_once(
    app, factory, database_url, tmp_path
):
    Redis.from_url(REDIS_URL).ping()
    app.config["QUEUE_URL"] = REDIS_URL
    app.config["QUEUE_NAME"] = f"portal-test-{uuid.uuid4().hex[:12]}"
    m_user, s_user = factory.merchant(), factory.supplier()
    with app.app_context():
        merchant = db.session.get(Merchant, m_user.merchant.id)
        supplier = db.session.get(Supplier, s_user.supplier.id)
        bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
        order_nos = [f"261121-9{i:014d}" for i in range(ORDERS)]
        upsert_orders(current_keyring(), merchant, [demo_order(no) for no in order_nos])
        assert len(allocation.assign_orders(merchant, order_nos, supplier, None).done) == ORDERS
        returned_at = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
        db.session.execute(
            update(Order)
            .where(Order.merchant_id == merchant.id)
            .values(stage=STAGE_RETURNED, courier="SF", tracking_no="", returned_at=returned_at)
        )
        db.session.add(
            Price(
                supplier_id=supplier.id,
                merchant_id=merchant.id,
                sku_key="BLK-150-GRY",
                price_fen=1234,
                effective_from=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        statement = statement_requesting.request_statement(
            merchant, supplier.id, date(2026, 11, 20), date(2026, 11, 20), None
        )
        db.session.commit()
        statement_id = statement.id
        statement_requesting.queue_build(statement_id)

    first = start_worker(app, database_url, tmp_path, "first")
    try:
        wait_for(
            lambda: (s := state(app, statement_id))[0] == STATEMENT_BUILDING and s[1] > 0,
            first,
            "the build to start writing lines",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
    status, lines_then = state(app, statement_id)
    assert status == STATEMENT_BUILDING and 0 < lines_then < ORDERS, (status, lines_then)

    time.sleep(2.5)  # its heartbeat goes stale (PORTAL_STATEMENT_STALE_SECONDS=2)
    second = start_worker(app, database_url, tmp_path, "second")
    try:
        wait_for(
            lambda: state(app, statement_id)[0] == STATEMENT_READY, second, "the rebuilt statement"
        )
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            second.kill()
    with app.app_context():
        done = db.session.get(Statement, statement_id)
        assert done.line_count == ORDERS and done.attempts == 2
        assert done.total_fen == ORDERS * 2 * 1234
        distinct = db.session.scalar(
            select(func.count(func.distinct(StatementLine.order_id))).where(
                StatementLine.statement_id == statement_id
            )
        )
        assert distinct == ORDERS
        lines = select(func.count()).where(StatementLine.statement_id == statement_id)
        assert db.session.scalar(lines) == ORDERS
    queue.huey(app).flush()
