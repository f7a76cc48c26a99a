"""Which requests take SQLite's write lock up front (BEGIN IMMEDIATE) and which only read."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from flask import current_app, has_request_context, request
from sqlalchemy import Executable
from sqlalchemy.exc import OperationalError

from portal.extensions import db

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD", "OPTIONS")
# How long a read-only request's bookkeeping write waits for the lock before it is skipped.
BOOKKEEPING_WAIT_MS = 200
View = TypeVar("View", bound=Callable[..., object])
Row = TypeVar("Row")


def writes_on_get(view: View) -> View:
    """Mark a GET view that records something (a PDF render is audited and counted).

    A read transaction in SQLite cannot become a write once another request has written
    meanwhile (SQLITE_BUSY at once, no waiting): such a view takes the write lock when it begins.
    """
    view.writes_on_get = True  # type: ignore[attr-defined]
    return view


def may_write() -> bool:
    """Read-only requests take no write lock; everything else (POSTs, CLI, workers) does."""
    if not has_request_context():
        return True
    if request.method not in READ_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "writes_on_get", False))


def write_apart(statement: Executable, what: str, params: dict[str, Any] | None = None) -> Any:
    """Run one write (with its bound `params`) in a short transaction of its own, for a
    read-only request; its result, or None when the database was busy (bookkeeping never fails
    or holds up a read).

    Inside the request's read transaction SQLite cannot upgrade a stale snapshot to a write
    while another request writes (SQLITE_BUSY at once), and waiting for the write lock could
    take the whole busy timeout: the write waits at most a moment for the lock.
    """
    try:
        with db.engine.connect() as connection:
            driver = connection.connection.driver_connection
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:  # outside any transaction: pysqlite runs in autocommit mode here
                driver.execute(f"PRAGMA busy_timeout={BOOKKEEPING_WAIT_MS}")
            try:
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        connection.exec_driver_sql(
                            f"SET LOCAL lock_timeout = '{BOOKKEEPING_WAIT_MS}ms'"
                        )
                    return connection.execute(statement, params)
            finally:
                if sqlite:
                    timeout = int(current_app.config["SQLITE_BUSY_TIMEOUT_MS"])
                    driver.execute(f"PRAGMA busy_timeout={timeout}")
    except OperationalError:
        log.info("%s: not written (database busy)", what)
        return None


def write_first(statement: Executable, what: str, params: dict[str, Any] | None = None) -> Any:
    """write_apart as the first statement of the read-only request's own transaction: the same
    short wait for the lock, one transaction (and connection) fewer. The caller reads what it
    needs in the same transaction, then ends it with end_transaction_keeping_loaded; None when
    the database was busy (the transaction was rolled back, the request goes on reading).

    A deferred SQLite transaction that writes before it reads waits for the lock like BEGIN
    IMMEDIATE; one that read first cannot (write_apart is for that case).
    """
    session = db.session
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    driver = connection.connection.driver_connection
    try:
        if sqlite:
            driver.execute(f"PRAGMA busy_timeout={BOOKKEEPING_WAIT_MS}")
        else:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{BOOKKEEPING_WAIT_MS}ms'")
        try:
            return connection.execute(statement, params)
        finally:
            if sqlite:
                driver.execute(
                    f"PRAGMA busy_timeout={int(current_app.config['SQLITE_BUSY_TIMEOUT_MS'])}"
                )
    except OperationalError:
        session.rollback()
        log.info("%s: not written (database busy)", what)
        return None


def end_transaction_keeping_loaded() -> None:
    """Commit, keeping what the transaction loaded as it is (it was read in this very
    transaction: expiring it would only read it again)."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def end_transaction() -> None:
    """Commit what the request did so far: SQLite's write lock is free until the next query."""
    db.session.commit()


def read_upload(open_rows: Callable[[], Iterable[Row]]) -> list[Row]:
    """A (bounded) upload read to its end before any database work, outside any transaction.

    Parsing a file never holds the write lock other shops' requests wait for, and damage found
    late in the file refuses it before anything was written.
    """
    return list(read_upload_lazily(open_rows))


def read_upload_lazily(open_rows: Callable[[], Iterable[Row]]) -> Iterator[Row]:
    """read_upload for files too large to hold: the rows one by one, outside any transaction
    (the caller reads them through before writing, then opens the file again)."""
    end_transaction()
    yield from open_rows()


def commit_batch(*_progress: object) -> None:
    """after_batch of a batched import inside a request: each batch commits, so the write
    lock is held for one batch's writes, never while the next batch is parsed."""
    db.session.commit()
