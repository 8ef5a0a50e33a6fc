"""`vigie bench funnel`: a 3-step funnel over generated events, live and from scratch.

Each store (a temporary SQLite file, a temporary PostgreSQL database) is filled with the
same generated log. Live: the analytics processor is fed the whole log by the processor
runner, as a server would (read from the store, decode, update the counters); the time
spent in the processor alone is reported too. From scratch: the funnel's events are read
back as columns (from the log's columnar copy and the tail past it; from the log alone as the
baseline) and counted with Polars. Both must give the same counts, checked here.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from vigie.analytics import AnalyticsConfig, AnalyticsProcessor
from vigie.analytics.columnar_funnels import funnel_counts, load_columns
from vigie.analytics.funnels import Funnel, FunnelStep
from vigie.events import Event
from vigie.events.event import encode_event
from vigie.log import ProcessorRunner, SqlEventLog
from vigie.log.columnar import SEGMENT_OFFSETS, ColumnarCopy
from vigie.store import connect, upgrade
from vigie.types import to_us

STEPS = ("Product Viewed", "Product Added", "Order Completed")
# Share of each event name, in percent; the rest are page scrolls outside the funnel.
MIX = ((STEPS[0], 40), (STEPS[1], 20), (STEPS[2], 6), ("Page Scrolled", 34))
START = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
SPAN = timedelta(hours=12)
FUNNEL = Funnel(name="bench", window_minutes=30, steps=[FunnelStep(event=name) for name in STEPS])
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
_INSERT_CHUNK = 20_000


def generate(events: int, *, seed: int = 7) -> pl.DataFrame:
    """`events` track events of `events // 20` visitors over 12 hours, in time order."""
    visitors = max(100, events // 20)
    index = pl.int_range(0, events, dtype=pl.Int64, eager=True)
    frame = pl.DataFrame({"i": index})
    cuts = []
    total = 0
    for _, share in MIX:
        total += share
        cuts.append(total)
    draw = (pl.col("i").hash(seed + 1) % 100).cast(pl.Int64)
    name: Any = pl.when(draw < cuts[0]).then(pl.lit(MIX[0][0]))
    for (label, _), cut in zip(MIX[1:], cuts[1:], strict=True):
        name = name.when(draw < cut).then(pl.lit(label))
    span_us = int(SPAN.total_seconds() * 1_000_000)
    return frame.select(
        ("v" + (pl.col("i").hash(seed) % visitors).cast(pl.String)).alias("visitor"),
        name.otherwise(pl.lit("Page Scrolled")).alias("event"),
        (to_us(START) + pl.col("i") * span_us // events).alias("ts"),
        (pl.col("i") + 1).alias("seq"),
    )


def fill(engine: sa.Engine, frame: pl.DataFrame) -> float:
    """Append the generated events to the store's log as real rows; returns the seconds."""
    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    ph = "%s" if postgres else "?"
    sql = (
        "INSERT INTO events (log_offset, source, message_id, type, event, anonymous_id,"
        f" user_id, timestamp_us, received_at_us, body) VALUES ({', '.join([ph] * 10)})"
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for chunk in frame.iter_slices(_INSERT_CHUNK):
        rows = []
        for visitor, name, ts, seq in chunk.iter_rows():
            at = epoch + timedelta(microseconds=ts)
            event = Event(
                message_id=f"b{seq}",
                type="track",
                source="bench",
                event=name,
                anonymous_id=visitor,
                timestamp=at,
                received_at=at,
                properties={"sku": "sku-bowl"},
            )
            rows.append(
                (seq, "bench", event.message_id, "track", name, visitor, None, ts, ts,
                 encode_event(event))
            )  # fmt: skip
        with engine.begin() as conn:
            if postgres:
                raw: Any = conn.connection.driver_connection
                with raw.cursor().copy(
                    "COPY events (log_offset, source, message_id, type, event, anonymous_id,"
                    " user_id, timestamp_us, received_at_us, body) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                conn.exec_driver_sql(sql, rows)
    return time.perf_counter() - started


class _Timed:
    """Wraps the processor to add up the time spent in it alone."""

    def __init__(self, inner: AnalyticsProcessor) -> None:
        self.inner = inner
        self.name = inner.name
        # The fields the processor declares, so that the runner decodes them as for the server.
        self.reads = inner.reads
        self.seconds = 0.0

    def process(self, events: Any) -> None:
        started = time.perf_counter()
        self.inner.process(events)
        self.seconds += time.perf_counter() - started


def measure(engine: sa.Engine, events: int) -> dict[str, Any]:
    """Live (runner over the stored log) and from-scratch figures on one store."""
    processor = AnalyticsProcessor(AnalyticsConfig(funnels=[FUNNEL]), engine=engine)
    timed = _Timed(processor)
    runner = ProcessorRunner(SqlEventLog(engine), [timed], batch_size=5000)
    started, cpu = time.perf_counter(), time.process_time()
    handed = runner.run_once()
    live_seconds = time.perf_counter() - started
    live_cpu = time.process_time() - cpu
    assert handed == events, (handed, events)
    live = processor.funnel_report(FUNNEL.name, dropped_limit=0)
    assert live is not None

    live_counts = [s.visitors for s in live.steps]
    return {
        "live_events_per_s": round(events / live_seconds),
        # On a shared machine the wall clock counts other people's work: CPU time does not.
        "live_events_per_cpu_s": round(events / live_cpu),
        "processor_only_events_per_s": round(events / timed.seconds),
        **measure_scratch(engine, events, live_counts),
        "counts": live_counts,
    }


def measure_scratch(engine: sa.Engine, events: int, live_counts: list[int]) -> dict[str, Any]:
    """From-scratch figures: the columnar copy written, then the funnel counted from it.

    The copy's segments are written as a server writes them while the log grows (timed
    apart: it is not part of a recomputation), leaving the last 50,000 to 150,000 events
    unarchived, as a server would between two segments; the recomputation reads the
    segments and that tail. The same recomputation from the log alone is the baseline.
    Fails when a count differs from the live one.
    """
    with tempfile.TemporaryDirectory(prefix="vigie-bench-columns-") as folder:
        copy = ColumnarCopy(engine, folder, segment_offsets=SEGMENT_OFFSETS)
        started, cpu = time.perf_counter(), time.process_time()
        # A server's tail is up to one segment plus the last seconds: leave 0.5 to 1.5.
        copy.catch_up(through=events - SEGMENT_OFFSETS // 2)
        archive_seconds = time.perf_counter() - started
        archive_cpu = time.process_time() - cpu
        covered = copy.covered()
        figures = _recompute(engine, copy, live_counts)
        baseline = _recompute(engine, None, live_counts)
    return {
        "scratch_seconds": figures["seconds"],
        "scratch_cpu_seconds": figures["cpu_seconds"],
        "scratch_load_seconds": figures["load_seconds"],
        "scratch_compute_seconds": figures["compute_seconds"],
        "scratch_tail_events": events - covered,
        "scratch_log_only_seconds": baseline["seconds"],
        "scratch_log_only_cpu_seconds": baseline["cpu_seconds"],
        "archive_seconds": round(archive_seconds, 3),
        "archive_events_per_cpu_s": round(covered / archive_cpu) if archive_cpu else 0,
    }


def _recompute(
    engine: sa.Engine, copy: ColumnarCopy | None, live_counts: list[int]
) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    frame = load_columns(engine, list(STEPS), copy=copy)
    loaded = time.perf_counter() - started
    counts = funnel_counts(frame, FUNNEL)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    if counts != live_counts:
        where = "the columnar copy" if copy else "the log"
        raise AssertionError(f"live {live_counts} and from-scratch {counts} ({where}) disagree")
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "load_seconds": round(loaded, 3),
        "compute_seconds": round(seconds - loaded, 3),
    }


def _postgres_database(admin_url: str) -> tuple[str, sa.Engine]:
    from vigie.store.engine import normalise_url

    admin = sa.create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"vigie_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return name, admin


def run_funnel_bench(
    *, events: int, stores: list[str], pg_url: str, console: Console
) -> dict[str, Any]:
    """Run the benchmark on each store; the headline figures are the slowest store's."""
    started = time.perf_counter()
    frame = generate(events)
    generated = time.perf_counter() - started
    console.print(f"generated {events:,} events of {frame['visitor'].n_unique():,} visitors "
                  f"in {generated:.1f} s")  # fmt: skip
    per_store: dict[str, dict[str, Any]] = {}
    for store in stores:
        if store == "sqlite":
            with tempfile.TemporaryDirectory(prefix="vigie-bench-") as folder:
                engine = connect(f"sqlite:///{Path(folder) / 'bench.db'}", synchronous="NORMAL")
                per_store["sqlite"] = _one(engine, frame, events, console, "sqlite")
                engine.dispose()
        elif store == "postgres":
            try:
                name, admin = _postgres_database(pg_url)
            except sa.exc.OperationalError as exc:
                console.print(f"[yellow]PostgreSQL skipped: {str(exc).splitlines()[0]}[/yellow]")
                continue
            url = sa.engine.make_url(pg_url).set(database=name)
            engine = connect(url.render_as_string(hide_password=False))
            try:
                per_store["postgresql"] = _one(engine, frame, events, console, "postgresql")
            finally:
                engine.dispose()
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
        else:
            raise ValueError(f"unknown store {store!r}: use sqlite or postgres")
    table = Table(title=f"vigie bench funnel — {events:,} events, 3 steps")
    for column in ("store", "fill s", "live ev/s", "live ev/cpu-s", "processor ev/s", "scratch s",
                   "(load s)", "(compute s)", "log only s", "archive s", "counts"):  # fmt: skip
        table.add_column(column, justify="right")
    for store, f in per_store.items():
        table.add_row(
            store,
            f"{f['fill_seconds']:.1f}",
            f"{f['live_events_per_s']:,}",
            f"{f['live_events_per_cpu_s']:,}",
            f"{f['processor_only_events_per_s']:,}",
            f"{f['scratch_seconds']:.2f}",
            f"{f['scratch_load_seconds']:.2f}",
            f"{f['scratch_compute_seconds']:.2f}",
            f"{f['scratch_log_only_seconds']:.2f}",
            f"{f['archive_seconds']:.2f}",
            " / ".join(str(c) for c in f["counts"]),
        )
    console.print(table)
    return {
        "events": events,
        "live_events_per_s": min((f["live_events_per_s"] for f in per_store.values()), default=0),
        "scratch_seconds": max((f["scratch_seconds"] for f in per_store.values()), default=0.0),
        "stores": per_store,
    }


def _one(
    engine: sa.Engine, frame: pl.DataFrame, events: int, console: Console, label: str
) -> dict[str, Any]:
    upgrade(engine)
    filled = fill(engine, frame)
    if engine.dialect.name == "postgresql":
        # The statistics autovacuum keeps on a running server: fresh from COPY, the planner
        # has none and answers each batch the runner reads with a scan of the whole table.
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE events")
    console.print(f"{label}: log filled in {filled:.1f} s")
    figures = measure(engine, events)
    figures["fill_seconds"] = round(filled, 2)
    return figures
