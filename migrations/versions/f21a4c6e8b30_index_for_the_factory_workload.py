"""index for the factory's workload per merchant (the 数据 page's 待打印 / 12 h / 超时)

At 1 000 000 orders the busiest factory's 13 600 open orders were read row by row from the
table through (supplier_id, stage, promise_ship_at, id): about 1 s. Covering the workload's
columns, grouped by merchant, the same counts read the index alone.

Revision ID: f21a4c6e8b30
Revises: e19a7c3d5b21
Create Date: 2026-12-07 05:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f21a4c6e8b30'
down_revision = 'e19a7c3d5b21'
branch_labels = None
depends_on = None


def upgrade():
    # Plain CREATE INDEX: a batch_alter_table on orders would drop partial-index WHERE clauses.
    op.create_index(
        'ix_orders_supplier_stage_workload',
        'orders',
        ['supplier_id', 'stage', 'merchant_id', 'print_count', 'promise_ship_at'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_orders_supplier_stage_workload', table_name='orders')
