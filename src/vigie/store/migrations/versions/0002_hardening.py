"""Hardening: browser sessions kept on the server, so that they can be revoked.

Revision ID: hardening_0001
Revises: 0001_foundation

`user_id` names a row of `users` (auth_0001) without a foreign key, so that this branch does
not depend on the order in which Alembic applies the others.
"""

import sqlalchemy as sa
from alembic import op

from vigie.store.types import UtcDateTime

revision = "hardening_0001"
down_revision = "0001_foundation"
branch_labels = ("hardening",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_sessions_user_id", "user_sessions")
    op.drop_table("user_sessions")
