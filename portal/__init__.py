"""代发门户: the application factory."""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import get_translations
from sqlalchemy import event, make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.api import bp as api_bp
from portal.auth import account_bp
from portal.auth import bp as auth_bp
from portal.auth.session import configure_login
from portal.cli import portal_cli
from portal.config import Config, apply_environment
from portal.domain import (  # noqa: F401
    analytics,
    formatting,
    import_jobs,
    maintenance,
    statements,
    webhooks,
)
from portal.domain.privacy.keys import CREATE_KEYS_COMMAND, MissingKeysError, load_or_create
from portal.extensions import babel, csrf, db, htmx, login_manager, migrate
from portal.jobs import queue
from portal.merchant import bp as merchant_bp
from portal.supplier import bp as supplier_bp
from portal.transactions import may_write
from portal.web import errors as web_errors
from portal.web import gate, security
from portal.web.args import IdConverter

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: type | dict[str, Any] | None = None) -> Flask:
    """Build an app: config → instance secrets → extensions → blueprints → errors → cli."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or None,
        static_folder=str(PROJECT_ROOT / "static"),
        static_url_path="/static",
    )
    configure(app, config)
    configure_instance(app)
    configure_proxies(app)
    register_extensions(app)
    configure_login(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_request_hooks(app)
    register_template_helpers(app)
    register_cli(app)
    register_jobs(app)
    return app


def configure(app: Flask, config: type | dict[str, Any] | None) -> None:
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    # The environment wins over classes but not over an explicit dict (tests pass dicts).
    overrides: dict[str, Any] = {}
    apply_environment(overrides)
    for key, value in overrides.items():
        if not (isinstance(config, dict) and key in config):
            app.config[key] = value


def _read_or_create_secret(path: Path, create: bool) -> str:
    if path.exists():
        _refuse_loose_permissions(path)
        return path.read_text().strip()
    if not create:
        raise MissingKeysError(
            f"{path} is missing: set PORTAL_SECRET_KEY (the same on every host) or create it "
            f"with {CREATE_KEYS_COMMAND}"
        )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _refuse_loose_permissions(path: Path) -> None:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise MissingKeysError(f"{path} is readable by other users; chmod 600 it")


def configure_instance(app: Flask) -> None:
    """Secret key, database and data keys. Generated on first run only for the embedded setup."""
    instance = Path(app.instance_path)
    embedded = not app.config.get("SQLALCHEMY_DATABASE_URI")
    create = app.config.get("CREATE_KEYS")
    if create is None:
        # On a shared database every host must use the same provisioned keys: never invent them.
        create = embedded
    if create or embedded:
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _read_or_create_secret(instance / "secret_key", create)
    if embedded:
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'portal.db'}"
    keys_file = Path(app.config.get("KEYS_FILE") or instance / "data-keys.json")
    app.extensions["portal.domain.keyring"] = load_or_create(keys_file, create)
    if app.config.get("SESSION_COOKIE_SECURE"):
        app.config["REMEMBER_COOKIE_SECURE"] = True


def configure_proxies(app: Flask) -> None:
    """Trust X-Forwarded-For/-Proto through PORTAL_TRUSTED_PROXIES hops, no further.

    ProxyFix rewrites the WSGI environ in place, so the login throttle (request.remote_addr)
    and gunicorn's access log both see the client's address instead of the proxy's. With 0 the
    headers are ignored: a client talking to the app directly could forge them.
    """
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        # A connection to a file cannot drop like a socket: no SELECT 1 before every checkout.
        options.pop("pool_pre_ping", None)
        if url.database in (None, "", ":memory:"):
            # One in-memory database is one connection (StaticPool): there is no pool to order.
            options.pop("pool_use_lifo", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(
                db.engine,
                app.config["SQLITE_CACHE_MB"],
                app.config["SQLITE_MMAP_MB"],
                app.config["SQLITE_BUSY_TIMEOUT_MS"],
            )
        elif db.engine.dialect.name == "postgresql":
            configure_postgresql(db.engine, app.config["POSTGRES_RANDOM_PAGE_COST"])
        install_template_translations(app)


def install_template_translations(app: Flask) -> None:
    """Templates translate with the one catalog of the portal's one locale.

    The UI has one language (BABEL_DEFAULT_LOCALE, no locale selector), so its translations are
    loaded once here instead of flask-babel resolving them again on every `_()` in a template
    (a desk page makes ~300 such calls, a fifth of its rendering time).
    """
    if app.extensions["babel"].locale_selector is not None:
        return  # per-request locales: keep flask-babel's lookup
    app.jinja_env.install_gettext_translations(get_translations(), newstyle=True)


def configure_postgresql(engine: Any, random_page_cost: float | str | None) -> None:
    """Planner costs for a database on SSD or in memory, set on every new connection.

    PostgreSQL's default random_page_cost (4) is for spinning disks. With it, a desk page of
    the oldest tab (已发货, ORDER BY id DESC LIMIT 50) was planned as a backward scan of the
    primary key filtering 270 000 rows (130 ms at 1M orders) instead of 50 entries of
    (merchant_id, supplier_id, stage, id) (0.4 ms). None or "" (an empty
    PORTAL_POSTGRES_RANDOM_PAGE_COST) leaves the server's setting alone.
    """
    if random_page_cost in (None, ""):
        return
    cost = float(random_page_cost)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: object) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET random_page_cost = {cost}")
        dbapi_connection.commit()


def configure_sqlite(
    engine: Any, cache_mb: int = 64, mmap_mb: int = 256, busy_timeout_ms: int = 30_000
) -> None:
    """WAL, foreign keys, a busy timeout, page cache and memory map, and transactions we begin
    ourselves.

    pysqlite's own transaction handling breaks SAVEPOINT and defers locking; we emit BEGIN
    ourselves (IMMEDIATE for anything that may write) so writers queue instead of failing.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint (and fsync) every ~200 MB of WAL instead of every 4 MB: a batch of a
            # thousand orders dirties thousands of index pages at a million orders, and pages
            # changed again before the next checkpoint are written back once (an import of
            # 10 000 rows: +25 % rows/s against 40 MB). After a checkpoint the file is cut
            # back to 64 MB.
            cursor.execute("PRAGMA wal_autocheckpoint=50000")
            cursor.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        # SQLite's default page cache is 2 MB: at a million orders every batch write would
        # re-read the index pages it changes. A bigger cache per connection, and reads
        # straight from the mapped file.
        cursor.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
        cursor.execute(f"PRAGMA mmap_size={mmap_mb * 1024 * 1024}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.connection.driver_connection.execute(
            "BEGIN IMMEDIATE" if may_write() else "BEGIN"
        )


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.register_blueprint(auth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(merchant_bp)
    app.register_blueprint(supplier_bp)
    app.register_blueprint(api_bp)


def register_error_handlers(app: Flask) -> None:
    web_errors.register(app)


def register_request_hooks(app: Flask) -> None:
    security.register(app)


def register_template_helpers(app: Flask) -> None:
    formatting.register(app)
    app.add_template_global(gate.current_user_may, "may")


def register_cli(app: Flask) -> None:
    app.cli.add_command(portal_cli)


def register_jobs(app: Flask) -> None:
    """Bind the background job queue; job modules (import_jobs, …) register their tasks on it."""
    queue.init_app(app)
