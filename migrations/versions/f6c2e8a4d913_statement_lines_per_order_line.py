"""statement_lines: a line per order line (DESIGN §10.2), with the order's amount beside it

Existing statement lines are line 1 of their (single-item) orders; their order amount is
their own amount. The uniqueness moves from (statement, order) to (statement, order, line).

Revision ID: f6c2e8a4d913
Revises: f21a4c6e8b30
Create Date: 2026-12-07 06:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "f6c2e8a4d913"
down_revision = "f21a4c6e8b30"
branch_labels = None
depends_on = None


def upgrade():
    # statement_lines is not orders: a batch copy (SQLite) keeps its plain indexes.
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_no", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("order_amount_fen", sa.BigInteger(), nullable=True))
        batch_op.drop_constraint("uq_statement_lines_statement_id_order_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_statement_lines_statement_id_order_id_line_no",
            ["statement_id", "order_id", "line_no"],
        )
    op.execute("UPDATE statement_lines SET order_amount_fen = amount_fen")


def downgrade():
    op.execute("DELETE FROM statement_lines WHERE line_no > 1")
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_constraint("uq_statement_lines_statement_id_order_id_line_no", type_="unique")
        batch_op.create_unique_constraint(
            "uq_statement_lines_statement_id_order_id", ["statement_id", "order_id"]
        )
        batch_op.drop_column("order_amount_fen")
        batch_op.drop_column("line_no")
