"""The privacy part's tables: the erasures made, and their notices still owed to the log."""

from __future__ import annotations

import sqlalchemy as sa

from vigie.store.schema import Offset, metadata

erasure_notices = sa.Table(
    "privacy_erasure_notices",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
)
"""Erasures whose `Subject Erased` notice is not in the log yet: written in the erasure's own
transaction, deleted once the notice is appended, so that a log that refused the notice, or a
process that died before sending it, leaves it owed (sent by the next
`ErasureAnnouncements.settle`) rather than lost."""

erasures = sa.Table(
    "privacy_erasures",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
)
"""One row per erasure (naming nobody), written in the erasure's own transaction and kept:
every process counts them (`ErasuresFollowed`) and drops its copies of the log and its
cached keys when the count grows, whether or not it follows the log's notices."""
