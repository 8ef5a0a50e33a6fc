"""Dead letters: events a processor kept failing on, set aside so that it moves on.

The runner retries a failing batch with backoff, then hands its events one at a time to find
the one at fault; when that one still fails after its retries, it is recorded here with the
processor, its offset, the error and the event itself, and the processor goes on with the
next. `vigie dead-letters replay` hands the recorded events to the processors again once
their code is fixed; a replay that succeeds marks the letter resolved.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from vigie.clock import Clock, SystemClock
from vigie.events import Event
from vigie.events.event import decode_event, encode_event
from vigie.store.schema import Offset, metadata
from vigie.types import from_us, to_us

MAX_DETAIL_CHARS = 8000

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("processor", sa.String(200), nullable=False),
    sa.Column("log_offset", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.String(200)),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("failed_at_us", sa.BigInteger, nullable=False),
    sa.Column("resolved_at_us", sa.BigInteger),
    sa.Column("body", sa.LargeBinary),
    sa.UniqueConstraint("processor", "log_offset", name="uq_dead_letters_processor_offset"),
)
sa.Index("ix_dead_letters_resolved_at_us", dead_letters.c.resolved_at_us)

Status = Literal["open", "resolved"]


class DeadLetter(msgspec.Struct, kw_only=True):
    """One event a processor could not process: where, why, how often tried, and the event."""

    id: int
    processor: str
    offset: int
    message_id: str | None
    error: str
    detail: str = ""
    attempts: int
    failed_at: datetime
    resolved_at: datetime | None = None
    event: Event | None = None

    @property
    def open(self) -> bool:
        """Not replayed successfully yet."""
        return self.resolved_at is None


class DeadLetterListener(Protocol):
    """Told when an event is set aside, and when a replay leaves `open` letters of a processor."""

    def dead_lettered(self, letter: DeadLetter, open: int) -> None: ...

    def replayed(self, processor: str, open: int) -> None: ...


class DeadLetters(Protocol):
    """Where the runner sets events aside, and where a replay finds them."""

    def record(
        self,
        *,
        processor: str,
        offset: int,
        event: Event | None,
        error: str,
        detail: str,
        attempts: int,
    ) -> DeadLetter:
        """Keep (or, for the same processor and offset, update and reopen) a letter."""
        ...

    def resolve(self, letter_id: int) -> None: ...

    def list(
        self,
        *,
        processor: str | None = None,
        status: Status | None = None,
        letter_id: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[DeadLetter]:
        """Letters newest first, optionally of one processor, status or id."""
        ...

    def open_counts(self) -> dict[str, int]:
        """How many letters each processor has open."""
        ...


def _text(value: str | None) -> str | None:
    """`value` without NUL characters, which PostgreSQL cannot keep in text."""
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


class SqlDeadLetters:
    """`DeadLetters` in the SQL store (table `dead_letters`)."""

    def __init__(self, engine: sa.Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def record(
        self,
        *,
        processor: str,
        offset: int,
        event: Event | None,
        error: str,
        detail: str,
        attempts: int,
    ) -> DeadLetter:
        now = to_us(self.clock.now())
        row = {
            "processor": processor,
            "log_offset": offset,
            "message_id": _text(event.message_id) if event is not None else None,
            "error": _text(error) or "",
            "detail": _text(detail[-MAX_DETAIL_CHARS:]) or "",
            "attempts": attempts,
            "failed_at_us": now,
            "resolved_at_us": None,
            "body": encode_event(event) if event is not None else None,
        }
        statement = self._insert(dead_letters).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=[dead_letters.c.processor, dead_letters.c.log_offset],
            set_={
                "error": statement.excluded.error,
                "detail": statement.excluded.detail,
                "attempts": dead_letters.c.attempts + statement.excluded.attempts,
                "failed_at_us": statement.excluded.failed_at_us,
                "resolved_at_us": None,
            },
        )
        with self.engine.begin() as conn:
            conn.execute(statement)
            found = conn.execute(
                sa.select(dead_letters).where(
                    dead_letters.c.processor == processor, dead_letters.c.log_offset == offset
                )
            ).one()
        return _letter(found._mapping)

    def resolve(self, letter_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                dead_letters.update()
                .where(dead_letters.c.id == letter_id)
                .values(resolved_at_us=to_us(self.clock.now()))
            )

    def list(
        self,
        *,
        processor: str | None = None,
        status: Status | None = None,
        letter_id: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[DeadLetter]:
        query = sa.select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
        if processor is not None:
            query = query.where(dead_letters.c.processor == processor)
        if status == "open":
            query = query.where(dead_letters.c.resolved_at_us.is_(None))
        elif status == "resolved":
            query = query.where(dead_letters.c.resolved_at_us.is_not(None))
        if letter_id is not None:
            query = query.where(dead_letters.c.id == letter_id)
        if before is not None:
            query = query.where(dead_letters.c.id < before)
        with self.engine.connect() as conn:
            return [_letter(row._mapping) for row in conn.execute(query)]

    def open_counts(self) -> dict[str, int]:
        query = (
            sa.select(dead_letters.c.processor, sa.func.count())
            .where(dead_letters.c.resolved_at_us.is_(None))
            .group_by(dead_letters.c.processor)
        )
        with self.engine.connect() as conn:
            return {name: int(count) for name, count in conn.execute(query)}


def _letter(row: sa.RowMapping) -> DeadLetter:
    body = row["body"]
    resolved = row["resolved_at_us"]
    return DeadLetter(
        id=int(row["id"]),
        processor=row["processor"],
        offset=int(row["log_offset"]),
        message_id=row["message_id"],
        error=row["error"],
        detail=row["detail"],
        attempts=int(row["attempts"]),
        failed_at=from_us(row["failed_at_us"]),
        resolved_at=None if resolved is None else from_us(resolved),
        event=None if body is None else decode_event(bytes(body)),
    )


class MemoryDeadLetters:
    """`DeadLetters` in memory: for a runner without a store (tests, one-off imports)."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._letters: dict[tuple[str, int], DeadLetter] = {}
        self._lock = threading.Lock()

    def record(
        self,
        *,
        processor: str,
        offset: int,
        event: Event | None,
        error: str,
        detail: str,
        attempts: int,
    ) -> DeadLetter:
        with self._lock:
            known = self._letters.get((processor, offset))
            letter = DeadLetter(
                id=known.id if known else len(self._letters) + 1,
                processor=processor,
                offset=offset,
                message_id=event.message_id if event is not None else None,
                error=error,
                detail=detail[-MAX_DETAIL_CHARS:],
                attempts=attempts + (known.attempts if known else 0),
                failed_at=self.clock.now(),
                event=event,
            )
            self._letters[(processor, offset)] = letter
            return letter

    def resolve(self, letter_id: int) -> None:
        with self._lock:
            for letter in self._letters.values():
                if letter.id == letter_id:
                    letter.resolved_at = self.clock.now()

    def list(
        self,
        *,
        processor: str | None = None,
        status: Status | None = None,
        letter_id: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[DeadLetter]:
        with self._lock:
            letters: Sequence[DeadLetter] = sorted(
                self._letters.values(), key=lambda letter: -letter.id
            )
        return [
            letter
            for letter in letters
            if (processor is None or letter.processor == processor)
            and (status is None or (status == "open") == letter.open)
            and (letter_id is None or letter.id == letter_id)
            and (before is None or letter.id < before)
        ][:limit]

    def open_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for letter in self.list(status="open", limit=len(self._letters)):
            counts[letter.processor] = counts.get(letter.processor, 0) + 1
        return counts
