"""The foundation's tables: the event log, consumer checkpoints and rejected input.

Other parts declare their own tables on the same `metadata` in their own modules; the
Alembic migrations are the source of truth for the database, this module for the code.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# An INTEGER PRIMARY KEY is SQLite's rowid: the fastest append there is.
Offset = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

events = sa.Table(
    "events",
    metadata,
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
# Partial indexes: most events have no user id (and sensor events no anonymous id), and an
# index entry per NULL would cost every append for lookups nobody makes.
sa.Index(
    "ix_events_anonymous_id",
    events.c.anonymous_id,
    sqlite_where=events.c.anonymous_id.is_not(None),
    postgresql_where=events.c.anonymous_id.is_not(None),
)
sa.Index(
    "ix_events_user_id",
    events.c.user_id,
    sqlite_where=events.c.user_id.is_not(None),
    postgresql_where=events.c.user_id.is_not(None),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("consumer", sa.String(200), primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("updated_at_us", sa.BigInteger, nullable=False),
)

rejected_events = sa.Table(
    "rejected_events",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("received_at_us", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(200)),
    sa.Column("endpoint", sa.String(100)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("field", sa.String(200)),
    sa.Column("message_id", sa.String(200)),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("payload_truncated", sa.Boolean, nullable=False, default=False),
)
