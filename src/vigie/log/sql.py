"""The event log kept in a table of the SQL store (SQLite or PostgreSQL).

Appends are serialised (SQLite's write lock, a PostgreSQL advisory lock) so that offsets
are assigned and committed in order: a reader that has seen offset N never later finds a
smaller one appear.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from vigie.events import NOTICE_TYPE, Event
from vigie.events.event import ShapeT, decode_event, decode_events, encode_event
from vigie.log.eventlog import AppendJob, AppendResult, AppendsOne, RejectedRecord
from vigie.store import schema
from vigie.types import from_us, to_us

MAX_KEPT_PAYLOAD = 64 * 1024
MAX_ANONYMOUS_PAYLOAD = 4 * 1024
"""What is kept of a request refused before its sender was known (no or a wrong key)."""
KEEP_REJECTED_PER_SOURCE = 100_000
"""The newest rejected messages kept per source; older ones are dropped (and counted)."""
KEEP_REJECTED_ANONYMOUS = 10_000
"""The newest requests kept that came with no or an unknown write key."""
TRIM_EVERY = 500
"""Rejections kept for a source between two trims of its oldest (a trim is one DELETE)."""
_LOCK_KEY = 0x56696769  # "Vigi": the advisory lock that serialises appends on PostgreSQL
_IN_CHUNK = 900
_COLUMNS = 10
"""The columns of one row of the `events` INSERT."""
ROWS_PER_INSERT = 500
"""Rows one INSERT statement carries. SQLite's driver releases the GIL around each statement
it steps and must win it back after: with one statement per row, a commit of thousands of
events waited thousands of times on the threads decoding the next requests. 500 rows of 10
values stay under SQLite's 32,766 and PostgreSQL's 65,535 parameters."""


class RecentBodies:
    """The stored bodies of the events this process committed last, by offset, so that the
    processors and the live feed, which read what was just committed, need not ask the store
    again (on PostgreSQL that read was a round trip after every commit).

    A read is answered only when every offset it asks for is here: offsets another process
    appended in between are missing, and the read goes to the store. A read answered here
    sees the log as of this process's last commit; what another process appended after it
    comes with the next read (the processors read again when woken, or within a second).
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._bodies: dict[int, bytes] = {}
        self._order: deque[int] = deque()
        self._newest = 0
        self._lock = threading.Lock()

    def add(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Keep the committed `(offset, body)` rows, in offset order."""
        with self._lock:
            for offset, body in rows:
                self._bodies[offset] = body
                self._order.append(offset)
            if rows:
                self._newest = max(self._newest, rows[-1][0])
            while len(self._order) > self.capacity:
                del self._bodies[self._order.popleft()]

    def clear(self) -> None:
        """Forget every body kept (after stored bodies were rewritten, as by an erasure)."""
        with self._lock:
            self._bodies.clear()
            self._order.clear()

    def read(self, from_offset: int, limit: int) -> tuple[list[int], list[bytes]] | None:
        """Offsets and bodies from `from_offset` on (at most `limit`), up to the newest this
        process committed; None when one of them is not here."""
        with self._lock:
            if from_offset not in self._bodies:
                return None
            offsets = list(range(from_offset, min(from_offset + limit, self._newest + 1)))
            try:
                return offsets, [self._bodies[offset] for offset in offsets]
            except KeyError:  # another process appended in between
                return None


class SqlEventLog(AppendsOne):
    """`EventLog` on the SQL store; `append_many` commits several batches in one transaction."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        keep_rejected: int = KEEP_REJECTED_PER_SOURCE,
        keep_anonymous: int = KEEP_REJECTED_ANONYMOUS,
        trim_every: int = TRIM_EVERY,
    ) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self.keep_rejected = keep_rejected
        self.keep_anonymous = keep_anonymous
        self._trim_every = trim_every
        self._since_trim: dict[str | None, int] = {}
        self.rejected_dropped: dict[str, int] = {}
        """Rejected rows dropped to keep the table bounded, by source (`(none)`: no key)."""
        ph = "%s" if self._postgres else "?"
        self._insert_head = (
            "INSERT INTO events (log_offset, source, message_id, type, event, anonymous_id,"
            " user_id, timestamp_us, received_at_us, body) VALUES "
        )
        self._insert_row = f"({', '.join([ph] * _COLUMNS)})"
        self._insert_full = self._insert_sql(ROWS_PER_INSERT)
        self._reject_sql = (
            "INSERT INTO rejected_events (received_at_us, source, endpoint, reason, field,"
            f" message_id, payload, payload_truncated) VALUES ({', '.join([ph] * 8)})"
        )
        self._ph = ph
        self.recent_bodies = RecentBodies()
        self._read_sql = (
            f"SELECT log_offset, body FROM events WHERE log_offset >= {ph}"
            f" ORDER BY log_offset LIMIT {ph}"
        )

    def append_many(self, jobs: Sequence[AppendJob]) -> list[AppendResult]:
        """Append several batches in one transaction, committed before this returns.

        A message id already in the log for its source (or earlier in the same call) is
        counted as a duplicate and not appended again. Rejections are kept in the same
        transaction, so a batch is never half-applied.
        """
        # Rows are encoded before the write lock is taken, so it is held for the inserts only
        # (and by the sender, before queuing, when it prepared its job).
        encoded = [job.rows if job.rows is not None else _rows(job.events) for job in jobs]
        try:
            # Retries are rare: insert straight away and let the unique constraint say
            # whether any message was already stored ...
            results, assigned = self._append(jobs, encoded, look_up_existing=False)
        except sa.exc.IntegrityError:
            # ... and only then pay for looking every message id up.
            results, assigned = self._append(jobs, encoded, look_up_existing=True)
        self.recent_bodies.add([(offset, body) for _, offset, body in assigned])
        for event, offset, _ in assigned:
            event.offset = offset
        return results

    def prepare(self, job: AppendJob) -> AppendJob:
        """`job` with its rows encoded, by the sender's thread rather than the writer's."""
        if job.rows is not None:
            return job
        return msgspec.structs.replace(job, rows=_rows(job.events))

    def _append(
        self,
        jobs: Sequence[AppendJob],
        encoded: Sequence[Sequence[tuple[Any, ...]]],
        *,
        look_up_existing: bool,
    ) -> tuple[list[AppendResult], list[tuple[Event, int, bytes]]]:
        results: list[AppendResult] = []
        assigned: list[tuple[Event, int, bytes]] = []  # with their stored bodies
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            if self._postgres:
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            last = conn.exec_driver_sql("SELECT MAX(log_offset) FROM events").scalar()
            next_offset = int(last or 0) + 1
            seen = (
                self._existing(conn, (e for job in jobs for e in job.events))
                if look_up_existing
                else set()
            )
            values: list[Any] = []  # every new row's columns, one after the other
            rejected_rows: list[tuple[Any, ...]] = []
            for job, tails in zip(jobs, encoded, strict=True):
                offsets: list[int] = []
                duplicates = 0
                for event, tail in zip(job.events, tails, strict=True):
                    key = (event.source, event.message_id)
                    if key in seen:
                        duplicates += 1
                        continue
                    seen.add(key)
                    values.append(next_offset)
                    values.extend(tail)
                    assigned.append((event, next_offset, tail[-1]))
                    offsets.append(next_offset)
                    next_offset += 1
                received_us = to_us(job.received_at or datetime.now(UTC))
                kept = MAX_KEPT_PAYLOAD if job.source is not None else MAX_ANONYMOUS_PAYLOAD
                for rejection in job.rejections:
                    payload = rejection.payload
                    rejected_rows.append(
                        (
                            received_us,
                            job.source,
                            _storable(job.endpoint, 100),
                            _storable(rejection.reason),
                            _storable(rejection.field, 200),
                            _storable(rejection.message_id, 200),
                            payload[:kept],
                            len(payload) > kept,
                        )
                    )
                results.append(
                    AppendResult(
                        offsets=offsets, duplicates=duplicates, rejected=len(job.rejections)
                    )
                )
            self._insert(conn, values)
            if rejected_rows:
                conn.exec_driver_sql(self._reject_sql, rejected_rows)
                self._trim_rejected(conn, [row[1] for row in rejected_rows])
        return results, assigned

    def _insert(self, conn: sa.Connection, values: list[Any]) -> None:
        """Insert the rows whose columns `values` lists, `ROWS_PER_INSERT` per statement."""
        step = ROWS_PER_INSERT * _COLUMNS
        for start in range(0, len(values), step):
            chunk = values[start : start + step]
            count = len(chunk) // _COLUMNS
            sql = self._insert_full if count == ROWS_PER_INSERT else self._insert_sql(count)
            conn.exec_driver_sql(sql, tuple(chunk))

    def _insert_sql(self, rows: int) -> str:
        return self._insert_head + ", ".join([self._insert_row] * rows)

    def _trim_rejected(self, conn: sa.Connection, sources: list[str | None]) -> None:
        """Keep the rejected table bounded per source: every `trim_every` rows kept for a
        source, its rows beyond the newest `keep_rejected` (`keep_anonymous` for requests
        without a known key) are deleted and counted in `rejected_dropped`."""
        table = schema.rejected_events
        for source in set(sources):
            count = self._since_trim.get(source, 0) + sources.count(source)
            if count < self._trim_every:
                self._since_trim[source] = count
                continue
            self._since_trim[source] = 0
            keep = self.keep_rejected if source is not None else self.keep_anonymous
            same = table.c.source.is_(None) if source is None else table.c.source == source
            boundary = conn.execute(
                sa.select(table.c.id).where(same).order_by(table.c.id.desc()).offset(keep).limit(1)
            ).scalar()
            if boundary is None:
                continue
            dropped = conn.execute(table.delete().where(same, table.c.id <= boundary)).rowcount
            label = source if source is not None else "(none)"
            self.rejected_dropped[label] = self.rejected_dropped.get(label, 0) + int(dropped)

    def _reader(self) -> sa.Connection:
        """A connection for reads only: it does not take SQLite's write lock."""
        return self.engine.connect().execution_options(sqlite_immediate=False)

    def _existing(self, conn: sa.Connection, events: Iterable[Event]) -> set[tuple[str, str]]:
        by_source: dict[str, list[str]] = {}
        for event in events:
            by_source.setdefault(event.source, []).append(event.message_id)
        found: set[tuple[str, str]] = set()
        for source, ids in by_source.items():
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), _IN_CHUNK):
                chunk = unique[start : start + _IN_CHUNK]
                marks = ", ".join([self._ph] * len(chunk))
                sql = (
                    f"SELECT message_id FROM events WHERE source = {self._ph}"
                    f" AND message_id IN ({marks})"
                )
                for (message_id,) in conn.exec_driver_sql(sql, (source, *chunk)):
                    found.add((source, message_id))
        return found

    def read(self, from_offset: int, limit: int = 1000) -> list[Event]:
        """Events with offset >= `from_offset`, in log order, at most `limit`."""
        return self.read_as(Event, from_offset, limit)

    def read_as(self, shape: type[ShapeT], from_offset: int, limit: int = 1000) -> list[ShapeT]:
        """As `read`, each event decoded as `shape` (a Struct with some of `Event`'s fields)."""
        # The hot path of every processor: plain SQL on the driver's own cursor (rows are the
        # driver's tuples, no SQLAlchemy result objects), and the bodies decoded in one go.
        recent = self.recent_bodies.read(from_offset, limit)
        if recent is not None:
            events = decode_events(recent[1], shape)
            for event, offset in zip(events, recent[0], strict=True):
                event.offset = offset
            return events
        # The pool's driver connection itself: a SQLAlchemy `Connection` around it cost a
        # tenth of the processors' interpreter time. A plain SELECT takes no write lock (the
        # SQLite connections run in autocommit; BEGIN comes from SQLAlchemy's `begin`), and
        # the pool rolls a PostgreSQL one back when it is handed back.
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(self._read_sql, (from_offset, limit))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        finally:
            raw.close()
        if not rows:
            return []
        offsets, bodies = zip(*rows, strict=True)
        events = decode_events(bodies, shape)
        for event, offset in zip(events, offsets, strict=True):
            event.offset = offset
        return events

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
        """Newest events first, filtered on the indexed columns; `before` pages back."""
        table = schema.events
        query = sa.select(table.c.log_offset, table.c.body)
        for column, value in (
            (table.c.type, type),
            (table.c.event, event),
            (table.c.anonymous_id, anonymous_id),
            (table.c.user_id, user_id),
            (table.c.source, source),
        ):
            if value is not None:
                query = query.where(column == value)
        if before is not None:
            query = query.where(table.c.log_offset < before)
        query = query.order_by(table.c.log_offset.desc()).limit(limit)
        with self._reader() as conn:
            return [_decode(offset, body) for offset, body in conn.execute(query)]

    def count(self) -> int:
        """How many events the log holds."""
        with self._reader() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one()
            )

    def extent(self) -> tuple[int, int]:
        """How many events the log holds and the newest offset, in one statement (one
        snapshot of the table, on SQLite as on PostgreSQL)."""
        table = schema.events
        query = sa.select(sa.func.count(), sa.func.max(table.c.log_offset))
        with self._reader() as conn:
            count, last = conn.execute(query).one()
        return int(count), int(last or 0)

    def count_notices(self, sources: Collection[str], *, through: int | None = None) -> int:
        """How many of Vigie's notices appended as one of `sources` the log holds, at offsets
        up to `through` when given (through the index on the source)."""
        if not sources:
            return 0
        table = schema.events
        query = sa.select(sa.func.count()).where(
            table.c.type == NOTICE_TYPE, table.c.source.in_(sorted(sources))
        )
        if through is not None:
            query = query.where(table.c.log_offset <= through)
        with self._reader() as conn:
            return int(conn.execute(query).scalar_one())

    def last_offset(self) -> int:
        """The offset of the newest event, 0 for an empty log."""
        with self._reader() as conn:
            value = conn.execute(sa.select(sa.func.max(schema.events.c.log_offset))).scalar()
        return int(value or 0)

    def checkpoint(self, consumer: str) -> int:
        """The next offset `consumer` has to read (1 when it never ran)."""
        query = sa.select(schema.checkpoints.c.next_offset).where(
            schema.checkpoints.c.consumer == consumer
        )
        with self._reader() as conn:
            value = conn.execute(query).scalar()
        return int(value) if value is not None else 1

    def save_checkpoint(self, consumer: str, next_offset: int) -> None:
        """Record that `consumer` has processed every event before `next_offset`."""
        insert = postgresql.insert if self._postgres else sqlite.insert
        values = {
            "consumer": consumer,
            "next_offset": next_offset,
            "updated_at_us": to_us(datetime.now(UTC)),
        }
        statement = insert(schema.checkpoints).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[schema.checkpoints.c.consumer],
            set_={"next_offset": values["next_offset"], "updated_at_us": values["updated_at_us"]},
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def save_checkpoints(self, positions: Mapping[str, int]) -> None:
        """Save several consumers' positions in one transaction: one commit, not one each."""
        if not positions:
            return
        insert = postgresql.insert if self._postgres else sqlite.insert
        at = to_us(datetime.now(UTC))
        with self.engine.begin() as conn:
            for consumer, next_offset in sorted(positions.items()):
                statement = insert(schema.checkpoints).values(
                    consumer=consumer, next_offset=next_offset, updated_at_us=at
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[schema.checkpoints.c.consumer],
                        set_={"next_offset": next_offset, "updated_at_us": at},
                    )
                )

    def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""

    def rejected(self, *, limit: int = 100, before: int | None = None) -> list[RejectedRecord]:
        """Rejected input, newest first, with its reason and (bounded) payload."""
        table = schema.rejected_events
        query = sa.select(table)
        if before is not None:
            query = query.where(table.c.id < before)
        query = query.order_by(table.c.id.desc()).limit(limit)
        with self._reader() as conn:
            return [
                RejectedRecord(
                    id=row.id,
                    received_at=from_us(row.received_at_us),
                    source=row.source,
                    endpoint=row.endpoint,
                    reason=row.reason,
                    field=row.field,
                    message_id=row.message_id,
                    payload=bytes(row.payload).decode("utf-8", errors="replace"),
                    payload_truncated=bool(row.payload_truncated),
                )
                for row in conn.execute(query)
            ]


