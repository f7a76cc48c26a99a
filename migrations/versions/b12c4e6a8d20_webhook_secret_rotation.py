"""merchants: the previous webhook secret, still signed with for 24 h after a rotation

Revision ID: b12c4e6a8d20
Revises: f3b8d2a6c415
Create Date: 2026-12-07 03:20:00.000000
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b12c4e6a8d20'
down_revision = 'f3b8d2a6c415'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_previous_secret', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('webhook_secret_rotated_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_column('webhook_secret_rotated_at')
        batch_op.drop_column('webhook_previous_secret')
