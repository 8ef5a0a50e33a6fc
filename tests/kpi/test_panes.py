"""Pane tables: exact lateness on any batch, and group numbers renumbered after evictions."""

from __future__ import annotations

import sys
from datetime import timedelta
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.events import Event
from vigie.kpi import panes
from vigie.kpi.engine import ColumnarEngine
from vigie.kpi.metrics import Metric
from vigie.kpi.panes import NONE, _late, stable_order

from .test_readings import START


@settings(max_examples=300)
@given(
    entries=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 100)), max_size=60),
    prev=st.lists(st.one_of(st.none(), st.integers(0, 100)), min_size=5, max_size=5),
    lateness=st.integers(0, 30),
)
def test_late_matches_a_running_maximum_per_series(
    entries: list[tuple[int, int]], prev: list[int | None], lateness: int
) -> None:
    """An entry is late exactly when it is older than its series' newest time so far
    (before the batch or earlier in it) minus the lateness."""
    newest = list(prev)
    expected = []
    for row, ts in entries:
        expected.append(newest[row] is not None and ts < newest[row] - lateness)  # type: ignore[operator]
        newest[row] = ts if newest[row] is None else max(newest[row], ts)  # type: ignore[type-var]
    rows = np.array([r for r, _ in entries], np.int64)
    ts = np.array([t for _, t in entries], np.int64)
    before = np.array([NONE if p is None else p for p in prev], np.int64)[rows]
    got = _late(rows, ts, before, lateness)
    assert got.tolist() == expected


@given(
    rows=st.lists(st.integers(0, 70_000), max_size=80),
    bound=st.sampled_from([1 << 16, 1 << 20]),
)
def test_stable_order_sorts_rows_keeping_equal_ones_in_arrival_order(
    rows: list[int], bound: int
) -> None:
    """The order sorts the rows, ties in their original order, with or without the 16-bit
    radix sort."""
    rows = [r % bound for r in rows]
    order = stable_order(np.array(rows, np.int64), bound).tolist()
    assert order == sorted(range(len(rows)), key=lambda i: rows[i])


def test_evicted_groups_are_renumbered_and_come_back_fresh() -> None:
    """After thousands of groups go idle and are forgotten, old and new groups count from
    zero again, and the groups still alive keep their values."""
    metric = Metric(name="visits", by=["anonymous_id"], window="1m", lateness="0s")
    engine = ColumnarEngine([metric])

    def visit(n: int, visitor: str, second: int) -> Event:
        at = START + timedelta(seconds=second)
        return Event(
            message_id=f"m{n}", type="track", source="test", event="Page Viewed",
            anonymous_id=visitor, timestamp=at, received_at=at,
        )  # fmt: skip

    engine.ingest([visit(n, f"v{n}", 0) for n in range(3000)])
    engine.ingest([visit(3000 + n, "keep", 30) for n in range(3)])
    engine.advance(engine.max_ts + 10 * 1_000_000)  # type: ignore[operator]
    assert engine.evict_idle(set()) == 0  # still inside their window
    engine.ingest([visit(4000 + n, f"k{n % 3}", 200) for n in range(6)])
    engine.ingest([visit(4100 + n, f"k{n}", 201) for n in range(3)])
    engine.ingest([visit(4200, "keep", 202)])
    engine.advance(engine.max_ts)  # type: ignore[arg-type]
    assert engine.evict_idle(set()) == 3000
    assert set(engine.groups("visits")) == {"keep", "k0", "k1", "k2"}
    engine.ingest([visit(5000 + n, f"v{n % 5}", 210) for n in range(10)])
    engine.ingest([visit(6000, "keep", 215), visit(6001, "new", 215), visit(6002, "k2", 216)])
    values = {key: engine.value("visits", key) for key in engine.groups("visits")}
    assert values == {
        "keep": 2.0, "new": 1.0, "k0": 3.0, "k1": 3.0, "k2": 4.0,
        **{f"v{n}": 2.0 for n in range(5)},
    }  # fmt: skip
    assert [e.message_id for e in engine.groups("visits")["keep"].recent] == [
        "m3000", "m3001", "m3002", "m4200", "m6000",
    ]  # fmt: skip
    assert [e.message_id for e in engine.groups("visits")["k2"].recent] == [
        "m4002", "m4005", "m4102", "m6002",
    ]  # fmt: skip


def test_table_groups_read_like_a_dict() -> None:
    """A table metric's groups compare, test membership and fail on unknown keys like a
    dict of the same series."""
    metric = Metric(name="visits", by=["anonymous_id"], window="1m")
    engine = ColumnarEngine([metric])
    assert engine.groups("visits") == {}
    at = START
    engine.ingest(
        [
            Event(
                message_id=f"m{n}", type="track", source="test", event="Page Viewed",
                anonymous_id=visitor, timestamp=at, received_at=at,
            )
            for n, visitor in enumerate(["b", "a", "b"])
        ]
    )  # fmt: skip
    groups = engine.groups("visits")
    assert list(groups) == ["b", "a"] and len(groups) == 2
    assert "a" in groups and "c" not in groups and 7 not in groups
    assert groups == {"b": groups["b"], "a": groups["a"]}
    assert groups["b"] is groups["b"] and groups["b"].labels == {"anonymous_id": "b"}
    assert groups.get("c") is None and engine.value("visits", "c") is None


