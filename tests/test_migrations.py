"""The schema comes only from migrations: one head, upgrade from empty, models agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from portal.extensions import db


def _script(app) -> ScriptDirectory:
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def test_single_head(app_ctx):
    assert len(_script(app_ctx).get_heads()) == 1


def test_models_and_migrations_agree(app_ctx):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_downgrade_to_empty_and_upgrade_again(app_ctx):
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
