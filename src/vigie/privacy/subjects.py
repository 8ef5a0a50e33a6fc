"""Data-subject rights over the whole store: export everything held about a person, or erase
it so that it cannot be recovered, without rewriting anyone else's history.

Both work on what the database actually holds (its tables are reflected, so a part's new
table is covered without being listed here). A row is the person's when one of its text,
JSON or binary columns holds one of their identifiers (e-mail, phone, full name, user id,
visitor ids, and the ids linked to those by identity stitching), or when its `contact_id`
is theirs.

Erasure replaces each identifier by a token drawn at random for that erasure (see
`scrubbing.py`) in every such row: the event log (columns and stored bodies), the rejected
input, dead letters, identity links, alert evidence, playbook outputs and the CRM tables;
the contact keeps its id but loses its name, e-mail, phone and job title. Event names, times
and amounts are untouched, so the KPIs computed from the log stay the same. The free text a
part holds about the person that a replay no longer rebuilds once their keys are gone (the
CRM's notes: `forget_notes`) is blanked, and taken out of the stored events where it was
logged in clear (`notes`), so that the store holds what a replay of the log gives.

A loyalty ring's reads name the ring, never the person: they are the person's through the
ring's link to them (`sensor_ring_links`) while it lasted. The export lists those reads; the
erasure deletes the links, so the reads count in the shop's figures as nobody's, as those of
a ring never linked. With the log elsewhere than the store's `events` table (NATS JetStream),
the export reads it through for the person's events and their rings' reads, matching the
stored events as the table's search does; the erasure cannot rewrite such a log, and leaves
the person's sealed data there unreadable by destroying their keys (`shredding.py`): those of
their identifiers and their contact's own. The stream's events that hold the person's free
text in clear (notes about them, their chat's messages: `notes`, `said`), logged before
crypto-shredding sealed it or with it off, are deleted from it whole, as a message cannot be
rewritten. Without crypto-shredding, nothing else there can be erased: the erasure does the
rest and its answer says so (`Erasure.not_erased`). Then the
log's columnar copy is rewritten where it holds the ids, and SQLite's file is compacted (`VACUUM`)
and its write-ahead log emptied, so no old page keeps the values; PostgreSQL's tables are
vacuumed. The audit trail is append-only and records only *that* an erasure happened.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import msgspec
import sqlalchemy as sa

from vigie.auth.audit import Actor, record
from vigie.clock import Clock
from vigie.events.event import Event, decode_event, encode_event
from vigie.log.columnar import ColumnarCopy
from vigie.log.eventlog import EventLog
from vigie.privacy.erasures import ErasureAnnouncements, ErasuresFollowed
from vigie.privacy.scrubbing import Scrubber, needles
from vigie.privacy.tables import erasure_notices, erasures
from vigie.types import to_us

logger = logging.getLogger(__name__)

CONTACTS = "crm_contacts"
_RECORDS_CHUNK = 100
"""Record ids looked for in the stored log's bodies per query (`_strip_notes`)."""
IDENTITIES = "analytics_identities"
NOT_SCANNED = frozenset(
    {
        "audit_log",
        "alembic_version",
        "checkpoints",
        "sensor_ring_notices",
        erasure_notices.name,
        erasures.name,
    }
)
"""Tables never rewritten: the append-only audit trail (it holds who acted, never a
customer's data), and bookkeeping without personal data."""
SEARCHED_ONLY = {"events": ("body",)}
"""Tables whose rows are found by these columns alone: an event's stored body holds every
value of its other columns (ids, name, message id), and one search per row instead of
seven makes an erasure of a large log about twice as fast."""
CLEARED_CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "job_title")
OWN_ID_COLUMNS = ("contact_id",)
RING_LINKS = "sensor_ring_links"
RING_NOTICES = "sensor_ring_notices"
"""Where a change of the rings' links owes its notice to the log (`vigie.sensors.rings`)."""
RING_READ = "RFID Read"
READ_BATCH = 1000


class PrivacyError(Exception):
    """A data-subject request that cannot be carried out; the message says why."""


class SubjectNotFound(PrivacyError, LookupError):
    """No contact has this id."""


