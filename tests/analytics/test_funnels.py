"""Funnel counting: the live tracker against a brute-force reference on random streams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.analytics.funnels import Funnel, FunnelStep, FunnelTracker
from vigie.analytics.sessions import Hit

START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _matches(symbol: str, step: str) -> bool:
    return symbol == step


def _reference_reached(
    symbols: list[tuple[str, datetime]], steps: list[str], window: timedelta
) -> int:
    """The most steps done in order (strictly later hits) with the last within the window."""
    best = 0
    for k in range(1, len(steps) + 1):
        for chosen in combinations(range(len(symbols)), k):
            if all(_matches(symbols[i][0], steps[j]) for j, i in enumerate(chosen)) and (
                symbols[chosen[-1]][1] - symbols[chosen[0]][1] <= window
            ):
                best = k
                break
        if best < k:
            break
    return best


def _hit(visitor: str, symbol: str, at: datetime) -> Hit:
    if symbol.startswith("/"):
        return Hit(at=at, visitor_id=visitor, type="page", path=symbol)
    return Hit(at=at, visitor_id=visitor, type="track", event=symbol, properties={"ok": True})


def _step(symbol: str) -> FunnelStep:
    return FunnelStep(page=symbol) if symbol.startswith("/") else FunnelStep(event=symbol)


SYMBOLS = ["/land", "Added", "Paid", "Other"]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.sampled_from(SYMBOLS[:3]), min_size=2, max_size=4),
    stream=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(SYMBOLS),
            st.integers(min_value=0, max_value=40),
        ),
        max_size=14,
    ),
    window=st.integers(min_value=1, max_value=60),
)
def test_funnel_counts_match_brute_force(
    steps: list[str], stream: list[tuple[str, str, int]], window: int
) -> None:
    """Per-step counts equal a brute-force search for ordered steps within the window."""
    funnel = Funnel(name="f", steps=[_step(s) for s in steps], window_minutes=window)
    tracker = FunnelTracker(funnel)
    per_visitor: dict[str, list[tuple[str, datetime]]] = {}
    at = START
    for visitor, symbol, gap in stream:
        at += timedelta(minutes=gap)
        tracker.observe(visitor, _hit(visitor, symbol, at), "spring")
        per_visitor.setdefault(visitor, []).append((symbol, at))
    reached = {
        v: _reference_reached(s, steps, timedelta(minutes=window)) for v, s in per_visitor.items()
    }
    expected = [sum(1 for r in reached.values() if r > k) for k in range(len(steps))]
    assert tracker.counts == expected
    for visitor, n in reached.items():
        assert tracker.reached(visitor) == n
    report = tracker.report()
    assert [s.visitors for s in report.steps] == expected
    dropped = {v for s in report.steps for v in s.dropped_visitors}
    assert dropped == {v for v, n in reached.items() if 0 < n < len(steps)}
    if expected[0]:
        assert report.by_campaign == {"spring": expected}


def test_report_figures_filters_and_slots() -> None:
    """Conversion, drop-off, median time, property filters and the time-slot breakdown."""
    funnel = Funnel(
        name="buy",
        steps=[
            FunnelStep(page="/lunch*"),
            FunnelStep(event="Added", where={"ok": True}),
            FunnelStep(event="Paid"),
        ],
        slot_minutes=30,
    )
    tracker = FunnelTracker(funnel, timezone="Europe/Brussels")
    at = datetime(2026, 5, 4, 10, 5, tzinfo=UTC)  # 12:05 in Brussels
    tracker.observe("a", _hit("a", "/lunch-deal", at), "lunch")
    tracker.observe("a", _hit("a", "Added", at + timedelta(seconds=30)), "lunch")
    tracker.observe("a", _hit("a", "Paid", at + timedelta(seconds=90)), "lunch")
    tracker.observe("b", _hit("b", "/lunch", at + timedelta(minutes=40)), None)
    tracker.observe(
        "b", Hit(at=at + timedelta(minutes=41), visitor_id="b", type="track", event="Added"), None
    )
    report = tracker.report()
    assert [s.visitors for s in report.steps] == [2, 1, 1]
    assert report.steps[1].drop_off == 1 and report.steps[1].drop_off_rate == 0.5
    assert report.steps[1].dropped_visitors == ["b"]
    assert report.steps[1].median_seconds_from_previous == 30.0
    assert report.steps[2].median_seconds_from_previous == 60.0
    assert report.conversion == 0.5
    assert report.by_slot == {"12:00-12:30": [1, 1, 1], "12:30-13:00": [1, 0, 0]}
    assert report.by_campaign == {"(none)": [1, 0, 0], "lunch": [1, 1, 1]}
    assert [s.visitors for s in tracker.report(campaign="lunch").steps] == [1, 1, 1]


def test_merging_two_visitors_keeps_the_furthest_progress() -> None:
    """An identity merge counts the person once, at the furthest step either id reached."""
    funnel = Funnel(name="f", steps=[FunnelStep(page="/a"), FunnelStep(event="B")])
    tracker = FunnelTracker(funnel)
    tracker.observe("phone", _hit("phone", "/a", START), "x")
    tracker.observe("phone", _hit("phone", "B", START + timedelta(minutes=1)), "x")
    tracker.observe("user", _hit("user", "/a", START + timedelta(minutes=2)), None)
    assert tracker.counts == [2, 1]
    tracker.merge("phone", "user")
    assert tracker.counts == [1, 1]
    assert tracker.reached("user") == 2
    assert tracker.by_campaign["x"] == [1, 1]
