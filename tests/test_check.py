"""`flask --app wsgi portal check`: one line per check, exit 1 on any failure — secret key, the
data key file and the stored ciphertexts it must open, database and migrations, the queue
(embedded or Redis), the session cookie and the instance folder."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from portal import checks, create_app
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.privacy.keys import KeyRing
from portal.extensions import db
from portal.models import Merchant
from tests.conftest import PG_URL, config
from tests.factories import demo_order

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MARKS = {"✓": checks.OK, "!": checks.WARN, "✗": checks.FAIL, "-": checks.SKIP}


@dataclass
class Report:
    exit_code: int
    output: str
    lines: list[tuple[str, str, str]]  # (status, name, rest of the line)

    def line(self, name: str, status: str | None = None) -> str:
        found = [(s, rest) for s, n, rest in self.lines if n == name]
        assert found, f"no {name!r} line in:\n{self.output}"
        if status is not None:
            assert status in [s for s, _rest in found], f"{name} not {status}:\n{self.output}"
            return next(rest for s, rest in found if s == status)
        return found[0][1]

    def statuses(self) -> set[str]:
        return {status for status, _name, _rest in self.lines}


def run_check(app: Flask) -> Report:
    result = app.test_cli_runner().invoke(args=["portal", "check"], catch_exceptions=False)
    lines = []
    for raw in result.output.splitlines():
        mark, _space, rest = raw.partition(" ")
        if mark in MARKS:
            name, _colon, message = rest.partition(": ")
            lines.append((MARKS[mark], name, message))
    return Report(result.exit_code, result.output, lines)


def keys_file(app: Flask) -> Path:
    return Path(app.config["KEYS_FILE"])


@pytest.fixture
def healthy(app: Flask, tmp_path: Path) -> Flask:
    """The test app as production should be: a private instance folder, a strong secret key,
    secure cookies (the test database is migrated, the key file 0600, the queue file a temp)."""
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700)
    app.instance_path = str(instance)
    app.config["SECRET_KEY"] = secrets.token_urlsafe(48)
    app.config["SESSION_COOKIE_SECURE"] = True
    return app


@pytest.fixture
def with_orders(healthy: Flask, factory) -> Flask:
    """Orders encrypted with the app's key ring (v1)."""
    user = factory.merchant()
    with healthy.app_context():
        merchant = db.session.get(Merchant, user.merchant.id)
        orders = [demo_order(f"261121-{n:015d}") for n in range(1, 26)]
        assert upsert_orders(current_keyring(), merchant, orders).created == 25
        db.session.commit()
    return healthy


def test_all_good_exits_0_with_one_line_per_check(healthy):
    report = run_check(healthy)
    assert report.exit_code == 0, report.output
    assert checks.FAIL not in report.statuses()
    assert "set (from the configuration)" in report.line("secret key", checks.OK)
    assert "keys v1; current v1" in report.line("data key file", checks.OK)
    engine = "PostgreSQL" if PG_URL else "SQLite"
    assert report.line("database", checks.OK).startswith(engine)
    assert report.line("migrations", checks.OK).startswith("at head ")
    assert report.line("stored buyer data", checks.OK) == "no orders yet"
    assert "embedded SQLite queue" in report.line("queue", checks.OK)
    assert report.line("session cookie", checks.OK) == "SESSION_COOKIE_SECURE is on"
    assert "(mode 0700)" in report.line("instance folder", checks.OK)
    if PG_URL:  # PostgreSQL with the embedded queue works, but not across hosts
        assert "PORTAL_QUEUE_URL=redis://" in report.line("queue", checks.WARN)
        assert report.output.rstrip().endswith("all checks passed, 1 warning(s)")
    else:
        assert report.statuses() == {checks.OK}
        assert report.output.rstrip().endswith("all checks passed, 0 warning(s)")


def test_stored_orders_are_sampled_and_decrypt(with_orders):
    report = run_check(with_orders)
    assert report.exit_code == 0, report.output
    assert report.line("stored buyer data", checks.OK).startswith("20 sampled orders decrypt")


def test_a_missing_key_file_fails_with_what_to_do(with_orders):
    keys_file(with_orders).unlink()
    report = run_check(with_orders)
    assert report.exit_code == 1
    line = report.line("data key file", checks.FAIL)
    assert f"{keys_file(with_orders)} is missing" in line
    assert "restore data-keys.json from your backup" in line and "never create a new one" in line
    assert "no usable key file" in report.line("stored buyer data", checks.SKIP)
    assert "1 check(s) failed" in report.output


def test_a_different_key_file_is_caught_by_the_stored_orders(with_orders):
    # A well-formed key file, just not the one the orders were written with.
    KeyRing.generate().save(keys_file(with_orders))
    report = run_check(with_orders)
    assert report.exit_code == 1
    assert report.line("data key file", checks.OK)
    line = report.line("stored buyer data", checks.FAIL)
    assert "20 of 20 sampled orders cannot be decrypted" in line
    assert "not the key file these orders were written with" in line
    assert "restore the right data-keys.json" in line and "rotate-keys --no-new-key" in line


