"""Which requests take SQLite's write lock up front (BEGIN IMMEDIATE) and which only read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, has_request_context, request

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
