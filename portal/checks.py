"""Pre-start checks (`portal check`): configuration, keys, database and queue, each with a fix.

The CLI only prints the results; nothing here writes to the database or the key file. Each
check reads what the *next* start will use: the key file on disk (not only the ring this
process loaded), the database as it is now, the queue the config names. A check that cannot run
because an earlier one failed says so (skipped) instead of adding a second, confusing failure.

Decisions: a key file that group or others may read fails (the portal itself refuses to load
it); any other mode than 0600 (0400, say) is only a warning. SESSION_COOKIE_SECURE off outside
debug mode, PostgreSQL with the embedded queue and a listable instance folder are warnings.
The command needs the app to load: where the factory refuses to start (a shared database
without its key file or secret key) that refusal, with its own message, is the answer.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from portal.domain.privacy.crypto import ORDER_FIELDS, decrypt, encrypt, order_aad, token_version
from portal.domain.privacy.keys import (
    CREATE_KEYS_COMMAND,
    DecryptionError,
    InsecureKeyFileError,
    KeyRing,
    KeyRingError,
    MissingKeysError,
)
from portal.domain.statements.clock import now_utc
from portal.extensions import db
from portal.jobs import REDIS_SCHEMES, WORKER_STALE, is_embedded, worker_missing
from portal.models import ImportJob, Order, Statement

OK = "ok"
WARN = "warn"
FAIL = "fail"
SKIP = "skip"

MIN_SECRET_LENGTH = 32
# Values that appear in docs, tutorials and our own TestConfig: never a production secret.
KNOWN_SECRETS = frozenset(
    {
        "test-secret-key-not-for-production",
        "dev",
        "development",
        "secret",
        "secret-key",
        "secret_key",
        "changeme",
        "change-me",
        "change_me",
        "please-change-me",
        "your-secret-key",
        "your_secret_key",
    }
)
# Orders sampled from each end of the table (oldest and newest: before and after a rotation).
CIPHERTEXT_SAMPLE = 10
CONNECT_TIMEOUT = 5  # seconds, PostgreSQL and Redis
OLDEST_POSTGRES = 13  # older majors are out of community support
KEY_FILE_MODE = 0o600
KEY_CHECK_AAD = b'["portal-check",1]'
INIT_COMMAND = "`flask --app wsgi portal init`"
INIT = f"{INIT_COMMAND} (or `flask --app wsgi db upgrade`)"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report: what was checked, how it went, and what to do about it."""

    name: str
    status: str  # OK | WARN | FAIL | SKIP
    message: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass
class _State:
    """What later checks need from earlier ones."""

    ring: KeyRing | None = None
    database_ready: bool = False


def run_checks(app: Flask, keys_file: Path) -> list[CheckResult]:
    """Every check, in order; call inside an app context. Never raises: a check that breaks
    unexpectedly is reported as failed with the error's type (messages may quote data)."""
    state = _State()
    checks: list[tuple[str, Callable[[], Iterator[CheckResult]]]] = [
        ("secret key", lambda: check_secret_key(app)),
        ("data key file", lambda: check_key_file(keys_file, state)),
        ("database", lambda: check_database(app, keys_file, state)),
        ("queue", lambda: check_queue(app)),
        ("job workers", lambda: check_waiting_jobs(state)),
        ("session cookie", lambda: check_session_cookie(app)),
        ("instance folder", lambda: check_instance_folder(app)),
    ]
    results: list[CheckResult] = []
    for name, check in checks:
        try:
            results.extend(check())
        except Exception as exc:  # a diagnostic must report, not crash
            message = f"the check itself failed ({type(exc).__name__})"
            results.append(CheckResult(name, FAIL, message))
    return results


# --- configuration -----------------------------------------------------------------------------


