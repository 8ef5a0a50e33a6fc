"""Crypto-shredding: a person's personal data is written to the event log encrypted with a
key of their own, kept in a separate key store; erasure deletes the key.

The log cannot be rewritten everywhere it goes: a NATS JetStream stream is append-only, and
backups of the store are copies out of reach. What those copies hold of a person's personal
data is ciphertext (AES-256-GCM, `cryptography`), bound to the person's id; once the key is
gone, no copy yields it again, while everything else in the events (names, times, amounts)
stays readable, so KPIs and replays are unchanged.

What is sealed: an event's `traits` whole (who the person is), the personal properties
named in `privacy.shredding.properties` (e-mail, phone, a chat message's text …) and the
context keys named in `privacy.shredding.context` (the traits a client repeats there, the IP
address). The sealed values of a part move into its one `$sealed` key; the part's other keys
stay in clear. Every event appended through the served log is sealed, whoever appends it
(ingestion, the chat, the sensors), and every reader of the served log sees it opened.

The subject of an event is its `user_id`, else its `anonymous_id` (after pseudonymisation).
A record's own events (`Contact Created` …, which the CRM appends with neither) are the
record's: their personal properties are sealed under a key of the record, named by its id
(`properties.id`), which the record's erasure deletes. An interaction's (a call logged by
staff) are its contact's: its notes are sealed under the contact's key
(`properties.contact_id`), which the contact's erasure deletes.
The keys live in their own database (`privacy.shredding.keys`), which is not in the store's
backups; deleting a key also compacts that database so that no free page keeps it.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigie.events import Event
from vigie.events.event import ShapeT
from vigie.log.eventlog import DurableConsumers, ServedLog, WrappedLog
from vigie.privacy.config import ShreddingSettings
from vigie.store import connect

SEALED = "$sealed"
"""The key of a part's sealed values: its value is `v1.` + base64(nonce + ciphertext)."""
PARTS = ("traits", "properties", "context")
"""The parts of an event that may hold sealed values."""
VERSION = "v1."
_NONCE = 12

_metadata = sa.MetaData()
subject_keys = sa.Table(
    "subject_keys",
    _metadata,
    sa.Column("subject", sa.String(400), primary_key=True),
    sa.Column("key", sa.LargeBinary, nullable=False),
)


KEY_CACHE_SECONDS = 30.0
"""How long a process keeps a key it read: an erasure in another process (an API node, a
worker, `vigie privacy erase`) deletes the key from the database, and every process stops
opening the person's data within this time."""


class SubjectKeys:
    """One AES-256 key per subject, in a database of their own (created on first use)."""

    def __init__(self, engine: sa.Engine, *, cache_seconds: float = KEY_CACHE_SECONDS) -> None:
        self.engine = engine
        _metadata.create_all(engine)
        self._cache: dict[str, tuple[bytes, float]] = {}  # subject: key, read at (monotonic)
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()

    def key_for(self, subject: str, *, create: bool) -> bytes | None:
        """The subject's key; a new one when it has none and `create`, else None. A key read
        more than `cache_seconds` ago is read again: another process may have erased it."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(subject_keys.c.key).where(subject_keys.c.subject == subject)
            ).scalar_one_or_none()
            if found is None and create:
                try:
                    with conn.begin_nested():
                        found = AESGCM.generate_key(bit_length=256)
                        conn.execute(subject_keys.insert().values(subject=subject, key=found))
                except sa.exc.IntegrityError:  # another process made it first
                    found = conn.execute(
                        sa.select(subject_keys.c.key).where(subject_keys.c.subject == subject)
                    ).scalar_one()
        if found is None:
            with self._lock:
                self._cache.pop(subject, None)
            return None
        with self._lock:
            self._cache[subject] = (bytes(found), now)
        return bytes(found)

    def forget_cached(self) -> None:
        """Read every key from the database again (another process erased someone)."""
        with self._lock:
            self._cache.clear()

    def forget(self, subjects: Iterable[str]) -> int:
        """Delete the subjects' keys (what they sealed can no longer be read); returns how
        many keys there were. The key database is compacted afterwards."""
        wanted = sorted({s for s in subjects if s})
        if not wanted:
            return 0
        with self._lock:
            for subject in wanted:
                self._cache.pop(subject, None)
        with self.engine.begin() as conn:
            deleted = conn.execute(
                subject_keys.delete().where(subject_keys.c.subject.in_(wanted))
            ).rowcount
        self._compact()
        return int(deleted or 0)

    def _compact(self) -> None:
        """Leave no copy of a deleted key in the database's free pages or write-ahead log."""
        if self.engine.dialect.name != "sqlite":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM subject_keys")
            return
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()


