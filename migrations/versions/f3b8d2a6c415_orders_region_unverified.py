"""orders.region_unverified: unknown region names are flagged, never blocking (DESIGN §10.2)

Orders that were marked incomplete only because a name was missing from the division table
(every part present: province, city, district and the detail line) become complete and
flagged 地区未核验.

Revision ID: f3b8d2a6c415
Revises: a15b2d4e6f80
Create Date: 2026-12-07 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3b8d2a6c415'
down_revision = 'a15b2d4e6f80'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (SQLite can): a batch copy of the table would rebuild its partial
    # indexes from reflection, without their WHERE clauses.
    op.add_column(
        'orders',
        sa.Column('region_unverified', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.execute(
        "UPDATE orders SET address_complete = true, region_unverified = true "
        "WHERE address_complete = false AND province <> '' AND city <> '' "
        "AND district <> '' AND detail_mask <> ''"
    )


def downgrade():
    op.drop_column('orders', 'region_unverified')
