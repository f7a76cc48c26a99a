"""Response hardening: security headers on every response, no caching of tenant pages."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, request

from portal.domain.errors import DomainError
from portal.extensions import csrf

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def is_storable(text: str) -> bool:
    """False for text no database column can hold: NUL, or lone surrogates (invalid UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_storable(texts: Iterable[str]) -> None:
    if not all(is_storable(text) for text in texts):
        raise DomainError("invalid_request", "请求中含有无法处理的字符（如 NUL）")


def register(app: Flask) -> None:
    @app.before_request
    def refuse_unstorable_text() -> None:
        # PostgreSQL refuses NUL in text and psycopg cannot encode lone surrogates: such input
        # would otherwise surface as a 500 wherever it reaches a query.
        check_storable([request.path])
        check_storable(key for key in request.args)
        check_storable(value for values in request.args.lists() for value in values[1])
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            # A multipart part with an empty name has the key None.
            check_storable(key or "" for key in request.form)
            check_storable(value for values in request.form.lists() for value in values[1])

    @app.before_request
    def csrf_for_browser_requests() -> None:
        # Cookie-authenticated requests need the token; the bearer-token API does not.
        if not request.path.startswith("/api/"):
            csrf.protect()

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # Pages carry tenant data: keep them out of shared caches and the back/forward cache.
        if request.endpoint != "static" and "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"
        return response
