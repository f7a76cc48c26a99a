"""orders.address_changed_at: an accepted receiver change the factory must print again

Revision ID: b7d4e2f9a613
Revises: f6c2e8a4d913
Create Date: 2026-12-07 05:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d4e2f9a613'
down_revision = 'f6c2e8a4d913'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN: a batch copy of orders would lose its partial indexes' WHERE clauses.
    op.add_column('orders', sa.Column('address_changed_at', sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column('orders', 'address_changed_at')