def check_secret_key(app: Flask) -> Iterator[CheckResult]:
    secret = app.config.get("SECRET_KEY") or ""
    fix = (
        "set PORTAL_SECRET_KEY to a long random value, the same on every web host, e.g. "
        "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
    )
    if not isinstance(secret, str | bytes) or not secret:
        yield CheckResult("secret key", FAIL, "SECRET_KEY is not set", fix)
        return
    value = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
    if value.strip().lower() in KNOWN_SECRETS:
        yield CheckResult("secret key", FAIL, "SECRET_KEY is a well-known default", fix)
        return
    if len(value) < MIN_SECRET_LENGTH or len(set(value)) < 8:
        message = f"SECRET_KEY is too weak (at least {MIN_SECRET_LENGTH} random characters)"
        yield CheckResult("secret key", FAIL, message, fix)
        return
    yield CheckResult("secret key", OK, f"set ({_secret_source(app, value)})")


def _secret_source(app: Flask, value: str) -> str:
    if os.environ.get("PORTAL_SECRET_KEY") == value:
        return "from PORTAL_SECRET_KEY"
    path = Path(app.instance_path) / "secret_key"
    try:
        if path.read_text().strip() == value:
            return f"from {path}"
    except OSError:
        pass
    return "from the configuration"


# --- data keys -----------------------------------------------------------------------------------


def check_key_file(keys_file: Path, state: _State) -> Iterator[CheckResult]:
    """The key file the next start loads: present, private, well-formed, and working."""
    name = "data key file"
    if keys_file.exists() and not keys_file.is_file():
        yield CheckResult(name, FAIL, f"{keys_file} is not a file", "restore it from the backup")
        return
    try:
        ring = KeyRing.load(keys_file)
    except MissingKeysError:
        yield CheckResult(
            name,
            FAIL,
            f"{keys_file} is missing",
            "restore data-keys.json from your backup (or copy it from another portal host) — "
            "never create a new one for a database that already holds orders; a new install "
            f"creates it with {CREATE_KEYS_COMMAND}",
        )
        return
    except InsecureKeyFileError:
        mode = _mode_text(keys_file)
        yield CheckResult(
            name,
            FAIL,
            f"{keys_file} has mode {mode}: group or others may access it; the portal refuses it",
            f"chmod 600 {keys_file}",
        )
        return
    except KeyRingError as error:  # invalid JSON, wrong fields: messages carry no key material
        yield CheckResult(
            name, FAIL, str(error), "restore data-keys.json from your backup; do not edit it"
        )
        return
    except OSError as error:
        yield CheckResult(
            name,
            FAIL,
            f"{keys_file} cannot be read ({error.strerror or type(error).__name__})",
            "make it a file readable by the user the portal runs as, mode 0600",
        )
        return
    sample = "portal check"
    try:
        works = decrypt(ring, encrypt(ring, sample, KEY_CHECK_AAD), KEY_CHECK_AAD) == sample
    except (DecryptionError, ValueError):
        works = False
    if not works:
        yield CheckResult(name, FAIL, f"{keys_file} cannot encrypt and decrypt a test value")
        return
    state.ring = ring
    versions = ", ".join(f"v{v}" for v in sorted(ring.keys))
    message = f"{keys_file} (keys {versions}; current v{ring.current_version})"
    mode = stat.S_IMODE(keys_file.stat().st_mode)
    if os.name == "posix" and mode != KEY_FILE_MODE:
        yield CheckResult(
            name, WARN, f"{message}; mode {mode:04o}, expected 0600", f"chmod 600 {keys_file}"
        )
        return
    yield CheckResult(name, OK, message)


def _mode_text(path: Path) -> str:
    try:
        return f"{stat.S_IMODE(path.stat().st_mode):04o}"
    except OSError:
        return "unknown"


# --- database ----------------------------------------------------------------------------------


def check_database(app: Flask, keys_file: Path, state: _State) -> Iterator[CheckResult]:
    engine, dispose = _check_engine()
    where = engine.url.render_as_string(hide_password=True)
    try:
        with _connect(engine) as connection:
            if isinstance(connection, _Unreachable):
                yield CheckResult(
                    "database",
                    FAIL,
                    f"cannot connect to {where} ({connection.reason})",
                    "check PORTAL_DATABASE_URL, that the server runs and accepts this host "
                    "and user",
                )
                yield CheckResult("stored buyer data", SKIP, "not checked: no database")
                return
            yield _database_server(connection, where)
            migrations = _migrations(app, connection)
            yield migrations
            state.database_ready = migrations.status == OK
            yield _stored_ciphertexts(connection, keys_file, state)
    finally:
        if dispose:
            engine.dispose()


