"""Pick lists (拣货单): the factory's storage location per merchant SKU and its sort order

Revision ID: c7e2a9f4d130
Revises: e19a7c3d5b21
Create Date: 2026-12-07 05:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e2a9f4d130'
down_revision = 'e19a7c3d5b21'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'supplier_sku_codes',
        sa.Column('location', sa.String(length=32), server_default='', nullable=False),
    )
    op.add_column(
        'suppliers',
        sa.Column('pick_order', sa.String(length=10), server_default='sku', nullable=False),
    )


def downgrade():
    op.drop_column('suppliers', 'pick_order')
    op.drop_column('supplier_sku_codes', 'location')
