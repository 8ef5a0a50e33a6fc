"""A columnar copy of the SQL log: Parquet segments of every column but the event bodies.

A row store answers "every `Product Viewed` since the log began" by reading every row with
its body; a from-scratch recomputation wants four columns of millions of events. The copy
keeps the log's columns (offset, source, type, event name, ids, timestamps) in Parquet
segments, each covering a fixed range of offsets, written once the whole range is committed.
Readers take the segments and read only what is past them from the log itself, so a result
always covers the whole log, exactly.

Crash safety: a segment is written to a hidden temporary file, flushed to disk, then renamed
to its final name, and that name is the record of its offset range and of the event at its
end (`<first>-<last>-<mark>.parquet`).
The rename is atomic: a segment is whole or absent. A crash before it leaves a temporary file
(removed later) and the range is written again on the next catch-up; nothing is counted twice,
because the next segment starts right after the last one named. A segment is a function of
the log alone (offsets are never reused), so writing one again gives the same rows.

Readers use the chain of segments starting at offset 1 whose last events the log holds: a
missing segment (a deleted folder, a lost file) or one copied from another log (a database
deleted and started again next to its old copy) makes a read slower, never wrong, and the
next catch-up writes it again.

Where segments live: next to a SQLite file (`vigie.db` → `vigie.db-columns/`), or in the
folder configured with `VIGIE_COLUMNS_DIR` (PostgreSQL has no file to sit next to). The log
must be the SQL store: with NATS JetStream the events are not in the `events` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing as mp
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import sqlalchemy as sa

logger = logging.getLogger(__name__)
COLUMNS_SECONDS = 10.0

COLUMNS: dict[str, Any] = {
    "log_offset": pl.Int64,
    "source": pl.String,
    "type": pl.String,
    "event": pl.String,
    "anonymous_id": pl.String,
    "user_id": pl.String,
    "timestamp_us": pl.Int64,
    "received_at_us": pl.Int64,
}
SEGMENT_OFFSETS = 100_000
_NAME = re.compile(r"^(\d{20})-(\d{20})-([0-9a-f]{12})\.parquet$")
_TEMPORARY_PREFIX = ".writing-"
_STALE_SECONDS = 3600.0
_NO_EVENT = "000000000000"
_IN_CHUNK = 900
# Offsets read from the store in one query, and rows fetched from a SQLite cursor at a time.
_READ_OFFSETS = 1_000_000
_FETCH_ROWS = 100_000


class Segment(NamedTuple):
    """One Parquet file holding the log's rows with offsets `first` to `last`, inclusive.

    `mark` names the event at offset `last` (a hash of its source and message id): a log
    started again from scratch next to an old copy does not pass for the log it copied.
    """

    first: int
    last: int
    mark: str
    path: Path


class ColumnarCopy:
    """The Parquet segments of one SQL log, in `folder`; see the module's docstring."""

    def __init__(
        self, engine: sa.Engine, folder: str | Path, *, segment_offsets: int = SEGMENT_OFFSETS
    ) -> None:
        if segment_offsets < 1:
            raise ValueError(f"segment_offsets must be at least 1, not {segment_offsets}")
        self.engine = engine
        self.folder = Path(folder)
        self.segment_offsets = segment_offsets

    @classmethod
    def for_store(
        cls, engine: sa.Engine, folder: str | Path | None = None, **options: Any
    ) -> ColumnarCopy | None:
        """The copy of `engine`'s log in `folder`, or next to its SQLite file by default.

        None when there is nowhere to keep it: PostgreSQL without a folder configured, or an
        in-memory SQLite database.
        """
        if folder is None:
            database = engine.url.database
            if engine.dialect.name != "sqlite" or not _is_sqlite_file(database):
                return None
            folder = Path(str(database)).with_name(Path(str(database)).name + "-columns")
        return cls(engine, folder, **options)

    def segments(self) -> list[Segment]:
        """The chain of segments from offset 1 on, each right after the previous and ending
        on the event the log holds at that offset (a segment of another log is not used).
        """
        files = self._files()
        if not files:
            return []
        marks = _marks(self.engine, sorted({s.last for s in files}))
        chain: list[Segment] = []
        expected = 1
        for segment in files:
            if segment.first == expected and marks.get(segment.last, _NO_EVENT) == segment.mark:
                chain.append(segment)
                expected = segment.last + 1
            elif segment.first > expected:
                break
        return chain

    def covered(self) -> int:
        """The last offset the segments cover (0 when there are none)."""
        chain = self.segments()
        return chain[-1].last if chain else 0

    def catch_up(self, *, through: int | None = None) -> int:
        """Write every segment whose range is now fully committed; returns how many.

        Offsets are committed in order, so a range that ends at or below the log's last
        offset will never gain a row. Run it as often as convenient (the server does so in
        the background); it does nothing when no segment is complete. `through` stops it at
        that offset (the benchmark leaves a tail that way).
        """
        self._remove_stale_temporaries()
        chain = self.segments()
        first = chain[-1].last + 1 if chain else 1
        last_offset = _last_offset(self.engine)
        if through is not None:
            last_offset = min(last_offset, through)
        written = 0
        while first + self.segment_offsets - 1 <= last_offset:
            last = first + self.segment_offsets - 1
            frame = read_columns(self.engine, after=first - 1, through=last)
            mark = _marks(self.engine, [last]).get(last, _NO_EVENT)
            self._write(frame, first, last, mark)
            written += 1
            first = last + 1
        self._remove_unused(_last_offset(self.engine))
        return written

    def scan(self, chain: Sequence[Segment]) -> pl.LazyFrame:
        """The rows of the segments `chain` (from `segments()`), as a lazy frame."""
        if not chain:
            return pl.LazyFrame(schema=COLUMNS)
        return pl.scan_parquet([s.path for s in chain], schema=COLUMNS)

    def rewrite_ids(self, replacements: dict[str, str]) -> int:
        """Rewrite the segments holding any of `replacements`' keys as an anonymous or user id,
        with those ids replaced (a data subject's erasure); returns how many were rewritten.

        A segment keeps its name: its range and its last event are the same, only ids change.
        """
        if not replacements:
            return 0
        keys = list(replacements)
        rewritten = 0
        for segment in self._files():
            frame = pl.read_parquet(segment.path)
            hit = frame.filter(
                pl.col("anonymous_id").is_in(keys) | pl.col("user_id").is_in(keys)
            ).height
            if not hit:
                continue
            frame = frame.with_columns(
                pl.col(name).replace(replacements) for name in ("anonymous_id", "user_id")
            )
            self._write(frame, segment.first, segment.last, segment.mark)
            rewritten += 1
        return rewritten

    def _write(self, frame: pl.DataFrame, first: int, last: int, mark: str) -> None:
        path = self.folder / f"{first:020d}-{last:020d}-{mark}.parquet"
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=_TEMPORARY_PREFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                frame.write_parquet(out, compression="zstd", statistics=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_folder(self.folder)

    def _files(self) -> list[Segment]:
        if not self.folder.is_dir():
            return []
        found = []
        for entry in os.scandir(self.folder):
            match = _NAME.match(entry.name)
            if match:
                found.append(Segment(int(match[1]), int(match[2]), match[3], Path(entry.path)))
        return sorted(found)

    def _remove_unused(self, last_offset: int) -> None:
        """Remove segments no chain will use: superseded (written before the segment size
        changed), past the end of the log, or ending on an event the log does not hold
        (copied from an earlier log in the same place)."""
        chain = self.segments()
        kept = {s.path for s in chain}
        covered = chain[-1].last if chain else 0
        files = [s for s in self._files() if s.path not in kept]
        marks = _marks(self.engine, sorted({s.last for s in files if s.last <= last_offset}))
        for segment in files:
            if (
                segment.first <= covered
                or segment.last > last_offset
                or marks.get(segment.last, _NO_EVENT) != segment.mark
            ):
                with contextlib.suppress(OSError):
                    segment.path.unlink()

    def _remove_stale_temporaries(self) -> None:
        """Remove what a crashed writer left (not a writer at work in another process)."""
        if not self.folder.is_dir():
            return
        now = time.time()
        for entry in os.scandir(self.folder):
            if entry.name.startswith(_TEMPORARY_PREFIX):
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > _STALE_SECONDS:
                        os.unlink(entry.path)


def read_columns(
    engine: sa.Engine,
    *,
    after: int = 0,
    through: int | None = None,
    columns: Sequence[str] = tuple(COLUMNS),
    type: str | None = None,
    events: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows of the log with `after` < offset <= `through`, as columns, in log order.

    `type` and `events` keep only the rows of that type and those event names. No body is
    read or decoded: PostgreSQL ships the columns with `COPY`, SQLite through a cursor.
    """
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown log columns {sorted(unknown)}: use some of {list(COLUMNS)}")
    schema = {name: COLUMNS[name] for name in columns}
    if events is not None and not events:
        return pl.DataFrame(schema=schema)
    if through is None:
        through = _last_offset(engine)
    frames = []
    start = after
    while start < through:
        end = min(start + _READ_OFFSETS, through)
        frame = _read_range(engine, start, end, list(columns), type, list(events or []))
        frames.append(frame.cast(schema))  # type: ignore[arg-type]
        start = end
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _read_range(
    engine: sa.Engine,
    after: int,
    through: int,
    columns: list[str],
    type: str | None,
    events: list[str],
) -> pl.DataFrame:
    postgres = engine.dialect.name == "postgresql"
    ph = "%s" if postgres else "?"
    where = [f"log_offset > {ph}", f"log_offset <= {ph}"]
    params: list[Any] = [after, through]
    if type is not None:
        where.append(f"type = {ph}")
        params.append(type)
    if events:
        where.append(f"event IN ({', '.join([ph] * len(events))})")
        params.extend(events)
    sql = f"SELECT {', '.join(columns)} FROM events WHERE {' AND '.join(where)} ORDER BY log_offset"
    schema = {name: COLUMNS[name] for name in columns}
    if postgres:
        return _read_postgres(engine, sql, params, schema)
    return _read_sqlite(engine, sql, params, schema)


def _read_postgres(
    engine: sa.Engine, sql: str, params: list[Any], schema: dict[str, Any]
) -> pl.DataFrame:
    # Quoting every value tells an empty string ("") from a NULL (nothing) in the CSV.
    copy_sql = f"COPY ({sql}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)"
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            chunks: list[bytes] = []
            with cursor.copy(copy_sql, params) as copy:
                for block in copy:
                    chunks.append(bytes(block))
    finally:
        raw.close()
    if not chunks:
        return pl.DataFrame(schema=schema)
    return pl.read_csv(b"".join(chunks), has_header=False, new_columns=list(schema), schema=schema)


def start_worker(server: int) -> None:
    """For a worker process of the server whose pid is `server`: Ctrl-C in a terminal is the
    server's to handle (it stops the worker), and the worker ends with the server, even one
    killed outright, before the worker had started or after (it cannot tell the worker so:
    a worker left behind would sleep for ever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def follow_the_server() -> None:
        while os.getppid() == server:
            time.sleep(1.0)
        os._exit(0)  # a segment under way is left as a temporary file, removed later

    threading.Thread(target=follow_the_server, name="vigie-follow-server", daemon=True).start()


def catch_up_in_process(url: str, folder: str, segment_offsets: int = SEGMENT_OFFSETS) -> int:
    """`ColumnarCopy.catch_up` on an engine of its own, for a worker process: the server
    copies the log there, so that building a segment (about a second of Python work per
    100,000 events) does not take the interpreter lock from the requests and the rules."""
    from vigie.store import connect

    engine = connect(url)
    try:
        return ColumnarCopy(engine, folder, segment_offsets=segment_offsets).catch_up()
    finally:
        engine.dispose()


def _read_sqlite(
    engine: sa.Engine, sql: str, params: list[Any], schema: dict[str, Any]
) -> pl.DataFrame:
    # Through the engine's own driver: a second SQLite library in the process (the ADBC
    # driver links its own) would drop this process's locks on the file when it closes it,
    # and delete the write-ahead log under the server's connections (sqlite.org/howtocorrupt).
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql, params)
        frames = []
        while rows := cursor.fetchmany(_FETCH_ROWS):
            # Row-wise construction: transposing the tuples in Python costs twice as much.
            frames.append(pl.DataFrame(rows, schema=schema, orient="row"))
    finally:
        raw.close()
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _mark(source: str, message_id: str) -> str:
    return hashlib.blake2b(f"{source}\0{message_id}".encode(), digest_size=6).hexdigest()


def _marks(engine: sa.Engine, offsets: list[int]) -> dict[int, str]:
    """The mark of the event at each of `offsets` that the log holds."""
    ph = "%s" if engine.dialect.name == "postgresql" else "?"
    found: dict[int, str] = {}
    with engine.connect().execution_options(sqlite_immediate=False) as conn:
        for start in range(0, len(offsets), _IN_CHUNK):
            chunk = offsets[start : start + _IN_CHUNK]
            sql = (
                "SELECT log_offset, source, message_id FROM events"
                f" WHERE log_offset IN ({', '.join([ph] * len(chunk))})"
            )
            for offset, source, message_id in conn.exec_driver_sql(sql, tuple(chunk)):
                found[int(offset)] = _mark(source, message_id)
    return found


def _last_offset(engine: sa.Engine) -> int:
    with engine.connect().execution_options(sqlite_immediate=False) as conn:
        value = conn.exec_driver_sql("SELECT MAX(log_offset) FROM events").scalar()
    return int(value or 0)


def _is_sqlite_file(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry is data of the folder)."""
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class ColumnarWorker:
    """Keeps a `ColumnarCopy` up to date as the log grows, in a worker process of its own
    (`catch_up_in_process`): in a thread, each segment held the interpreter lock for most of
    a second, and requests and alerts waited meanwhile."""

    name = "columnar-copy"

    def __init__(self, columns: ColumnarCopy, *, seconds: float = COLUMNS_SECONDS) -> None:
        self.columns = columns
        self.seconds = seconds
        self._pool: ProcessPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="vigie-columns")

    async def run(self) -> None:
        """Catch up, then again every `seconds`, until cancelled."""
        url = self.columns.engine.url.render_as_string(hide_password=False)
        loop = asyncio.get_running_loop()
        while True:
            if self._pool is None:
                # Spawned, not forked: a fork would copy this process's threads' locks
                # mid-use. The worker leaves Ctrl-C to the server and ends with it.
                self._pool = ProcessPoolExecutor(
                    1,
                    mp_context=mp.get_context("spawn"),
                    initializer=start_worker,
                    initargs=(os.getpid(),),
                )
            try:
                await loop.run_in_executor(
                    self._pool,
                    catch_up_in_process,
                    url,
                    str(self.columns.folder),
                    self.columns.segment_offsets,
                )
            except BrokenProcessPool:
                # The worker died (killed, out of memory): the next round starts another.
                logger.exception("the columnar copy's worker died; starting another")
                pool, self._pool = self._pool, None
                pool.shutdown(wait=False)
            except Exception:
                logger.exception("writing the log's columnar copy failed; will retry")
            await asyncio.sleep(self.seconds)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool is not None:
            # Cancelling the task does not stop a segment under way in the worker: wait for
            # it, so that no copy outlives the server.
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
            self._pool = None
