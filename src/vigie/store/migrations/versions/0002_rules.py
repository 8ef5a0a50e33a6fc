"""Rules: alerts raised by the rules, one row per alert life (pending -> resolved).

Revision ID: rules_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "rules_0001"
down_revision = "0001_foundation"
branch_labels = ("rules",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("starts_at_us", sa.BigInteger, nullable=False),
        sa.Column("ends_at_us", sa.BigInteger),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_index("ix_alerts_starts_at_us", "alerts", ["starts_at_us"])


def downgrade() -> None:
    op.drop_index("ix_alerts_starts_at_us", "alerts")
    op.drop_index("ix_alerts_status", "alerts")
    op.drop_table("alerts")
