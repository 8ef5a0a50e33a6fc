"""Analytics: identity stitching (visitor -> profile links and the merges that made them).

Revision ID: analytics_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "analytics_0001"
down_revision = "0001_foundation"
branch_labels = ("analytics",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_identities",
        sa.Column("visitor_id", sa.String(200), primary_key=True),
        sa.Column("profile_id", sa.String(200), nullable=False),
        sa.Column("linked_at_us", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("log_offset", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_analytics_identities_profile_id", "analytics_identities", ["profile_id"])
    op.create_table(
        "analytics_merges",
        sa.Column("log_offset", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("profile_id", sa.String(200), nullable=False),
        sa.Column("merged_ids", sa.Text, nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
    )
    op.create_index("ix_analytics_merges_profile_id", "analytics_merges", ["profile_id"])


def downgrade() -> None:
    op.drop_index("ix_analytics_merges_profile_id", "analytics_merges")
    op.drop_table("analytics_merges")
    op.drop_index("ix_analytics_identities_profile_id", "analytics_identities")
    op.drop_table("analytics_identities")
