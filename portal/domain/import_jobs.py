"""Background import of platform order exports: upload → queued job → streamed, batched upsert.

The upload is checked (size, readable, required headers) before anything is queued, then
stored on the ImportJob so any worker host can process it. The worker streams it through the
platform-export reader into upsert_orders, committing each batch together with the job's
progress; a job resumed after a crash skips the rows already committed, so its counters stay
those of one clean run and the upsert (keyed by order number) never duplicates an order.

The stored upload holds buyer data in plain text: it is cleared as soon as the job ends.
"""

from __future__ import annotations

import io
import json
import logging
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from pathlib import PurePosixPath
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import defer

from portal.domain.errors import DomainError
from portal.domain.imports.mappings import saved_mappings
from portal.domain.imports.platform_export import ImportFileError, open_platform_export
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import MAX_REPORTED_REJECTIONS, UpsertResult, upsert_orders
from portal.domain.privacy.normalize import normalize_text
from portal.domain.spreadsheets import csv_text
from portal.extensions import db
from portal.jobs import queue
from portal.models import ImportJob, Merchant, User
from portal.models.base import utcnow

log = logging.getLogger(__name__)

STATUS_QUEUED = "queued"
STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"
ACTIVE_STATUSES = (STATUS_QUEUED, STATUS_RUNNING)

RUN_IMPORT = "imports.run"
# A running job whose heartbeat (one per committed batch) is older than this was abandoned by
# a crashed worker; a queued one this old has probably lost its queue message
# (IMPORT_STALE_SECONDS overrides).
STALE_AFTER = timedelta(minutes=2)
# A job still not finished this long after upload is given up (a file that kills its worker
# every time must not be retried forever).
GIVE_UP_AFTER = timedelta(hours=1)
MAX_FILENAME = 200


# --- starting an import (request side) -------------------------------------------------------


def start_import(merchant: Merchant, user: User | None, filename: str, content: bytes) -> ImportJob:
    """Check the upload and create its queued job (flushed, not committed, not yet enqueued).

    Refuses at once, with nothing created, a file that is empty, too large, unreadable or
    missing a required column. Call queue_import(job_id) after the commit.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not content:
        raise DomainError("empty_file", _("上传的文件是空的"), field="file")
    if limit and len(content) > limit:
        raise DomainError("payload_too_large", field="file")
    name = clean_filename(filename)
    try:
        # Reads the start of the file and its header row; the rows are left unread.
        rows = open_platform_export(io.BytesIO(content), name, mappings=saved_mappings(merchant))
    except ImportFileError as error:
        raise DomainError(error.code, error.message, field="file") from None
    rows.close()
    job = ImportJob(
        merchant_id=merchant.id,
        user_id=user.id if user is not None else None,
        filename=name,
        platform=rows.platform,
        status=STATUS_QUEUED,
        content=content,
        size_bytes=len(content),
    )
    db.session.add(job)
    db.session.flush()
    return job


def queue_import(job_id: int) -> None:
    """Hand the job to the workers. If the queue is down, the sweep enqueues it later."""
    try:
        queue.enqueue(RUN_IMPORT, job_id)
    except Exception as exc:
        log.warning(
            "import job %s not enqueued (%s); a sweep will retry", job_id, type(exc).__name__
        )


def clean_filename(filename: str) -> str:
    """The file's own name (browsers may send a path), cleaned and cut to the column's size."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    return normalize_text(name)[:MAX_FILENAME] or "upload"


# --- reading jobs (tenant-scoped) ------------------------------------------------------------


def jobs_query() -> Any:
    # The upload can be 20 MB: never load it for display (raise if a template tried).
    return select(ImportJob).options(defer(ImportJob.content, raiseload=True))


def recent_import_jobs(merchant: Merchant, limit: int = 10) -> list[ImportJob]:
    return list(
        db.session.scalars(
            jobs_query()
            .where(ImportJob.merchant_id == merchant.id)
            .order_by(ImportJob.id.desc())
            .limit(limit)
        )
    )


def job_rejections(job: ImportJob) -> list[dict[str, Any]]:
    """The stored refusals: [{row, order_no, code, message}], at most the first 1000."""
    return json.loads(job.rejections or "[]")


def is_active(job: ImportJob) -> bool:
    return job.status in ACTIVE_STATUSES


def rejections_csv(job: ImportJob) -> str:
    """The job's refused rows as CSV (UTF-8 with BOM so that Excel reads the Chinese)."""
    header = [_("行号"), _("订单号"), _("原因"), _("原因代码")]
    keys = ("row", "order_no", "message", "code")
    return csv_text([header, *([item.get(k, "") for k in keys] for item in job_rejections(job))])


# --- running an import (worker side) ---------------------------------------------------------


class _ClaimLost(Exception):
    """Another worker took the job over (ours was declared stale): stop without writing."""