def _check_engine() -> tuple[Engine, bool]:
    """PostgreSQL through a short-lived engine with a connect timeout (an unreachable server
    must not hang the check); SQLite through the app's engine (its pragmas and locking)."""
    url = db.engine.url
    if url.get_backend_name() != "postgresql" or "connect_timeout" in url.query:
        return db.engine, False
    engine = create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT}
    )
    return engine, True


@dataclass(frozen=True)
class _Unreachable:
    reason: str


def _reason(error: SQLAlchemyError) -> str:
    """The driver's first line ("connection refused", "password authentication failed")."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0][:200] if lines else type(original).__name__


@contextmanager
def _connect(engine: Engine) -> Iterator[Connection | _Unreachable]:
    try:
        connection = engine.connect()
    except SQLAlchemyError as error:
        yield _Unreachable(_reason(error))
        return
    try:
        yield connection
    finally:
        connection.rollback()  # the check writes nothing
        connection.close()


def _database_server(connection: Connection, where: str) -> CheckResult:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        version = str(connection.scalar(text("SHOW server_version")) or "").split()[0]
        major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
        message = f"PostgreSQL {version} at {where}"
        if major < OLDEST_POSTGRES:
            return CheckResult(
                "database",
                WARN,
                f"{message}: older than {OLDEST_POSTGRES}, out of community support",
                f"upgrade to PostgreSQL {OLDEST_POSTGRES} or later",
            )
        return CheckResult("database", OK, message)
    if dialect == "sqlite":
        version = connection.scalar(text("SELECT sqlite_version()"))
        return CheckResult("database", OK, f"SQLite {version} at {where}")
    return CheckResult("database", OK, f"{dialect} at {where}")


def _migrations(app: Flask, connection: Connection) -> CheckResult:
    name = "migrations"
    config = app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    heads = set(script.get_heads())
    current = set(MigrationContext.configure(connection).get_current_heads())
    if current == heads:
        return CheckResult(name, OK, f"at head {', '.join(sorted(heads))}")
    if not current:
        return CheckResult(name, FAIL, "the database has no schema yet", f"run {INIT}")
    unknown = sorted(rev for rev in current if _revision(script, rev) is None)
    if unknown:
        return CheckResult(
            name,
            FAIL,
            f"the database is at {', '.join(unknown)}, which this code does not know "
            "(a newer version of the portal migrated it)",
            "deploy the portal version that matches the database; never downgrade by hand",
        )
    pending = _pending_count(script, current, heads)
    return CheckResult(
        name,
        FAIL,
        f"{pending} migration(s) pending (database at {', '.join(sorted(current))}, "
        f"code at {', '.join(sorted(heads))})",
        f"run {INIT}",
    )


def _revision(script: ScriptDirectory, revision: str) -> Any:
    try:
        return script.get_revision(revision)
    except Exception:  # alembic raises several kinds for an unknown revision
        return None


def _pending_count(script: ScriptDirectory, current: set[str], heads: set[str]) -> int:
    pending = set()
    for head in heads:
        for base in current:
            pending.update(rev.revision for rev in script.iterate_revisions(head, base))
    return len(pending)


def _stored_ciphertexts(connection: Connection, keys_file: Path, state: _State) -> CheckResult:
    """Orders' receiver ciphertexts (oldest and newest) must open with the key file's ring."""
    name = "stored buyer data"
    if not state.database_ready:
        return CheckResult(name, SKIP, "not checked: the database is not at the current schema")
    if connection.scalar(select(Order.id).limit(1)) is None:
        return CheckResult(name, OK, "no orders yet")
    if state.ring is None:
        return CheckResult(name, SKIP, "not checked: there are orders but no usable key file")
    ciphertexts = [getattr(Order, f"{field}_enc") for field in ORDER_FIELDS]
    columns = (Order.id, Order.merchant_id, Order.order_no, *ciphertexts)
    rows = {}
    for order in (Order.id.asc(), Order.id.desc()):
        query = select(*columns).where(Order.name_enc != "").order_by(order)
        for row in connection.execute(query.limit(CIPHERTEXT_SAMPLE)):
            rows[row.id] = row
    failed: list[int] = []
    missing_versions: set[int] = set()
    for row in rows.values():
        for field in ORDER_FIELDS:
            token = getattr(row, f"{field}_enc")
            try:
                decrypt(state.ring, token, order_aad(row.merchant_id, row.order_no, field))
            except DecryptionError:
                failed.append(row.id)
                version = token_version(token)
                if version is not None and version not in state.ring.keys:
                    missing_versions.add(version)
                break
    if not failed:
        return CheckResult(name, OK, f"{len(rows)} sampled orders decrypt with {keys_file}")
    if missing_versions:
        lacking = ", ".join(f"v{v}" for v in sorted(missing_versions))
        return CheckResult(
            name,
            FAIL,
            f"{len(failed)} of {len(rows)} sampled orders were encrypted with key {lacking}, "
            f"which {keys_file} does not hold",
            "copy the key file from the host that ran `portal rotate-keys` to every host "
            "(it keeps the old keys), or restore it from the backup; then restart all processes",
        )
    return CheckResult(
        name,
        FAIL,
        f"{len(failed)} of {len(rows)} sampled orders cannot be decrypted with {keys_file}: "
        "it is not the key file these orders were written with",
        "restore the right data-keys.json from the backup (or copy it from a working host); "
        "after an interrupted `portal rotate-keys`, copy the rotated file everywhere and run "
        "`flask --app wsgi portal rotate-keys --no-new-key`",
    )


# --- queue -------------------------------------------------------------------------------------


def check_queue(app: Flask) -> Iterator[CheckResult]:
    if is_embedded(app):
        yield _embedded_queue(app)
        if db.engine.dialect.name != "sqlite":
            yield CheckResult(
                "queue",
                WARN,
                "PostgreSQL with the embedded queue: jobs run only inside the web processes "
                "of the host that queued them",
                "on several hosts set PORTAL_QUEUE_URL=redis://… everywhere and run "
                "`flask --app wsgi portal worker` processes",
            )
        return
    yield _redis_queue(str(app.config.get("QUEUE_URL")))


def _embedded_queue(app: Flask) -> CheckResult:
    path = Path(app.config.get("QUEUE_FILE") or Path(app.instance_path) / "queue.db")
    fix = (
        f"make {path.parent} a directory writable by the portal's user, or set "
        "PORTAL_QUEUE_FILE (or PORTAL_QUEUE_URL=redis://…)"
    )
    if path.exists():
        if not (path.is_file() and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            return CheckResult("queue", FAIL, f"embedded queue file {path} is not writable", fix)
        try:
            connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5)
            try:
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                connection.close()
        except sqlite3.Error as error:
            return CheckResult(
                "queue",
                FAIL,
                f"embedded queue file {path} is not a usable SQLite file ({error})",
                f"stop the portal, move {path} away (queued jobs are swept up again) and start",
            )
        return CheckResult("queue", OK, f"embedded SQLite queue {path}")
    existing = _existing_parent(path.parent)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return CheckResult("queue", FAIL, f"embedded queue file {path} cannot be created", fix)
    return CheckResult("queue", OK, f"embedded SQLite queue {path} (created on first use)")


def check_waiting_jobs(state: _State) -> Iterator[CheckResult]:
    """Imports and statements queued over a minute while no worker stamps its heartbeat: a
    queue nobody consumes (nothing to say while nothing waits)."""
    if not state.database_ready:
        return
    oldest = [
        db.session.scalar(select(func.min(column)).where(status == "queued"))
        for column, status in (
            (ImportJob.created_at, ImportJob.status),
            (Statement.requested_at, Statement.status),
        )
    ]
    oldest_queued = min((moment for moment in oldest if moment is not None), default=None)
    if oldest_queued is None:
        return
    now = now_utc()
    if worker_missing(oldest_queued, now):
        minutes = int((now - oldest_queued).total_seconds() // 60)
        yield CheckResult(
            "job workers",
            WARN,
            f"imports or statements have waited {minutes} min and no worker's heartbeat is live "
            f"(none in the last {int(WORKER_STALE.total_seconds())} s)",
            "start one: `flask --app wsgi portal worker` (always with PORTAL_QUEUE_URL or "
            "PORTAL_EMBEDDED_WORKER=0); with the embedded queue the web server's processes run "
            "one from their first request",
        )
        return
    yield CheckResult("job workers", OK, "jobs are queued and a worker is alive")


def _existing_parent(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


def _redis_queue(url: str) -> CheckResult:
    where = _redis_location(url)
    if not url.startswith(REDIS_SCHEMES):
        return CheckResult(
            "queue",
            FAIL,
            f"PORTAL_QUEUE_URL {where} is not a redis:// URL",
            "set PORTAL_QUEUE_URL=redis://host:6379/0 (or unset it for the embedded queue)",
        )
    try:
        client = Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
        )
        try:
            client.ping()
            version = client.info("server").get("redis_version", "?")
        finally:
            client.close()
    except (RedisError, OSError, ValueError) as error:
        return CheckResult(
            "queue",
            FAIL,
            f"Redis at {where} does not answer PING ({type(error).__name__})",
            "start Redis or fix PORTAL_QUEUE_URL (host, port, password); every web and "
            "worker host must reach it",
        )
    return CheckResult("queue", OK, f"Redis {version} at {where} answers PING")


def _redis_location(url: str) -> str:
    """The URL without its password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{host}{port}{parts.path}"


