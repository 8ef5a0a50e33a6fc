"""The `KpiEngine` protocol's two engines, the columnar fast path and the per-event reference,
against each other and against plain Python over the events."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.events import NOTICE_TYPE, Event, notice_event
from vigie.kpi import KpiEngine, Reading, make_engine, panes
from vigie.kpi.baselines import Calendar, Learning
from vigie.kpi.metrics import Metric, Term
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
# Two rules agreeing on a calendar (one history, three deep) and one on a calendar of its own.
BASELINES: dict[str, list[Learning]] = {
    "learning": [("daily", 3, "UTC"), ("daily", 2, "UTC"), ("daily", 3, "Europe/Paris")]
}
CALENDARS: list[Calendar] = [("daily", "UTC"), ("daily", "Europe/Paris")]

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
        if n % 9 == 5:  # one of Vigie's notices, under a customer event's name and fields
            event.type = NOTICE_TYPE
    return events


def _close(got: float | None, want: float | None) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


@pytest.mark.parametrize("reference", [False, True], ids=["columnar", "reference"])
def test_vigies_notices_count_in_no_metric(reference: bool) -> None:
    """A metric with no filter (and one naming the notice's event) counts only the customers'
    events of a stream holding Vigie's notices, whose times move no window either."""
    metrics = [
        Metric(name="everything", window="5m"),
        Metric(name="visitors", kind="distinct", value="anonymous_id", window="5m"),
        Metric(name="erasures", where={"event": "Subject Erased"}, window="5m"),
        Metric(name="by_source", by=["source"], window="5m"),
    ]
    engine = make_engine(metrics, reference=reference)
    customers = _events([(name, 0, "c1", 1.0, "pro", "v1") for name in NAMES])
    later = START + timedelta(hours=1)  # a notice's time would end the customers' window
    notices = [
        notice_event(source="privacy", name="Subject Erased", at=later),
        notice_event(source="vigie-rings", name="Ring Links Changed", at=later),
    ]
    engine.ingest([customers[0], notices[0], customers[1]])
    engine.ingest([notices[1]])
    engine.ingest([notices[0]])
    engine.ingest(customers[2:])
    assert engine.value("everything") == len(customers)
    assert engine.value("visitors") == 1
    assert engine.value("erasures") is None
    assert set(engine.groups("by_source")) == {"test"}
    assert engine.max_ts == max(to_us(e.timestamp) for e in customers)


# --- Against plain Python over the events -------------------------------------------------

US = timedelta(microseconds=1)
SIZE, SLIDE, LATENESS = 300_000_000, 60_000_000, 60_000_000  # `WINDOW`, in microseconds


def _name(event: Event) -> str | None:
    return event.event or event.name


def _amount(event: Event) -> float | None:
    amount = event.properties.get("amount")
    return None if amount is None else float(amount)


# Per metric of `METRICS`: what an event adds (None: nothing), and the value and weight of
# what the current window holds, written without the engines' code.
Plain = tuple[
    Callable[[Event], Any], Callable[[list[Any]], float | None], Callable[[list[Any]], float]
]
PLAIN: dict[str, Plain] = {
    "count": (lambda e: 1 if _name(e) == "A" else None, lambda xs: float(len(xs)), len),
    "count_filtered": (
        lambda e: 1 if _name(e) == "A" and e.properties["plan"] == "pro" else None,
        lambda xs: float(len(xs)),
        len,
    ),
    "sum": (lambda e: _amount(e) if _name(e) == "B" else None, math.fsum, len),
    "distinct": (lambda e: e.anonymous_id, lambda xs: float(len(set(xs))), lambda xs: len(set(xs))),
    "ratio": (
        lambda e: {"A": (0.0, 1.0), "B": (1.0, 0.0)}.get(_name(e) or ""),
        lambda xs: sum(a for a, _ in xs) / d if (d := sum(b for _, b in xs)) else None,
        lambda xs: sum(b for _, b in xs),
    ),
}


EPOCH_US = (START - datetime(1970, 1, 1, tzinfo=UTC)) // US
RING = 2 * SIZE // SLIDE + -(-LATENESS // SLIDE) + 1  # panes kept: 2 windows, lateness, 1


def _group(event: Event) -> str:
    campaign = event.properties.get("campaign")
    return "(none)" if campaign is None else str(campaign)


def _plain(
    events: list[Event], adds: Callable[[Event], Any]
) -> tuple[dict[str, tuple[list[Any], list[Any]]], int]:
    """Per campaign, what the current and the previous window hold, and how many events
    came late: an event is late when its minute is `RING` minutes or more behind the newest
    event time its campaign had seen when it arrived; any other event counts, whatever its
    arrival order."""
    newest: dict[str, int] = {}
    kept: dict[str, list[tuple[int, Any]]] = {}
    late = 0
    for event in events:
        x = adds(event)
        if x is None:
            continue
        group = _group(event)
        at = EPOCH_US + (event.timestamp - START) // US
        if group in newest and at // SLIDE <= newest[group] // SLIDE - RING:
            late += 1
            continue
        newest[group] = max(at, newest.get(group, at))
        kept.setdefault(group, []).append((at, x))
    out = {}
    for group, entries in kept.items():
        end = (newest[group] // SLIDE + 1) * SLIDE
        now = [x for at, x in entries if end - SIZE <= at < end]
        before = [x for at, x in entries if end - 2 * SIZE <= at < end - SIZE]
        out[group] = (now, before)
    return out, late


def _check_plain(engine: KpiEngine, events: list[Event]) -> None:
    """Every metric of `PLAIN` reads, per campaign, the value, weight and previous value
    plain Python finds, and its late count is plain Python's."""
    for name, (adds, value, weight) in PLAIN.items():
        windows, late = _plain(events, adds)
        assert engine.late_events()[name] == late, name
        readings = {r.group: r for r in engine.read(name, previous=True)}
        assert set(readings) == set(windows), name
        for group, (xs, before) in windows.items():
            assert _close(readings[group].value, value(xs)), (name, group)
            assert _close(readings[group].weight, float(weight(xs))), (name, group)
            assert _close(readings[group].previous, value(before)), (name, group)


def _feed(engine: KpiEngine, events: list[Event], cuts: list[int]) -> None:
    i = 0
    for cut in [*cuts, len(events)]:
        engine.ingest(events[i : i + cut])
        i += cut


@pytest.mark.parametrize("reference", [False, True], ids=["columnar", "reference"])
@settings(max_examples=100, deadline=None)
@given(raw=raw_events, cuts=st.lists(st.integers(1, 40), max_size=10))
def test_values_are_plain_arithmetic_over_the_window(
    reference: bool, raw: list[tuple[str, int, Any, Any, str, str]], cuts: list[int]
) -> None:
    """Fed in random batches, each engine reads per campaign the count, sum, distinct count
    and ratio (their weights and previous windows) that plain Python finds over the
    windows' events, and counts as late the events plain Python finds beyond the horizon."""
    events = _events(raw)
    engine = make_engine(METRICS, reference=reference)
    _feed(engine, events, cuts)
    _check_plain(engine, events)


@pytest.mark.parametrize("reference", [False, True], ids=["columnar", "reference"])
@settings(max_examples=100, deadline=None)
@given(
    raw=raw_events,
    spread=st.integers(1, (RING - 1) * SLIDE // 1_000_000),
    data=st.data(),
    cuts=st.lists(st.integers(1, 40), max_size=10),
)
def test_any_order_within_the_horizon_gives_the_batch_result(
    reference: bool,
    raw: list[tuple[str, int, Any, Any, str, str]],
    spread: int,
    data: st.DataObject,
    cuts: list[int],
) -> None:
    """Issue 14: events spread over less than the horizon, sent in any order and any
    batches, give every KPI (value, weight, previous window) of the batch recomputation over
    the same events in time order, and none is late."""
    events = _events(raw)
    for n, event in enumerate(events):  # squeezed into `spread` seconds
        event.timestamp = START + timedelta(seconds=(n * 7919) % spread)
    in_time = sorted(events, key=lambda e: e.timestamp)
    shuffled = data.draw(st.permutations(events))
    engine = make_engine(METRICS, reference=reference)
    _feed(engine, shuffled, cuts)
    for name, (adds, value, weight) in PLAIN.items():
        windows, late = _plain(in_time, adds)
        assert late == 0
        assert engine.late_events()[name] == 0, name
        readings = {r.group: r for r in engine.read(name, previous=True)}
        assert set(readings) == set(windows), name
        for group, (xs, before) in windows.items():
            assert _close(readings[group].value, value(xs)), (name, group)
            assert _close(readings[group].weight, float(weight(xs))), (name, group)
            assert _close(readings[group].previous, value(before)), (name, group)


@pytest.mark.parametrize("reference", [False, True], ids=["columnar", "reference"])
@settings(max_examples=100, deadline=None)
@given(raw=raw_events, data=st.data(), cuts=st.lists(st.integers(1, 40), max_size=10))
def test_beyond_the_horizon_counted_plus_late_is_sent(
    reference: bool,
    raw: list[tuple[str, int, Any, Any, str, str]],
    data: st.DataObject,
    cuts: list[int],
) -> None:
    """Issue 14: events spread over hours, in any order: per metric, the events counted in
    their windows plus those counted late are the events sent (none silently dropped)."""
    events = _events(raw)
    for n, event in enumerate(events):
        event.timestamp = START + timedelta(seconds=(n * 7919) % 10_800)
    arrival = data.draw(st.permutations(events))
    engine = make_engine(METRICS, reference=reference)
    _feed(engine, arrival, cuts)
    _check_plain(engine, arrival)
    for name, (adds, _, _) in PLAIN.items():
        sent = sum(1 for e in arrival if adds(e) is not None)
        # Each event either counted in its pane when it came (and `_check_plain` found the
        # windows holding exactly those) or counted late.
        assert _accepted(arrival, adds) + engine.late_events()[name] == sent, name


def _accepted(events: list[Event], adds: Callable[[Event], Any]) -> int:
    """How many of `events` were within their campaign's horizon when they came."""
    newest: dict[str, int] = {}
    accepted = 0
    for event in events:
        if adds(event) is None:
            continue
        group = _group(event)
        at = EPOCH_US + (event.timestamp - START) // US
        if group not in newest or at // SLIDE > newest[group] // SLIDE - RING:
            accepted += 1
            newest[group] = max(at, newest.get(group, at))
    return accepted


# --- The two engines against each other ----------------------------------------------------


def _engines(history: int) -> tuple[KpiEngine, KpiEngine]:
    """The columnar engine and the reference, over `SHAPES`."""
    return (
        make_engine(SHAPES, baselines=BASELINES, history=history),
        make_engine(SHAPES, baselines=BASELINES, history=history, reference=True),
    )


def _same_reading(got: Reading, want: Reading) -> None:
    assert (got.group, got.labels, got.start_us, got.end_us) == (
        want.group, want.labels, want.start_us, want.end_us
    )  # fmt: skip
    assert (got.offsets, got.visitors) == (want.offsets, want.visitors), want.group
    assert _close(got.value, want.value), want.group
    assert _close(got.previous, want.previous), want.group
    assert _close(got.weight, want.weight), want.group
    assert len(got.past) == len(want.past)
    assert all(_close(x, y) for x, y in zip(got.past, want.past, strict=True))


def _same(engine: KpiEngine, reference: KpiEngine) -> None:
    """Every group of every metric reads alike in both engines, and so do the snapshots."""
    assert (engine.late, engine.max_ts) == (reference.late, reference.max_ts)
    assert engine.late_events() == reference.late_events()
    for name in reference.metrics:
        assert list(engine.groups(name)) == list(reference.groups(name))
        for calendar in CALENDARS:
            got = engine.read(name, previous=True, recent=True, past=calendar)
            want = reference.read(name, previous=True, recent=True, past=calendar)
            assert len(got) == len(want)
            for reading, expected in zip(got, want, strict=True):
                _same_reading(reading, expected)
                assert engine.value(name, expected.group) == reading.value
    rows, expected_rows = engine.snapshot(), reference.snapshot()
    assert [(r["metric"], r["group"]) for r in rows] == [
        (r["metric"], r["group"]) for r in expected_rows
    ]
    for row, expected_row in zip(rows, expected_rows, strict=True):
        assert _close(row.pop("value"), expected_row.pop("value"))
        assert row == expected_row


@settings(max_examples=200, deadline=None)
@given(
    raw=wild_events,
    plan=steps,
    history=st.sampled_from([1, 2, 3]),
    pinned=st.sampled_from([2, 0]),
    pending=st.sampled_from([1, 3, panes.PENDING]),
)
def test_engines_agree_through_batches_time_and_evictions(
    raw: list[tuple[str, int, Any, Any, str, str]],
    plan: list[tuple[int, str, int]],
    history: int,
    pinned: int,
    pending: int,
) -> None:
    """Batches, time passing and evictions in any order leave every reading (value,
    previous window, weight, edges, baseline, latest events), the groups touched and moved,
    the late count and the snapshot as the per-event reference has them, whether the
    latest events stay in the batches they came in or are let go of early, and whether kept
    values wait for a read or are sorted into their rows after a few."""
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
    engine, reference = _engines(history)
    i = 0
    for cut, step, seconds in [*plan, (len(events), "", 0)]:
        batch = events[i : i + cut]
        assert dict(engine.ingest(batch)) == dict(reference.ingest(batch))
        i += cut
        if step and reference.max_ts is not None:
            now = reference.max_ts + seconds * 1_000_000
            watch = {m.name for m in SHAPES[::2]}
            assert engine.advance(now, watch) == reference.advance(now, watch)
            assert engine.moved == reference.moved
        if step == "evict":
            keep = {
                (name, group)
                for name in reference.metrics
                for j, group in enumerate(reference.groups(name))
                if j % 3 == 0
            }
            assert engine.evict_idle(keep) == reference.evict_idle(keep)
        _same(engine, reference)


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
    the per-event reference's readings and snapshots."""
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
        engine, reference = _engines(history)
        i = 0
        while i < len(events):
            cut = rng.randint(1, 60)
            batch, i = events[i : i + cut], i + cut
            assert dict(engine.ingest(batch)) == dict(reference.ingest(batch))
            step = rng.random()
            if step < 0.4 and reference.max_ts is not None:
                now = reference.max_ts + rng.randint(0, 900) * 1_000_000
                assert engine.advance(now) == reference.advance(now)
                if step < 0.15:
                    keep = {
                        (name, group)
                        for name in reference.metrics
                        for group in reference.groups(name)
                        if rng.random() < 0.2
                    }
                    assert engine.evict_idle(keep) == reference.evict_idle(keep)
            if rng.random() < 0.4:
                name = rng.choice(SHAPES).name
                groups = list(reference.groups(name))
                picked = [*rng.sample(groups, min(3, len(groups))), "no such group"]
                options = {
                    "previous": rng.random() < 0.5,
                    "recent": rng.random() < 0.5,
                    "past": rng.choice([None, *CALENDARS]),
                }
                got = engine.read(name, picked, **options)
                want = reference.read(name, picked, **options)
                assert [r.group for r in got] == [r.group for r in want] == picked[:-1]
                for reading, expected in zip(got, want, strict=True):
                    _same_reading(reading, expected)
            if rng.random() < 0.1:
                metric = rng.choice(SHAPES).name
                values = {r.group: r.value for r in reference.read(metric)}
                for row in engine.snapshot([metric]):
                    assert _close(row["value"], values[row["group"]])
        _same(engine, reference)
