"""Telling every process of an erasure, through the log.

An erasure rewrites the store, but the processes running beside it keep copies in memory:
the bodies of the events each committed last (read back from memory, not the store), the
live feed's newest events, the crypto-shredding keys read in the last seconds. Whoever
erases (the API, `vigie privacy erase`) appends an `Subject Erased` notice to the log; each
process follows the log, as every node of a split deployment does, and drops those copies
when the notice comes. The notice names nobody: that an erasure happened is all it says.

Not every process follows the log's notices: an ingest-only node reads no log, and a
worker follows it only for the shares it holds, yet each may answer reads of the log (the
API is served by every node) and each caches the keys it read. So the erasure also records,
in its own transaction, that it happened (`privacy_erasures`), and every process, whatever
its role, looks at that record every second (`ErasuresFollowed`) and drops its copies and
cached keys when it grew: within a second of the erasure, not the keys' 30 s cache.

An erasure and its notice cannot be written in one transaction (the log may be JetStream), so
the erasure also writes, in its own transaction, that a notice is owed
(`privacy_erasure_notices`); the debt is cleared once the notice is in the log. A log that
refused the notice, or a process that died between the two, leaves it owed: `settle`, which
the process holding the processors runs periodically, sends it, as the loyalty rings' owed
notices are sent (`vigie.sensors.rings`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa

from vigie.events import Event, notice_event
from vigie.privacy.tables import erasure_notices, erasures
from vigie.types import to_us

ERASED = "Subject Erased"
"""The event that tells every process to drop what it keeps in memory of the log. It is a
notice (`NOTICE_TYPE`), not a tracked event that KPIs of `track` events would count; older
ones were `track` events, and are honoured alike (`ErasureNotices` reads name and source)."""
SOURCE = "privacy"
FOLLOW_SECONDS = 1.0
"""How often every process looks for an erasure made by any process (`ErasuresFollowed`)."""


def erased_event(*, at: datetime) -> Event:
    """The log's notice that a person was erased (nothing personal)."""
    return notice_event(source=SOURCE, name=ERASED, at=at)


class ErasureNotices:
    """A processor that calls `forget` at each erasure notice it reads in the log."""

    name = "privacy-erasures"

    def __init__(self, forget: Callable[[], None]) -> None:
        self.forget = forget

    def process(self, events: Sequence[Event]) -> None:
        """Drop the process's copies once per batch that holds a notice."""
        if any(e.event == ERASED and e.source == SOURCE for e in events):
            self.forget()


class ErasureAnnouncements:
    """The erasure notices owed to the log: owed in the erasure's transaction (`owe`), sent
    and cleared (`send`), and sent later when a log away or a process's death left one owed
    (`settle`)."""

    def __init__(self, *, engine: sa.Engine, announce: Callable[[], None]) -> None:
        self.engine = engine
        self.announce = announce
        """Appends one `erased_event` to the log (raises when the log refuses it)."""

    @staticmethod
    def owe(conn: sa.Connection, *, at: datetime) -> None:
        """Record, in the caller's transaction (the erasure's), that a notice is owed."""
        conn.execute(erasure_notices.insert().values(at_us=to_us(at)))

    def send(self) -> None:
        """Send the notice and clear the debts read before it was sent: those of erasures
        committed until then. Only the rows read are cleared, as a lower id may commit later
        (PostgreSQL takes its sequence's numbers in order, but commits in any order). Raises
        when the log refuses the notice, which stays owed."""
        with self.engine.connect() as conn:
            owed = list(conn.execute(sa.select(erasure_notices.c.id)).scalars())
        self.announce()
        if owed:
            with self.engine.begin() as conn:
                conn.execute(erasure_notices.delete().where(erasure_notices.c.id.in_(owed)))

    def settle(self) -> bool:
        """Send the notice an erasure still owes (the log refused it, or its process died
        before sending it); True when one was sent."""
        with self.engine.connect() as conn:
            owed = conn.execute(sa.select(erasure_notices.c.id).limit(1)).first()
        if owed is None:
            return False
        self.send()
        return True


class ErasuresFollowed:
    """Calls `forget` when an erasure was recorded in the store since the last look: every
    process runs `poll` every `FOLLOW_SECONDS`, following the log or not (see the module)."""

    def __init__(self, *, engine: sa.Engine, forget: Callable[[], None]) -> None:
        self.engine = engine
        self.forget = forget
        self._seen: int | None = None

    @staticmethod
    def record(conn: sa.Connection, *, at: datetime) -> None:
        """Record, in the caller's transaction (the erasure's), that an erasure happened."""
        conn.execute(erasures.insert().values(at_us=to_us(at)))

    def poll(self) -> bool:
        """Drop the process's copies if an erasure was recorded since the last poll; True
        when it did. The first poll only notes where the record stands: a process that just
        started holds no copies yet. The rows are counted (they are kept), not their newest
        id: a lower id may commit after a higher one was seen (PostgreSQL)."""
        with self.engine.connect() as conn:
            count = int(conn.execute(sa.select(sa.func.count()).select_from(erasures)).scalar_one())
        seen, self._seen = self._seen, count
        if seen is None or count <= seen:
            return False
        self.forget()
        return True