class Erasure(msgspec.Struct, kw_only=True):
    """What an erasure changed: rows per table, columnar segments, and how storage was cleaned."""

    contact_id: str
    rows: dict[str, int]
    identifiers: int
    segments_rewritten: int
    storage: str
    keys_destroyed: int = 0
    log_messages_deleted: int = 0
    """Events deleted whole from a log that cannot be rewritten (NATS JetStream) because they
    held the person's free text in clear (notes, chat messages logged unsealed)."""
    not_erased: list[str] = msgspec.field(default_factory=list)
    """What the erasure could not erase, and why (events left in clear on NATS JetStream)."""


def _notify(send: Callable[..., None], *args: str) -> None:
    """Send an erasure's notice to the other processes, logging (not raising) a failure: the
    notice stays owed in the store and is sent later."""
    try:
        send(*args)
    except Exception:
        logger.warning(
            "erasure done, but its notice to the other processes failed: it stays owed and "
            "is sent again once the log takes it",
            exc_info=True,
        )


class NotesForgetter(Protocol):
    """Blanks, in the erasure's transaction, the free text a part holds about the contact
    that a replay of the log no longer rebuilds once their key is gone (`vigie.crm.notes`);
    returns the rows changed per table."""

    def __call__(self, conn: sa.Connection, *, contact_id: str) -> dict[str, int]: ...


@runtime_checkable
class DeletableLog(Protocol):
    """A log whose events can be deleted one by one (NATS JetStream: `delete_messages`)."""

    def delete_messages(self, offsets: Sequence[int]) -> int: ...


class _Column(msgspec.Struct, frozen=True):
    name: str
    kind: str  # text, json or blob


