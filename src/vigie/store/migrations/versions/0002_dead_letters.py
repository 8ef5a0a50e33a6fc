"""Dead letters: events a processor kept failing on, set aside with the error.

Revision ID: dead_letters_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "dead_letters_0001"
down_revision = "0001_foundation"
branch_labels = ("dead_letters",)
depends_on = None

Offset = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", Offset, primary_key=True, autoincrement=True),
        sa.Column("processor", sa.String(200), nullable=False),
        sa.Column("log_offset", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(200)),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failed_at_us", sa.BigInteger, nullable=False),
        sa.Column("resolved_at_us", sa.BigInteger),
        sa.Column("body", sa.LargeBinary),
        sa.UniqueConstraint("processor", "log_offset", name="uq_dead_letters_processor_offset"),
    )
    op.create_index("ix_dead_letters_resolved_at_us", "dead_letters", ["resolved_at_us"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_resolved_at_us", "dead_letters")
    op.drop_table("dead_letters")
