"""order_lines: an order carries 1 to 50 goods lines (DESIGN §10.2)

Every existing order becomes one line carrying its goods columns as they are (nothing lost);
the order row keeps them as its line 1 and gains `line_count` (1 for every existing order).

Revision ID: c4d7a1e9f250
Revises: c7e2a9f4d130
Create Date: 2026-12-07 05:10:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4d7a1e9f250"
down_revision = "c7e2a9f4d130"
branch_labels = None
depends_on = None

_GOODS = "goods_id, goods_name, spec, style_id, sku_code, goods_code, quantity, sku_key"


def upgrade():
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("goods_id", sa.String(length=64), nullable=False),
        sa.Column("goods_name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.String(length=100), nullable=False),
        sa.Column("style_id", sa.String(length=64), nullable=False),
        sa.Column("sku_code", sa.String(length=64), nullable=False),
        sa.Column("goods_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("sku_key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_order_lines_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    # One set-based copy: each order's goods become its line 1, exactly as stored.
    op.execute(
        f"INSERT INTO order_lines (order_id, merchant_id, line_no, {_GOODS}) "
        f"SELECT id, merchant_id, 1, {_GOODS} FROM orders ORDER BY id"
    )
    op.create_index(
        "uq_order_lines_order_line", "order_lines", ["order_id", "line_no"], unique=True
    )
    op.create_index(
        "ix_order_lines_merchant_sku", "order_lines", ["merchant_id", "sku_key", "order_id"]
    )
    op.create_index("ix_order_lines_merchant_sku_code", "order_lines", ["merchant_id", "sku_code"])
    # A plain ADD COLUMN: a batch copy of orders would lose its partial indexes' WHERE.
    op.add_column(
        "orders", sa.Column("line_count", sa.Integer(), server_default="1", nullable=False)
    )


def downgrade():
    op.drop_column("orders", "line_count")
    op.drop_index("ix_order_lines_merchant_sku_code", table_name="order_lines")
    op.drop_index("ix_order_lines_merchant_sku", table_name="order_lines")
    op.drop_index("uq_order_lines_order_line", table_name="order_lines")
    op.drop_table("order_lines")
