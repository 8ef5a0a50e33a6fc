"""Foundation: the event log, consumer checkpoints and rejected input.

Revision ID: 0001_foundation
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = ("foundation",)
depends_on = None

Offset = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("log_offset", Offset, primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("event", sa.String(200)),
        sa.Column("anonymous_id", sa.String(200)),
        sa.Column("user_id", sa.String(200)),
        sa.Column("timestamp_us", sa.BigInteger, nullable=False),
        sa.Column("received_at_us", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("source", "message_id", name="uq_events_source_message_id"),
    )
    for column in ("anonymous_id", "user_id"):
        op.create_index(
            f"ix_events_{column}",
            "events",
            [column],
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.create_table(
        "checkpoints",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "rejected_events",
        sa.Column("id", Offset, primary_key=True, autoincrement=True),
        sa.Column("received_at_us", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("endpoint", sa.String(100)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("field", sa.String(200)),
        sa.Column("message_id", sa.String(200)),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("payload_truncated", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rejected_events")
    op.drop_table("checkpoints")
    op.drop_index("ix_events_user_id", "events")
    op.drop_index("ix_events_anonymous_id", "events")
    op.drop_table("events")
