"""Playbook actions people act on: each close or undo of a task, flag, offer, broadcast or
queue move, by whom and why (the actions' audit and their current state).

Revision ID: actions_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "actions_0001"
down_revision = "0001_foundation"
branch_labels = ("actions",)
depends_on = None

Offset = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "action_changes",
        sa.Column("id", Offset, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("action_id", sa.BigInteger, nullable=False),
        sa.Column("from_state", sa.String(20), nullable=False),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_action_changes_action", "action_changes", ["kind", "action_id"])


def downgrade() -> None:
    op.drop_index("ix_action_changes_action", "action_changes")
    op.drop_table("action_changes")