def test_a_key_file_without_the_old_key_names_rotate_keys(with_orders):
    with with_orders.app_context():
        ring = current_keyring()
    rotated = ring.with_new_version()
    # Rotated and saved properly: the old key stays in the ring, old orders still decrypt.
    rotated.save(keys_file(with_orders))
    report = run_check(with_orders)
    assert report.exit_code == 0, report.output
    assert "keys v1, v2; current v2" in report.line("data key file", checks.OK)
    # A ring that lost v1 (hand-edited, or a new ring from another host).
    KeyRing(
        keys={2: rotated.keys[2]},
        current_version=2,
        index_key=ring.index_key,
        receiver_key_secret=ring.receiver_key_secret,
    ).save(keys_file(with_orders))
    report = run_check(with_orders)
    assert report.exit_code == 1
    line = report.line("stored buyer data", checks.FAIL)
    assert "encrypted with key v1, which" in line and "does not hold" in line
    assert "portal rotate-keys" in line and "restart all processes" in line


def test_key_file_permissions_and_damage(healthy):
    path = keys_file(healthy)
    path.chmod(0o644)
    report = run_check(healthy)
    assert report.exit_code == 1
    line = report.line("data key file", checks.FAIL)
    assert "mode 0644" in line and f"chmod 600 {path}" in line

    path.chmod(0o400)  # private but not the expected mode: a warning only
    report = run_check(healthy)
    assert report.exit_code == 0, report.output
    assert f"mode 0400, expected 0600 → chmod 600 {path}" in report.line(
        "data key file", checks.WARN
    )

    path.chmod(0o600)
    path.write_text("{not json")
    report = run_check(healthy)
    assert report.exit_code == 1
    assert "not valid JSON" in report.line("data key file", checks.FAIL)

    path.unlink()
    path.mkdir()
    report = run_check(healthy)
    assert report.exit_code == 1
    assert report.line("data key file", checks.FAIL) == (
        f"{path} is not a file → restore it from the backup"
    )


@pytest.mark.parametrize(
    "secret",
    ["test-secret-key-not-for-production", "dev", "CHANGE-ME", "short-but-random-Xy7", "a" * 64],
)
def test_weak_secret_keys_fail(healthy, secret):
    healthy.config["SECRET_KEY"] = secret
    report = run_check(healthy)
    assert report.exit_code == 1
    line = report.line("secret key", checks.FAIL)
    assert "PORTAL_SECRET_KEY" in line and "token_urlsafe" in line
    assert secret not in line  # the check never prints the secret


def test_the_secret_key_source_is_named(healthy, monkeypatch):
    secret = healthy.config["SECRET_KEY"]
    monkeypatch.setenv("PORTAL_SECRET_KEY", secret)
    assert run_check(healthy).line("secret key", checks.OK) == "set (from PORTAL_SECRET_KEY)"
    monkeypatch.delenv("PORTAL_SECRET_KEY")
    secret_file = Path(healthy.instance_path) / "secret_key"
    secret_file.write_text(secret + "\n")
    assert run_check(healthy).line("secret key", checks.OK) == f"set (from {secret_file})"


def _bare_sqlite_app(tmp_path: Path) -> Flask:
    """An app on a new, empty SQLite database (never migrated), keys and queue in tmp_path."""
    app = create_app(
        config(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'bare.db'}",
            KEYS_FILE=str(tmp_path / "bare-keys.json"),
            QUEUE_FILE=str(tmp_path / "bare-queue.db"),
            SECRET_KEY=secrets.token_urlsafe(48),
            SESSION_COOKIE_SECURE=True,
        )
    )
    app.instance_path = str(tmp_path)
    return app


def test_a_database_without_schema_fails_with_init(tmp_path):
    tmp_path.chmod(0o700)
    app = _bare_sqlite_app(tmp_path)
    report = run_check(app)
    assert report.exit_code == 1
    assert report.line("database", checks.OK).startswith("SQLite")
    line = report.line("migrations", checks.FAIL)
    assert "no schema yet" in line
    assert "run `flask --app wsgi portal init` (or `flask --app wsgi db upgrade`)" in line
    assert "not at the current schema" in report.line("stored buyer data", checks.SKIP)
    with app.app_context():
        db.engine.dispose()


