"""The contract every event log keeps, whatever stores it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import msgspec

from vigie.events import Event, Rejection
from vigie.events.event import ShapeT


class LogUnavailable(RuntimeError):
    """The log cannot take appends now (its server is away): nothing of the batch was
    acknowledged, and the client should send it again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AppendResult(msgspec.Struct, kw_only=True):
    """What one appended batch became: an offset per new event, the duplicates, the rejects."""

    offsets: list[int]
    duplicates: int
    rejected: int

    @property
    def accepted(self) -> int:
        return len(self.offsets)


class RejectedRecord(msgspec.Struct, kw_only=True):
    """A rejected input as kept in the store and listed by `GET /api/rejected`."""

    id: int
    received_at: datetime
    source: str | None
    endpoint: str | None
    reason: str
    field: str | None
    message_id: str | None
    payload: str
    payload_truncated: bool


class AppendJob(msgspec.Struct, kw_only=True):
    """One request's worth of events and rejections, appended together."""

    events: Sequence[Event]
    rejections: Sequence[Rejection] = ()
    source: str | None = None
    endpoint: str | None = None
    received_at: datetime | None = None
    stored: bool = False
    """`events` are already as the log's layers store them (`ServedLog.prepare` made them so)."""
    rows: Sequence[tuple[Any, ...]] | None = None
    """The events' columns as the SQL log inserts them, encoded by `prepare`; None: the
    writer encodes them."""
    owned: bool = False
    """`events` were made for this append alone (an ingest request's, just converted), so a
    layer may change them in place rather than on copies (`WrappedLog.stored`)."""


class AppendsOne:
    """`append` (one batch in its own transaction) for a log that implements `append_many`."""

    def append_many(self, jobs: Sequence[AppendJob]) -> list[AppendResult]:
        raise NotImplementedError

    prepare_may_block = False
    """Whether `prepare` may wait on I/O (a key store's write): an event loop then asks a
    worker thread to prepare its jobs."""

    def prepare(self, job: AppendJob) -> AppendJob:
        """`job` readied for `append_many` (as given, here); see `ServedLog.prepare`."""
        return job

    def append(
        self,
        events: Sequence[Event],
        rejections: Sequence[Rejection] = (),
        *,
        source: str | None = None,
        endpoint: str | None = None,
        received_at: datetime | None = None,
    ) -> AppendResult:
        """Append one batch; see `append_many`."""
        job = AppendJob(
            events=events,
            rejections=rejections,
            source=source,
            endpoint=endpoint,
            received_at=received_at,
        )
        return self.append_many([job])[0]


class EventLog(Protocol):
    """Append batches (deduplicated by source and message id), read from an offset, checkpoint."""

    def append(
        self,
        events: Sequence[Event],
        rejections: Sequence[Rejection] = (),
        *,
        source: str | None = None,
        endpoint: str | None = None,
        received_at: datetime | None = None,
    ) -> AppendResult: ...

    def read(self, from_offset: int, limit: int = 1000) -> list[Event]: ...

    def read_as(self, shape: type[ShapeT], from_offset: int, limit: int = 1000) -> list[ShapeT]:
        """As `read`, each event decoded as `shape`: a Struct with some of `Event`'s fields.

        Fields `shape` does not declare are skipped while decoding, which is faster for
        processors that use a few fields of every event.
        """
        ...

    def last_offset(self) -> int: ...

    def checkpoint(self, consumer: str) -> int: ...

    def save_checkpoint(self, consumer: str, next_offset: int) -> None: ...

    def save_checkpoints(self, positions: Mapping[str, int]) -> None:
        """Save several consumers' positions at once (in one transaction where the log
        keeps them in a database)."""
        ...


