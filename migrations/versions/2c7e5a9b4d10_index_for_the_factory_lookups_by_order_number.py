"""index for the factory's lookups by order number

Revision ID: 2c7e5a9b4d10
Revises: 8f41b2c9d3e6
Create Date: 2026-11-22 04:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2c7e5a9b4d10'
down_revision = '8f41b2c9d3e6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_supplier_order_no', ['supplier_id', 'order_no'], unique=False)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_supplier_order_no')
