"""A funnel recomputed from scratch over the whole log, with Polars.

The same counts as the live `FunnelTracker`, computed column-wise: for step k, each matching
event is joined (as-of, per visitor, on log order) to the latest earlier event that validly
reached step k-1, carrying that chain's start; the chain holds when the event is within the
window of its start. Because those starts never decrease along the log, the latest earlier
event carries the best start, exactly as the live tracker keeps it. Used to rebuild or audit
the live figures and by `vigie bench funnel`; steps with `where` filters are live-only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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
    window = int(funnel.window.total_seconds() * 1_000_000)
    frame = frame.select(
        pl.col("visitor").hash().alias("v"), pl.col("event"), pl.col("ts"), pl.col("seq")
    ).filter(pl.col("event").is_in(names))
    reached = frame.filter(pl.col("event") == names[0]).select(
        "v", "seq", pl.col("ts").alias("start")
    ).sort("seq")
    counts = [reached.get_column("v").n_unique()]
    for name in names[1:]:
        matches = frame.filter(pl.col("event") == name).select("v", "seq", "ts").sort("seq")
        joined = matches.join_asof(
            reached,
            on="seq",
            by="v",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        reached = joined.filter(
            pl.col("start").is_not_null() & (pl.col("ts") - pl.col("start") <= window)
        ).select("v", "seq", "start")
        counts.append(reached.get_column("v").n_unique())
    return counts


def load_columns(engine: sa.Engine, events: Sequence[str]) -> pl.DataFrame:
    """The log's events named `events`, as columns (COPY on PostgreSQL, a cursor on SQLite)."""
    names = list(dict.fromkeys(events))
    if engine.dialect.name == "postgresql":
        return _load_postgres(engine, names)
    return _load_sqlite(engine, names)


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
            pl.DataFrame(rows, schema=COLUMNS, orient="row") for rows in _batches(cursor)
        ]
    finally:
        raw.close()
    return pl.concat(frames) if frames else pl.DataFrame(schema=COLUMNS)


def _batches(cursor: object, size: int = 500_000) -> Iterator[list[tuple[object, ...]]]:
    while rows := cursor.fetchmany(size):  # type: ignore[attr-defined]
        yield rows
