"""The statement rate limit under real concurrency: eight processes ask at the same moment.

Eight spawned processes, each with its own app, engine and connection on the test's database
(an SQLite file, or PostgreSQL with PORTAL_TEST_DATABASE_URL), are released together by a
barrier and each requests a statement for the same pair at the same instant. Whatever the
interleaving, at most one statement may be created per instant (10-minute rule), never more
than three per Asia/Shanghai day, and the 10 minutes also hold across midnight.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal import create_app
from portal.domain import bindings
from portal.domain.errors import DomainError
from portal.domain.statements import requesting as statement_requesting
from portal.extensions import db
from portal.models import Merchant, Statement, Supplier
from tests.conftest import PG_URL, config
from tests.e2e_helpers import ROOT

PROCESSES = 8
TIMEOUT = 120


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC) - timedelta(hours=8)


def _worker(barrier: Any, inbox: Any, outbox: Any) -> None:
    """One process: an app per database, then one statement request per message."""
    apps: dict[str, Any] = {}
    while (message := inbox.get()) is not None:
        url, keys, merchant_id, supplier_id, moment = message
        try:
            if url not in apps:
                apps[url] = create_app(
                    config(SQLALCHEMY_DATABASE_URI=url, KEYS_FILE=keys, CREATE_KEYS=False)
                )
            with apps[url].app_context():
                merchant = db.session.get(Merchant, merchant_id)
                db.session.expunge(merchant)
                db.session.commit()  # hold no lock while waiting for the others
                barrier.wait()
                try:
                    created = statement_requesting.request_statement(
                        merchant, supplier_id, date(2026, 11, 1), date(2026, 11, 20), None, moment
                    )
                    db.session.commit()
                    outbox.put((True, ("created", created.id)))
                except DomainError as error:
                    db.session.rollback()
                    outbox.put((True, (error.code, error.details.get("limit"))))
                finally:
                    db.session.remove()
        except BaseException:
            barrier.abort()
            outbox.put((False, traceback.format_exc()))


class Crowd:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(PROCESSES, timeout=TIMEOUT)
        self.channels = [(context.Queue(), context.Queue()) for _ in range(PROCESSES)]
        self.processes = [
            context.Process(target=_worker, args=(self.barrier, inbox, outbox), daemon=True)
            for inbox, outbox in self.channels
        ]
        for process in self.processes:
            process.start()

    def ask(self, app: Any, merchant_id: int, supplier_id: int, moment: datetime) -> list[tuple]:
        self.barrier.reset()
        url, keys = app.config["SQLALCHEMY_DATABASE_URI"], app.config["KEYS_FILE"]
        for inbox, _outbox in self.channels:
            inbox.put((url, keys, merchant_id, supplier_id, moment))
        answers, errors = [], []
        for _inbox, outbox in self.channels:
            try:
                ok, value = outbox.get(timeout=3 * TIMEOUT)
            except queue.Empty:
                ok, value = False, "a process did not answer"
            (answers if ok else errors).append(value)
        assert not errors, "\n".join(errors)
        return answers

    def close(self) -> None:
        for inbox, _outbox in self.channels:
            inbox.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


@pytest.fixture(scope="module")
def crowd() -> Iterator[Crowd]:
    crowd = Crowd()
    yield crowd
    crowd.close()


# (Asia/Shanghai moment, whether one statement is allowed then) — three days and a midnight.
SCHEDULE = [
    (shanghai(2026, 11, 20, 9, 0), True),
    (shanghai(2026, 11, 20, 9, 5), False),  # 10 minutes
    (shanghai(2026, 11, 20, 9, 10), True),
    (shanghai(2026, 11, 20, 12, 0), True),
    (shanghai(2026, 11, 20, 15, 0), False),  # 3 a day
    (shanghai(2026, 11, 21, 9, 0), True),
    (shanghai(2026, 11, 21, 23, 55), True),
    (shanghai(2026, 11, 22, 0, 2), False),  # 10 minutes across midnight
    (shanghai(2026, 11, 22, 0, 5), True),
    (shanghai(2026, 11, 22, 0, 20), True),
    (shanghai(2026, 11, 22, 0, 40), True),
    (shanghai(2026, 11, 22, 1, 0), False),  # 3 a day
]


def test_eight_processes_at_once_create_at_most_one_and_never_more_than_three_a_day(
    app, app_ctx, factory, crowd
):
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    supplier = db.session.get(Supplier, s_user.supplier.id)
    bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
    db.session.commit()
    merchant_id, supplier_id = merchant.id, supplier.id
    db.session.remove()

    for moment, allowed in SCHEDULE:
        answers = crowd.ask(app, merchant_id, supplier_id, moment)
        outcomes = Counter(answer[0] for answer in answers)
        assert outcomes["created"] == (1 if allowed else 0), (moment, answers)
        assert outcomes["statement_rate_limited"] == PROCESSES - outcomes["created"], answers

    rows = db.session.execute(
        select(Statement.day, Statement.slot, Statement.requested_at).where(
            Statement.merchant_id == merchant_id
        )
    ).all()
    assert len(rows) == sum(allowed for _moment, allowed in SCHEDULE)
    per_day = Counter(day for day, _slot, _at in rows)
    assert per_day == {date(2026, 11, 20): 3, date(2026, 11, 21): 2, date(2026, 11, 22): 3}
    assert len({(day, slot) for day, slot, _at in rows}) == len(rows)
    times = sorted(at for _day, _slot, at in rows)
    assert all(b - a >= timedelta(minutes=10) for a, b in itertools.pairwise(times))


@pytest.mark.skipif(
    not (PG_URL and os.environ.get("PYTEST_XDIST_WORKER")),
    reason="a worker's own PostgreSQL database exists only under xdist",
)
def test_a_process_a_test_starts_uses_the_workers_database_without_setting_it_up_again():
    """The crowd's processes import the tests' conftest: each used to create and alter the
    worker's database again, and eight at once made PostgreSQL refuse some ("tuple
    concurrently updated"). A child now takes the database its worker set up: here its base
    URL names a server nobody listens on, and it never asks it."""
    env = {**os.environ, "PORTAL_TEST_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"}
    child = subprocess.run(
        [sys.executable, "-c", "from tests.conftest import PG_URL; print(PG_URL)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == PG_URL
