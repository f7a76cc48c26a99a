"""partial indexes for the merchant desk's 待分配 and 异常 tabs

Revision ID: 5d0c3e8a1f27
Revises: c9092af22739
Create Date: 2026-11-22 03:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d0c3e8a1f27'
down_revision = 'c9092af22739'
branch_labels = None
depends_on = None

# The conditions as portal.models.orders writes them (ASSIGNABLE, NEEDS_ATTENTION): a query
# uses a partial index only when its WHERE repeats the index's condition.
ASSIGNABLE = (
    "stage = 'unassigned' AND platform_status = 'awaiting_shipment' "
    "AND after_sale_active IS {false} AND audit_hold IS {false} AND address_complete IS {true}"
)
NEEDS_ATTENTION = (
    "stage != 'dispatched' AND (after_sale_active IS {true} OR audit_hold IS {true} "
    "OR address_change_pending IS {true} OR stage = 'unassigned' "
    "AND platform_status = 'awaiting_shipment' AND address_complete IS {false})"
)


def _where(condition):
    return {
        "sqlite_where": sa.text(condition.format(true="1", false="0")),
        "postgresql_where": sa.text(condition.format(true="true", false="false")),
    }


def upgrade():
    op.create_index(
        'ix_orders_merchant_assignable',
        'orders',
        ['merchant_id', 'stage', 'platform_status', 'after_sale_active', 'audit_hold',
         'address_complete', 'id'],
        unique=False,
        **_where(ASSIGNABLE),
    )
    op.create_index(
        'ix_orders_merchant_attention',
        'orders',
        ['merchant_id', 'supplier_id', 'id'],
        unique=False,
        **_where(NEEDS_ATTENTION),
    )


def downgrade():
    op.drop_index('ix_orders_merchant_attention', table_name='orders')
    op.drop_index('ix_orders_merchant_assignable', table_name='orders')
