"""The schema comes only from migrations: one head, upgrade from empty, models agree, and the
partial indexes the desk relies on are the ones its queries use."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select
from sqlalchemy.schema import CreateIndex

from portal.domain import supplier_orders
from portal.domain.keyring import current_keyring
from portal.domain.orders import queries
from portal.extensions import db
from portal.models import Merchant, Order, Supplier
from portal.models.base import utcnow


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


# The desk's flag tabs (待分配, 异常) count and page through partial indexes, which a database
# uses only when the query repeats the index condition: the migration must write exactly the
# models' condition, and the tab queries must really be answered from those indexes.
PARTIAL_INDEXES = {
    "ix_orders_merchant_assignable": queries.TAB_UNASSIGNED,
    "ix_orders_merchant_attention": queries.TAB_EXCEPTIONS,
}


def _normalized(sql: str) -> str:
    return " ".join(sql.replace("orders.", "").replace('"', "").split()).lower()


def test_partial_indexes_are_migrated_as_the_models_write_them(app_ctx):
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as connection:
            stored = dict(
                connection.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                ).all()
            )
    else:
        stored = {
            ix["name"]: ix.get("dialect_options", {})
            for ix in inspect(db.engine).get_indexes("orders")
        }
    for index in Order.__table__.indexes:
        if index.name not in PARTIAL_INDEXES:
            continue
        if db.engine.dialect.name == "sqlite":
            model = str(CreateIndex(index).compile(db.engine))
            assert _normalized(stored[index.name]) == _normalized(model)
        else:
            assert stored[index.name].get("postgresql_where"), index.name


@pytest.mark.fresh_tables
def test_flag_tabs_are_answered_from_their_partial_indexes(app_ctx, factory):
    merchant = db.session.get(Merchant, factory.merchant().merchant.id)
    keyring = current_keyring()
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # tiny tables otherwise
    explain = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    for name, tab in PARTIAL_INDEXES.items():
        for supplier_id in (None, 1):
            if tab == queries.TAB_UNASSIGNED and supplier_id:
                continue  # unassigned orders have no supplier: another index answers that
            filters = queries.OrderFilters(tab=tab, supplier_id=supplier_id)
            # The desk's page (rows, the supplier's name joined) and the ORM query.
            for build in (queries.desk_rows_query, queries.orders_query):
                query = build(keyring, merchant, filters).limit(50)
                compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
                plan = " ".join(
                    str(row) for row in connection.exec_driver_sql(explain + str(compiled))
                )
                assert name in plan, (build.__name__, tab, supplier_id, plan)
    db.session.rollback()


def _plan(query) -> str:
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    explain = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    return " ".join(str(row) for row in connection.exec_driver_sql(explain + str(compiled)))


@pytest.mark.fresh_tables
def test_the_factory_indexes_are_partial_and_still_used(app_ctx, factory):
    # They hold assigned orders only (an import of new orders writes none of them); every
    # factory query names its supplier, which both planners take as supplier_id IS NOT NULL.
    supplier = db.session.get(Supplier, factory.supplier().supplier.id)
    shaped = {
        "ix_orders_supplier_stage_promise": select(Order.id)
        .where(Order.supplier_id == supplier.id, Order.stage == "assigned")
        .order_by(Order.promise_ship_at, Order.id)
        .limit(50),
        # The unique (merchant_id, order_no) cannot serve a lookup without the merchant:
        # without this index returning 5 000 tracking numbers scanned the factory's orders.
        "ix_orders_supplier_order_no": select(Order.id).where(
            Order.supplier_id == supplier.id, Order.order_no.in_(["1", "2"])
        ),
        "ix_orders_supplier_receiver": select(Order.id).where(
            Order.supplier_id == supplier.id, Order.receiver_key.in_(["a", "b"])
        ),
        "ix_orders_supplier_merchant_returned": select(Order.id).where(
            Order.supplier_id == supplier.id,
            Order.merchant_id == 1,
            Order.returned_at >= utcnow(),
        ),
    }
    for name, query in shaped.items():
        plan = _plan(query)
        if db.engine.dialect.name == "sqlite":
            assert name in plan, (name, plan)
        else:  # on empty tables PostgreSQL's costs tie between the (empty) partial indexes
            assert "ix_orders_supplier_" in plan and "Seq Scan" not in plan, (name, plan)
    for tab in set(supplier_orders.TABS) - {supplier_orders.TAB_CANCELLED}:  # by assignments
        filters = supplier_orders.SupplierFilters(tab=tab)
        plan = _plan(supplier_orders.orders_query(supplier, filters, utcnow()).limit(50))
        assert "ix_orders_supplier_" in plan, (tab, plan)
    db.session.rollback()
    with db.engine.connect() as connection:
        indexes = {i["name"]: i for i in inspect(connection).get_indexes("orders")}
    for name in (*shaped, "ix_orders_supplier_stage_printed", "ix_orders_supplier_merchant_sku"):
        where = indexes[name].get("dialect_options", {})
        assert any("supplier_id IS NOT NULL" in str(v) for v in where.values()), (name, where)


def test_database_connections_get_their_tuning(app_ctx):
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        # the desk's oldest tab is planned through its index only with SSD page costs
        assert connection.exec_driver_sql("SHOW random_page_cost").scalar() == "1.1"
    else:
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -64 * 1024
        assert connection.exec_driver_sql("PRAGMA mmap_size").scalar() == 256 * 1024 * 1024
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 50000
        assert connection.exec_driver_sql("PRAGMA journal_size_limit").scalar() == 64 * 2**20
    db.session.rollback()


def test_postgresql_knows_unassigned_orders_have_no_supplier(app_ctx):
    # Without this statistics object the desk's 待分配 count under a supplier filter ANDed two
    # big index ranges (28 ms at 1M orders; 0.06 ms with it). SQLite: test_order_desk.
    if db.engine.dialect.name != "postgresql":
        return
    connection = db.session.connection()
    kinds, columns = connection.exec_driver_sql(
        "SELECT s.stxkind, array_agg(a.attname::text ORDER BY a.attname) FROM pg_statistic_ext s "
        "JOIN pg_attribute a ON a.attrelid = s.stxrelid AND a.attnum = ANY(s.stxkeys) "
        "WHERE s.stxname = 'st_orders_stage_supplier' GROUP BY s.stxkind"
    ).one()
    assert "m" in kinds and columns == ["stage", "supplier_id"]
    db.session.rollback()


def test_order_lines_migration_carries_every_existing_order_over(app_ctx, factory):
    """On a database with orders: back to before order_lines, then up again — every order
    comes back with exactly one line holding its goods as stored, nothing lost."""
    from portal.domain.orders.upsert import upsert_orders
    from portal.models import OrderLine
    from tests.factories import demo_order

    merchant = db.session.get(Merchant, factory.merchant().merchant.id)
    rows = [demo_order(f"261121-70000000000000{i}", quantity=i + 1) for i in range(3)]
    rows.append(demo_order("261121-700000000000009", sku_code="", goods_id="G9", spec="蓝"))
    upsert_orders(current_keyring(), merchant, rows)
    db.session.commit()
    goods = [Order.id, Order.merchant_id, Order.goods_id, Order.goods_name, Order.spec]
    goods += [Order.style_id, Order.sku_code, Order.goods_code, Order.quantity, Order.sku_key]
    before = sorted(tuple(row) for row in db.session.execute(select(*goods)))
    db.session.remove()

    downgrade(revision=_script(app_ctx).get_revision("c4d7a1e9f250").down_revision)
    assert "order_lines" not in inspect(db.engine).get_table_names()
    upgrade()

    line = OrderLine
    after = sorted(
        tuple(row)
        for row in db.session.execute(
            select(
                line.order_id,
                line.merchant_id,
                line.goods_id,
                line.goods_name,
                line.spec,
                line.style_id,
                line.sku_code,
                line.goods_code,
                line.quantity,
                line.sku_key,
            ).where(line.line_no == 1)
        )
    )
    assert after == before and len(after) == 4
    assert db.session.scalar(select(db.func.count()).select_from(OrderLine)) == 4
    assert set(db.session.scalars(select(Order.line_count))) == {1}
    assert ("", "G9|蓝") in [(row[6], row[9]) for row in after]
