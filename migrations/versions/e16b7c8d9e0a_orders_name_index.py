"""orders: blind index of the receiver's name, for search by full name

Revision ID: e16b7c8d9e0a
Revises: e16a1b2c3d4f
Create Date: 2026-12-07 02:40:00.000000

Existing orders get their index from `flask --app wsgi portal index-names` (the keys live
outside the database, so a migration cannot compute it).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e16b7c8d9e0a'
down_revision = 'e16a1b2c3d4f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_index', sa.String(length=64), server_default='', nullable=False))
        batch_op.create_index('ix_orders_merchant_name_index', ['merchant_id', 'name_index'], unique=False)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_merchant_name_index')
        batch_op.drop_column('name_index')
