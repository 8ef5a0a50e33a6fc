"""The sensors part's one table: where each promotional display stood, and who moved it."""

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
