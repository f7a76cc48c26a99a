"""statements: a line payable once (already_in_statement), adjustments after a dispute

Revision ID: e5a1c7d3b902
Revises: f15a7c3e9b21
Create Date: 2026-12-07 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a1c7d3b902'
down_revision = 'f15a7c3e9b21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('already_billed_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('adjustment_fen', sa.BigInteger(), server_default='0', nullable=False))

    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('already_in_statement_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_statement_lines_already_in_statement_id_statements'),
            'statements', ['already_in_statement_id'], ['id'],
        )
        batch_op.create_index('ix_statement_lines_order_id', ['order_id'], unique=False)

    op.create_table('statement_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_statement_adjustments_created_by_users')),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'], name=op.f('fk_statement_adjustments_statement_id_statements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statement_adjustments'))
    )
    with op.batch_alter_table('statement_adjustments', schema=None) as batch_op:
        batch_op.create_index('ix_statement_adjustments_statement_id', ['statement_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('statement_adjustments', schema=None) as batch_op:
        batch_op.drop_index('ix_statement_adjustments_statement_id')
    op.drop_table('statement_adjustments')

    with op.batch_alter_table('statement_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_statement_lines_order_id')
        batch_op.drop_constraint(batch_op.f('fk_statement_lines_already_in_statement_id_statements'), type_='foreignkey')
        batch_op.drop_column('already_in_statement_id')

    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.drop_column('adjustment_fen')
        batch_op.drop_column('already_billed_count')
