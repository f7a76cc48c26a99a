"""drop two SKU indexes no query uses: orders (merchant_id, sku_key), order_lines (merchant_id,
sku_code)

The desks' SKU filter matches a case-folded code prefix (lower(sku_code) LIKE …) OR the exact
key on any line: an OR with a term no index serves, so SQLite and PostgreSQL read the tab's
own index and test each row; the price list and statements go through the factory's
(supplier_id, merchant_id, sku_key, id) and order_lines (merchant_id, sku_key, order_id). Both
were a random B-tree write per imported order (and per goods line).

Revision ID: b3f8e2a6d417
Revises: a7e3c9d1f4b2
Create Date: 2026-12-07 08:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b3f8e2a6d417'
down_revision = 'a7e3c9d1f4b2'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_orders_merchant_sku', table_name='orders')
    op.drop_index('ix_order_lines_merchant_sku_code', table_name='order_lines')


def downgrade():
    op.create_index('ix_order_lines_merchant_sku_code', 'order_lines', ['merchant_id', 'sku_code'])
    op.create_index('ix_orders_merchant_sku', 'orders', ['merchant_id', 'sku_key'])