def test_a_database_behind_or_ahead_of_the_code_fails(tmp_path):
    tmp_path.chmod(0o700)
    app = _bare_sqlite_app(tmp_path)
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        head = script.get_revision(script.get_current_head())
        upgrade(revision=head.down_revision)
    report = run_check(app)
    assert report.exit_code == 1
    line = report.line("migrations", checks.FAIL)
    assert f"1 migration(s) pending (database at {head.down_revision}" in line
    assert "portal init" in line

    with app.app_context():
        upgrade()
        db.session.execute(text("UPDATE alembic_version SET version_num = 'f00dfacecafe'"))
        db.session.commit()
    line = run_check(app).line("migrations", checks.FAIL)
    assert "f00dfacecafe, which this code does not know" in line
    assert "never downgrade by hand" in line
    with app.app_context():
        db.engine.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_redis_on_a_closed_port_fails(healthy):
    healthy.config["QUEUE_URL"] = f"redis://:hunter2-secret@127.0.0.1:{_closed_port()}/0"
    report = run_check(healthy)
    assert report.exit_code == 1
    line = report.line("queue", checks.FAIL)
    assert "does not answer PING (ConnectionError)" in line and "PORTAL_QUEUE_URL" in line
    assert "hunter2-secret" not in report.output  # the password never shows

    healthy.config["QUEUE_URL"] = "amqp://127.0.0.1/"
    report = run_check(healthy)
    assert report.exit_code == 1
    assert "is not a redis:// URL" in report.line("queue", checks.FAIL)


def test_an_embedded_queue_that_cannot_be_written_fails(healthy, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    healthy.config["QUEUE_FILE"] = str(blocker / "queue.db")
    report = run_check(healthy)
    assert report.exit_code == 1
    assert "cannot be created" in report.line("queue", checks.FAIL)

    garbage = tmp_path / "garbage-queue.db"
    garbage.write_bytes(b"this is not a database file" * 100)
    healthy.config["QUEUE_FILE"] = str(garbage)
    report = run_check(healthy)
    assert report.exit_code == 1
    assert "is not a usable SQLite file" in report.line("queue", checks.FAIL)


def test_insecure_cookie_and_open_instance_folder(healthy, monkeypatch):
    healthy.config["SESSION_COOKIE_SECURE"] = False
    instance = Path(healthy.instance_path)
    instance.chmod(0o755)
    report = run_check(healthy)
    assert report.exit_code == 0, report.output  # warnings only
    assert "PORTAL_SESSION_COOKIE_SECURE=true" in report.line("session cookie", checks.WARN)
    assert f"chmod 700 {instance}" in report.line("instance folder", checks.WARN)

    instance.chmod(0o777)
    report = run_check(healthy)
    assert report.exit_code == 1
    assert "anyone may replace the keys" in report.line("instance folder", checks.FAIL)

    instance.chmod(0o700)
    monkeypatch.setenv("FLASK_DEBUG", "1")  # the CLI sets app.debug from it (`flask --debug`)
    assert "(debug mode)" in run_check(healthy).line("session cookie", checks.OK)


def test_a_check_that_breaks_is_reported_and_the_rest_still_run(healthy, monkeypatch):
    def broken(app):
        raise RuntimeError("boom with data 13800138000")

    monkeypatch.setattr(checks, "check_queue", broken)
    report = run_check(healthy)
    assert report.exit_code == 1
    assert report.line("queue", checks.FAIL) == "the check itself failed (RuntimeError)"
    assert "13800138000" not in report.output
    assert report.line("instance folder", checks.OK)


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="PORTAL_TEST_REDIS_URL is not set")
def test_a_reachable_redis_passes(healthy):
    healthy.config["QUEUE_URL"] = REDIS_URL
    report = run_check(healthy)
    assert report.exit_code == 0, report.output
    line = report.line("queue", checks.OK)
    assert line.startswith("Redis ") and line.endswith("answers PING")


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="PORTAL_TEST_DATABASE_URL is not set")
def test_postgres_reports_its_version_and_checks_the_orders(with_orders):
    report = run_check(with_orders)
    assert report.exit_code == 0, report.output
    line = report.line("database", checks.OK)
    assert line.startswith("PostgreSQL ") and "/test_" in line
    assert report.line("stored buyer data", checks.OK).startswith("20 sampled orders")
    KeyRing.generate().save(keys_file(with_orders))
    assert run_check(with_orders).exit_code == 1


def test_a_shared_database_without_keys_names_the_command_that_creates_them(tmp_path):
    """With a database of its own the portal never invents keys: it stops with what to run —
    no traceback — and the command it names works (it used to name `portal init` alone, which
    stopped the same way)."""
    tmp_path.chmod(0o700)
    keys = tmp_path / "data-keys.json"
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
        "PORTAL_SECRET_KEY": secrets.token_urlsafe(48),
        "PORTAL_KEYS_FILE": str(keys),
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_EMBEDDED_WORKER": "0",
    }
    env.pop("PORTAL_CREATE_KEYS", None)
    init = [sys.executable, "-m", "flask", "--app", "wsgi", "portal", "init"]
    refused = subprocess.run(init, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr + refused.stdout
    assert str(keys) in refused.stderr
    named = re.search(r"`(PORTAL_CREATE_KEYS=true) flask --app wsgi portal init`", refused.stderr)
    assert named, refused.stderr
    assert not keys.exists()

    setting, value = named.group(1).split("=")
    created = subprocess.run(
        init, cwd=PROJECT_ROOT, env={**env, setting: value}, capture_output=True, text=True
    )
    assert created.returncode == 0, created.stderr
    assert "database schema is up to date" in created.stdout
    assert KeyRing.load(keys).current_version >= 1