def subject_of(event: Any) -> str | None:
    """Whose traits these are: the user id, else the visitor id."""
    return getattr(event, "user_id", None) or getattr(event, "anonymous_id", None)


class Shredder:
    """Seals events' personal data on the way into the log and opens it on the way out.

    `properties` and `context` name the keys of those parts that are personal; `traits` are
    sealed whole. `records` names the events of a record (event name -> its personal
    properties) whose properties are sealed under the record's own key (`properties.id`), or
    under the key of the record named by the property `owners` gives for the event (an
    interaction's notes under its contact's, `properties.contact_id`).
    """

    def __init__(
        self,
        keys: SubjectKeys,
        *,
        properties: Iterable[str] = (),
        context: Iterable[str] = (),
        records: Mapping[str, Iterable[str]] | None = None,
        owners: Mapping[str, str] | None = None,
    ) -> None:
        self.keys = keys
        self.personal = {"properties": frozenset(properties), "context": frozenset(context)}
        self.records = {name: frozenset(fields) for name, fields in (records or {}).items()}
        self.owners = dict(owners or {})

    def sealed(self, events: Sequence[Event]) -> list[Event]:
        """`events` with their personal data sealed: a sealed copy of each event that holds
        some (and has a subject), the event itself otherwise; the given events are left as
        they are, so that their sender may go on reading them in clear."""
        out: list[Event] = []
        for event in events:
            changes = self._seal_parts(event)
            out.append(msgspec.structs.replace(event, **changes) if changes else event)
        return out

    def subject(self, event: Any, part: str) -> str | None:
        """Whose key seals `part` of `event`: a record's for the properties of its own
        events, else the event's subject (`subject_of`)."""
        name = getattr(event, "event", None)
        if part == "properties" and name in self.records:
            owner = self.owners.get(name, "id")
            record = (getattr(event, "properties", None) or {}).get(owner)
            if isinstance(record, str) and record:
                return record
        return subject_of(event)

    def _seal_parts(self, event: Event) -> dict[str, dict[str, Any]]:
        changes: dict[str, dict[str, Any]] = {}
        for part in PARTS:
            values: dict[str, Any] = getattr(event, part)
            subject = self.subject(event, part)
            if not values or SEALED in values or subject is None:
                continue
            personal = self._personal(event, part)
            secret = (
                values if personal is None else {k: v for k, v in values.items() if k in personal}
            )
            if not secret:
                continue
            clear = {k: v for k, v in values.items() if k not in secret}
            changes[part] = {**clear, SEALED: self._seal(subject, secret)}
        return changes

    def _personal(self, event: Any, part: str) -> frozenset[str] | None:
        """The keys of `part` that are personal (None: all of them)."""
        personal = self.personal.get(part)
        record = self.records.get(event.event) if part == "properties" else None
        if personal is None or record is None:
            return personal
        return personal | record

    def _seal(self, subject: str, values: dict[str, Any]) -> str:
        key = self.keys.key_for(subject, create=True)
        assert key is not None
        nonce = os.urandom(_NONCE)
        plain = msgspec.json.encode(values)  # JSON: integers past 64 bits too
        sealed = AESGCM(key).encrypt(nonce, plain, subject.encode())
        return VERSION + base64.b64encode(nonce + sealed).decode()

    def open(self, events: Sequence[ShapeT]) -> Sequence[ShapeT]:
        """Restore sealed values in place; an erased subject's (key gone) are left out."""
        for event in events:
            for part in PARTS:
                values = getattr(event, part, None)
                if isinstance(values, dict) and SEALED in values:
                    setattr(event, part, self.opened_part(self.subject(event, part), values))
        return events

    def open_record(self, record: dict[str, Any]) -> None:
        """Restore, in place, the sealed values of an event given as a plain mapping (the
        privacy export's)."""
        subject = record.get("user_id") or record.get("anonymous_id")
        name = record.get("event")
        own = name in self.records
        owner = self.owners.get(name, "id") if isinstance(name, str) else "id"
        for part in PARTS:
            values = record.get(part)
            if isinstance(values, dict) and SEALED in values:
                whose = (values.get(owner) if own and part == "properties" else None) or subject
                record[part] = self.opened_part(whose if isinstance(whose, str) else None, values)

    def opened_part(self, subject: str | None, values: dict[str, Any]) -> dict[str, Any]:
        """A part's clear values with its sealed ones opened (none once the key is gone)."""
        clear = {k: v for k, v in values.items() if k != SEALED}
        return {**clear, **self.opened(subject, values[SEALED])}

    def opened(self, subject: str | None, sealed: Any) -> dict[str, Any]:
        """The values `sealed` for `subject`; `{}` once the subject's key is gone."""
        if subject is None or not isinstance(sealed, str) or not sealed.startswith(VERSION):
            return {}
        key = self.keys.key_for(subject, create=False)
        if key is None:
            return {}
        try:
            raw = base64.b64decode(sealed[len(VERSION) :])
            plain = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], subject.encode())
        except (InvalidTag, ValueError):
            return {}
        opened = msgspec.json.decode(plain)
        return opened if isinstance(opened, dict) else {}


