"""Rule conditions against batch references on random streams (late, out of order, edges)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.events import Event
from vigie.kpi import KpiEngine, make_engine
from vigie.kpi.metrics import Metric
from vigie.rules.conditions import AbsenceTracker, Finding, SlaTracker, change, combine, threshold
from vigie.rules.definitions import Rule

EPOCH = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SIZE, SLIDE, LATENESS = 60, 20, 30  # seconds
RING = 2 * SIZE // SLIDE + -(-LATENESS // SLIDE) + 1  # slides kept behind the newest

# (second of event time, group)
Streams = st.lists(st.tuples(st.integers(0, 400), st.sampled_from("abc")), max_size=80)


def _event(n: int, second: int, group: str, name: str = "Order Completed") -> Event:
    at = EPOCH + timedelta(seconds=second)
    return Event(
        message_id=f"m{n}",
        type="track",
        source="test",
        event=name,
        timestamp=at,
        received_at=at,
        properties={"campaign": group, "ticket_id": f"t{n}", "queue": group},
        offset=n + 1,
    )


def _engine(stream: list[tuple[int, str]]) -> KpiEngine:
    metric = Metric(
        name="orders",
        kind="count",
        where={"event": "Order Completed"},
        by=["campaign"],
        window=f"{SIZE}s",
        slide=f"{SLIDE}s",
        lateness=f"{LATENESS}s",
    )
    engine = make_engine([metric])
    engine.ingest([_event(n, s, g) for n, (s, g) in enumerate(stream)])
    return engine


def _windows(stream: list[tuple[int, str]]) -> dict[str, tuple[int, int]]:
    """Per group, the batch counts of the current and the previous window (an event
    beyond the horizon, `RING` slides behind its group's newest, left out)."""
    out: dict[str, tuple[int, int]] = {}
    for group in {g for _, g in stream}:
        kept: list[int] = []
        latest: int | None = None
        for second, g in stream:
            if g != group or (latest is not None and second // SLIDE <= latest // SLIDE - RING):
                continue
            latest = second if latest is None else max(latest, second)
            kept.append(second)
        assert latest is not None
        end = (latest // SLIDE + 1) * SLIDE
        now = sum(1 for s in kept if end - SIZE <= s < end)
        before = sum(1 for s in kept if end - 2 * SIZE <= s < end - SIZE)
        out[group] = (now, before)
    return out


@settings(max_examples=150)
@given(stream=Streams, limit=st.integers(0, 6))
def test_threshold_matches_batch(stream: list[tuple[int, str]], limit: int) -> None:
    """A threshold holds for exactly the groups whose batch window count crosses it."""
    rule = Rule(name="busy", kind="threshold", metric="orders", op=">", value=limit)
    outcome = threshold(rule, _engine(stream), None)
    expected = {g for g, (now, _) in _windows(stream).items() if now > limit}
    assert set(outcome.findings) == expected
    assert outcome.evaluated == {g for _, g in stream}


@settings(max_examples=150)
@given(stream=Streams, drop=st.sampled_from([0.2, 0.3, 0.5]))
def test_relative_drop_matches_batch(stream: list[tuple[int, str]], drop: float) -> None:
    """A drop against the previous window holds where the batch counts fell by `drop` or more."""
    rule = Rule(name="fall", kind="change", metric="orders", drop=drop)
    outcome = change(rule, _engine(stream), None)
    expected = {
        g
        for g, (now, before) in _windows(stream).items()
        if before > 0 and (now - before) / before <= -drop
    }
    assert set(outcome.findings) == expected
    for group in expected:
        _, before = _windows(stream)[group]
        assert outcome.findings[group].values["reference"] == before


def test_sla_breach_after_the_deadline_only() -> None:
    """A ticket without a first response breaches at `within`, not before, and a reply closes it."""
    rule = Rule(
        name="sla",
        kind="sla",
        open={"event": "Ticket Created"},
        close={"event": "Ticket First Response"},
        within="15m",
        by=["queue"],
    )
    tracker = SlaTracker(rule)
    tracker.feed(
        [_event(1, 0, "orders", "Ticket Created"), _event(2, 0, "billing", "Ticket Created")]
    )
    minute = 60_000_000
    start = int(EPOCH.timestamp() * 1e6)
    assert tracker.evaluate(start + 15 * minute).findings == {}
    late = tracker.evaluate(start + 16 * minute)
    assert set(late.findings) == {"orders", "billing"}
    reply = _event(2, 960, "billing", "Ticket First Response")
    reply.properties["ticket_id"] = "t2"
    tracker.feed([reply])
    after = tracker.evaluate(start + 17 * minute)
    assert set(after.findings) == {"orders"}
    assert "billing" in after.evaluated


def test_absence_fires_after_silence_on_processing_time() -> None:
    """No matching event for longer than `silence` holds; a new arrival clears it."""
    rule = Rule(name="quiet", kind="absence", where={"source": "test"}, silence="10m")
    start = int(EPOCH.timestamp() * 1e6)
    tracker = AbsenceTracker(rule, started_us=start)
    minute = 60_000_000
    assert tracker.evaluate(start + 10 * minute).findings == {}
    assert set(tracker.evaluate(start + 11 * minute).findings) == {"*"}
    tracker.feed([_event(1, 11 * 60, "a")])
    assert tracker.evaluate(start + 12 * minute).findings == {}


def test_composite_all_and_any() -> None:
    """`all` holds where every listed rule holds, `any` where one does."""
    a = {"x": Finding("x", {"campaign": "x"}, {"v": 1}), "y": Finding("y", {}, {"v": 2})}
    b = {"y": Finding("y", {}, {"v": 3})}
    both = combine(Rule(name="both", kind="all", rules=["a", "b"]), [a, b], {"x", "y"})
    either = combine(Rule(name="either", kind="any", rules=["a", "b"]), [a, b], {"x", "y"})
    assert set(both.findings) == {"y"}
    assert both.findings["y"].values == {"rules": {"a": {"v": 2}, "b": {"v": 3}}}
    assert set(either.findings) == {"x", "y"}
