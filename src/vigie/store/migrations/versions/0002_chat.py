"""The website chat: conversations folded from the chat events of the log.

Revision ID: chat_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "chat_0001"
down_revision = "0001_foundation"
branch_labels = ("chat",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("anonymous_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("started_at_us", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chat_conversations_anonymous_id", "chat_conversations", ["anonymous_id"])
    op.create_index("ix_chat_conversations_started_at_us", "chat_conversations", ["started_at_us"])


def downgrade() -> None:
    op.drop_table("chat_conversations")
