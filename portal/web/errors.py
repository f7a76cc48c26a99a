"""Error answers: JSON for the API, a toast for htmx, a friendly page otherwise — never a trace."""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, make_response, redirect, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.api.schemas import Error
from portal.auth.session import safe_next, unauthorized
from portal.domain.errors import DomainError, message_for
from portal.extensions import db, htmx
from portal.web.htmx import finish, no_swap, notify

log = logging.getLogger(__name__)
# A domain error's details an API answer shows: the documented ones (schemas.Error).
ERROR_DETAILS = frozenset(Error.ErrorDetail.model_fields) - {"code", "message"}

STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
}
STATUS_MESSAGES = {
    405: "不支持该请求方式",
    429: "请求过于频繁，请稍后再试",
}


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def api_error(code: str, message: str, status: int, **extra: object) -> Response:
    body: dict[str, object] = {"code": code, "message": message}
    body.update(extra)
    response = jsonify(error=body)
    response.status_code = status
    return response


def _human_answer(message: str, status: int) -> Response:
    if htmx:
        notify(message, "error")
        return no_swap(status)
    return finish(
        make_response(
            render_template("error.html", status=status, message=message, is_full_page=True),
            status,
        )
    )


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        db.session.rollback()
        if is_api_request():
            extra = {k: v for k, v in error.details.items() if k in ERROR_DETAILS}
            response = api_error(error.code, error.message, error.status, **extra)
            if "retry_after" in extra:
                response.headers["Retry-After"] = str(extra["retry_after"])
            return response
        if htmx or request.method == "GET" or error.status in (401, 403, 404):
            return _human_answer(error.message, error.status)
        # A plain form post: go back where the user was, with the message.
        notify(error.message, "error")
        back = safe_next(request.referrer and _path_of(request.referrer)) or "/"
        return finish(redirect(back, 303))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        if is_api_request():
            return api_error("csrf_failed", message_for("csrf_failed"), 400)
        return _human_answer(message_for("csrf_failed"), 400)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = STATUS_CODES.get(status, "http_error")
        message = STATUS_MESSAGES.get(status) or message_for(code)
        if is_api_request():
            return api_error(code, message, status)
        if status == 401 and not current_user.is_authenticated:
            return unauthorized()
        return _human_answer(message, status)

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError) -> Response:
        """The database went away mid-request (restart, failover, network): the transaction
        is rolled back by the database, the pool replaces the connection, the user retries."""
        if not error.connection_invalidated:
            return internal_error(InternalServerError(original_exception=error))
        log.warning("database connection lost on %s %s", request.method, request.path)
        with contextlib.suppress(DBAPIError):
            db.session.rollback()
        message = message_for("database_unavailable")
        if is_api_request():
            return api_error("database_unavailable", message, 503)
        return _human_answer(message, 503)

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError) -> Response:
        original = getattr(error, "original_exception", None)
        # Log the type and where, not the message: messages may quote buyer data.
        log.error(
            "unhandled %s on %s %s",
            type(original).__name__ if original else "error",
            request.method,
            request.path,
        )
        db.session.rollback()
        message = message_for("internal_error")
        if is_api_request():
            return api_error("internal_error", message, 500)
        return _human_answer(message, 500)


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")
