"""api tokens: the rate limit's theoretical arrival time (GCRA)

Revision ID: a15b2d4e6f80
Revises: e5a1c7d9b3f2
Create Date: 2026-12-07 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a15b2d4e6f80'
down_revision = 'e5a1c7d9b3f2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_tat', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('rate_tat')
