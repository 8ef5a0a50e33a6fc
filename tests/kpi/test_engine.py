"""The engine's batched path against a plain one-event-at-a-time reference."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.events import Event
from vigie.kpi.engine import RECENT, KpiEngine, to_us
from vigie.kpi.metrics import CompiledMetric, Metric, Term
from vigie.kpi.windows import Window

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NAMES = ["A", "B", "C"]
WINDOW: dict[str, Any] = {"window": "5m", "slide": "1m", "lateness": "1m", "by": ["campaign"]}

METRICS = [
    Metric(name="count", where={"event": "A"}, **WINDOW),
    Metric(name="count_filtered", where={"event": "A", "properties.plan": "pro"}, **WINDOW),
    Metric(name="sum", kind="sum", value="properties.amount", where={"event": "B"}, **WINDOW),
    Metric(name="average", kind="average", value="amount", where={"event": ["A", "B"]}, **WINDOW),
    Metric(
        name="p90", kind="percentile", value="properties.amount", where={"event": "C"}, **WINDOW
    ),
    Metric(name="distinct", kind="distinct", value="anonymous_id", **WINDOW),
    Metric(
        name="ratio",
        kind="ratio",
        numerator=Term(where={"event": "B"}),
        denominator=Term(where={"event": "A"}),
        **WINDOW,
    ),
    Metric(
        name="ratio_valued",
        kind="ratio",
        numerator=Term(where={"event": "B"}, value="properties.amount"),
        denominator=Term(where={"event": ["A", "B"]}),
        **WINDOW,
    ),
    Metric(name="ungrouped", where={"event": ["A", "C"]}, window="2m", lateness="30s"),
]

amounts = st.one_of(
    st.floats(min_value=0, max_value=100), st.integers(0, 100), st.just("12.5"), st.none()
)
raw_events = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.integers(-90, 600),  # seconds of event time: out of order and late ones too
        st.sampled_from(["c1", "c2", 7, None]),
        amounts,
        st.sampled_from(["pro", "free"]),
        st.sampled_from(["v1", "v2", "v3"]),
    ),
    max_size=120,
)


def _events(raw: list[tuple[str, int, Any, Any, str, str]]) -> list[Event]:
    events = []
    drift = 0
    for n, (name, seconds, campaign, amount, plan, visitor) in enumerate(raw):
        drift += 2  # event time moves on, so windows slide
        at = START + timedelta(seconds=drift + seconds // 4)
        properties: dict[str, Any] = {"amount": amount, "plan": plan}
        if campaign is not None:
            properties["campaign"] = campaign
        events.append(
            Event(
                message_id=f"m{n}",
                type="track",
                source="test",
                event=name,
                anonymous_id=visitor,
                timestamp=at,
                received_at=at,
                properties=properties,
                offset=n + 1,
            )
        )
    return events


def _reference(events: list[Event]) -> tuple[dict[tuple[str, str], Window], dict[Any, Any], int]:
    """Every event through every metric's generic `contribution`, one at a time."""
    windows: dict[tuple[str, str], Window] = {}
    recent: dict[tuple[str, str], deque[str]] = {}
    late = 0
    compiled = [CompiledMetric(m) for m in METRICS]
    for event in events:
        for metric in compiled:
            x = metric.contribution(event)
            if x is None:
                continue
            key = (metric.name, metric.group(event)[0])
            if key not in windows:
                windows[key] = Window(
                    metric.metric.statistic(),
                    size_us=metric.size_us,
                    slide_us=metric.slide_us,
                    lateness_us=metric.lateness_us,
                )
                recent[key] = deque(maxlen=RECENT)
            if windows[key].update(to_us(event.timestamp), x):
                recent[key].append(event.message_id)
            else:
                late += 1
    return windows, recent, late


@settings(max_examples=150, deadline=None)
@given(raw=raw_events, cuts=st.lists(st.integers(1, 40), max_size=10))
def test_batched_ingest_equals_one_event_at_a_time(
    raw: list[tuple[str, int, Any, Any, str, str]], cuts: list[int]
) -> None:
    """Fed in random batches, the engine ends with the per-event reference's windows."""
    events = _events(raw)
    engine = KpiEngine(METRICS)
    i = 0
    for cut in [*cuts, len(events)]:
        engine.ingest(events[i : i + cut])
        i += cut
    engine.ingest(events[i:])
    windows, recent, late = _reference(events)
    assert engine.late == late
    seen = {(name, key) for name, groups in engine.series.items() for key in groups}
    assert seen == set(windows)
    for (name, key), window in windows.items():
        series = engine.series[name][key]
        assert series.window.late == window.late
        assert series.window.head == window.head
        assert [e.message_id for e in series.recent] == list(recent[(name, key)])
        got, want = series.window.get(), window.get()
        if want is None:
            assert got is None
        else:
            assert got is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want))
