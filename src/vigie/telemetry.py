"""Prometheus metrics, one registry per running app (nothing global, so tests can run many).

The ingest counters live here; the parts add collectors read at scrape time (the
processors' progress in `vigie.log.progress`, the playbooks', the webhooks').
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class Telemetry:
    """The counters and histograms Vigie exposes on `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_accepted = Counter(
            "vigie_events_accepted",
            "Events the ingestion edges appended to the log, by source: Segment's /v1/ and "
            "PostHog's routes, the sensors (HTTP and MQTT) and business sources' /hooks/. "
            "What Vigie's own parts append (the CRM API, the chat, imports, notices) is not "
            "counted here.",
            ["source"],
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "vigie_events_duplicate",
            "Events the ingestion edges acknowledged but did not append again (same source "
            "and messageId).",
            ["source"],
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "vigie_events_rejected",
            "Messages or requests the ingestion edges refused, by reason; each is also kept "
            "with its reason in the rejected table (GET /api/rejected), bounded per source "
            "(vigie_rejected_dropped_total).",
            ["reason"],
            registry=self.registry,
        )
        self.ingest_deferred = Counter(
            "vigie_ingest_deferred",
            "Ingest requests answered 503 or 429 (Retry-After): ingest.max_in_flight requests "
            "were being worked on, the writer or the processors lag, or a source is over its "
            "rate limit; nothing of them was stored.",
            ["endpoint"],
            registry=self.registry,
        )
        self.bodies_refused = Counter(
            "vigie_http_bodies_refused",
            "Request bodies refused (413) for passing their route family's limit, before the "
            "app read them (a body without Content-Length: as soon as it passes the limit).",
            ["family"],
            registry=self.registry,
        )
        self.ingest_batch_seconds = Histogram(
            "vigie_ingest_batch_seconds",
            "Time from a request's arrival to its events being committed.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class LateEventsCollector(Collector):
    """`vigie_kpi_late_events_total{metric}`: per KPI, the events that came beyond their
    group's horizon (older than the oldest window kept) and are counted in no window."""

    def __init__(self, late_events: Callable[[], Mapping[str, int]]) -> None:
        self.late_events = late_events

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vigie_kpi_late_events",
            "Events beyond their KPI window's horizon, counted in no window, by metric.",
            labels=["metric"],
        )
        for metric, count in sorted(self.late_events().items()):
            family.add_metric([metric], count)
        yield family


class RejectedDroppedCollector(Collector):
    """`vigie_rejected_dropped_total{source}`: rejected input deleted, oldest first, to keep
    the rejected table bounded per source (`(none)`: requests without a known write key)."""

    def __init__(self, dropped: Callable[[], Mapping[str, int]]) -> None:
        self.dropped = dropped

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vigie_rejected_dropped",
            "Rejected messages dropped, oldest first, to keep the rejected table bounded.",
            labels=["source"],
        )
        for source, count in sorted(self.dropped().items()):
            family.add_metric([source], count)
        yield family
