"""`vigie bench kpi`: events per second through the KPI engine alone.

20 metrics (counts, sums, averages, distinct counts, ratios, percentiles) over 10 event
names, each grouped by campaign (1,000 groups), on 15-minute windows sliding by 1 minute, with
5,000 events per second of event time (so every window slides during the run).
The baseline, in the same run, is the least any engine must do: one pass over the same
events counting them per (event name, campaign) in a dict. With `--shuffle SECONDS` the
same events are fed a second time in an arrival order shuffled within that many seconds.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from vigie.events import Event
from vigie.kpi import KpiEngine, make_engine
from vigie.kpi.metrics import Metric, Term

NAMES = [f"Event {i}" for i in range(10)]


def bench_metrics() -> list[Metric]:
    """The 20 metrics of the benchmark, two per event name."""
    window: dict[str, Any] = {"window": "15m", "slide": "1m", "lateness": "1m", "by": ["campaign"]}
    kinds: list[dict[str, Any]] = [
        {"kind": "count"},
        {"kind": "sum", "value": "properties.amount"},
        {"kind": "average", "value": "properties.amount"},
        {"kind": "distinct", "value": "anonymous_id"},
        {"kind": "percentile", "value": "properties.amount", "percentile": 90},
    ]
    metrics: list[Metric] = []
    for i, name in enumerate(NAMES):
        metrics.append(Metric(name=f"m{i}a", where={"event": name}, **window, **kinds[i % 5]))
        if i % 2:
            metrics.append(
                Metric(
                    name=f"m{i}b",
                    kind="ratio",
                    numerator=Term(where={"event": name}),
                    denominator=Term(where={"event": NAMES[i - 1]}),
                    **window,
                )
            )
        else:
            metrics.append(Metric(name=f"m{i}b", where={"event": name}, **window, kind="count"))
    return metrics


def bench_events(count: int, groups: int, *, seed: int = 1) -> list[Event]:
    """`count` events over `groups` campaigns, mostly in order, some late (1 in 20)."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    events: list[Event] = []
    for n in range(count):
        at = start + timedelta(microseconds=n * 200)  # 5,000 events per second of event time
        if rng.random() < 0.05:
            at -= timedelta(seconds=rng.uniform(0, 50))
        events.append(
            Event(
                message_id=f"b{n}",
                type="track",
                source="bench",
                event=NAMES[n % len(NAMES)],
                anonymous_id=f"v{rng.randrange(50_000)}",
                timestamp=at,
                received_at=at,
                properties={"campaign": f"c{rng.randrange(groups)}", "amount": rng.random() * 100},
                offset=n + 1,
            )
        )
    return events


def baseline(events: list[Event]) -> float:
    """Events per CPU second of the dict-counting pass."""
    counts: dict[tuple[str | None, Any], int] = {}
    started = time.process_time()
    for event in events:
        key = (event.event, event.properties.get("campaign"))
        counts[key] = counts.get(key, 0) + 1
    return len(events) / (time.process_time() - started)


def shuffled(events: list[Event], seconds: float, *, seed: int = 2) -> list[Event]:
    """`events` in an arrival order that strays up to `seconds` from event time: each event
    arrives at its event time plus a random delay of up to `seconds`."""
    rng = random.Random(seed)
    delay_us = seconds * 1e6
    keyed = [(e.timestamp.timestamp() * 1e6 + rng.random() * delay_us, e) for e in events]
    keyed.sort(key=lambda pair: pair[0])
    return [e for _, e in keyed]


def _feed(stream: list[Event], metrics: list[Metric], batch: int) -> tuple[float, float, KpiEngine]:
    """CPU and wall seconds to feed `stream` in batches of `batch` to a fresh engine."""
    engine = make_engine(metrics)
    # CPU time of this process: the figure is per core, whatever else the machine runs.
    started = time.process_time()
    wall = time.perf_counter()
    for i in range(0, len(stream), batch):
        engine.ingest(stream[i : i + batch])
    return time.process_time() - started, time.perf_counter() - wall, engine


def run_kpi_bench(
    *, events: int, groups: int, batch: int, shuffle: float = 0.0, console: Console
) -> dict[str, Any]:
    """Feed the engine `events` in batches of `batch` as they come (mostly in order), and
    with `shuffle` also in an order shuffled within `shuffle` seconds; returns the figures
    (the in-order run's at the top, the shuffled run's under `shuffled`)."""
    metrics = bench_metrics()
    stream = bench_events(events, groups)
    console.print(
        f"kpi: {len(metrics)} metrics, {groups} groups, 15m windows sliding by 1m, "
        f"{events} events in batches of {batch}"
        + (f", in order and shuffled within {shuffle:g} s" if shuffle else "")
    )
    base = baseline(stream)
    orders = [("in_order", stream)]
    if shuffle:
        orders.append(("shuffled", shuffled(stream, shuffle)))
    runs: dict[str, dict[str, Any]] = {}
    for order, arriving in orders:
        elapsed, wall, engine = _feed(arriving, metrics, batch)
        rate = len(arriving) / elapsed
        runs[order] = {
            "events_per_s": round(rate),
            "baseline_events_per_s": round(base),
            "ratio": round(rate / base, 3),
            "wall_events_per_s": round(len(arriving) / wall),
            "metrics": len(metrics),
            "series": sum(len(engine.groups(name)) for name in engine.metrics),
            "late_events": engine.late,
            "events": len(arriving),
        }
    figures: dict[str, Any] = dict(runs["in_order"])
    if shuffle:
        figures["shuffle_s"] = shuffle
        figures["shuffled"] = runs["shuffled"]
    console.print(figures)
    return figures
