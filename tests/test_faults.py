"""Faults: the database going away in the middle of a batch, and an import killed mid-way.

- A batch assign over 3 000 orders (four compare-and-set chunks) loses its PostgreSQL
  connection after the first chunk was written — by pg_terminate_backend (always run), and by a
  real restart of the PostgreSQL server (marked `fault`; .ci/run runs it alone, after the
  parallel suite, because a restart cuts every other connection too). The batch applies
  completely or not at all; the user gets a 503 saying nothing was saved; the very next request
  on the same app — no restart of the app — works.
- An import whose worker process is SIGKILLed mid-file keeps exactly its committed batches;
  the next worker resumes it, and importing the same file again changes nothing.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, func, select, text

from portal.domain.demo_data import generate_orders, write_platform_export
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Assignment, ImportJob, Merchant, Order
from tests.conftest import PG_URL
from tests.factories import demo_order
from tests.test_order_rules import bound_shop

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BATCH = 3000

postgres_only = pytest.mark.skipif(not PG_URL, reason="needs PORTAL_TEST_DATABASE_URL")


def pg_superuser_engine():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def seed_batch(app, factory, browser):
    with app.app_context():
        shop = bound_shop(factory)
        numbers = [f"261121-8{i:014d}" for i in range(BATCH)]
        upsert_orders(current_keyring(), shop.merchant, [demo_order(n) for n in numbers])
        db.session.commit()
        supplier_id = shop.supplier.id
        username = shop.actor.username
    browser.login(username)
    return numbers, supplier_id


def assigned_count(app) -> tuple[int, int]:
    with app.app_context():
        orders = db.session.scalar(
            select(func.count()).select_from(Order).where(Order.stage == "assigned")
        )
        assignments = db.session.scalar(select(func.count()).select_from(Assignment))
        return orders, assignments


def lose_connection_after_first_chunk(app, cut) -> None:
    """Once the first compare-and-set UPDATE of orders has run, cut the connection."""
    state = {"updates": 0}

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE ORDERS"):
            state["updates"] += 1
            if state["updates"] == 1:
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                cut(pid)

    return lambda: event.remove(engine, "after_cursor_execute", after)


def assign_all(browser, numbers, supplier_id):
    return browser.post(
        "/merchant/orders/assign",
        {"order_no": numbers, "assign_to": str(supplier_id), "tab": "unassigned"},
        target="order-desk",
    )


def check_nothing_then_everything(app, browser, numbers, supplier_id, response) -> None:
    assert response.status_code == 503
    assert assigned_count(app) == (0, 0)  # not a single chunk of the batch survived
    # The same app, no restart: the pool replaces the dead connection and the batch goes in.
    response = assign_all(browser, numbers, supplier_id)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert assigned_count(app) == (BATCH, BATCH)


@postgres_only
def test_connection_killed_mid_batch_applies_nothing_and_the_app_recovers(app, factory, browser):
    numbers, supplier_id = seed_batch(app, factory, browser)
    admin = pg_superuser_engine()

    def terminate(pid: int) -> None:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    remove = lose_connection_after_first_chunk(app, terminate)
    try:
        response = assign_all(browser, numbers, supplier_id)
    finally:
        remove()
        admin.dispose()
    assert "本次操作未保存" in response.headers.get("HX-Trigger", "").encode().decode(
        "unicode_escape"
    )
    check_nothing_then_everything(app, browser, numbers, supplier_id, response)


@postgres_only
@pytest.mark.fault
def test_postgres_restarted_mid_batch_applies_nothing_and_the_app_recovers(app, factory, browser):
    numbers, supplier_id = seed_batch(app, factory, browser)
    cluster = subprocess.run(
        ["ls", "/etc/postgresql"], capture_output=True, text=True, check=True
    ).stdout.split()[0]

    def restart(_pid: int) -> None:
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                cluster,
                "main",
                "restart",
                "-m",
                "fast",
            ],
            check=True,
            capture_output=True,
        )

    remove = lose_connection_after_first_chunk(app, restart)
    try:
        response = assign_all(browser, numbers, supplier_id)
    finally:
        remove()
    for _ in range(60):  # the server takes a moment to accept connections again
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0:
            break
        time.sleep(0.5)
    check_nothing_then_everything(app, browser, numbers, supplier_id, response)


# --- an import killed mid-way ----------------------------------------------------------------


def export(count: int) -> bytes:
    buffer = io.BytesIO()
    write_platform_export(generate_orders(count, seed=7), buffer)
    return buffer.getvalue()


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="PORTAL_TEST_REDIS_URL is not set")
def test_an_import_killed_mid_file_keeps_its_committed_batches_and_resumes(
    app, factory, make_browser, database_url, tmp_path
):
    app.config["QUEUE_URL"] = REDIS_URL
    app.config["QUEUE_NAME"] = f"portal-test-{uuid.uuid4().hex[:12]}"
    user = factory.merchant()
    browser = make_browser()
    browser.login(user.username)
    content = export(6000)

    def start_worker(name: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_KEYS_FILE": app.config["KEYS_FILE"],
            "PORTAL_SECRET_KEY": app.config["SECRET_KEY"],
            "PORTAL_QUEUE_URL": REDIS_URL,
            "PORTAL_QUEUE_NAME": app.config["QUEUE_NAME"],
            "PORTAL_INSTANCE_PATH": str(tmp_path / "worker-instance"),
            "PORTAL_IMPORT_STALE_SECONDS": "2",
        }
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "portal", "worker", "--threads", "1"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=(tmp_path / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
        )

    def job() -> tuple[str, int, int]:
        with app.app_context():
            found = db.session.execute(
                select(ImportJob.status, ImportJob.rows_done, ImportJob.created)
                .order_by(ImportJob.id)
                .limit(1)
            ).one()
            orders = db.session.scalar(select(func.count()).select_from(Order))
            db.session.rollback()
            return found.status, found.rows_done, orders

    def upload() -> None:
        response = browser.post(
            "/merchant/orders/import",
            {"file": (io.BytesIO(content), "orders.csv")},
            target="import-upload",
        )
        assert response.status_code == 200

    upload()
    first = start_worker("first")
    try:
        deadline = time.monotonic() + 240
        while job()[2] == 0:  # the first batch has been committed
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)
    finally:
        if first.poll() is None:
            first.kill()
    status, rows_done, orders = job()
    assert status == "running" and 0 < orders < 6000
    assert orders == rows_done  # exactly the committed batches, nothing half-written

    time.sleep(2.5)  # stale after PORTAL_IMPORT_STALE_SECONDS
    second = start_worker("second")
    try:
        deadline = time.monotonic() + 240
        while job()[0] != "done":
            assert second.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        assert job() == ("done", 6000, 6000)
        with app.app_context():
            merchant = db.session.scalar(select(Merchant))
            count = db.session.scalar(
                select(func.count(func.distinct(Order.order_no))).where(
                    Order.merchant_id == merchant.id
                )
            )
            assert count == 6000
        # The same file again: every row unchanged.
        upload()
        deadline = time.monotonic() + 240
        while True:
            with app.app_context():
                last = db.session.scalar(select(ImportJob).order_by(ImportJob.id.desc()))
                if last.status == "done":
                    assert (last.unchanged, last.created, last.updated) == (6000, 0, 0)
                    break
            assert second.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            second.kill()
