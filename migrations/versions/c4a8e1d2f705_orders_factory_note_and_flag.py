"""orders.factory_note, factory_note_mask and flag: the merchant's note to the factory and its
own flag colour (DESIGN §10.2)

Revision ID: c4a8e1d2f705
Revises: b7d4e2f9a613
Create Date: 2026-12-07 05:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4a8e1d2f705'
down_revision = 'b7d4e2f9a613'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: a batch copy of orders would lose its partial indexes' WHERE clauses.
    op.add_column(
        'orders',
        sa.Column('factory_note', sa.String(length=200), server_default='', nullable=False),
    )
    op.add_column(
        'orders',
        sa.Column('factory_note_mask', sa.String(length=400), server_default='', nullable=False),
    )
    op.add_column(
        'orders', sa.Column('flag', sa.SmallInteger(), server_default='0', nullable=False)
    )
    # Flagged orders only, written as the model writes it (portal.models.orders.FLAGGED).
    op.create_index(
        'ix_orders_merchant_flagged',
        'orders',
        ['merchant_id', 'flag', 'id'],
        sqlite_where=sa.text('flag != 0'),
        postgresql_where=sa.text('flag != 0'),
    )


def downgrade():
    op.drop_index('ix_orders_merchant_flagged', table_name='orders')
    op.drop_column('orders', 'flag')
    op.drop_column('orders', 'factory_note_mask')
    op.drop_column('orders', 'factory_note')
