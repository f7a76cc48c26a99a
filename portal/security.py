"""Response hardening: security headers on every response, no caching of tenant pages."""

from __future__ import annotations

from flask import Flask, Response, request

from portal.extensions import csrf

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
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
