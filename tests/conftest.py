"""Fixtures: a fresh app and database per test (SQLite by default, PostgreSQL when configured)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from hypothesis import settings
from playwright.sync_api import sync_playwright
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import selectinload

from portal import create_app
from portal.config import TestConfig
from portal.domain import accounts
from portal.extensions import db
from portal.models import User
from tests.e2e_helpers import CHROMIUM
from tests.url_builders import share_url_builders

# Timing is not behaviour: a loaded CI machine must not fail property tests on speed.
settings.register_profile("portal", deadline=None)
settings.load_profile("portal")
share_url_builders()

# PORTAL_TEST_CLOCK_SHIFT_DAYS=365 runs the whole session that far in the future (the clock
# keeps ticking): a test that seeds a fixed date which the calendar has passed fails at once in
# CI instead of on the day it rots.
CLOCK_SHIFT = timedelta(days=int(os.environ.get("PORTAL_TEST_CLOCK_SHIFT_DAYS") or 0))


def pytest_configure(config: pytest.Config) -> None:
    if CLOCK_SHIFT:
        time_machine.travel(datetime.now(UTC) + CLOCK_SHIFT, tick=True).start()


def pytest_report_header(config: pytest.Config) -> str | None:
    if CLOCK_SHIFT:
        return (
            f"clock shifted by {CLOCK_SHIFT.days} days: now {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        )
    return None


WORKER_DATABASE_ENV = "PORTAL_TEST_WORKER_DATABASE_URL"


def _per_worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (`test_gw0`, …),
    created on first use, so the PostgreSQL suite can run in parallel like the SQLite one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    # A process a test starts (multiprocessing, a CLI subprocess) inherits the worker's
    # database as the worker set it up: eight of them altering it again at once made
    # PostgreSQL refuse some of them ("tuple concurrently updated").
    ready = os.environ.get(WORKER_DATABASE_ENV, "")
    if ready:
        return ready
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A commit here waits for no disk flush (every request commits): ~15 % of the suite's
        # time. What others see is the same; only a server crash could lose the last commits,
        # and the fault suite, which restarts the server, runs on the base database.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    engine.dispose()
    ready = parsed.set(database=name).render_as_string(hide_password=False)
    os.environ[WORKER_DATABASE_ENV] = ready
    return ready


PG_URL = _per_worker_database(os.environ.get("PORTAL_TEST_DATABASE_URL", ""))
PASSWORD = "correct-horse-9"


def config(**overrides: Any) -> dict[str, Any]:
    values = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    values.update(overrides)
    return values


def another_app(app: Any, **overrides: Any) -> Any:
    """A second app on this app's database, key file and queue: what another process of the
    same deployment sees (it creates no keys of its own)."""
    return create_app(
        config(
            SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
            KEYS_FILE=app.config["KEYS_FILE"],
            QUEUE_FILE=app.config["QUEUE_FILE"],
            CREATE_KEYS=False,
            **overrides,
        )
    )


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Run the migrations once per session; each test then starts from a copy (or truncation)."""
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    if PG_URL:
        reset_postgres(PG_URL)
        app = create_app(config(SQLALCHEMY_DATABASE_URI=PG_URL, KEYS_FILE=str(keys)))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        return None
    path = tmp_path_factory.mktemp("template") / "template.db"
    app = create_app(config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", KEYS_FILE=str(keys)))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


def truncate_all(app: Flask, *, fresh: bool = False) -> None:
    """Empty every table and restart every sequence at 1, as a fresh database would be.

    DELETE rather than TRUNCATE: a test leaves a few rows in a few tables, and TRUNCATE of 35
    tables makes 35 new files with their indexes (~200 ms a test, minutes a suite); this takes
    ~2 ms. Foreign keys are not checked meanwhile (replica role, this transaction only): every
    table empties. The tables keep their pages, which the planner counts: a test of which plan
    it chooses asks for `fresh` (TRUNCATE, the `fresh_tables` marker).
    """
    tables = [t.name for t in db.metadata.sorted_tables if t.name != "alembic_version"]
    with app.app_context(), db.engine.begin() as conn:
        if fresh:
            listed = ", ".join(f'"{name}"' for name in tables)
            conn.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))
            return
        deletes = " ".join(f'DELETE FROM "{name}";' for name in tables)  # noqa: S608 - ours
        conn.exec_driver_sql(f"SET LOCAL session_replication_role = replica; {deletes}")
        conn.exec_driver_sql(
            "SELECT setval(c.oid, 1, false) FROM pg_class c "
            "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
        )


