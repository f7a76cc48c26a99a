"""teams: staff accounts with roles

Revision ID: e19a7c3d5b21
Revises: b12c4e6a8d20
Create Date: 2026-12-07 02:10:00.000000

Every existing account becomes the owner of its shop (shop_role 'owner', active, no owner_id):
nothing else changes, so all its data stays exactly where it was.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e19a7c3d5b21'
down_revision = 'b12c4e6a8d20'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: SQLite need not rebuild the users table (which the rows of every
    # other table refer to), so the upgrade works on a database full of data.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE users ADD COLUMN owner_id INTEGER '
            'CONSTRAINT fk_users_owner_id_users REFERENCES users (id)'
        )
    else:
        op.add_column('users', sa.Column('owner_id', sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f('fk_users_owner_id_users'), 'users', 'users', ['owner_id'], ['id']
        )
    op.add_column(
        'users', sa.Column('shop_role', sa.String(length=10), server_default='owner', nullable=False)
    )
    op.add_column(
        'users', sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False)
    )
    op.add_column(
        'users',
        sa.Column(
            'must_change_password', sa.Boolean(), server_default=sa.text('false'), nullable=False
        ),
    )
    op.create_index(op.f('ix_users_owner_id'), 'users', ['owner_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_users_owner_id'), table_name='users')
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # rebuilding users: references are checked at commit, once the copy is back
        op.execute('PRAGMA defer_foreign_keys=ON')
    with op.batch_alter_table('users', schema=None) as batch_op:
        if not sqlite:
            batch_op.drop_constraint(batch_op.f('fk_users_owner_id_users'), type_='foreignkey')
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('active')
        batch_op.drop_column('shop_role')
        batch_op.drop_column('owner_id')