def _storable(text: str | None, width: int | None = None) -> str | None:
    """`text` without NUL characters, which PostgreSQL cannot keep in a text column, and cut
    to its column's `width` (PostgreSQL refuses a longer value, failing the whole batch)."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text[: width - 1] + "…" if width is not None and len(text) > width else text


def _rows(events: Sequence[Event]) -> list[tuple[Any, ...]]:
    """Each event's columns after `log_offset`, in the order of the INSERT.

    The events of a request share their arrival time and mostly their event time: each
    distinct time is converted once per batch (as a timedelta division, it cost as much as
    a tenth of the encoding). A time in the hour repeated when clocks go back, the second
    time (`fold=1`), is not: Python finds it equal to the first, an hour earlier.
    """
    micros: dict[datetime, int] = {}
    rows = []
    for event in events:
        timestamp, received_at = event.timestamp, event.received_at
        timestamp_us = micros.get(timestamp)
        if timestamp_us is None or timestamp.fold:
            timestamp_us = to_us(timestamp)
            if not timestamp.fold:
                micros[timestamp] = timestamp_us
        received_us = micros.get(received_at)
        if received_us is None or received_at.fold:
            received_us = to_us(received_at)
            if not received_at.fold:
                micros[received_at] = received_us
        rows.append(
            (
                event.source,
                event.message_id,
                event.type,
                event.event,
                event.anonymous_id,
                event.user_id,
                timestamp_us,
                received_us,
                encode_event(event),
            )
        )
    return rows


def _decode(offset: int, body: bytes) -> Event:
    event = decode_event(bytes(body))
    event.offset = offset
    return event
