"""The processors' progress on `/metrics`, read from the runner at scrape time: events
processed, how far behind the log each is (in events and in seconds), dead letters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigie.clock import Clock
from vigie.log.eventlog import EventLog
from vigie.log.runner import ProcessorRunner
from vigie.types import to_us


class Lag(msgspec.Struct, kw_only=True):
    """How far behind the log a processor is: events not processed yet, and how long the
    oldest of them has been waiting (0 when it is up to date)."""

    events: int
    seconds: float


def lags(runner: ProcessorRunner, clock: Clock) -> dict[str, Lag]:
    """Each processor's lag now (raises when the log cannot be read)."""
    positions = {p.name: runner.position(p.name) for p in runner.processors}
    return lags_at(runner.log, positions, clock)


def lags_at(log: EventLog, positions: Mapping[str, int], clock: Clock) -> dict[str, Lag]:
    """The lag of processors at `positions` (the next offset each has to process), such as
    the saved checkpoints of processors that run in another process."""
    last = log.last_offset()
    now_us = to_us(clock.now())
    out: dict[str, Lag] = {}
    for name, position in positions.items():
        behind = max(0, last - position + 1)
        seconds = 0.0
        if behind:
            oldest = log.read(position, 1)
            if oldest:
                seconds = max(0.0, (now_us - to_us(oldest[0].received_at)) / 1e6)
        out[name] = Lag(events=behind, seconds=seconds)
    return out


class ProgressCollector(Collector):
    """`vigie_processed_events_total`, `vigie_processor_lag_events`,
    `vigie_processor_lag_seconds`, `vigie_dead_letters_total` and `vigie_dead_letters_open`,
    each by processor."""

    def __init__(self, runner: ProcessorRunner, *, clock: Clock) -> None:
        self.runner = runner
        self.clock = clock

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        runner = self.runner
        names = [p.name for p in runner.processors]
        processed = CounterMetricFamily(
            "vigie_processed_events",
            "Events handed to each processor and processed (since the server started).",
            labels=["processor"],
        )
        for name in names:
            processed.add_metric([name], runner.processed.get(name, 0))
        yield processed
        lag_events = GaugeMetricFamily(
            "vigie_processor_lag_events",
            "Events in the log a processor has not processed yet.",
            labels=["processor"],
        )
        lag_seconds = GaugeMetricFamily(
            "vigie_processor_lag_seconds",
            "How long the oldest event a processor has not processed yet has been in the log "
            "(0 when it is up to date).",
            labels=["processor"],
        )
        try:
            for name, lag in lags(runner, self.clock).items():
                lag_events.add_metric([name], lag.events)
                lag_seconds.add_metric([name], lag.seconds)
        except Exception:
            pass  # the log is away: the scrape shows what it can
        yield lag_events
        yield lag_seconds
        total = CounterMetricFamily(
            "vigie_dead_letters",
            "Events a processor set aside after its retries (since the server started).",
            labels=["processor"],
        )
        for name in names:
            total.add_metric([name], runner.dead_lettered.get(name, 0))
        yield total
        open_now = GaugeMetricFamily(
            "vigie_dead_letters_open",
            "Dead letters not replayed successfully yet (GET /api/dead-letters).",
            labels=["processor"],
        )
        try:
            counts = runner.dead_letters.open_counts()
        except Exception:
            counts = {}
        for name in sorted(set(names) | set(counts)):
            open_now.add_metric([name], counts.get(name, 0))
        yield open_now
