"""The engine's batched path against a plain one-event-at-a-time reference."""

from __future__ import annotations

import random
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.events import Event
from vigie.kpi import panes
from vigie.kpi.baselines import Seasonality
from vigie.kpi.engine import RECENT, KpiEngine
from vigie.kpi.metrics import CompiledMetric, Metric, Term
from vigie.kpi.windows import Window
from vigie.types import to_us

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
        page = n % 7 == 3  # a page view: its name in `name`, no `event`
        events.append(
            Event(
                message_id=f"m{n}",
                type="page" if page else "track",
                source="test",
                event=None if page else name,
                name=name if page else None,
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


# Every kind of metric and window shape the tables take, plus ones that keep a `Window` per
# group (a baseline, a ring too long for a table), so both paths run side by side.
SHAPES: list[Metric] = [
    *METRICS,
    Metric(name="tumbling", kind="sum", value="amount", where={"event": "B"}, window="2m"),
    Metric(
        name="late_ok",
        kind="average",
        value="properties.amount",
        window="2m",
        slide="1m",
        lateness="5m",  # longer than the window: late events land in panes behind it
        by=["campaign"],
    ),
    Metric(name="visitors", kind="distinct", value="visitor", where={"event": "C"}, **WINDOW),
    Metric(name="by_two", where={"event": "B"}, window="3m", slide="30s", by=["campaign", "plan"]),
    Metric(name="by_visitor", kind="ratio", numerator=Term(where={"event": "A"}),
           denominator=Term(where={"event": ["A", "B", "C"]}), window="1m", by=["anonymous_id"]),
    Metric(name="p50_context", kind="percentile", percentile=50, value="amount",
           where={"event": ["A", "C"]}, by=["page"], window="4m", slide="2m", lateness="0s"),
    Metric(name="long_ring", window="1d", slide="1m", by=["campaign"]),
    Metric(name="learning", where={"event": "A"}, window="2m", slide="1m", by=["campaign"]),
]  # fmt: skip
BASELINES: dict[str, tuple[Seasonality, int]] = {"learning": ("daily", 3)}

wild_events = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.integers(-200, 900),
        st.sampled_from(["c1", "c2", 7, None, ["x"], True]),
        st.one_of(
            amounts,
            st.just("abc"),
            st.sampled_from(["nan", "inf", "-inf"]),
            st.just(True),
            st.floats(-5, 5),
        ),
        st.sampled_from(["pro", "free"]),
        st.sampled_from(["v1", "v2", "v3", "v4"]),
    ),
    max_size=150,
)
# Between batches: nothing, time passing (`advance`, seconds after the newest event), or
# forgetting idle groups (`evict_idle`) with time passing first.
steps = st.lists(
    st.tuples(st.integers(1, 40), st.sampled_from(["", "advance", "evict"]), st.integers(0, 400)),
    max_size=12,
)


def _wild(raw: list[tuple[str, int, Any, Any, str, str]]) -> list[Event]:
    events = _events(raw)
    for n, event in enumerate(events):
        event.context = {"page": {"path": f"/p{n % 3}"}} if n % 4 else {}
    return events


class Reference:
    """Every metric of `SHAPES` as one `Window` per group, fed one event at a time."""

    def __init__(self, history: int) -> None:
        self.compiled = [CompiledMetric(m) for m in SHAPES]
        self.history = history
        self.windows: dict[tuple[str, str], Window] = {}
        self.recent: dict[tuple[str, str], deque[str]] = {}
        self.labels: dict[tuple[str, str], dict[str, str]] = {}
        self.late = 0

    def feed(self, events: list[Event]) -> dict[str, set[str]]:
        """Feed `events`; returns the groups they touched per metric (late or not)."""
        touched: dict[str, set[str]] = {}
        for event in events:
            for metric in self.compiled:
                x = metric.contribution(event)
                if x is None:
                    continue
                group, labels = metric.group(event)
                touched.setdefault(metric.name, set()).add(group)
                key = (metric.name, group)
                if key not in self.windows:
                    self.labels[key] = labels
                    self.windows[key] = Window(
                        metric.metric.statistic(),
                        size_us=metric.size_us,
                        slide_us=metric.slide_us,
                        lateness_us=metric.lateness_us,
                        history=self.history,
                    )
                    self.recent[key] = deque(maxlen=RECENT)
                if self.windows[key].update(to_us(event.timestamp), x):
                    self.recent[key].append(event.message_id)
                else:
                    self.late += 1
        return touched

    def advance(self, now_us: int) -> None:
        for window in self.windows.values():
            window.advance(now_us)

    def evict(self, keep: set[tuple[str, str]]) -> set[tuple[str, str]]:
        idle = {
            key
            for key, window in self.windows.items()
            if not window.panes and key not in keep and key[0] not in BASELINES
        }
        for key in idle:
            del self.windows[key]
            del self.recent[key]
        return idle