class ServedLog(EventLog, Protocol):
    """What a running server needs of its log beyond the contract: group appends and queries."""

    def append_many(self, jobs: Sequence[AppendJob]) -> list[AppendResult]: ...

    @property
    def prepare_may_block(self) -> bool:
        """Whether `prepare` may wait on I/O (then not to be called on an event loop)."""
        ...

    def prepare(self, job: AppendJob) -> AppendJob:
        """`job` with its events as the log will store them (guarded, encoded), for the
        sender's thread to do before queuing it: the single writer thread then only writes,
        and the next group is readied while SQLite commits the last one. `append_many` takes
        prepared and unprepared jobs alike."""
        ...

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
    ) -> list[Event]: ...

    def count(self) -> int: ...

    def extent(self) -> tuple[int, int]:
        """How many events the log holds and the offset of the newest (0: none), read at one
        moment: a reader that counts the log, then follows it from past that offset, counts
        each event once, whatever another writer commits between its two reads."""
        ...

    def count_notices(self, sources: Collection[str], *, through: int | None = None) -> int:
        """How many of Vigie's notices (`NOTICE_TYPE`) appended as one of `sources` the log
        holds, however old (at offsets up to `through` when given: those `extent` counted):
        what to take from `count` for the events people and sensors made. Found by source
        (an index, a subject), not by reading the whole log."""
        ...

    def rejected(self, *, limit: int = 100, before: int | None = None) -> list[RejectedRecord]: ...

    def close(self) -> None: ...


@runtime_checkable
class DurableConsumers(Protocol):
    """A log whose server keeps each processor's position itself (a JetStream durable
    consumer): a processor reads through its own consumer, and `save_checkpoint` is the
    acknowledgement, given once the processor's state is committed."""

    def consume(
        self,
        consumer: str,
        shape: type[ShapeT],
        from_offset: int,
        limit: int = 1000,
        *,
        partition: int | None = None,
    ) -> list[ShapeT]:
        """Up to `limit` events from `from_offset` on, delivered to `consumer` (only those
        of `partition` when given, on a log cut into partitions)."""
        ...

    def release(self, consumer: str) -> None:
        """Stop following `consumer` here (another process may take it over); the next
        `consume` starts from its saved checkpoint."""
        ...


class WrappedLog(AppendsOne):
    """A served log seen through a layer (privacy's safeguards, crypto-shredding): every call
    goes to `inner`; a layer overrides what it changes: `stored` (the events appended), `shown`
    (the events read) or `stored_visitor` (the id a search by visitor looks for)."""

    def __init__(self, log: ServedLog) -> None:
        self.inner = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def stored(self, events: Sequence[Event], *, owned: bool = False) -> Sequence[Event]:
        """The events appended, as this layer stores them (as given, here); `owned`: nobody
        else holds them (`AppendJob.owned`), so they may be changed in place."""
        return events

    def append_many(self, jobs: Sequence[AppendJob]) -> list[AppendResult]:
        return self.inner.append_many(
            [
                job
                if job.stored
                else msgspec.structs.replace(job, events=self.stored(job.events, owned=job.owned))
                for job in jobs
            ]
        )

    @property
    def prepare_may_block(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.inner, "prepare_may_block", False))

    def prepare(self, job: AppendJob) -> AppendJob:
        if job.stored:
            return job
        events = self.stored(job.events, owned=job.owned)
        inner = self.inner.prepare(msgspec.structs.replace(job, events=events))
        return msgspec.structs.replace(inner, stored=True)

    def shown(self, events: list[ShapeT]) -> list[ShapeT]:
        """The events read, as this layer's readers see them (as stored, here)."""
        return events

    def stored_visitor(self, anonymous_id: str) -> str:
        """The visitor id stored for the one asked for (the same, here)."""
        return anonymous_id

    def read(self, from_offset: int, limit: int = 1000) -> list[Event]:
        return self.shown(self.inner.read(from_offset, limit))

    def read_as(self, shape: type[ShapeT], from_offset: int, limit: int = 1000) -> list[ShapeT]:
        return self.shown(self.inner.read_as(shape, from_offset, limit))

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
            anonymous_id=None if anonymous_id is None else self.stored_visitor(anonymous_id),
            user_id=user_id,
            source=source,
            before=before,
            limit=limit,
        )
        return self.shown(found)

    def last_offset(self) -> int:
        return self.inner.last_offset()

    def checkpoint(self, consumer: str) -> int:
        return self.inner.checkpoint(consumer)

    def save_checkpoint(self, consumer: str, next_offset: int) -> None:
        self.inner.save_checkpoint(consumer, next_offset)

    def count(self) -> int:
        return self.inner.count()

    def extent(self) -> tuple[int, int]:
        return self.inner.extent()

    def count_notices(self, sources: Collection[str], *, through: int | None = None) -> int:
        return self.inner.count_notices(sources, through=through)

    def rejected(self, *, limit: int = 100, before: int | None = None) -> list[RejectedRecord]:
        return self.inner.rejected(limit=limit, before=before)

    def close(self) -> None:
        self.inner.close()
