"""Packing slips (发货单): a print job's choice, and whether the merchant shows prices on them

Revision ID: e8a3c5d7f912
Revises: d8e2f4a6b913
Create Date: 2026-12-07 05:35:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8a3c5d7f912'
down_revision = 'd8e2f4a6b913'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'print_jobs',
        sa.Column('packing_slips', sa.String(length=10), server_default='', nullable=False),
    )
    op.add_column(
        'merchants',
        sa.Column('slip_prices', sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    op.drop_column('merchants', 'slip_prices')
    op.drop_column('print_jobs', 'packing_slips')
