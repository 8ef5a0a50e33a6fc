"""A funnel recomputed from scratch over the whole log, with Polars.

The same counts as the live `FunnelTracker`, computed column-wise: the events are grouped by
visitor (in log order), and for step k each matching event gets, by a forward fill, the start
of the latest earlier event that validly reached step k-1; the chain holds when the event is
within the window of that start. Because those starts never decrease along the log, the
latest earlier one is the best, exactly as the live tracker keeps it. Used to rebuild or audit
the live figures and by `vigie bench funnel`; steps with `where` filters are live-only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl
import sqlalchemy as sa

from vigie.analytics.funnels import Funnel

COLUMNS = {"visitor": pl.String, "event": pl.String, "ts": pl.Int64, "seq": pl.Int64}


def funnel_counts(frame: pl.DataFrame, funnel: Funnel) -> list[int]:
    """Visitors reaching each step of `funnel` in `frame` (visitor, event, ts µs, seq)."""
    names = []
    for step in funnel.steps:
        if step.event is None or step.where:
            raise ValueError(
                f"funnel {funnel.name!r}: the from-scratch path handles event steps without "
                "`where` filters only"
            )
        names.append(step.event)
    if len(set(names)) != len(names):
        raise ValueError(f"funnel {funnel.name!r}: the from-scratch path needs distinct steps")
    window = int(funnel.window.total_seconds() * 1_000_000)
    # One pass over the log sorted by visitor then log order; a forward fill carries the
    # latest valid start of step k-1 down to each event of step k, within the visitor.
    # The frame is in log order; a stable sort on the visitor's hash keeps that order within
    # each visitor, and costs far less than sorting on two columns.
    data = frame.filter(pl.col("event").is_in(names)).select(
        pl.col("visitor").hash().alias("v"), "event", "ts", "seq"
    )
    if not data.get_column("seq").is_sorted():
        data = data.sort("seq")
    lazy = data.sort("v", maintain_order=True).lazy()
    lazy = lazy.with_columns(
        pl.when(pl.col("event") == names[0]).then(pl.col("ts")).alias("start_0")
    )
    for k in range(1, len(names)):
        previous = pl.col(f"start_{k - 1}")
        owner = pl.when(previous.is_not_null()).then(pl.col("v")).forward_fill()
        carried = previous.forward_fill()
        lazy = lazy.with_columns(
            pl.when(
                (pl.col("event") == names[k])
                & (owner == pl.col("v"))
                & (pl.col("ts") - carried <= window)
            )
            .then(carried)
            .alias(f"start_{k}")
        )
    counts = lazy.select(
        pl.col("v").filter(pl.col(f"start_{k}").is_not_null()).n_unique().alias(str(k))
        for k in range(len(names))
    ).collect()
    return [int(counts[0, k]) for k in range(len(names))]


def load_columns(engine: sa.Engine, events: Sequence[str]) -> pl.DataFrame:
    """The log's events named `events`, as columns, read without decoding any event body.

    PostgreSQL ships them with `COPY`; a SQLite file is read straight into Arrow by the ADBC
    SQLite driver (no Python object per row: four times faster than a cursor); an in-memory
    SQLite database, which only its own connection sees, through a cursor.
    """
    names = list(dict.fromkeys(events))
    if engine.dialect.name == "postgresql":
        return _load_postgres(engine, names)
    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        return _load_sqlite_arrow(database, names)
    return _load_sqlite(engine, names)


def _load_sqlite_arrow(database: str, names: list[str]) -> pl.DataFrame:
    marks = ", ".join("?" for _ in names)
    sql = (
        "SELECT COALESCE(anonymous_id, user_id), event, timestamp_us, log_offset FROM events"
        f" WHERE type = 'track' AND event IN ({marks}) ORDER BY log_offset"
    )
    with adbc_sqlite.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute(sql, names)
        table = cursor.fetch_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.rename(dict(zip(frame.columns, COLUMNS, strict=True))).cast(COLUMNS)  # type: ignore[arg-type]


def _load_postgres(engine: sa.Engine, names: list[str]) -> pl.DataFrame:
    quoted = ", ".join("'" + n.replace("'", "''") + "'" for n in names)
    sql = (
        "COPY (SELECT COALESCE(anonymous_id, user_id), event, timestamp_us, log_offset"
        f" FROM events WHERE type = 'track' AND event IN ({quoted}) ORDER BY log_offset)"
        " TO STDOUT (FORMAT csv)"
    )
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            chunks: list[bytes] = []
            with cursor.copy(sql) as copy:
                for block in copy:
                    chunks.append(bytes(block))
    finally:
        raw.close()
    return pl.read_csv(
        b"".join(chunks), has_header=False, new_columns=list(COLUMNS), schema=COLUMNS
    )


def _load_sqlite(engine: sa.Engine, names: list[str]) -> pl.DataFrame:
    marks = ", ".join("?" for _ in names)
    sql = (
        "SELECT COALESCE(anonymous_id, user_id), event, timestamp_us, log_offset FROM events"
        f" WHERE type = 'track' AND event IN ({marks}) ORDER BY log_offset"
    )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql, names)
        frames = [
            pl.DataFrame(dict(zip(COLUMNS, zip(*rows, strict=True), strict=True)), schema=COLUMNS)
            for rows in _batches(cursor)
        ]
    finally:
        raw.close()
    return pl.concat(frames) if frames else pl.DataFrame(schema=COLUMNS)


def _batches(cursor: object, size: int = 500_000) -> Iterator[list[tuple[object, ...]]]:
    while rows := cursor.fetchmany(size):  # type: ignore[attr-defined]
        yield rows
