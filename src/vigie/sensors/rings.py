"""Loyalty rings (and tags) linked to a customer, only with that customer's consent.

A ring's id is pseudonymous: its reads count in the shop's figures without naming anyone.
It is linked to a contact only when the contact has given consent to profiling (following
someone's pick-ups through the shop is building a profile of them), and only the reads made
while the link holds are theirs. Consent is asked again each time the reads are looked at:
once withdrawn, nothing of the customer's pick-ups is shown, and no new link is made.

The links live in the store; each process keeps them in memory for its sensors' processor,
which looks up every read's owner. A change (a link, an unlink, an erasure, by whichever
process, the `vigie privacy erase` command included) is followed by a `Ring Links Changed`
event in the log (`changed_event`): every process's processor re-reads the links when it
comes to it, so none goes on attributing reads by a link that was ended or erased elsewhere.
The event names no ring nor person, and is no sensor reading: its type and source are its
own (`NOTICE_TYPE`, `NOTICE_SOURCE`), so that no KPI or rule over the sensors' readings
counts it. The API's own reads and changes always read the store.

A change and its notice cannot be written in one transaction (the log may be JetStream), so
the change also writes, in its own transaction, that a notice is owed (`ring_notices`); the
debt is cleared once the notice is in the log. A log that refused the notice, or a process
that died between the two, leaves it owed: `settle`, which every process runs periodically,
sends it, so that no process attributes reads by old links for longer than that period.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock
from vigie.events import Event, notice_event
from vigie.sensors.readings import SOURCE as SENSORS_SOURCE
from vigie.sensors.tables import ring_links, ring_notices
from vigie.types import Micros, to_us

PURPOSE = "profiling"
"""The consent a ring's link needs (a contact's `consent.profiling`)."""
MAX_RING = 200
CHANGED = "Ring Links Changed"
"""The event that tells every process to re-read the rings' links from the store."""
NOTICE_SOURCE = "vigie-rings"
"""The source of `CHANGED`: a name no configured source may take (`vigie.config`). Before,
the notice was a `sensor` event of source `sensors`, counted with the readings."""


def changed_event(*, at: datetime) -> Event:
    """The log's notice that the rings' links changed in the store (nothing personal)."""
    return notice_event(source=NOTICE_SOURCE, name=CHANGED, at=at)


def is_changed_notice(event: Event) -> bool:
    """True for the notice that the links changed, as appended now or before (a `sensor`
    event of the sensors' source, which logs written then still hold)."""
    return event.event == CHANGED and event.source in (NOTICE_SOURCE, SENSORS_SOURCE)


