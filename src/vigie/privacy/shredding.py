"""Crypto-shredding: a person's traits are written to the event log encrypted with a key of
their own, kept in a separate key store; erasure deletes the key.

The log cannot be rewritten everywhere it goes: a NATS JetStream stream is append-only, and
backups of the store are copies out of reach. What those copies hold of a person's traits is
ciphertext (AES-256-GCM, `cryptography`), bound to the person's id; once the key is gone, no
copy yields them again, while everything else in the events (names, times, amounts) stays
readable, so KPIs and replays are unchanged.

The subject of an event is its `user_id`, else its `anonymous_id` (after pseudonymisation).
The keys live in their own database (`privacy.shredding.keys`), which is not in the store's
backups; deleting a key also compacts that database so that no free page keeps it.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigie.events import Event
from vigie.events.event import ShapeT
from vigie.log.eventlog import AppendJob, AppendResult, AppendsOne, RejectedRecord, ServedLog

SEALED = "$sealed"
"""The one key of a sealed `traits`: its value is `v1.` + base64(nonce + ciphertext)."""
VERSION = "v1."
_NONCE = 12

_metadata = sa.MetaData()
subject_keys = sa.Table(
    "subject_keys",
    _metadata,
    sa.Column("subject", sa.String(400), primary_key=True),
    sa.Column("key", sa.LargeBinary, nullable=False),
)


class SubjectKeys:
    """One AES-256 key per subject, in a database of their own (created on first use)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        _metadata.create_all(engine)
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key_for(self, subject: str, *, create: bool) -> bytes | None:
        """The subject's key; a new one when it has none and `create`, else None."""
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None:
            return cached
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
            return None
        with self._lock:
            self._cache[subject] = bytes(found)
        return bytes(found)

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
    """Seals events' traits on the way into the log and opens them on the way out."""

    def __init__(self, keys: SubjectKeys) -> None:
        self.keys = keys

    def seal(self, events: Iterable[Event]) -> None:
        """Replace each event's traits (if any, and if it has a subject) by their sealed form,
        in place, before the events are appended."""
        for event in events:
            subject = subject_of(event)
            if not event.traits or subject is None or SEALED in event.traits:
                continue
            key = self.keys.key_for(subject, create=True)
            assert key is not None
            nonce = os.urandom(_NONCE)
            plain = msgspec.json.encode(event.traits)  # JSON: integers past 64 bits too
            sealed = AESGCM(key).encrypt(nonce, plain, subject.encode())
            event.traits = {SEALED: VERSION + base64.b64encode(nonce + sealed).decode()}

    def open(self, events: Sequence[ShapeT]) -> Sequence[ShapeT]:
        """Restore sealed traits in place; an erased subject's (key gone) become `{}`."""
        for event in events:
            traits = getattr(event, "traits", None)
            if not isinstance(traits, dict) or SEALED not in traits:
                continue
            event.traits = self.opened(subject_of(event), traits[SEALED])  # type: ignore[attr-defined]
        return events

    def opened(self, subject: str | None, sealed: Any) -> dict[str, Any]:
        """The traits `sealed` for `subject`; `{}` once the subject's key is gone."""
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


class ShreddedLog(AppendsOne):
    """The event log as its readers see it: sealed traits opened (`Shredder.open`)."""

    def __init__(self, log: ServedLog, shredder: Shredder) -> None:
        self.inner = log
        self.shredder = shredder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def append_many(self, jobs: Sequence[AppendJob]) -> list[AppendResult]:
        return self.inner.append_many(jobs)

    def read(self, from_offset: int, limit: int = 1000) -> list[Event]:
        return list(self.shredder.open(self.inner.read(from_offset, limit)))

    def read_as(self, shape: type[ShapeT], from_offset: int, limit: int = 1000) -> list[ShapeT]:
        return list(self.shredder.open(self.inner.read_as(shape, from_offset, limit)))

    def recent(
        self,
        *,
        type: str | None = None,
        event: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        source: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        found = self.inner.recent(
            type=type,
            event=event,
            anonymous_id=anonymous_id,
            user_id=user_id,
            source=source,
            before=before,
            limit=limit,
        )
        return list(self.shredder.open(found))

    def last_offset(self) -> int:
        return self.inner.last_offset()

    def checkpoint(self, consumer: str) -> int:
        return self.inner.checkpoint(consumer)

    def save_checkpoint(self, consumer: str, next_offset: int) -> None:
        self.inner.save_checkpoint(consumer, next_offset)

    def count(self) -> int:
        return self.inner.count()

    def rejected(self, *, limit: int = 100, before: int | None = None) -> list[RejectedRecord]:
        return self.inner.rejected(limit=limit, before=before)

    def close(self) -> None:
        self.inner.close()