@dataclass
class _Run:
    """One claimed attempt at a job: the fencing token and the counters it started from."""

    job_id: int
    token: datetime
    base: dict[str, int]
    rejections: list[dict[str, Any]]
    reported: int = 0

    @property
    def rows_done(self) -> int:
        return self.base["rows_done"]

    def after_batch(self, result: UpsertResult, seen: int) -> None:
        """Record progress in the batch's own transaction, then commit both together."""
        fresh = result.rejected[self.reported :]
        self.reported = len(result.rejected)
        values: dict[str, Any] = {
            "rows_done": self.base["rows_done"] + seen,
            "created": self.base["created"] + result.created,
            "updated": self.base["updated"] + result.updated,
            "unchanged": self.base["unchanged"] + result.unchanged,
            "rejected": self.base["rejected"] + result.rejected_count,
            "cancelled_assignments": (
                self.base["cancelled_assignments"] + result.cancelled_assignments
            ),
            "heartbeat_at": utcnow(),
        }
        room = MAX_REPORTED_REJECTIONS - len(self.rejections)
        if fresh and room > 0:
            self.rejections.extend(r.as_dict() for r in fresh[:room])
            values["rejections"] = json.dumps(self.rejections, ensure_ascii=False)
        if not _update_claimed(self, **values):
            raise _ClaimLost
        db.session.commit()


_COUNTERS = ("rows_done", "created", "updated", "unchanged", "rejected", "cancelled_assignments")


def _update_claimed(run: _Run, **values: Any) -> bool:
    """Write to the job only while this attempt still holds it (compare-and-set on the token)."""
    result = db.session.execute(
        update(ImportJob)
        .where(
            ImportJob.id == run.job_id,
            ImportJob.status == STATUS_RUNNING,
            ImportJob.started_at == run.token,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _claim(job_id: int) -> _Run | None:
    """queued → running, atomically; None when another worker has it or it is finished."""
    now = utcnow()
    claimed = db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status == STATUS_QUEUED)
        # started_at doubles as the attempt's fencing token: a new claim replaces it.
        .values(status=STATUS_RUNNING, started_at=now, heartbeat_at=now, error="")
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        return None
    row = db.session.execute(
        select(*(getattr(ImportJob, name) for name in _COUNTERS), ImportJob.rejections).where(
            ImportJob.id == job_id
        )
    ).one()
    db.session.commit()
    base = {name: int(getattr(row, name) or 0) for name in _COUNTERS}
    return _Run(job_id, now, base, json.loads(row.rejections or "[]"))


def _finish(run: _Run, status: str, error: str = "") -> None:
    now = utcnow()
    _update_claimed(
        run, status=status, error=error[:300], content=None, finished_at=now, heartbeat_at=now
    )
    db.session.commit()


@queue.task(RUN_IMPORT)
def run_import(job_id: int) -> None:
    """The task body: import the stored upload, resuming after the rows already committed."""
    run = _claim(job_id)
    if run is None:
        return
    content, filename, merchant_id = db.session.execute(
        select(ImportJob.content, ImportJob.filename, ImportJob.merchant_id).where(
            ImportJob.id == job_id
        )
    ).one()
    merchant = db.session.get(Merchant, merchant_id)
    if not content or merchant is None:
        _finish(run, STATUS_FAILED, _("上传的文件已不存在，请重新上传"))
        return
    try:
        stream, mappings = io.BytesIO(content), saved_mappings(merchant)
        with closing(open_platform_export(stream, filename, mappings=mappings)) as rows:
            del content
            upsert_orders(
                current_keyring(),
                merchant,
                islice(rows, run.rows_done, None),
                after_batch=run.after_batch,
            )
    except ImportFileError as error:
        # Damage found further into the file: the batches before it stay imported.
        db.session.rollback()
        _finish(run, STATUS_FAILED, error.message)
    except _ClaimLost:
        db.session.rollback()
        log.warning("import job %s was taken over by another worker", job_id)
    except Exception as exc:
        db.session.rollback()
        log.error("import job %s failed: %s", job_id, type(exc).__name__)
        _finish(run, STATUS_FAILED, _("导入因系统错误中断。已导入的部分已保存，请重新上传该文件"))
    else:
        _finish(run, STATUS_DONE)


# --- recovering abandoned jobs ---------------------------------------------------------------


@queue.sweeper
def requeue_stale_imports(now: datetime | None = None) -> list[int]:
    """Enqueue again the jobs a crashed worker (or a lost queue message) left behind.

    Each job is moved back to queued with a compare-and-set, so several sweepers running at
    once enqueue it once; a duplicate message would be harmless anyway (see _claim).
    """
    now = now or utcnow()
    seconds = current_app.config.get("IMPORT_STALE_SECONDS")
    stale_after = timedelta(seconds=int(seconds)) if seconds else STALE_AFTER
    last_sign_of_life = func.coalesce(ImportJob.heartbeat_at, ImportJob.created_at)
    stale = and_(ImportJob.status.in_(ACTIVE_STATUSES), last_sign_of_life < now - stale_after)
    db.session.execute(
        update(ImportJob)
        .where(stale, ImportJob.created_at < now - GIVE_UP_AFTER)
        .values(
            status=STATUS_FAILED,
            error=_("导入多次中断，已停止。已导入的部分已保存，请重新上传该文件"),
            content=None,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    # One compare-and-set for all of them: a sweeper running at once moves none twice.
    requeued = sorted(
        db.session.scalars(
            update(ImportJob)
            .where(stale)
            .values(status=STATUS_QUEUED, heartbeat_at=now)
            .returning(ImportJob.id)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    for job_id in requeued:
        queue_import(job_id)
    return requeued
