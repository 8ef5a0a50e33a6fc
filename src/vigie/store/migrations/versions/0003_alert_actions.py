"""Alerts people act on: acknowledgements, assignments, notes and verdicts, and silences.

Revision ID: rules_0002
Revises: rules_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "rules_0002"
down_revision = "rules_0001"
branch_labels = None
depends_on = None

Offset = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_actions",
        sa.Column("id", Offset, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_actions_alert", "alert_actions", ["alert_id"])
    op.create_index("ix_alert_actions_rule", "alert_actions", ["rule", "kind"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("starts_at_us", sa.BigInteger, nullable=False),
        sa.Column("ends_at_us", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_silences_ends_at_us", "silences", ["ends_at_us"])


def downgrade() -> None:
    op.drop_index("ix_silences_ends_at_us", "silences")
    op.drop_table("silences")
    op.drop_index("ix_alert_actions_rule", "alert_actions")
    op.drop_index("ix_alert_actions_alert", "alert_actions")
    op.drop_table("alert_actions")