def test_forgotten_events_are_not_kept_alive_by_their_batch() -> None:
    """Once a table lets go of old batches, an event no series remembers any more is held by
    nothing in the engine, even though another event of its batch is still remembered."""

    def visit(n: int, visitor: str) -> Event:
        at = START + timedelta(seconds=n)
        return Event(
            message_id=f"m{n}", type="track", source="test", event="Page Viewed",
            anonymous_id=visitor, timestamp=at, received_at=at,
        )  # fmt: skip

    with patch.multiple(panes, PINNED=10, PINNED_PER_SERIES=0):
        engine = ColumnarEngine([Metric(name="visits", by=["anonymous_id"], window="1h")])
        first = [visit(0, "a"), visit(1, "b"), visit(2, "b")]
        control = [visit(3, "c")]
        engine.ingest(first)
        engine.ingest([visit(10 + n, "b") for n in range(8)])  # 11 events pinned: let go
        assert [e.message_id for e in engine.groups("visits")["a"].recent] == ["m0"]
        assert sys.getrefcount(first[2]) == sys.getrefcount(control[0])


def test_a_reused_row_starts_without_the_values_of_the_series_it_held() -> None:
    """Values a distinct count kept for a group, still waiting to be sorted into its row
    when the group is forgotten, do not count in the group that takes the row next."""
    metric = Metric(name="visitors", kind="distinct", value="anonymous_id", by=["campaign"],
                    window="1m", lateness="0s")  # fmt: skip
    engine = ColumnarEngine([metric])

    def visit(n: int, campaign: str, second: int) -> Event:
        at = START + timedelta(seconds=second)
        return Event(
            message_id=f"m{n}", type="track", source="test", event="Page Viewed",
            anonymous_id=f"v{n}", timestamp=at, received_at=at, properties={"campaign": campaign},
        )  # fmt: skip

    engine.ingest([visit(0, "a", 600)])
    engine.advance(engine.max_ts + 3600 * 1_000_000)  # type: ignore[operator]
    assert engine.evict_idle(set()) == 1
    engine.ingest([visit(1, "b", 610)])  # the same pane as the forgotten group's value
    assert engine.value("visitors", "b") == 1.0


def _visit(n: int, visitor: str, second: int | None = None) -> Event:
    at = START + timedelta(seconds=n if second is None else second)
    return Event(
        message_id=f"m{n}", type="track", source="test", event="Page Viewed",
        anonymous_id=visitor, timestamp=at, received_at=at,
    )  # fmt: skip


def _messages(engine: ColumnarEngine, group: str) -> list[str | None]:
    return [e.message_id for e in engine.groups("visits")[group].recent]


def test_events_let_go_are_kept_only_while_among_their_series_last() -> None:
    """When old batches are let go, a series keeps only those of their events still among
    its last five, and drops them once five newer ones came."""
    with patch.multiple(panes, PINNED=1, PINNED_PER_SERIES=0):
        engine = ColumnarEngine([Metric(name="visits", by=["anonymous_id"], window="1h")])
        first = [_visit(n, "a") for n in range(6)]
        control = [_visit(99, "c")]
        engine.ingest(first)
        engine.ingest([_visit(6, "a"), _visit(7, "a"), _visit(8, "c")])  # lets the first go
        assert _messages(engine, "a") == ["m3", "m4", "m5", "m6", "m7"]
        assert sys.getrefcount(first[2]) == sys.getrefcount(control[0])
        assert sys.getrefcount(first[3]) > sys.getrefcount(control[0])
        engine.ingest([_visit(n, "a") for n in range(9, 14)])  # lets the second go
        assert _messages(engine, "a") == ["m9", "m10", "m11", "m12", "m13"]
        assert sys.getrefcount(first[3]) == sys.getrefcount(control[0])


def test_a_reused_row_does_not_remember_the_events_of_the_series_it_held() -> None:
    """A group taking the row of a forgotten one starts with no latest events, even when the
    batch that held the forgotten group's events is let go after."""
    with patch.multiple(panes, PINNED=1, PINNED_PER_SERIES=0):
        engine = ColumnarEngine([Metric(name="visits", by=["anonymous_id"], window="1m")])
        engine.ingest([_visit(0, "a"), _visit(1, "a")])
        engine.advance(engine.max_ts + 3600 * 1_000_000)  # type: ignore[operator]
        assert engine.evict_idle(set()) == 1
        engine.ingest([_visit(2, "b", 4000)])  # takes a's row and lets a's batch go
        assert _messages(engine, "b") == ["m2"]
