"""import_mappings: a merchant's saved column mapping for an unknown export layout; the import
job's platform may name it (mapping:<name>)

Revision ID: d9b5f3a7c182
Revises: c4a8e1d2f705
Create Date: 2026-12-07 06:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd9b5f3a7c182'
down_revision = 'c4a8e1d2f705'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'import_mappings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('merchant_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('header_key', sa.String(length=64), nullable=False),
        sa.Column('headers', sa.Text(), nullable=False),
        sa.Column('fields', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['merchant_id'], ['merchants.id'], name=op.f('fk_import_mappings_merchant_id_merchants')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_mappings')),
    )
    op.create_index(
        'uq_import_mappings_merchant_headers',
        'import_mappings',
        ['merchant_id', 'header_key'],
        unique=True,
    )
    op.create_index(
        'uq_import_mappings_merchant_name', 'import_mappings', ['merchant_id', 'name'], unique=True
    )
    # import_jobs has no partial index: a batch copy (SQLite) keeps everything.
    with op.batch_alter_table('import_jobs') as batch:
        batch.alter_column(
            'platform',
            existing_type=sa.String(length=10),
            type_=sa.String(length=60),
            existing_nullable=False,
            existing_server_default='',
        )


def downgrade():
    with op.batch_alter_table('import_jobs') as batch:
        batch.alter_column(
            'platform',
            existing_type=sa.String(length=60),
            type_=sa.String(length=10),
            existing_nullable=False,
            existing_server_default='',
        )
    op.drop_index('uq_import_mappings_merchant_name', table_name='import_mappings')
    op.drop_index('uq_import_mappings_merchant_headers', table_name='import_mappings')
    op.drop_table('import_mappings')
