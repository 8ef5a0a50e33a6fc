"""The right to disconnect: which notifications each person has read in the dashboard inbox.

Revision ID: disconnect_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "disconnect_0001"
down_revision = "0001_foundation"
branch_labels = ("disconnect",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_reads",
        sa.Column("notification_id", sa.BigInteger, primary_key=True),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("read_at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox_reads")
