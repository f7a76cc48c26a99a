"""Flask extensions as unbound singletons; the app factory binds them with init_app."""

from flask_babel import Babel
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
babel = Babel()


def dialect_insert(target: object) -> PostgresqlInsert | SqliteInsert:
    """INSERT with the backend's ON CONFLICT clauses (PostgreSQL and SQLite spell them alike)."""
    if db.engine.dialect.name == "postgresql":
        return postgresql_insert(target)
    return sqlite_insert(target)
