"""statement files: the XLSX written once by the worker, served as stored

Revision ID: f15a7c3e9b21
Revises: 308010bc37ce
Create Date: 2026-12-07 02:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f15a7c3e9b21'
down_revision = '308010bc37ce'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('statement_files',
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('file_format', sa.String(length=8), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'], name=op.f('fk_statement_files_statement_id_statements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('statement_id', 'file_format', name=op.f('pk_statement_files'))
    )


def downgrade():
    op.drop_table('statement_files')
