"""Order import as a background job: upload, queue, progress polling, rejections, recovery."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from portal import create_app
from portal.config import Config
from portal.domain import import_jobs, spreadsheets
from portal.domain.authz import get_or_404
from portal.domain.demo_data import PDD_EXPORT_HEADER, generate_orders, write_platform_export
from portal.domain.errors import DomainError
from portal.domain.keyring import current_keyring
from portal.domain.orders.queries import TAB_UNASSIGNED, tab_condition
from portal.domain.privacy.receiver import reveal_receiver
from portal.extensions import db
from portal.jobs import queue, start_embedded_worker, stop_embedded_worker
from portal.models import ImportJob, Order
from portal.models.base import utcnow
from tests.conftest import another_app
from tests.factories import KUAISHOU_HEADER

IMPORT_URL = "/merchant/orders/import"


@pytest.fixture(autouse=True)
def queue_file(app, tmp_path):
    """A real SqliteHuey on a temporary file (the queue is built on first use)."""
    app.config["QUEUE_FILE"] = str(tmp_path / "queue.db")


@pytest.fixture
def merchant_browser(factory, make_browser):
    user = factory.merchant()
    browser = make_browser()
    browser.login(user.username)
    browser.user = user
    return browser


def export_bytes(orders, fmt="csv", encoding="gbk") -> bytes:
    buffer = io.BytesIO()
    write_platform_export(orders, buffer, fmt=fmt, encoding=encoding)
    return buffer.getvalue()


def some_orders(count: int, seed: int = 7) -> list[dict]:
    return list(generate_orders(count, seed=seed))


def upload(browser, content: bytes, filename: str = "orders.csv", htmx: bool = True):
    data = {"file": (io.BytesIO(content), filename)}
    return browser.post(IMPORT_URL, data, htmx=htmx, target="import-upload" if htmx else None)


def drain(app) -> int:
    return queue.run_pending(app)


def jobs_of(app) -> list[ImportJob]:
    with app.app_context():
        jobs = list(db.session.scalars(select(ImportJob).order_by(ImportJob.id)))
        db.session.expunge_all()
        return jobs


def order_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Order))


def status_url(job_id: int) -> str:
    return f"{IMPORT_URL}/{job_id}"


# --- the happy path, through the HTTP client -----------------------------------------------


def test_import_page_renders_form_and_recent_imports(merchant_browser):
    page = merchant_browser.get(IMPORT_URL)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html
    assert 'name="file"' in html and 'accept=".csv,.xlsx"' in html
    assert 'name="csrf_token"' in html
    assert "还没有导入记录" in html
    assert "style=" not in html and "<script>" not in html


def test_upload_queues_a_job_whose_card_polls_until_done(app, merchant_browser):
    orders = some_orders(5)
    response = upload(merchant_browser, export_bytes(orders))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    [job] = jobs_of(app)
    assert job.status == "queued" and job.content and job.size_bytes > 0
    assert queue.pending_count(app) == 1
    # The fragment: a fresh form, the job's card polling itself, and the refreshed list.
    assert f'id="import-job-{job.id}"' in html
    assert f'hx-get="{status_url(job.id)}"' in html and 'hx-trigger="every 1s"' in html
    assert "排队中" in html
    assert 'id="import-list" hx-swap-oob="true"' in html
    assert "showToast" in response.headers["HX-Trigger"]

    poll = merchant_browser.get(status_url(job.id), htmx=True, target=f"import-job-{job.id}")
    assert poll.status_code == 200
    assert 'hx-trigger="every 1s"' in poll.get_data(as_text=True)
    assert "<html" not in poll.get_data(as_text=True)
    assert "HX-Request" in poll.headers["Vary"]

    assert drain(app) == 1
    [job] = jobs_of(app)
    assert (job.status, job.rows_done, job.created, job.rejected) == ("done", 5, 5, 0)
    assert job.content is None, "the upload (plain buyer data) is cleared when the job ends"
    assert job.finished_at is not None and job.error == ""
    assert order_count(app) == 5

    final = merchant_browser.get(status_url(job.id), htmx=True, target=f"import-job-{job.id}")
    html = final.get_data(as_text=True)
    assert "hx-trigger" not in html, "a finished job's card stops polling"
    assert "已完成" in html and "导入完成" in html
    assert 'id="import-list" hx-swap-oob="true"' in html  # the list catches up once

    # A duplicate delivery of the same message changes nothing.
    with app.app_context():
        import_jobs.queue_import(job.id)
    assert drain(app) == 1
    assert jobs_of(app)[0].created == 5
    assert order_count(app) == 5

    # Direct load: a full page; the import page lists the job.
    page = merchant_browser.get(status_url(job.id)).get_data(as_text=True)
    assert "<html" in page and f'id="import-job-{job.id}"' in page
    listing = merchant_browser.get(IMPORT_URL).get_data(as_text=True)
    assert "orders.csv" in listing and "已完成" in listing


def test_plain_form_post_redirects_to_the_progress_page(app, merchant_browser):
    response = upload(merchant_browser, export_bytes(some_orders(2)), htmx=False)
    [job] = jobs_of(app)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(status_url(job.id))


def test_rejected_rows_are_listed_with_row_numbers_and_downloadable(app, merchant_browser):
    orders = some_orders(6)
    orders[1]["lines"][0]["quantity"] = 0  # spreadsheet row 3
    orders[3]["platform_status_text"] = "奇怪的状态"  # row 5
    orders[4]["order_no"] = "=1+2"  # row 6: formula-looking, invalid order number
    upload(merchant_browser, export_bytes(orders, encoding="utf-8"))
    drain(app)
    [job] = jobs_of(app)
    assert (job.status, job.created, job.rejected, job.rows_done) == ("done", 3, 3, 6)

    html = merchant_browser.get(
        status_url(job.id), htmx=True, target=f"import-job-{job.id}"
    ).get_data(as_text=True)
    assert 'class="refusals"' in html
    for row in (3, 5, 6):
        assert f"第 {row} 行" in html
    assert orders[1]["order_no"] in html and "商品数量" in html
    assert "奇怪的状态" in html
    assert f"{IMPORT_URL}/{job.id}/rejections.csv" in html

    download = merchant_browser.get(f"{IMPORT_URL}/{job.id}/rejections.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["行号", "订单号", "原因", "原因代码"]
    by_row = {r[0]: r for r in rows[1:]}
    assert set(by_row) == {"3", "5", "6"}
    assert by_row["3"][1] == orders[1]["order_no"] and by_row["3"][3] == "invalid_quantity"
    assert by_row["5"][3] == "unknown_status"
    # Formula injection: the echoed cell is prefixed, never evaluated by Excel.
    assert by_row["6"][1] == "'=1+2"


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("231121-538292030421876", "231121-538292030421876"),
        (12, "12"),
        (None, ""),
    ],
)
def test_spreadsheet_safe_cells(value, safe):
    assert spreadsheets.spreadsheet_safe(value) == safe


def test_missing_required_column_is_refused_at_once_and_nothing_queued(app, merchant_browser):
    header = [h for h in PDD_EXPORT_HEADER if h != "手机"]
    out = io.StringIO()
    csv.writer(out).writerows([header, ["x"] * len(header)])
    response = upload(merchant_browser, out.getvalue().encode("gbk"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "缺少必需的列" in html and "手机" in html
    assert 'class="field has-error"' in html
    assert jobs_of(app) == []
    assert queue.pending_count(app) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "上传的文件是空的"), (b"%PDF-1.4 not a table", "不是表格")],
)
def test_unusable_files_are_refused_with_the_reason(app, merchant_browser, content, message):
    response = upload(merchant_browser, content, "orders.csv")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert jobs_of(app) == []


def test_too_large_upload_is_refused_before_queuing(app, merchant_browser):
    app.config["MAX_CONTENT_LENGTH"] = 2000
    response = upload(merchant_browser, export_bytes(some_orders(30)))
    assert response.status_code == 413
    assert jobs_of(app) == []


def test_start_import_checks_the_size_itself(app, factory):
    user = factory.merchant()
    app.config["MAX_CONTENT_LENGTH"] = 100
    with app.app_context(), pytest.raises(DomainError) as refused:
        import_jobs.start_import(user.merchant, None, "a.csv", b"x" * 101)
    assert refused.value.code == "payload_too_large"


@pytest.mark.parametrize(
    ("fmt", "encoding", "filename"),
    [("csv", "gbk", "订单导出.csv"), ("csv", "utf-8-sig", "bom.csv"), ("xlsx", "", "export.xlsx")],
)
def test_gbk_bom_and_xlsx_exports_import_completely(app, merchant_browser, fmt, encoding, filename):
    orders = some_orders(40, seed=11)
    content = export_bytes(orders, fmt=fmt, encoding=encoding or "utf-8")
    assert upload(merchant_browser, content, filename).status_code == 200
    drain(app)
    [job] = jobs_of(app)
    assert (job.status, job.created, job.rejected, job.filename) == ("done", 40, 0, filename)
    with app.app_context():
        stored = db.session.scalars(select(Order).order_by(Order.id)).all()
        assert {o.order_no for o in stored} == {o["order_no"] for o in orders}
        first = next(o for o in stored if o.order_no == orders[0]["order_no"])
        name, _phone, _detail = reveal_receiver(
            current_keyring(),
            first.merchant_id,
            first.order_no,
            first.name_enc,
            first.phone_enc,
            first.detail_enc,
        )
        assert name == orders[0]["receiver"]["name"]


def test_a_ten_thousand_row_file_imports_completely(app, merchant_browser):
    orders = some_orders(10_000, seed=3)
    assert upload(merchant_browser, export_bytes(orders)).status_code == 200
    drain(app)
    [job] = jobs_of(app)
    assert (job.status, job.rows_done, job.created, job.rejected) == ("done", 10_000, 10_000, 0)
    assert order_count(app) == 10_000


def test_damage_mid_file_fails_the_job_and_keeps_committed_batches(app, merchant_browser):
    good = export_bytes(some_orders(1500, seed=5), encoding="utf-8")
    # Undecodable bytes far beyond the encoding sniffing window, after the first full batch.
    content = good + b"\xff\xfe\xfa broken\r\n" + export_bytes(some_orders(3, seed=6))[-400:]
    assert upload(merchant_browser, content).status_code == 200
    drain(app)
    [job] = jobs_of(app)
    assert job.status == "failed"
    assert "UTF-8" in job.error and "解码" in job.error
    assert job.rows_done == 1000 and job.created == 1000
    assert order_count(app) == 1000
    assert job.content is None
    html = merchant_browser.get(status_url(job.id)).get_data(as_text=True)
    assert "导入失败" in html and "解码" in html


class SimulatedCrash(BaseException):
    """Stands for the worker process being killed: nothing in the task catches it."""


def test_a_crash_mid_import_resumes_from_committed_batches_without_duplicates(
    app, merchant_browser, monkeypatch
):
    orders = some_orders(3500, seed=9)
    upload(merchant_browser, export_bytes(orders))
    real_upsert = import_jobs.upsert_orders

    def crashing_upsert(*args, after_batch, **kwargs):
        calls = []

        def hook(result, seen):
            after_batch(result, seen)
            calls.append(seen)
            if len(calls) == 2:
                raise SimulatedCrash

        return real_upsert(*args, after_batch=hook, **kwargs)

    monkeypatch.setattr(import_jobs, "upsert_orders", crashing_upsert)
    with pytest.raises(SimulatedCrash):
        drain(app)
    monkeypatch.setattr(import_jobs, "upsert_orders", real_upsert)
    [job] = jobs_of(app)
    assert (job.status, job.rows_done, job.created) == ("running", 2000, 2000)
    assert job.content is not None
    assert order_count(app) == 2000

    # Not stale yet: a sweep leaves a job with a fresh heartbeat alone.
    with app.app_context():
        assert import_jobs.requeue_stale_imports() == []
        assert import_jobs.requeue_stale_imports(utcnow() + timedelta(minutes=3)) == [job.id]
    assert jobs_of(app)[0].status == "queued"
    assert drain(app) == 1
    [job] = jobs_of(app)
    assert (job.status, job.rows_done, job.created, job.updated, job.unchanged) == (
        "done",
        3500,
        3500,
        0,
        0,
    )
    with app.app_context():
        numbers = db.session.scalars(select(Order.order_no)).all()
    assert len(numbers) == len(set(numbers)) == 3500


def test_a_stale_running_job_is_enqueued_again_and_completes(app, merchant_browser):
    upload(merchant_browser, export_bytes(some_orders(8)))
    [job] = jobs_of(app)
    long_ago = utcnow() - timedelta(minutes=10)
    with app.app_context():
        # A worker took the message and died before its first batch.
        assert queue.huey(app).dequeue() is not None
        db.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job.id)
            .values(status="running", started_at=long_ago, heartbeat_at=long_ago)
        )
        db.session.commit()
    assert queue.pending_count(app) == 0
    queue.sweep(app)  # what a worker runs on start-up and every minute
    assert queue.pending_count(app) == 1
    queue.sweep(app)
    assert queue.pending_count(app) == 1, "a job is enqueued again once, not on every sweep"
    drain(app)
    [job] = jobs_of(app)
    assert (job.status, job.created) == ("done", 8)


def test_a_job_that_never_finishes_is_given_up(app, merchant_browser):
    upload(merchant_browser, export_bytes(some_orders(2)))
    [job] = jobs_of(app)
    with app.app_context():
        assert import_jobs.requeue_stale_imports(utcnow() + timedelta(hours=2)) == []
    [job] = jobs_of(app)
    assert job.status == "failed" and job.content is None and "重新上传" in job.error


def test_another_merchants_job_is_not_found(app, merchant_browser, factory, make_browser):
    upload(merchant_browser, export_bytes(some_orders(3)))
    drain(app)
    [job] = jobs_of(app)
    other = factory.merchant()
    intruder = make_browser()
    intruder.login(other.username)
    assert intruder.get(status_url(job.id)).status_code == 404
    assert intruder.get(f"{IMPORT_URL}/{job.id}/rejections.csv").status_code == 404
    assert job.filename not in intruder.get(IMPORT_URL).get_data(as_text=True)
    with app.app_context(), pytest.raises(DomainError):
        get_or_404(import_jobs.jobs_query(), other.merchant, id=job.id)


def test_only_ids_travel_through_the_queue(app):
    with app.app_context(), pytest.raises(TypeError):
        queue.enqueue(import_jobs.RUN_IMPORT, "13800138000")


def wait_until_done(app) -> None:
    deadline = time.monotonic() + 60
    while jobs_of(app)[0].status != "done":
        assert time.monotonic() < deadline, "the embedded worker did not finish the job"
        time.sleep(0.2)


def test_the_embedded_worker_thread_runs_jobs(app, merchant_browser):
    worker = start_embedded_worker(app)
    try:
        assert start_embedded_worker(app) is worker, "one worker per process"
        upload(merchant_browser, export_bytes(some_orders(20)))
        wait_until_done(app)
    finally:
        stop_embedded_worker(app)
    assert not worker.alive
    assert order_count(app) == 20


def test_any_server_runs_the_embedded_worker_from_its_first_request(app, merchant_browser):
    """`flask --app wsgi run`, gunicorn or `portal serve`: the app itself starts the worker.

    Not at creation (CLI commands and the debug reloader's watching parent serve no request),
    but in the process that serves: its first request starts it, and queued jobs get done.
    """
    assert Config.EMBEDDED_WORKER is True  # the default outside tests
    served = another_app(app, EMBEDDED_WORKER=True)
    assert queue._state(served).worker is None, "no worker before a request"
    upload(merchant_browser, export_bytes(some_orders(5)))  # queued through the usual app
    try:
        served.test_client().get("/login")
        worker = queue._state(served).worker
        assert worker is not None and worker.alive
        wait_until_done(app)
    finally:
        stop_embedded_worker(served)
        with served.app_context():
            db.engine.dispose()
    assert order_count(app) == 5


def test_the_embedded_worker_can_be_turned_off(app):
    served = create_app({**app.config, "EMBEDDED_WORKER": False})
    served.test_client().get("/login")
    assert queue._state(served).worker is None
    with served.app_context():
        db.engine.dispose()


def test_tests_must_not_use_the_instance_queue(app):
    app.config["QUEUE_FILE"] = None
    with pytest.raises(RuntimeError, match="QUEUE_FILE"):
        queue.huey(app)


# --- first-day stumbles (issue 16) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "platform"),
    [
        (KUAISHOU_HEADER, "快手小店"),
        (["订单编号", "买家会员名", "收货人姓名", "联系手机", "宝贝标题"], "淘宝/天猫（千牛）"),
    ],
)
def test_another_platforms_export_is_named_not_listed_as_missing_columns(
    app, merchant_browser, header, platform
):
    out = io.StringIO()
    csv.writer(out).writerows([header, ["1"] * len(header)])
    response = upload(merchant_browser, out.getvalue().encode("utf-8-sig"), "export.csv")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f"这是{platform}导出的订单文件，门户目前能读取拼多多和抖店的订单导出" in html
    assert "缺少必需的列" not in html
    # The refused form keeps the file choice (portal.js restores it into the new input).
    assert re.search(
        r'<input[^>]*data-keep-file[^>]*id="file"|<input[^>]*id="file"[^>]*data-keep-file', html
    )
    assert jobs_of(app) == []


def test_a_douyin_export_is_taken_and_named_on_its_progress_card(app, merchant_browser):
    sample = Path(__file__).parent / "data" / "douyin_orders_export.csv"
    response = upload(merchant_browser, sample.read_bytes(), sample.name)
    assert response.status_code == 200
    [job] = jobs_of(app)
    assert job.platform == "douyin"
    assert re.search(r'id="import-platform-\d+">抖店<', response.get_data(as_text=True))


def test_finished_import_offers_to_assign_and_its_toast_replaces_the_progress_toast(
    app, merchant_browser
):
    response = upload(merchant_browser, export_bytes(some_orders(6)))
    [job] = jobs_of(app)
    toast = json.loads(response.headers["HX-Trigger"])["showToast"]
    assert toast == {
        "message": "文件已上传，正在后台导入…",
        "level": "info",
        "key": f"import-{job.id}",
        "sticky": True,
    }
    drain(app)
    with app.app_context():
        waiting = db.session.scalar(
            select(func.count()).select_from(Order).where(tab_condition(TAB_UNASSIGNED))
        )
    assert waiting > 0
    final = merchant_browser.get(status_url(job.id), htmx=True, target=f"import-job-{job.id}")
    html = final.get_data(as_text=True)
    assert re.search(rf'href="/merchant/orders\?tab=unassigned">去分配 {waiting} 单</a>', html)
    toast = json.loads(final.headers["HX-Trigger"])["showToast"]
    assert toast == {
        "message": "导入完成：新增 6，更新 0，未变化 0，未导入 0",
        "level": "success",
        "key": f"import-{job.id}",
    }
    # A direct load of the finished job's page shows the link, and no toast is flashed again.
    page = merchant_browser.get(status_url(job.id)).get_data(as_text=True)
    assert f"去分配 {waiting} 单" in page and "导入完成：新增" not in page