# --- web ---------------------------------------------------------------------------------------


def check_session_cookie(app: Flask) -> Iterator[CheckResult]:
    if app.config.get("SESSION_COOKIE_SECURE"):
        yield CheckResult("session cookie", OK, "SESSION_COOKIE_SECURE is on")
    elif app.debug:
        yield CheckResult("session cookie", OK, "SESSION_COOKIE_SECURE is off (debug mode)")
    else:
        yield CheckResult(
            "session cookie",
            WARN,
            "SESSION_COOKIE_SECURE is off: the session cookie would also travel over plain http",
            "behind HTTPS set PORTAL_SESSION_COOKIE_SECURE=true (leave it off only for a "
            "local http:// setup)",
        )


def check_instance_folder(app: Flask) -> Iterator[CheckResult]:
    """It holds secret_key, data-keys.json, portal.db and queue.db when they are not elsewhere;
    a private folder (0700) protects them whatever their own modes."""
    path = Path(app.instance_path)
    if not path.exists():
        yield CheckResult("instance folder", OK, f"{path} not used")
        return
    if not path.is_dir():
        message = f"{path} is not a directory"
        yield CheckResult(
            "instance folder", FAIL, message, "move it away or set PORTAL_INSTANCE_PATH"
        )
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & stat.S_IWOTH:
        yield CheckResult(
            "instance folder",
            FAIL,
            f"{path} has mode {mode:04o}: anyone may replace the keys or the database in it",
            f"chmod 700 {path}",
        )
        return
    if not os.access(path, os.W_OK | os.X_OK):
        yield CheckResult(
            "instance folder",
            FAIL,
            f"{path} is not writable by this user (SQLite and the queue need it)",
            f"chown it to the portal's user and chmod 700 {path}",
        )
        return
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        yield CheckResult(
            "instance folder",
            WARN,
            f"{path} has mode {mode:04o}: other users can list it",
            f"chmod 700 {path}",
        )
        return
    yield CheckResult("instance folder", OK, f"{path} (mode {mode:04o})")