def shredder_for(
    settings: ShreddingSettings,
    *,
    records: Mapping[str, Iterable[str]] | None = None,
    owners: Mapping[str, str] | None = None,
) -> Shredder | None:
    """The shredder `privacy.shredding` asks for, sealing `records`' events under their
    record's key, or their owner's (`Shredder`); None when it is off (no key store)."""
    if settings.keys is None:
        return None
    keys = SubjectKeys(connect(settings.keys))
    return Shredder(
        keys,
        properties=settings.properties,
        context=settings.context,
        records=records,
        owners=owners,
    )


class ShreddedLog(WrappedLog):
    """The event log as its writers and readers see it: what is appended is sealed
    (`Shredder.sealed`), what is read is opened (`Shredder.open`)."""

    def __init__(self, log: ServedLog, shredder: Shredder) -> None:
        super().__init__(log)
        self.shredder = shredder

    @property
    def prepare_may_block(self) -> bool:  # type: ignore[override]
        """Sealing a new person's data first writes their key to the key store."""
        return True

    def stored(self, events: Sequence[Event], *, owned: bool = False) -> Sequence[Event]:
        return self.shredder.sealed(events)

    def shown(self, events: list[ShapeT]) -> list[ShapeT]:
        return list(self.shredder.open(events))


class ShreddedDurableLog(ShreddedLog):
    """A shredded log whose server keeps the processors' positions (JetStream): what a
    processor consumes is opened like what it reads."""

    inner: Any

    def consume(
        self,
        consumer: str,
        shape: type[ShapeT],
        from_offset: int,
        limit: int = 1000,
        *,
        partition: int | None = None,
    ) -> list[ShapeT]:
        events = self.inner.consume(consumer, shape, from_offset, limit, partition=partition)
        return self.shown(events)

    def release(self, consumer: str) -> None:
        self.inner.release(consumer)


def shredded(log: ServedLog, shredder: Shredder) -> ShreddedLog:
    """`log` as its writers and readers see it with crypto-shredding on; a log of durable
    consumers stays one, its consumers' events opened too."""
    if isinstance(log, DurableConsumers):
        return ShreddedDurableLog(log, shredder)
    return ShreddedLog(log, shredder)
