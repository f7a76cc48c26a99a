"""Configuration classes; environment overrides are read at app creation, never at import."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import ClassVar


class Config:
    """Defaults for the embedded single-machine setup (SQLite in the instance folder)."""

    # Filled in by the factory from the instance folder unless given explicitly.
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None
    # A pooled connection that died (database restarted, failover) is replaced before use.
    # LIFO: a request reuses the connection returned last — on SQLite the one whose page cache
    # its own short writes kept (the API rate limit's count, portal.web.ratelimit).
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"pool_pre_ping": True, "pool_use_lifo": True}
    SQLALCHEMY_RECORD_QUERIES = False

    # Where data keys live; defaults to <instance>/data-keys.json.
    KEYS_FILE: str | None = None
    # Generate secret key and data keys on first run. Defaults to True only for the embedded
    # SQLite setup: on a shared database every host must use the same provisioned keys.
    CREATE_KEYS: bool | None = None
    # http://127.0.0.1 and localhost webhook URLs (None: allowed when debugging or testing).
    WEBHOOK_ALLOW_LOCAL: bool | None = None

    SESSION_COOKIE_NAME = "portal_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(days=7)
    REMEMBER_COOKIE_DURATION = timedelta(days=0)

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    # We call csrf.protect() ourselves for every non-API request (see portal.web.security): the
    # API authenticates with bearer tokens, and Flask-WTF cannot exempt nested blueprints.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_HEADERS: ClassVar[list[str]] = ["X-CSRFToken"]
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024  # uploads: platform exports are a few MB

    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"

    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105  (an algorithm name)

    # Login throttling, stored in the database so it holds across processes (accounts.Throttle):
    # per username and address, per address, and for a username across all addresses a much
    # higher ceiling with growing delays, so nobody can lock out someone else's account.
    LOGIN_MAX_FAILURES = 5
    LOGIN_MAX_FAILURES_PER_IP = 30
    LOGIN_MAX_FAILURES_PER_USERNAME = 100
    LOGIN_DELAY_AFTER_FAILURES = 10
    LOGIN_MAX_DELAY = timedelta(minutes=1)
    LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
    # Reverse proxies in front of the app (X-Forwarded-For/-Proto are trusted through this many).
    TRUSTED_PROXIES = 0

    API_MAX_PER_PAGE = 200
    # Check every API answer against its schema before sending it (tests, and always under
    # --debug: an answer off its schema is a 500 there). Off in production: a fifth of an
    # order page's CPU time.
    API_CHECK_ANSWERS = False
    # Per API token: this many requests a second sustained, bursts of up to API_RATE_BURST
    # (0 turns the limit off). Counted in the database, or in Redis when this URL is set, so
    # it holds across processes and hosts.
    API_RATE_LIMIT = 50.0
    API_RATE_BURST = 100
    API_RATE_LIMIT_REDIS_URL: str | None = None
    PAGE_SIZE = 50
    # SQLite (embedded setup): page cache and memory map per connection, in MB.
    SQLITE_CACHE_MB = 64
    # How long a SQLite writer waits for the write lock before failing.
    SQLITE_BUSY_TIMEOUT_MS = 30_000
    SQLITE_MMAP_MB = 256
    # PostgreSQL: random_page_cost per connection (SSD storage; None: the server's own).
    POSTGRES_RANDOM_PAGE_COST: float | None = 1.1
    # Desk tab counts stop here ("10000+"): each count reads at most this many index entries.
    COUNT_CAP = 10_000

    # Statement queue: "sqlite" (in-process worker, embedded default) or a redis:// URL.
    QUEUE_URL: str | None = None
    # With the embedded queue every web process runs its own job worker, under any server
    # (`portal serve`, `flask run`, gunicorn …), started by the process's first request: under
    # the debug reloader that is the serving child only. PORTAL_EMBEDDED_WORKER=0 turns it off.
    EMBEDDED_WORKER = True


class TestConfig(Config):
    TESTING = True
    # Tests run queued jobs themselves; the worker's own tests start it.
    EMBEDDED_WORKER = False
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    CREATE_KEYS = True
    WTF_CSRF_ENABLED = True
    # Tests create hundreds of users: a cheap hash keeps them fast; production keeps scrypt.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105
    # API suites send hundreds of requests a second; tests of the limit switch it on.
    API_RATE_LIMIT = 0.0
    API_CHECK_ANSWERS = True
    SERVER_NAME = "portal.test"
    PREFERRED_URL_SCHEME = "http"


def apply_environment(config: dict) -> None:
    """Apply PORTAL_* overrides (PORTAL_DATABASE_URL, PORTAL_SECRET_KEY, …) onto a config."""
    prefix = "PORTAL_"
    aliases = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}
    for name, raw in os.environ.items():
        if not name.startswith(prefix) or name.startswith("PORTAL_TEST_"):
            continue
        key = name[len(prefix) :]
        if key in ("INSTANCE_PATH",):
            continue
        key = aliases.get(key, key)
        config[key] = _parse(raw)


def _parse(raw: str) -> object:
    lowered = raw.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered.isdigit():
        return int(lowered)
    return raw
