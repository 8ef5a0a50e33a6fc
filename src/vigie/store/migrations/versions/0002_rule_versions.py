"""Versions of tuned rules: each change to a rule's threshold, who made it, when and why.

Revision ID: tuning_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "tuning_0001"
down_revision = "0001_foundation"
branch_labels = ("tuning",)
depends_on = None

Offset = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rule_versions",
        sa.Column("id", Offset, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("rule", "version", name="uq_rule_versions_version"),
    )


def downgrade() -> None:
    op.drop_table("rule_versions")
