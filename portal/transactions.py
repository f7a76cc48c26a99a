"""Which requests take SQLite's write lock up front (BEGIN IMMEDIATE) and which only read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, has_request_context, request
from sqlalchemy import Executable
from sqlalchemy.exc import OperationalError

from portal.extensions import db

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD", "OPTIONS")
View = TypeVar("View", bound=Callable[..., object])


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


def write_apart(statement: Executable, what: str) -> Any:
    """Run one write in a short transaction of its own, for a read-only request; its result,
    or None when the database was busy (bookkeeping never fails or holds up a read).

    Inside the request's read transaction SQLite cannot upgrade a stale snapshot to a write
    while another request writes (SQLITE_BUSY at once), and waiting for the write lock could
    take the whole busy timeout: the write waits at most a moment for the lock.
    """
    try:
        with db.engine.connect() as connection:
            driver = connection.connection.driver_connection
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:  # outside any transaction: pysqlite runs in autocommit mode here
                driver.execute("PRAGMA busy_timeout=200")
            try:
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        connection.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                    return connection.execute(statement)
            finally:
                if sqlite:
                    timeout = int(current_app.config["SQLITE_BUSY_TIMEOUT_MS"])
                    driver.execute(f"PRAGMA busy_timeout={timeout}")
    except OperationalError:
        log.info("%s: not written (database busy)", what)
        return None
