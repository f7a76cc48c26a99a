"""Print order: the factory's default (desk order, SKU, promise time) and each job's choice

Revision ID: d4f81b6c2e57
Revises: c4d7a1e9f250
Create Date: 2026-12-07 05:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4f81b6c2e57'
down_revision = 'c4d7a1e9f250'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'suppliers',
        sa.Column('print_order', sa.String(length=10), server_default='desk', nullable=False),
    )
    op.add_column(
        'print_jobs',
        sa.Column('print_order', sa.String(length=10), server_default='desk', nullable=False),
    )


def downgrade():
    op.drop_column('print_jobs', 'print_order')
    op.drop_column('suppliers', 'print_order')
