"""The web interface: each user's preferences (language).

Revision ID: web_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "web_0001"
down_revision = "0001_foundation"
branch_labels = ("web",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_preferences",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("language", sa.String(8), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_preferences")
