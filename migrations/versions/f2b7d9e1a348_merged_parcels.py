"""Merged parcels: orders to one receiver printed on one label (print_job_orders.label_seq)

Revision ID: f2b7d9e1a348
Revises: e8a3c5d7f912
Create Date: 2026-12-07 05:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2b7d9e1a348'
down_revision = 'e8a3c5d7f912'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'print_job_orders',
        sa.Column('label_seq', sa.Integer(), server_default='0', nullable=False),
    )
    op.add_column(
        'print_jobs',
        sa.Column('merge_parcels', sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    op.drop_column('print_jobs', 'merge_parcels')
    op.drop_column('print_job_orders', 'label_seq')
