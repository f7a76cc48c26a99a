"""return addresses can be archived (deleted or replaced by an edit) and stay for history

Revision ID: e16a1b2c3d4f
Revises: 7b3d9e1c5a42
Create Date: 2026-12-07 02:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e16a1b2c3d4f'
down_revision = '7b3d9e1c5a42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('return_addresses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('return_addresses', schema=None) as batch_op:
        batch_op.drop_column('archived_at')
