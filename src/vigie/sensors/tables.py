"""The sensors part's tables: where each promotional display stood and who moved it, and
which customer a loyalty ring was linked to."""

from __future__ import annotations

import sqlalchemy as sa

from vigie.store.schema import Offset, metadata

display_placements = sa.Table(
    "sensor_display_placements",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("display", sa.String(200), nullable=False, index=True),
    sa.Column("site", sa.String(200), nullable=False),
    sa.Column("aisle", sa.String(200), nullable=False),
    sa.Column("starts_us", sa.BigInteger, nullable=False),
    sa.Column("ends_us", sa.BigInteger),
    sa.Column("moved_by", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
)

ring_links = sa.Table(
    "sensor_ring_links",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("ring", sa.String(200), nullable=False, index=True),
    sa.Column("contact_id", sa.String(64), nullable=False, index=True),
    sa.Column("starts_us", sa.BigInteger, nullable=False),
    sa.Column("ends_us", sa.BigInteger),
    sa.Column("linked_by", sa.String(200), nullable=False),
    sa.Column("ended_by", sa.String(200)),
)
"""Which customer a loyalty ring (or tag) belonged to, from when until when: a ring is
linked to a person only with their consent, and the link is kept as its history."""

ring_notices = sa.Table(
    "sensor_ring_notices",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
)
"""Changes of the rings' links whose notice is not in the log yet: written in the change's own
transaction, deleted once the notice is appended, so that a failure or a crash between the
two leaves the notice owed (and sent by the next `RingBook.settle`) rather than lost."""
