"""gunicorn entry point for the HTTP benchmark: the portal app plus one minimal endpoint.

`/__bench/ping` answers "ok" from the same app in the same workers, through the same
before/after-request hooks (security headers, session) — the floor the order list is compared
with. Configured by the PORTAL_* environment (database URL, keys file, secret key) like
`wsgi.py`; only bench/run.py starts it.
"""

from __future__ import annotations

from portal import create_app

app = create_app()


@app.get("/__bench/ping")
def bench_ping() -> str:
    return "ok"
