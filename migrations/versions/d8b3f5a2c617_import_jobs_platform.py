"""import_jobs.platform: which platform's export an import read (pdd | douyin)

Revision ID: d8b3f5a2c617
Revises: d4f81b6c2e57
Create Date: 2026-12-07 05:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "d8b3f5a2c617"
down_revision = "d4f81b6c2e57"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "import_jobs",
        sa.Column("platform", sa.String(length=10), server_default="", nullable=False),
    )


def downgrade():
    op.drop_column("import_jobs", "platform")