def _close(got: float | None, want: float | None) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


def _weight(stat: Any) -> float:
    """What the `change` rule reads as the evidence behind a value."""
    for attr in ("den", "n"):
        if hasattr(stat, attr):
            return float(getattr(stat, attr))
    return float(len(getattr(stat, "values", getattr(stat, "seen", ()))))


def _same(engine: KpiEngine, reference: Reference) -> None:
    assert engine.late == reference.late
    seen = [(name, key) for name, groups in engine.series.items() for key in groups]
    order = [m.name for m in SHAPES]
    assert seen == sorted(reference.windows, key=lambda k: order.index(k[0]))  # stable sort
    assert [len(engine.groups(m.name)) for m in SHAPES] == [
        sum(1 for name, _ in reference.windows if name == m.name) for m in SHAPES
    ]
    rows = engine.snapshot()
    assert [(row["metric"], row["group"]) for row in rows] == seen
    snapshot = {(row["metric"], row["group"]): row for row in rows}
    for (name, key), window in reference.windows.items():
        series = engine.series[name][key]
        got = series.window
        per_event = name in ("long_ring", "learning")  # the others live in tables
        assert isinstance(got, Window) == per_event
        assert (got.late, got.head, got.start_us, got.end_us) == (
            window.late,
            window.head,
            window.start_us,
            window.end_us,
        ), (name, key)
        assert [e.message_id for e in series.recent] == list(reference.recent[(name, key)])
        assert _close(got.get(), window.get()), (name, key)
        assert _close(got.previous(), window.previous()), (name, key)
        assert _close(got.previous(2), window.previous(2)), (name, key)
        assert abs(_weight(got.current) - _weight(window.current)) <= 1e-9
        row = snapshot[(name, key)]
        assert _close(row["value"], window.get())
        assert (row["window_start_us"], row["window_end_us"]) == (window.start_us, window.end_us)
        assert series.labels == reference.labels[(name, key)] == row["labels"]
        assert key in engine.groups(name) and engine.value(name, key) == got.get()


@settings(max_examples=200, deadline=None)
@given(
    raw=wild_events,
    plan=steps,
    history=st.sampled_from([1, 2, 3]),
    pinned=st.sampled_from([2, 0]),
    pending=st.sampled_from([1, 3, panes.PENDING]),
)
def test_tables_equal_windows_fed_one_event_at_a_time(
    raw: list[tuple[str, int, Any, Any, str, str]],
    plan: list[tuple[int, str, int]],
    history: int,
    pinned: int,
    pending: int,
) -> None:
    """Batches, time passing and evictions in any order leave every series (value, previous
    windows, edges, late count, latest events, snapshot) as per-event `Window`s would,
    whether the latest events stay in the batches they came in or are let go of early, and
    whether kept values wait for a read or are sorted into their rows after a few."""
    with patch.multiple(panes, PENDING=pending):
        if not pinned:
            _compare(raw, plan, history)
            return
        with patch.multiple(panes, PINNED=pinned, PINNED_PER_SERIES=0):
            _compare(raw, plan, history)


