"""the factory side's six order indexes hold assigned orders only (supplier_id IS NOT NULL)

Every factory query names its supplier, so unassigned orders in these B-trees were dead
weight, and an import of new orders (none assigned yet) wrote a random page of each: at a
million orders that was most of an import's commit time. Rebuilt as partial indexes.

Revision ID: a7e3c9d1f4b2
Revises: d9b5f3a7c182
Create Date: 2026-12-07 08:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a7e3c9d1f4b2'
down_revision = 'd9b5f3a7c182'
branch_labels = None
depends_on = None


INDEXES = {
    'ix_orders_supplier_stage_promise': ['supplier_id', 'stage', 'promise_ship_at', 'id'],
    'ix_orders_supplier_stage_printed': ['supplier_id', 'stage', 'print_count'],
    'ix_orders_supplier_order_no': ['supplier_id', 'order_no'],
    'ix_orders_supplier_receiver': ['supplier_id', 'receiver_key', 'stage'],
    'ix_orders_supplier_merchant_returned': ['supplier_id', 'merchant_id', 'returned_at'],
    'ix_orders_supplier_merchant_sku': ['supplier_id', 'merchant_id', 'sku_key', 'id'],
}
AT_A_FACTORY = sa.text('supplier_id IS NOT NULL')


def upgrade():
    # Plain DROP / CREATE INDEX: a batch_alter_table on orders would drop partial-index WHERE
    # clauses.
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name='orders')
        op.create_index(
            name, 'orders', columns, sqlite_where=AT_A_FACTORY, postgresql_where=AT_A_FACTORY
        )
    if op.get_bind().dialect.name == 'sqlite':
        # Statistics for the new indexes now (the worker refreshes them hourly): without any,
        # SQLite guesses a partial index less selective than it is.
        for name in INDEXES:
            op.execute(f'ANALYZE {name}')


def downgrade():
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name='orders')
        op.create_index(name, 'orders', columns)
