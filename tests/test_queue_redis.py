"""The scale-out queue: RedisHuey, consumed by a separate `portal worker` process.

Needs PORTAL_TEST_REDIS_URL (.ci/run sets it). When it is set, a Redis that does not answer
fails these tests; they are skipped, with the reason shown, only when it is not set.
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
from redis import Redis
from sqlalchemy import func, select

from portal.domain.demo_data import generate_orders, write_platform_export
from portal.extensions import db
from portal.jobs import queue
from portal.models import ImportJob, Order

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
PROJECT_ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not REDIS_URL,
        reason="PORTAL_TEST_REDIS_URL is not set: the Redis queue tests need a Redis server",
    ),
]


@pytest.fixture
def redis_queue(app):
    """The app on RedisHuey under a queue name of its own; fails if Redis does not answer."""
    Redis.from_url(REDIS_URL).ping()
    app.config["QUEUE_URL"] = REDIS_URL
    app.config["QUEUE_NAME"] = f"portal-test-{uuid.uuid4().hex[:12]}"
    yield app
    queue.huey(app).flush()


@pytest.fixture
def merchant_browser(factory, make_browser):
    user = factory.merchant()
    browser = make_browser()
    browser.login(user.username)
    return browser


def export(count: int, seed: int = 1) -> bytes:
    buffer = io.BytesIO()
    write_platform_export(generate_orders(count, seed=seed), buffer)
    return buffer.getvalue()


def upload(browser, content: bytes):
    response = browser.post(
        "/merchant/orders/import",
        {"file": (io.BytesIO(content), "orders.csv")},
        target="import-upload",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def job_state(app) -> tuple[str, int]:
    with app.app_context():
        job = db.session.scalar(select(ImportJob).order_by(ImportJob.id.desc()))
        return job.status, job.created


def test_jobs_travel_through_redis(redis_queue, merchant_browser):
    app = redis_queue
    upload(merchant_browser, export(7))
    [task] = queue.huey(app).pending()
    with app.app_context():
        job_id = db.session.scalar(select(ImportJob.id))
    # Only the job's id travels through Redis, never the file or buyer data.
    assert task.args == (job_id,) and not task.kwargs
    assert queue.run_pending(app) == 1
    assert job_state(app) == ("done", 7)


def test_a_separate_worker_process_runs_an_import_end_to_end(
    redis_queue, merchant_browser, database_url, tmp_path
):
    app = redis_queue
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_KEYS_FILE": app.config["KEYS_FILE"],
        "PORTAL_SECRET_KEY": app.config["SECRET_KEY"],
        "PORTAL_QUEUE_URL": REDIS_URL,
        "PORTAL_QUEUE_NAME": app.config["QUEUE_NAME"],
        "PORTAL_INSTANCE_PATH": str(tmp_path / "worker-instance"),
    }
    log = (tmp_path / "worker.log").open("w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "portal", "worker", "--threads", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        upload(merchant_browser, export(1500, seed=2))
        deadline = time.monotonic() + 180
        while job_state(app)[0] != "done":
            if worker.poll() is not None:
                log.seek(0)
                pytest.fail(f"the worker exited ({worker.returncode}):\n{log.read()[-3000:]}")
            if time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"job not done: {job_state(app)}\n{log.read()[-3000:]}")
            time.sleep(0.3)
        assert job_state(app) == ("done", 1500)
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Order)) == 1500
        assert queue.pending_count(app) == 0
    finally:
        worker.send_signal(signal.SIGINT)  # graceful: finish the task in hand, then exit
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
    assert worker.returncode == 0