def _compare(
    raw: list[tuple[str, int, Any, Any, str, str]], plan: list[tuple[int, str, int]], history: int
) -> None:
    events = _wild(raw)
    engine = KpiEngine(SHAPES, baselines=BASELINES, history=history)
    reference = Reference(history)
    i = 0
    for cut, step, seconds in [*plan, (len(events), "", 0)]:
        touched = engine.ingest(events[i : i + cut])
        assert touched == reference.feed(events[i : i + cut])
        i += cut
        if step and engine.max_ts is not None:
            now = engine.max_ts + seconds * 1_000_000
            engine.advance(now)
            reference.advance(now)
        if step == "evict":
            keep = {key for j, key in enumerate(sorted(reference.windows)) if j % 3 == 0}
            idle = reference.evict(keep)
            assert engine.evict_idle(keep) == len(idle)
        _same(engine, reference)


def _read_series(engine: KpiEngine, reference: Reference, name: str, key: str) -> None:
    """One series read every way, against the per-event reference."""
    want = reference.windows[(name, key)]
    series = engine.series[name][key]
    got = series.window
    assert (got.late, got.head, got.start_us, got.end_us) == (
        want.late, want.head, want.start_us, want.end_us
    )  # fmt: skip
    assert _close(got.get(), want.get())
    assert all(_close(got.previous(back), want.previous(back)) for back in (1, 2))
    assert [e.message_id for e in series.recent] == list(reference.recent[(name, key)])
    assert abs(_weight(got.current) - _weight(want.current)) < 1e-9


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    pending=st.sampled_from([1, 3, 50, panes.PENDING]),
    pinned=st.sampled_from([(1, 0), (50, 0), (panes.PINNED, panes.PINNED_PER_SERIES)]),
)
def test_sparse_reads_see_what_the_reference_sees(
    seed: int, pending: int, pinned: tuple[int, int]
) -> None:
    """Reading now and then, as the rules do: values waiting to be sorted into their rows,
    last events found along held records, time passing and evictions between reads all give
    the per-event reference's values, previous windows, edges, last events and snapshots."""
    rng = random.Random(seed)
    raw = [
        (
            rng.choice(NAMES),
            rng.randint(-200, 900) + (rng.random() < 0.05) * rng.randint(0, 20000),
            rng.choice([f"c{rng.randrange(40)}", 7, None, True]),
            rng.choice([rng.uniform(0, 100), rng.randint(0, 100), "12.5", None, "abc"]),
            rng.choice(["pro", "free"]),
            rng.choice(["v1", "v2", "v3", "v4", "v5"]),
        )
        for _ in range(rng.randint(50, 400))
    ]
    events = _wild(raw)
    history = rng.choice([1, 2, 3])
    with patch.multiple(panes, PENDING=pending, PINNED=pinned[0], PINNED_PER_SERIES=pinned[1]):
        engine = KpiEngine(SHAPES, baselines=BASELINES, history=history)
        reference = Reference(history)
        i = 0
        while i < len(events):
            cut = rng.randint(1, 60)
            batch, i = events[i : i + cut], i + cut
            assert engine.ingest(batch) == reference.feed(batch)
            step = rng.random()
            if step < 0.4 and engine.max_ts is not None:
                now = engine.max_ts + rng.randint(0, 900) * 1_000_000
                engine.advance(now)
                reference.advance(now)
                if step < 0.15:
                    keep = {k for k in sorted(reference.windows) if rng.random() < 0.2}
                    assert engine.evict_idle(keep) == len(reference.evict(keep))
            if reference.windows and rng.random() < 0.4:
                for key in rng.sample(sorted(reference.windows), min(3, len(reference.windows))):
                    _read_series(engine, reference, *key)
            if rng.random() < 0.1:
                metric = rng.choice(SHAPES).name
                for row in engine.snapshot([metric]):
                    assert _close(row["value"], reference.windows[(metric, row["group"])].get())
        assert engine.late == reference.late
        assert sorted((n, k) for n, g in engine.series.items() for k in g) == sorted(
            reference.windows
        )
        for key in reference.windows:
            _read_series(engine, reference, *key)
