"""The conversations projection: one row per conversation, folded from the log."""

from __future__ import annotations

import sqlalchemy as sa

from vigie.store.schema import metadata

conversations = sa.Table(
    "chat_conversations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("anonymous_id", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("started_at_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
)