@pytest.fixture
def database_url(tmp_path: Path, migrated_template: Path | None) -> str:
    if PG_URL:
        return PG_URL
    target = tmp_path / "portal.db"
    shutil.copyfile(migrated_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def app(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Iterator[Flask]:
    app = create_app(
        config(
            SQLALCHEMY_DATABASE_URI=database_url,
            KEYS_FILE=str(tmp_path / "keys.json"),
            QUEUE_FILE=str(tmp_path / "queue.db"),
        )
    )
    if PG_URL:
        truncate_all(app, fresh=request.node.get_closest_marker("fresh_tables") is not None)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"')


class Browser:
    """A test client that behaves like the real UI: CSRF token in a header, htmx headers."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token: str | None = None

    def refresh_token(self, url: str = "/login") -> str:
        page = self.client.get(url).get_data(as_text=True)
        match = CSRF_RE.search(page)
        assert match, f"no CSRF token on {url}"
        self.token = match.group(1) or match.group(2)
        return self.token

    def headers(self, htmx: bool, target: str | None) -> dict[str, str]:
        headers = {"X-CSRFToken": self.token or self.refresh_token()}
        if htmx:
            headers["HX-Request"] = "true"
            headers["HX-Current-URL"] = "http://portal.test/"
            if target:
                headers["HX-Target"] = target
        return headers

    def get(self, url: str, *, htmx: bool = False, target: str | None = None, **kw: Any) -> Any:
        headers = {}
        if htmx:
            headers = {"HX-Request": "true", **({"HX-Target": target} if target else {})}
        return self.client.get(url, headers=headers, **kw)

    def post(
        self, url: str, data: dict | None = None, *, htmx: bool = True, target: str | None = None
    ) -> Any:
        return self.client.post(url, data=data or {}, headers=self.headers(htmx, target))

    def login(self, username: str, password: str = PASSWORD) -> Any:
        self.refresh_token("/login")
        response = self.post("/login", {"username": username, "password": password})
        self.refresh_token("/login")  # the session (and so the token) may have changed
        return response


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app.test_client())


@pytest.fixture
def make_browser(app: Flask) -> Any:
    return lambda: Browser(app.test_client())


@dataclass
class Factory:
    app: Flask
    counter: int = 0

    def _name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def user(self, username: str | None = None) -> User:
        with self.app.app_context():
            user = accounts.create_user(username or self._name("user"), PASSWORD)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def merchant(self, username: str | None = None, shop_name: str = "测试店铺") -> User:
        with self.app.app_context():
            user = accounts.create_user(username or self._name("merchant"), PASSWORD)
            accounts.become_merchant(
                user,
                accounts.MerchantProfileInput(
                    shop_name=shop_name,
                    sender_name="王发货",
                    sender_phone="13800138000",
                    province="浙江省",
                    city="杭州市",
                    district="余杭区",
                    detail="文一西路 1 号",
                ),
            )
            db.session.commit()
            return self._detached(user.id)

    def supplier(self, username: str | None = None, factory_name: str = "测试工厂") -> User:
        with self.app.app_context():
            user = accounts.create_user(username or self._name("supplier"), PASSWORD)
            accounts.become_supplier(user, factory_name, "李厂长", "13900139000")
            db.session.commit()
            return self._detached(user.id)

    def _detached(self, user_id: int) -> User:
        user = db.session.scalar(
            db.select(User)
            .where(User.id == user_id)
            .options(selectinload(User.merchant), selectinload(User.supplier))
        )
        db.session.expunge_all()
        return user

    def token(self, user: User) -> str:
        with self.app.app_context():
            _record, token = accounts.create_api_token(db.session.get(User, user.id), "test")
            db.session.commit()
            return token


@pytest.fixture
def factory(app: Flask) -> Factory:
    return Factory(app)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's chromium through Playwright, one for the whole session (Playwright's sync API
    allows one running instance per thread, so every browser test module shares it)."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium (never `playwright install`)"
        if os.environ.get("PORTAL_REQUIRE_BROWSER"):
            pytest.fail(reason)  # CI installs it: a missing browser there is a failure
        pytest.skip(reason)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()