class DataSubjects:
    """Export and erasure of one person's data (see the module's docstring)."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        clock: Clock,
        columns: ColumnarCopy | None = None,
        forget_cached: Callable[[], None] | None = None,
        forget_person: Callable[[str], None] | None = None,
        settle: Callable[[], None] | None = None,
        forget_keys: Callable[[Iterable[str]], int] | None = None,
        open_record: Callable[[dict[str, Any]], None] | None = None,
        log: EventLog | None = None,
        announcements: ErasureAnnouncements | None = None,
        forget_notes: NotesForgetter | None = None,
        notes: Mapping[str, Iterable[str]] | None = None,
        said: Mapping[str, Iterable[str]] | None = None,
        forget_said: NotesForgetter | None = None,
    ) -> None:
        self.said = {name: tuple(fields) for name, fields in (said or {}).items()}
        """The events the person's visitor writes (a chat message, by their user or visitor
        id) whose properties hold free text they or an agent wrote: sealed under the
        visitor's key with crypto-shredding; the erasure takes those properties out of the
        stored log's bodies where they were logged in clear."""
        self.forget_said = forget_said
        """Drops that free text from the store, in the erasure's transaction (the chat's
        transcripts: `vigie.chat.processor.forget_transcripts`)."""
        self.forget_notes = forget_notes
        self.notes = {name: tuple(fields) for name, fields in (notes or {}).items()}
        """The events naming a contact (`properties.contact_id`) whose properties hold notes
        about them, sealed under their key with crypto-shredding: the erasure takes those
        properties out of the stored log's bodies, where they were logged in clear, so that
        a replay rebuilds the records as `forget_notes` leaves them."""
        self.announcements = announcements
        """Tells the other processes of the erasure (`erasures.py`): they drop their copies
        of what it rewrote, as `forget_cached` does here. The notice is owed in the
        erasure's transaction and sent last; one the log refused is sent later (`settle`)."""
        self.log = log
        """The event log when it is not the store's `events` table (NATS JetStream), as
        stored (sealed): the export reads the person's events from it."""
        self.open_record = open_record
        """Opens, in place, an event's values sealed for its subject (crypto-shredding),
        for the export."""
        self.engine = engine
        self.forget_keys = forget_keys
        """Deletes the crypto-shredding keys of the given subjects (`shredding.py`)."""
        self.settle = settle
        """Waits until the projections have applied every event logged so far (so that none
        writes the person's values back after the erasure); raises `PrivacyError` if not."""
        self.clock = clock
        self.columns = columns
        self.forget_cached = forget_cached
        self.forget_person = forget_person
        """Drops what the processes keep in memory about the person (their rings' links and
        reads), once the erasure deleted their rings' links, and sends the rings' notice
        the erasure owes (`RingBook.changed`, which clears it)."""
        self._postgres = engine.dialect.name == "postgresql"
        self._quote = engine.dialect.identifier_preparer.quote

    def export(self, contact_id: str, *, actor: Actor) -> dict[str, Any]:
        """Everything held about the person: their contact, every row of every table that is
        theirs (events decoded), as JSON-ready data. The export is audited."""
        metadata = self._tables()
        with self.engine.connect() as conn:
            contact = self._contact(conn, metadata, contact_id)
            scrubber = _identifiers(conn, metadata, contact)
            held: dict[str, list[dict[str, Any]]] = {}
            for table in metadata.sorted_tables:
                if table.name in NOT_SCANNED and table.name != "audit_log":
                    continue
                # The contact's own id too: the CRM's events about them (a consent given or
                # withdrawn, a task or a call logged) name them by it alone.
                condition = self._condition(table, scrubber, contact_id, also=[contact_id])
                if condition is None:
                    continue
                rows = conn.execute(sa.select(table).where(condition)).mappings().all()
                if rows:
                    held[table.name] = [_portable(dict(row)) for row in rows]
            links = self._ring_links(conn, metadata, contact_id)
            ring_reads = [] if self.log is not None else self._ring_reads(conn, metadata, links)
        events = [
            {**row["body"], "offset": row["log_offset"]} if isinstance(row["body"], dict) else row
            for row in held.pop("events", [])
        ]
        if self.log is not None:
            terms = [*scrubber.search_terms(), contact_id]
            logged, ring_reads = self._logged(self.log, terms, links)
            events += logged
        if self.open_record is not None:
            for event in [*events, *ring_reads]:
                self.open_record(event)
        record(
            engine=self.engine,
            actor=actor,
            action="export",
            entity="contacts",
            entity_id=contact_id,
            at=self.clock.now(),
            details={"purpose": "data subject access", "tables": sorted(held)},
        )
        return {
            "contact_id": contact_id,
            "exported_at": self.clock.now().isoformat(),
            "contact": _portable(dict(contact)),
            "events": events,
            "ring_reads": ring_reads,
            "records": held,
        }

    def _ring_links(
        self, conn: sa.Connection, metadata: sa.MetaData, contact_id: str
    ) -> list[sa.Row[Any]]:
        """The links of loyalty rings to the person, oldest first."""
        if RING_LINKS not in metadata.tables:
            return []
        links = metadata.tables[RING_LINKS]
        query = sa.select(links).where(links.c.contact_id == contact_id).order_by(links.c.id)
        return list(conn.execute(query))

    def _ring_reads(
        self, conn: sa.Connection, metadata: sa.MetaData, links: list[sa.Row[Any]]
    ) -> list[dict[str, Any]]:
        """The reads of the rings linked to the person, made while each was theirs."""
        if "events" not in metadata.tables:
            return []
        events = metadata.tables["events"]
        found: list[dict[str, Any]] = []
        for link in links:
            during = [
                events.c.event == RING_READ,
                events.c.timestamp_us >= link.starts_us,
                self._contains(events.c.body, "blob", link.ring),
            ]
            if link.ends_us is not None:
                during.append(events.c.timestamp_us < link.ends_us)
            query = sa.select(events.c.log_offset, events.c.body).where(*during)
            for offset, body in conn.execute(query.order_by(events.c.log_offset)):
                event = _value(body)
                if isinstance(event, dict) and event.get("epc") == link.ring:
                    found.append({**event, "offset": offset})
        return found

    def _logged(
        self, log: EventLog, terms: list[str], links: list[sa.Row[Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The person's events in `log` (those whose stored form holds one of `terms`, as the
        `events` table is searched) and the reads of their rings while linked, read through
        once from its start, in log order."""
        needles = [term.encode() for term in terms]
        events: list[dict[str, Any]] = []
        reads: list[dict[str, Any]] = []
        position, last = 1, log.last_offset()
        while position <= last:
            batch = log.read(position, READ_BATCH)
            if not batch:
                break
            for event in batch:
                body = encode_event(event)
                ring = event.epc if event.event == RING_READ else None
                mine = any(needle in body for needle in needles)
                during = ring is not None and any(
                    link.ring == ring
                    and link.starts_us <= to_us(event.timestamp)
                    and (link.ends_us is None or to_us(event.timestamp) < link.ends_us)
                    for link in links
                )
                if mine:
                    events.append({**_value(body), "offset": event.offset})
                if during:
                    reads.append({**_value(body), "offset": event.offset})
            position = (batch[-1].offset or position) + 1
        return events, reads

    def erase(self, contact_id: str, *, actor: Actor) -> Erasure:
        """Make the person unrecoverable everywhere (see the module's docstring); audited.

        What can fail is done before anything is changed: the log is read for what stays of
        the person there (`PrivacyError`, nothing erased, when it cannot be read). Their
        keys are destroyed next, before the store is rewritten: a failure between the two
        leaves the store as it was, so that a retry finds the same identifiers and completes
        the erasure (the other way round, a retry would find only the tokens that replaced
        them, and never the keys). The log is not read past that point, and the notices to
        the other processes, sent last, cannot fail the erasure."""
        if self.settle is not None:
            self.settle()
        metadata = self._tables()
        rows: dict[str, int] = {}
        with self.engine.connect() as conn:
            contact = self._contact(conn, metadata, contact_id)
            scrubber = _identifiers(conn, metadata, contact)
            kept = _join_ids(conn, metadata, contact) | {contact_id}
        not_erased, deleted = self._checked_log(scrubber, contact_id, kept)
        keys = (
            self.forget_keys([*scrubber.tokens, contact_id]) if self.forget_keys is not None else 0
        )
        with self.engine.begin() as conn:
            if self.said and "events" in metadata.tables:
                # Before the scrubbing, which replaces the ids these events are found by.
                stripped = self._strip_said(conn, metadata.tables["events"], kept)
                if stripped:
                    rows["events"] = stripped
            for table in metadata.sorted_tables:
                if table.name in NOT_SCANNED:
                    continue
                if table.name == RING_LINKS:
                    changed = conn.execute(
                        table.delete().where(table.c.contact_id == contact_id)
                    ).rowcount
                    changed += self._scrub_table(conn, table, scrubber, contact_id)
                else:
                    changed = self._scrub_table(conn, table, scrubber, contact_id)
                if changed:
                    rows[table.name] = rows.get(table.name, 0) + changed
            for forget in (self.forget_notes, self.forget_said):
                if forget is not None:
                    for name, count in forget(conn, contact_id=contact_id).items():
                        rows[name] = rows.get(name, 0) + count
            if self.notes and "events" in metadata.tables:
                stripped = self._strip_notes(conn, metadata.tables["events"], contact_id)
                if stripped:
                    rows["events"] = rows.get("events", 0) + stripped
            contacts = metadata.tables[CONTACTS]
            cleared: dict[str, Any] = {
                name: None for name in CLEARED_CONTACT_FIELDS if name in contacts.c
            }
            if "archived_at" in contacts.c and contact.get("archived_at") is None:
                cleared["archived_at"] = self.clock.now()
            conn.execute(contacts.update().where(contacts.c.id == contact_id).values(**cleared))
            if rows.get(RING_LINKS) and RING_NOTICES in metadata.tables:
                notices = metadata.tables[RING_NOTICES]
                conn.execute(notices.insert().values(at_us=to_us(self.clock.now())))
            ErasuresFollowed.record(conn, at=self.clock.now())
            if self.announcements is not None:
                self.announcements.owe(conn, at=self.clock.now())
        if self.forget_cached is not None:
            self.forget_cached()
        ids = {
            k: v
            for k, v in scrubber.tokens.items()
            if k in scrubber.strong and not k.startswith("erased-")
        }
        segments = self.columns.rewrite_ids(ids) if self.columns is not None else 0
        storage = self._clean_storage(rows)
        erasure = Erasure(
            contact_id=contact_id,
            rows=rows,
            identifiers=len(scrubber.tokens),
            segments_rewritten=segments,
            storage=storage,
            keys_destroyed=keys,
            not_erased=not_erased,
            log_messages_deleted=deleted,
        )
        details: dict[str, Any] = {"rows": sum(rows.values()), "tables": len(rows)}
        if not_erased:
            details["not_erased"] = not_erased
        record(
            engine=self.engine,
            actor=actor,
            action="erase",
            entity="contacts",
            entity_id=contact_id,
            at=self.clock.now(),
            details=details,
        )
        # The notices come last and cannot fail the erasure, which is done: a log away
        # leaves them owed, the rings' sent by `RingBook.settle` and the erasure's by
        # `ErasureAnnouncements.settle`.
        if self.forget_person is not None and rows.get(RING_LINKS):
            _notify(self.forget_person, contact_id)
        if self.announcements is not None:
            _notify(self.announcements.send)
        return erasure

    def _strip_notes(self, conn: sa.Connection, events: sa.Table, contact_id: str) -> int:
        """Take the contact's notes (`self.notes`) out of the stored bodies of the events
        naming them, and of the later events of the same records that name no contact (a
        change logged before changes carried their record's contact); returns how many
        bodies changed. Sealed notes are inside `$sealed` and are left to the key's
        destruction."""
        named = list(self.notes)
        query = sa.select(events.c.log_offset, events.c.body).where(
            events.c.event.in_(named), self._contains(events.c.body, "blob", contact_id)
        )
        found = [(offset, decode_event(bytes(body))) for offset, body in conn.execute(query)]
        mine = [(o, e) for o, e in found if e.properties.get("contact_id") == contact_id]
        records = sorted(
            {str(e.properties["id"]) for _, e in mine if isinstance(e.properties.get("id"), str)}
        )
        seen = {offset for offset, _ in mine}
        for start in range(0, len(records), _RECORDS_CHUNK):
            chunk = records[start : start + _RECORDS_CHUNK]
            query = sa.select(events.c.log_offset, events.c.body).where(
                events.c.event.in_(named),
                sa.or_(*(self._contains(events.c.body, "blob", record) for record in chunk)),
            )
            for offset, body in conn.execute(query):
                event = decode_event(bytes(body))
                props = event.properties
                if offset not in seen and "contact_id" not in props and props.get("id") in chunk:
                    seen.add(offset)
                    mine.append((offset, event))
        return _strip_fields(conn, events, mine, self.notes)

    def _strip_said(self, conn: sa.Connection, events: sa.Table, ids: set[str]) -> int:
        """Take the free text (`self.said`) out of the stored bodies of the events the
        person's user or visitor ids (`ids`) wrote; returns how many bodies changed. Sealed
        text is inside `$sealed` and is left to the key's destruction."""
        wanted = sorted(ids)
        if not wanted:
            return 0
        query = sa.select(events.c.log_offset, events.c.body).where(
            events.c.event.in_(list(self.said)),
            sa.or_(events.c.anonymous_id.in_(wanted), events.c.user_id.in_(wanted)),
        )
        found = [(offset, decode_event(bytes(body))) for offset, body in conn.execute(query).all()]
        return _strip_fields(conn, events, found, self.said)

    def _checked_log(
        self, scrubber: Scrubber, contact_id: str, kept: set[str]
    ) -> tuple[list[str], int]:
        """`_left_in_log`, read before the store is erased: a log that cannot be read (NATS
        JetStream away) stops the erasure while the store is unchanged, as its report could
        not be made afterwards (the person's values are gone from the store by then); a retry
        deletes what a failed one left of their free text on the stream."""
        try:
            return self._left_in_log(scrubber, contact_id, kept)
        except Exception as exc:
            raise PrivacyError(
                "the event log (NATS JetStream) cannot be read to find what of this person "
                f"stays there ({type(exc).__name__}: {exc}); nothing was erased from the "
                "store, try again once the log is back / journal injoignable : rien n'a été "
                "effacé du stockage, réessayez"
            ) from exc

    def _left_in_log(
        self, scrubber: Scrubber, contact_id: str, kept: set[str]
    ) -> tuple[list[str], int]:
        """What stays of the person in a log the erasure cannot rewrite (NATS JetStream),
        once the events holding their free text in clear are deleted from it (returned: how
        many). Without crypto-shredding: their events there, in clear. With it: the values
        that say who they are (e-mail, phone, full name) found in clear in the stored events,
        in fields that were not sealed; the ids in `kept` (their user, visitor and contact
        ids) stay in clear by design, for the events to join, and are not reported."""
        if self.log is None:
            return [], 0
        left, deleted = self._free_text_in_clear(contact_id, kept)
        if self.forget_keys is None:
            return [*left, *self._left_in_clear(scrubber, contact_id)], deleted
        return [*left, *self._left_identifying(scrubber, kept)], deleted

    def _free_text_in_clear(self, contact_id: str, kept: set[str]) -> tuple[list[str], int]:
        """Delete from the NATS JetStream log the events holding the person's notes
        (`self.notes`) or the free text their visitor wrote (`self.said`) in clear, outside
        `$sealed`: logged before crypto-shredding sealed them, or with it off. A stream
        message cannot be rewritten, so it goes whole: a replay no longer rebuilds that
        interaction, task or chat message. A log that cannot delete messages gets them named
        in the answer instead."""
        assert self.log is not None
        if not (self.notes or self.said):
            return [], 0
        found, _ = self._logged(self.log, sorted(kept), [])
        records = {
            e["properties"].get("id")
            for e in found
            if e.get("event") in self.notes and e["properties"].get("contact_id") == contact_id
        }
        records.discard(None)
        if records:
            # A record's changes logged before changes carried its contact name it by its id.
            seen = {e["offset"] for e in found}
            more, _ = self._logged(self.log, sorted(str(r) for r in records), [])
            found += [e for e in more if e["offset"] not in seen]
        offsets: list[int] = []
        fields: set[str] = set()
        for event in found:
            name, props = event.get("event"), event.get("properties") or {}
            if name in self.notes:
                mine = props.get("contact_id") == contact_id or (
                    "contact_id" not in props and props.get("id") in records
                )
                clear = [f for f in self.notes[name] if mine and f in props]
            elif name in self.said:
                mine = event.get("user_id") in kept or event.get("anonymous_id") in kept
                clear = [f for f in self.said[name] if mine and f in props]
            else:
                clear = []
            if clear:
                offsets.append(event["offset"])
                fields.update(f"properties.{f}" for f in clear)
        if not offsets:
            return [], 0
        if isinstance(self.log, DeletableLog):
            return [], self.log.delete_messages(offsets)
        return [
            f"{len(offsets)} event(s) on the NATS JetStream log (offsets {min(offsets)} to "
            f"{max(offsets)}) keep free text about this person in clear "
            f"({', '.join(sorted(fields))}), logged before crypto-shredding sealed it: the "
            "stream is append-only. Delete those messages (`nats stream rmm STREAM SEQ`), or "
            "purge the stream (with its backups), or let its max age expire them, to "
            "complete the erasure."
        ], 0

    def _left_identifying(self, scrubber: Scrubber, kept: set[str]) -> list[str]:
        """The values that say who the person is, left in clear on the NATS JetStream log in
        fields crypto-shredding does not seal."""
        assert self.log is not None
        values = [s for s in scrubber.strong if s not in kept]
        if not values:
            return []
        events, _ = self._logged(self.log, [n for s in values for n in needles(s)], [])
        fields = sorted({path for e in events for path in _holding(e, values)})
        if not fields:
            return []
        offsets = [e["offset"] for e in events]
        return [
            f"{len(events)} event(s) on the NATS JetStream log (offsets {min(offsets)} to "
            f"{max(offsets)}) keep this person's personal data in clear in field(s) that "
            f"crypto-shredding does not seal ({', '.join(fields)}): destroying their keys "
            "does not reach them and the stream is append-only. Add those fields to "
            "privacy.shredding.properties (or .context) so that new events are sealed, and "
            "delete or purge the stream (with its backups), or let its retention expire "
            "them, to complete the erasure."
        ]

    def _left_in_clear(self, scrubber: Scrubber, contact_id: str) -> list[str]:
        """The person's events on a log the erasure cannot rewrite, with nothing sealed."""
        assert self.log is not None
        events, _ = self._logged(self.log, [*scrubber.search_terms(), contact_id], [])
        if not events:
            return []
        offsets = [e["offset"] for e in events]
        return [
            f"{len(events)} event(s) of this person on the NATS JetStream log (offsets "
            f"{min(offsets)} to {max(offsets)}) keep their personal data in clear: the stream "
            "is append-only and crypto-shredding (privacy.shredding.keys) is off, so no key "
            "sealed them that could be destroyed. Delete or purge the stream (with its "
            "backups), or let its retention expire them, to complete the erasure."
        ]

    def _tables(self) -> sa.MetaData:
        metadata = sa.MetaData()
        metadata.reflect(bind=self.engine)
        if CONTACTS not in metadata.tables:
            raise PrivacyError("the CRM tables are missing: run `vigie db upgrade` first")
        return metadata

    def _contact(
        self, conn: sa.Connection, metadata: sa.MetaData, contact_id: str
    ) -> dict[str, Any]:
        contacts = metadata.tables[CONTACTS]
        row = conn.execute(sa.select(contacts).where(contacts.c.id == contact_id)).first()
        if row is None:
            raise SubjectNotFound(f"no contact has the id {contact_id!r}")
        return dict(row._mapping)

    def _condition(
        self,
        table: sa.Table,
        scrubber: Scrubber,
        contact_id: str,
        *,
        also: Iterable[str] = (),
    ) -> sa.ColumnElement[bool] | None:
        """Which rows of `table` are the person's (holding one of their identifiers, or one of
        `also`); None when the table cannot hold any."""
        terms = [*scrubber.search_terms(), *also]
        clauses: list[sa.ColumnElement[bool]] = []
        searched = SEARCHED_ONLY.get(table.name)
        for column in _scanned_columns(table):
            if searched is not None and column.name not in searched:
                continue
            for term in terms:
                clauses.append(self._contains(table.c[column.name], column.kind, term))
        for name in OWN_ID_COLUMNS:
            if name in table.c:
                clauses.append(table.c[name] == contact_id)
        if table.name == CONTACTS:
            clauses.append(table.c.id == contact_id)
        if table.name == "audit_log":
            clauses = [sa.and_(table.c.entity == "contacts", table.c.entity_id == contact_id)]
        return sa.or_(*clauses) if clauses else None

    def _contains(self, column: sa.ColumnClause[Any], kind: str, term: str) -> Any:
        if self._postgres:
            if kind == "blob":
                return (
                    sa.func.position(sa.literal(term.encode(), sa.LargeBinary).op("IN")(column)) > 0
                )
            return sa.func.strpos(sa.cast(column, sa.Text), term) > 0
        if kind == "blob":
            return sa.func.instr(column, sa.literal(term.encode(), sa.LargeBinary)) > 0
        return sa.func.instr(sa.type_coerce(column, sa.Text), term) > 0

    def _scrub_table(
        self, conn: sa.Connection, table: sa.Table, scrubber: Scrubber, contact_id: str
    ) -> int:
        condition = self._condition(table, scrubber, contact_id)
        scanned = _scanned_columns(table)
        if condition is None or not scanned:
            return 0
        keys = list(table.primary_key.columns) or [table.c[c.name] for c in scanned]
        raw = [
            sa.type_coerce(table.c[c.name], sa.LargeBinary if c.kind == "blob" else sa.Text)
            if not (self._postgres and c.kind == "json")
            else sa.cast(table.c[c.name], sa.Text)
            for c in scanned
        ]
        query = sa.select(*keys, *raw).where(condition)
        changed = 0
        for row in conn.execute(query).all():
            key_values = row[: len(keys)]
            values: dict[str, Any] = {}
            for column, old in zip(scanned, row[len(keys) :], strict=True):
                if old is None:
                    continue
                new = (
                    scrubber.blob(bytes(old)) if column.kind == "blob" else scrubber.text(str(old))
                )
                if new != old:
                    values[column.name] = new
            if not values:
                continue
            self._update(conn, table, keys, key_values, values, scanned)
            changed += 1
        return changed

    def _update(
        self,
        conn: sa.Connection,
        table: sa.Table,
        keys: list[sa.Column[Any]],
        key_values: Iterable[Any],
        values: dict[str, Any],
        scanned: list[_Column],
    ) -> None:
        kinds = {c.name: c.kind for c in scanned}
        sets = []
        params: dict[str, Any] = {}
        for i, (name, value) in enumerate(values.items()):
            mark = f":v{i}"
            if self._postgres and kinds[name] == "json":
                mark = f"CAST(:v{i} AS {'JSONB' if _is_jsonb(table.c[name]) else 'JSON'})"
            sets.append(f"{self._quote(name)} = {mark}")
            params[f"v{i}"] = value
        wheres = []
        for j, (column, value) in enumerate(zip(keys, key_values, strict=True)):
            wheres.append(f"{self._quote(column.name)} = :k{j}")
            params[f"k{j}"] = value
        sql = f"UPDATE {self._quote(table.name)} SET {', '.join(sets)} WHERE {' AND '.join(wheres)}"
        conn.execute(sa.text(sql), params)

    def _clean_storage(self, rows: dict[str, int]) -> str:
        """Leave no old copy of a rewritten row in the database's files."""
        if self._postgres:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for name in rows:
                    conn.exec_driver_sql(f"VACUUM {self._quote(name)}")
            return "postgresql: VACUUM of the rewritten tables"
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("VACUUM")
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            cursor.close()
        finally:
            raw.close()
        if busy:
            return "sqlite: VACUUM; the write-ahead log is emptied at its next checkpoint"
        return "sqlite: VACUUM, write-ahead log checkpointed and truncated"


def _identifiers(conn: sa.Connection, metadata: sa.MetaData, contact: dict[str, Any]) -> Scrubber:
    """The person's identifiers: from the contact, and the ids stitched to theirs."""
    strong: set[str] = _join_ids(conn, metadata, contact)
    for name in ("email", "phone", "external_id"):
        value = contact.get(name)
        if isinstance(value, str) and value:
            strong.add(value)
            if name == "email":
                strong.add(value.lower())
    first, last = contact.get("first_name") or "", contact.get("last_name") or ""
    if first and last:
        strong.update({f"{first} {last}", f"{last} {first}"})
    return Scrubber(strong, weak=[w for w in (first, last) if w])


def _join_ids(conn: sa.Connection, metadata: sa.MetaData, contact: dict[str, Any]) -> set[str]:
    """The person's user and visitor ids, and those stitched to them: what events join on."""
    ids = {i for i in (contact.get("anonymous_ids") or []) if isinstance(i, str) and i}
    if contact.get("external_id"):
        ids.add(contact["external_id"])
    if IDENTITIES in metadata.tables and ids:
        links = metadata.tables[IDENTITIES]
        for visitor, profile in conn.execute(
            sa.select(links.c.visitor_id, links.c.profile_id).where(
                sa.or_(links.c.visitor_id.in_(ids), links.c.profile_id.in_(ids))
            )
        ):
            ids.update({visitor, profile})
    return ids


def _holding(value: Any, values: list[str], path: str = "") -> list[str]:
    """The paths (`properties.note`) of the strings in `value` that hold one of `values`."""
    if isinstance(value, str):
        return [path] if any(v in value for v in values) else []
    if isinstance(value, dict):
        return [
            found
            for key, inner in value.items()
            if key != "offset" or path
            for found in _holding(inner, values, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(value, list):
        return [found for inner in value for found in _holding(inner, values, path)]
    return []


def _scanned_columns(table: sa.Table) -> list[_Column]:
    found = []
    for column in table.columns:
        kind = (
            "json"
            if isinstance(column.type, sa.JSON)
            else "blob"
            if isinstance(column.type, sa.LargeBinary)
            else "text"
            if isinstance(column.type, sa.String)
            else None
        )
        # The contact keeps its id; any other key holding an identifier is rewritten.
        if kind is not None and not (column.primary_key and table.name == CONTACTS):
            found.append(_Column(column.name, kind))
    return found


def _is_jsonb(column: sa.Column[Any]) -> bool:
    return type(column.type).__name__.upper() == "JSONB"


def _portable(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON-ready data: instants as ISO text, stored bodies decoded."""
    return {key: _value(value) for key, value in row.items()}


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | memoryview):
        data = bytes(value)
        for decode in (msgspec.json.decode, msgspec.msgpack.decode):
            try:
                return msgspec.to_builtins(decode(data))
            except (msgspec.DecodeError, ValueError, TypeError):
                continue
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(data).decode()}
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _strip_fields(
    conn: sa.Connection,
    events: sa.Table,
    found: Iterable[tuple[int, Event]],
    fields_of: Mapping[str, Collection[str]],
) -> int:
    """Rewrite each stored event in `found` without the properties `fields_of` names for its
    event name; returns how many bodies changed (an event with none of them is left alone)."""
    changed = 0
    for offset, event in found:
        fields = fields_of.get(event.event or "", ())
        kept = {k: v for k, v in event.properties.items() if k not in fields}
        if len(kept) == len(event.properties):
            continue
        stripped = encode_event(msgspec.structs.replace(event, properties=kept))
        conn.execute(events.update().where(events.c.log_offset == offset).values(body=stripped))
        changed += 1
    return changed
