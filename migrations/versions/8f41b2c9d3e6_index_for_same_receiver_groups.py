"""index for the factory desk's same-receiver groups

Revision ID: 8f41b2c9d3e6
Revises: 5d0c3e8a1f27
Create Date: 2026-11-22 03:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8f41b2c9d3e6'
down_revision = '5d0c3e8a1f27'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_supplier_receiver', ['supplier_id', 'receiver_key', 'stage'], unique=False)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_supplier_receiver')
