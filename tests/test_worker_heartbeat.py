"""Worker heartbeats (issue 13): a job queued over a minute with no live worker is said on the
import and statement pages and by `portal check`, with how to start one. Injected clock."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from huey.consumer import Consumer
from sqlalchemy import select

from portal import checks
from portal.extensions import db
from portal.jobs import Heartbeat, queue, start_embedded_worker, stop_embedded_worker
from portal.models import ImportJob, WorkerHeartbeat
from portal.models.base import utcnow
from tests.test_check import healthy, run_check  # noqa: F401  (fixture)
from tests.test_import_jobs import (  # noqa: F401
    export_bytes,
    merchant_browser,
    some_orders,
    upload,
    wait_until_done,
)
from tests.test_import_jobs import queue_file as queue_file
from tests.test_statements import Clock
from tests.test_statements_web import (
    LIST,
    SUPPLIER_LIST,
    html,
    list_fragment,
    request_statement,
    run_queue,
    world,  # noqa: F401  (fixture)
)

WARNING = "后台任务无人处理"
HOW = "flask --app wsgi portal worker"


def beat(app, now, kind: str = "consumer") -> None:
    Heartbeat(app, kind, threading.Event()).beat(now)


def test_statement_pages_say_when_no_worker_takes_a_queued_statement(world):  # noqa: F811
    statement_id = request_statement(world)
    pages = [
        lambda: list_fragment(world.merchant),
        lambda: html(world.merchant.get(f"{LIST}/{statement_id}")),
        lambda: list_fragment(world.supplier, SUPPLIER_LIST),
        lambda: html(world.supplier.get(f"{SUPPLIER_LIST}/{statement_id}")),
    ]
    assert not any(WARNING in page() for page in pages)  # queued just now: nothing to say
    world.clock.advance(minutes=2)
    for page in pages:
        text = page()
        assert WARNING in text and HOW in text
    beat(world.app, world.clock())  # a worker is alive: it will get there
    assert not any(WARNING in page() for page in pages)
    world.clock.advance(minutes=5)  # … and then it stopped
    assert all(WARNING in page() for page in pages)
    assert run_queue(world.app) == 2  # the build, then its XLSX
    assert not any(WARNING in page() for page in pages)


def test_the_import_page_says_when_no_worker_takes_a_queued_import(app, merchant_browser):  # noqa: F811
    response = upload(merchant_browser, export_bytes(some_orders(3)))
    assert response.status_code == 200 and WARNING not in html(response)
    [job_id] = [job.id for job in _import_jobs(app)]
    clock = Clock(utcnow() + timedelta(minutes=2))
    app.config["CLOCK"] = clock
    for page in (f"/merchant/orders/import/{job_id}", "/merchant/orders/import"):
        text = html(merchant_browser.get(page))
        assert WARNING in text and HOW in text, page
    beat(app, clock(), "embedded")
    assert WARNING not in html(merchant_browser.get(f"/merchant/orders/import/{job_id}"))
    clock.advance(minutes=2)
    assert WARNING in html(merchant_browser.get(f"/merchant/orders/import/{job_id}"))


def _import_jobs(app) -> list[ImportJob]:
    with app.app_context():
        return list(db.session.scalars(select(ImportJob)))


def test_portal_check_reports_queued_jobs_without_a_live_worker(healthy, factory):  # noqa: F811
    user = factory.merchant()
    clock = Clock(utcnow())
    healthy.config["CLOCK"] = clock
    assert "job workers" not in run_check(healthy).output  # nothing waits
    with healthy.app_context():
        db.session.add(
            ImportJob(
                merchant_id=user.merchant.id,
                filename="orders.csv",
                status="queued",
                created_at=clock() - timedelta(minutes=3),
            )
        )
        db.session.commit()
    report = run_check(healthy)
    assert report.exit_code == 0, report.output  # a warning
    line = report.line("job workers", checks.WARN)
    assert "waited 3 min" in line and HOW in report.output
    beat(healthy, clock())
    assert "a worker is alive" in run_check(healthy).line("job workers", checks.OK)


def _heartbeats(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(WorkerHeartbeat.kind)))


def test_the_embedded_worker_and_the_consumer_stamp_their_heartbeat(app, monkeypatch):
    start_embedded_worker(app)
    stop_embedded_worker(app)
    assert _heartbeats(app) == {"embedded"}
    monkeypatch.setattr(Consumer, "run", lambda self: None)  # stops at once
    queue.run_consumer(app, workers=1)
    assert _heartbeats(app) == {"embedded", "consumer"}


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _heartbeat_names(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(WorkerHeartbeat.name)))


def _parent_of(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc for the process tree")
def test_flask_run_under_the_debug_reloader_runs_one_worker_in_the_serving_process(
    app,
    merchant_browser,  # noqa: F811
    tmp_path,
):
    """`flask --app wsgi run --debug`, the Flask convention: the reloader's watching parent and
    its serving child both build the app; only the child serves, so only it starts the
    embedded worker, and a queued import gets done."""
    upload(merchant_browser, export_bytes(some_orders(4)))  # queued, nobody consumes it yet
    instance = tmp_path / "served-instance"
    instance.mkdir(mode=0o700)
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "PORTAL_KEYS_FILE": app.config["KEYS_FILE"],
        "PORTAL_QUEUE_FILE": app.config["QUEUE_FILE"],
        "PORTAL_SECRET_KEY": "served-by-flask-run-" + "x" * 40,
        "PORTAL_INSTANCE_PATH": str(instance),
    }
    for name in ("PORTAL_QUEUE_URL", "PORTAL_EMBEDDED_WORKER"):
        env.pop(name, None)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--debug"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=(tmp_path / "flask-run.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the reloader's child goes with its parent's group
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "flask-run.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "flask-run.log").read_text()
                time.sleep(0.3)
        wait_until_done(app)
        deadline = time.monotonic() + 60  # a beat skipped while the import wrote comes 15 s on
        while not _heartbeat_names(app):
            assert time.monotonic() < deadline, "the served process stamped no heartbeat"
            time.sleep(0.5)
        time.sleep(1)
        [name] = _heartbeat_names(app)  # one worker: the parent serves nothing, starts none
        pid = int(name.split(":")[-2])
        assert pid != server.pid and _parent_of(pid) == server.pid
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
