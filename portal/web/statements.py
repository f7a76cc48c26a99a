"""The statement pages' shared pieces: both roles' list and detail contexts, the timeline, and
the answer to a review action (a dispute, a confirmation, a settlement …)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, redirect, url_for
from flask_wtf import FlaskForm
from sqlalchemy import Select

from portal.domain import staff
from portal.domain.errors import DomainError
from portal.domain.statements import clock as statement_clock
from portal.domain.statements import files as statement_files
from portal.domain.statements import queries as statement_queries
from portal.domain.statements import review as statement_review
from portal.extensions import db, htmx
from portal.jobs import worker_missing
from portal.models import Statement
from portal.models.settlement import STATEMENT_QUEUED, STATEMENT_READY
from portal.web.forms import attach_error
from portal.web.htmx import finish, no_swap, notify, with_trigger
from portal.web.pagination import page_args, paginate

PER_PAGE = 20
LINES_PER_PAGE = 50
# htmx event after which every statement list on the page fetches itself again.
STATEMENTS_CHANGED = "statementsChanged"
DETAIL_TARGET = "statement-detail"


def list_context(query: Select[Any], endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
    """A page of statements; the list polls itself only while one of them is being built."""
    page = paginate(query, page_args(PER_PAGE, PER_PAGE))
    queued = [s.requested_at for s in page.items if s.status == STATEMENT_QUEUED]
    return {
        "page": page,
        "params": params,
        "polling": statement_queries.has_active(list(page.items)),
        "list_endpoint": endpoint,
        "worker_missing": worker_missing(min(queued, default=None), statement_clock.now_utc()),
    }


@dataclass(frozen=True)
class EventLine:
    """One entry of a statement's timeline, as both sides see it."""

    kind: str
    created_at: datetime
    actor: str
    note: str


def event_lines(statement: Statement) -> list[EventLine]:
    events = statement_queries.statement_events(statement)
    actors = staff.actor_labels(e.actor_id for e in events)
    return [
        EventLine(e.kind, e.created_at, staff.actor_label(actors, e.actor_id), e.note)
        for e in events
    ]


def detail_context(statement: Statement, endpoint: str) -> dict[str, Any]:
    """Totals, timeline and (once built) one page of lines; polls itself while building."""
    lines = None
    if statement.status == STATEMENT_READY:
        lines = paginate(
            statement_queries.lines_query(statement), page_args(LINES_PER_PAGE, LINES_PER_PAGE)
        )
    return {
        "statement": statement,
        "adjustments": statement_review.statement_adjustments(statement),
        "events": event_lines(statement),
        "lines": lines,
        "polling": statement.status in statement_queries.ACTIVE_STATUSES,
        "worker_missing": statement.status == STATEMENT_QUEUED
        and worker_missing(statement.requested_at, statement_clock.now_utc()),
        "detail_endpoint": endpoint,
        "courier_name": statement_files.courier_name,
        "supplier_codes": statement_files.supplier_codes(statement) if lines is not None else {},
    }


def action_answer(
    statement: Statement,
    message: str,
    render_detail: Callable[[Statement], Response],
    detail_endpoint: str,
) -> Response:
    """After a review action: the detail card when it asked, else the lists refresh themselves."""
    notify(message)
    if htmx and htmx.target == DETAIL_TARGET:
        return render_detail(statement)
    if htmx:
        return with_trigger(no_swap(), STATEMENTS_CHANGED)
    return finish(redirect(url_for(detail_endpoint, statement_id=statement.id), 303))


def form_action(
    form: FlaskForm,
    statement: Statement,
    act: Callable[[], object],
    message: str,
    render_form: Callable[[], Response],
    render_detail: Callable[[Statement], Response],
    detail_endpoint: str,
) -> Response:
    """A review action posted with a form (a dispute, an answer, an adjustment): a refusal about
    a field comes back on the form (422); any other refusal is the error toast."""
    if form.validate_on_submit():
        try:
            act()
        except DomainError as error:
            if "field" not in error.details:
                raise
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            return action_answer(statement, message, render_detail, detail_endpoint)
    return render_form()
