"""orders.platform_receiver_key: the platform's own receiver, so a merchant's correction
survives later imports of the same platform receiver

Existing orders take their receiver_key: an order corrected before this revision looks like its
platform sent the corrected receiver (its platform key was never stored), so its next changed
import still brings the platform's receiver back, as before.

Revision ID: c8e4a2f6d135
Revises: b3f8e2a6d417
Create Date: 2026-12-07 08:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c8e4a2f6d135'
down_revision = 'b3f8e2a6d417'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN: a batch copy of orders would lose its partial indexes' WHERE clauses.
    op.add_column(
        'orders',
        sa.Column('platform_receiver_key', sa.String(length=32), server_default='', nullable=False),
    )
    op.execute("UPDATE orders SET platform_receiver_key = receiver_key")


def downgrade():
    op.drop_column('orders', 'platform_receiver_key')
