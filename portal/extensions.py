"""Flask extensions as unbound singletons; the app factory binds them with init_app."""

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import Babel
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Column, Result, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
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


def insert_rows(
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict_do_nothing: Sequence[str] = (),
    returning: Sequence[Column[Any]] = (),
) -> Result[Any] | None:
    """INSERT many rows of the same keys (optionally ON CONFLICT (…) DO NOTHING, RETURNING …).

    SQLite: one executemany. PostgreSQL: one INSERT … SELECT FROM unnest(array, …), each column
    sent as one typed array: SQLAlchemy's multi-VALUES executemany made psycopg parse a
    statement with a placeholder per value (45 000 for a batch of 1 000 orders), which cost
    ~4 × the insert itself. Columns the rows leave out get their Python-side default, as an
    executemany gives them.
    """
    if not rows:
        return None
    postgres = db.engine.dialect.name == "postgresql"
    statement = postgresql_insert(table) if postgres else sqlite_insert(table)
    if postgres:
        names = list(rows[0])
        values: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in names}
        for column in table.c:
            default = column.default
            if column.name in values or default is None or column.primary_key:
                continue
            value = default.arg if default.is_scalar else default.arg(None)  # type: ignore[union-attr, operator]
            names.append(column.name)
            values[column.name] = [value] * len(rows)
        arrays = [bindparam(name, type_=ARRAY(table.c[name].type)) for name in names]
        source = func.unnest(*arrays).table_valued(*names).render_derived(name="rows")
        statement = statement.from_select(names, select(*(source.c[name] for name in names)))
    if conflict_do_nothing:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict_do_nothing))
    if returning:
        statement = statement.returning(*returning)
    return db.session.execute(statement, values if postgres else list(rows))
