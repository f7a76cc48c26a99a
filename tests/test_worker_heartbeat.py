"""Worker heartbeats (issue 13): a job queued over a minute with no live worker is said on the
import and statement pages and by `portal check`, with how to start one. Injected clock."""

from __future__ import annotations

import threading
from datetime import timedelta

from huey.consumer import Consumer
from sqlalchemy import select

from portal import checks
from portal.extensions import db
from portal.jobs import Heartbeat, queue, start_embedded_worker, stop_embedded_worker
from portal.models import ImportJob, WorkerHeartbeat
from portal.models.base import utcnow
from tests.test_check import healthy, run_check  # noqa: F401  (fixture)
from tests.test_import_jobs import export_bytes, merchant_browser, some_orders, upload  # noqa: F401
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