class RingError(ValueError):
    """A link that cannot be made or read; `status` and `field` say why and where."""

    def __init__(self, message: str, *, status: int, field: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class RingLink(msgspec.Struct, kw_only=True, frozen=True):
    """Ring `ring` was the contact's from `starts_us` until `ends_us` (None: it still is)."""

    ring: str
    contact_id: str
    starts_us: Micros
    ends_us: Micros | None
    linked_by: str
    ended_by: str | None = None


ConsentOf = Callable[[str], "bool | None"]
"""A contact's consent to profiling: True, False, or None when there is no such contact."""


def _ring(ring: str) -> str:
    ring = ring.strip()
    if not ring or len(ring) > MAX_RING or "\x00" in ring:
        raise RingError(
            f"ring: 1 to {MAX_RING} characters (the ring's EPC) / 1 à {MAX_RING} caractères",
            status=422,
            field="ring",
        )
    return ring


class RingBook:
    """The rings' links to customers: made with consent, kept as a history."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        clock: Clock,
        consent: ConsentOf,
        announce: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.consent = consent
        self.announce = announce
        """Tells every process that the links changed (appends `changed_event` to the log)."""
        self._lock = threading.Lock()
        self._links: dict[str, list[RingLink]] | None = None

    def _load(self) -> dict[str, list[RingLink]]:
        """Every link by ring, as the store holds them now."""
        links: dict[str, list[RingLink]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(ring_links).order_by(ring_links.c.id)):
                links.setdefault(row.ring, []).append(
                    RingLink(
                        ring=row.ring,
                        contact_id=row.contact_id,
                        starts_us=row.starts_us,
                        ends_us=row.ends_us,
                        linked_by=row.linked_by,
                        ended_by=row.ended_by,
                    )
                )
        return links

    def _all(self) -> dict[str, list[RingLink]]:
        """Every link by ring, read once from the store (until `reload`)."""
        if self._links is None:
            self._links = self._load()
        return self._links

    def reload(self) -> set[str]:
        """Read the links again from the store (another process changed them); returns the
        contacts that still have one."""
        links = self._load()
        with self._lock:
            self._links = links
        return {link.contact_id for history in links.values() for link in history}

    def _consenting(self, contact_id: str) -> None:
        given = self.consent(contact_id)
        if given is None:
            raise RingError(
                f"no contact {contact_id!r} / contact inconnu", status=404, field="contact_id"
            )
        if not given:
            raise RingError(
                f"contact {contact_id!r} has not consented to profiling: a ring is linked to a "
                "person only with their consent (consent.profiling) / pas de consentement",
                status=409,
                field="consent.profiling",
            )

    def link(self, ring: str, *, contact_id: str, by: str) -> RingLink:
        """Link `ring` to `contact_id` from now on (ending the ring's current link, if any);
        refused without the contact's consent to profiling."""
        ring = _ring(ring)
        self._consenting(contact_id)
        now = to_us(self.clock.now())
        with self._lock:
            # Read the links first, afresh (another process may have changed them), on a
            # connection of their own: a read opened inside the write transaction below would
            # wait for that transaction's own lock (SQLite).
            links = self._links = self._load()
            current = self._current(ring)
            if current is not None and current.contact_id == contact_id:
                link = current  # made already: a retry, whose notice may still be owed
            else:
                link = self._relink(ring, contact_id, current, links, now, by)
        self.settle()
        return link

    def _relink(
        self,
        ring: str,
        contact_id: str,
        current: RingLink | None,
        links: dict[str, list[RingLink]],
        now: Micros,
        by: str,
    ) -> RingLink:
        with self.engine.begin() as conn:
            if current is not None:
                self._end(conn, current, now, by)
            conn.execute(
                ring_links.insert().values(
                    ring=ring, contact_id=contact_id, starts_us=now, linked_by=by
                )
            )
            conn.execute(ring_notices.insert().values(at_us=now))
            link = RingLink(ring=ring, contact_id=contact_id, starts_us=now, ends_us=None,
                            linked_by=by)  # fmt: skip
            links.setdefault(ring, []).append(link)
            return link

    def unlink(self, ring: str, *, by: str) -> RingLink:
        """End the ring's current link now: its reads are nobody's again."""
        ring = _ring(ring)
        now = to_us(self.clock.now())
        with self._lock:
            self._links = self._load()  # afresh, before the write transaction (see `link`)
            current = self._current(ring)
            if current is None:
                self.settle()  # a retry of an unlink whose notice may still be owed
                raise RingError(
                    f"ring {ring!r} is linked to nobody / bague non liée", status=404, field="ring"
                )
            with self.engine.begin() as conn:
                ended = self._end(conn, current, now, by)
                conn.execute(ring_notices.insert().values(at_us=now))
        self.changed()
        return ended

    def changed(self) -> None:
        """Tell every process that the links changed in the store (see the module), and
        clear the notices owed until then: those of changes committed before it is sent.
        Only the rows read are cleared: a lower id may commit later (PostgreSQL takes its
        sequence's numbers in order, but its transactions commit in any order)."""
        if self.announce is None:
            return
        with self.engine.connect() as conn:
            owed = list(conn.execute(sa.select(ring_notices.c.id)).scalars())
        self.announce()
        if owed:
            with self.engine.begin() as conn:
                conn.execute(ring_notices.delete().where(ring_notices.c.id.in_(owed)))

    def settle(self) -> bool:
        """Send the notice a change still owes (its own was refused by the log, or its process
        died before sending it); True when one was sent."""
        if self.announce is None:
            return False
        with self.engine.connect() as conn:
            owed = conn.execute(sa.select(ring_notices.c.id).limit(1)).first()
        if owed is None:
            return False
        self.changed()
        return True

    def _current(self, ring: str) -> RingLink | None:
        found = self._all().get(ring, [])
        return found[-1] if found and found[-1].ends_us is None else None

    def _end(self, conn: sa.Connection, link: RingLink, now: Micros, by: str) -> RingLink:
        conn.execute(
            ring_links.update()
            .where(ring_links.c.ring == link.ring, ring_links.c.ends_us.is_(None))
            .values(ends_us=now, ended_by=by)
        )
        ended = msgspec.structs.replace(link, ends_us=now, ended_by=by)
        history = self._all()[link.ring]
        history[history.index(link)] = ended
        return ended

    def owner(self, ring: str, at_us: Micros) -> str | None:
        """The contact ring `ring` was linked to at `at_us` (consent is checked on reading)."""
        links = self._links if self._links is not None else self._all()
        for link in links.get(ring, ()):
            if link.starts_us <= at_us and (link.ends_us is None or at_us < link.ends_us):
                return link.contact_id
        return None

    def forget(self, contact_id: str) -> None:
        """Drop the links of `contact_id` (an erasure has deleted them from the store): their
        rings' reads are nobody's from then on, those already made included."""
        with self._lock:
            if self._links is None:
                return
            for ring, history in list(self._links.items()):
                kept = [link for link in history if link.contact_id != contact_id]
                if kept:
                    self._links[ring] = kept
                else:
                    del self._links[ring]

    def rings_of(self, contact_id: str) -> list[RingLink]:
        """The contact's links, past and present; refused once consent is withdrawn."""
        self._consenting(contact_id)
        return [
            link
            for history in self._load().values()
            for link in history
            if link.contact_id == contact_id
        ]
