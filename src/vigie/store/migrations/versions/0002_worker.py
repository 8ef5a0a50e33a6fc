"""Workers: the lease that lets one process at a time run the processors on a log.

Revision ID: worker_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "worker_0001"
down_revision = "0001_foundation"
branch_labels = ("worker",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
