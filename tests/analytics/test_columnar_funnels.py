"""The from-scratch (Polars) funnel agrees with the live tracker, and reads both stores."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vigie.analytics import columnar_funnels
from vigie.analytics.columnar_funnels import COLUMNS, funnel_counts, load_columns
from vigie.analytics.funnels import Funnel, FunnelStep, FunnelTracker
from vigie.analytics.sessions import Hit
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.log.columnar import ColumnarCopy
from vigie.types import to_us

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
NAMES = ["Viewed", "Added", "Paid", "Noise"]
FUNNEL = Funnel(
    name="buy",
    window_minutes=30,
    steps=[FunnelStep(event="Viewed"), FunnelStep(event="Added"), FunnelStep(event="Paid")],
)

stream = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.sampled_from(NAMES),
        st.integers(min_value=0, max_value=20),
    ),
    max_size=80,
)


# Events at any time in a two-hour span, logged in any order (a phone's batch sent late).
unordered = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(NAMES),
        st.integers(min_value=0, max_value=120),
    ),
    max_size=60,
)


def _rows(raw: list[tuple[str, str, int]]) -> list[tuple[str, str, datetime]]:
    at, out = T0, []
    for visitor, name, gap in raw:
        at += timedelta(minutes=gap)
        out.append((visitor, name, at))
    return out


def _rows_at(raw: list[tuple[str, str, int]]) -> list[tuple[str, str, datetime]]:
    return [(visitor, name, T0 + timedelta(minutes=minute)) for visitor, name, minute in raw]


def _frame(rows: list[tuple[str, str, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "visitor": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "ts": [to_us(r[2]) for r in rows],
            "seq": list(range(1, len(rows) + 1)),
        },
        schema=COLUMNS,
    )


def _live(rows: list[tuple[str, str, datetime]]) -> list[int]:
    tracker = FunnelTracker(FUNNEL)
    for visitor, name, at in rows:
        tracker.observe(visitor, Hit(at=at, visitor_id=visitor, type="track", event=name))
    return tracker.counts


@settings(max_examples=150, deadline=None)
@given(stream)
def test_scratch_counts_equal_live_counts(raw: list[tuple[str, str, int]]) -> None:
    """On random streams the column-wise recomputation gives the live tracker's counts."""
    rows = _rows(raw)
    assert funnel_counts(_frame(rows), FUNNEL) == _live(rows)


@settings(max_examples=300, deadline=None)
@given(unordered)
# The start carried to "Paid" is 112, the highest, not 63, the latest.
@example([("b", "Viewed", 112), ("b", "Added", 90), ("b", "Viewed", 63), ("b", "Added", 50),
          ("b", "Paid", 106)])  # fmt: skip
def test_scratch_counts_equal_live_counts_out_of_time_order(
    raw: list[tuple[str, str, int]],
) -> None:
    """Timestamps going back in log order give the live counts too (the highest start wins)."""
    rows = _rows_at(raw)
    assert funnel_counts(_frame(rows), FUNNEL) == _live(rows)


@settings(max_examples=60, deadline=None)
@given(unordered)
def test_visitors_sharing_a_hash_are_still_told_apart(
    raw: list[tuple[str, str, int]],
) -> None:
    """When every hash seed clashes, visitors are grouped on their ids themselves."""
    rows = _rows_at(raw)
    real = columnar_funnels._hash_collides
    columnar_funnels._hash_collides = lambda grouped: True  # type: ignore[assignment]
    try:
        assert funnel_counts(_frame(rows), FUNNEL) == _live(rows)
    finally:
        columnar_funnels._hash_collides = real


def test_a_hash_clash_is_seen() -> None:
    """Two second hashes in one run of equal first hashes are a clash; one is not."""
    clash = pl.DataFrame({"v": [1, 1, 2], "check": [7, 8, 9]})
    fine = pl.DataFrame({"v": [1, 1, 2], "check": [7, 7, 9]})
    assert columnar_funnels._hash_collides(clash) and not columnar_funnels._hash_collides(fine)


def test_events_without_a_visitor_are_not_counted() -> None:
    """An event with neither id is skipped, as the live tracker skips it."""
    frame = pl.DataFrame(
        {"visitor": [None, None, "a"], "event": ["Viewed", "Added", "Viewed"],
         "ts": [1, 2, 3], "seq": [1, 2, 3]},
        schema=COLUMNS,
    )  # fmt: skip
    assert funnel_counts(frame, FUNNEL) == [1, 0, 0]


def test_load_columns_from_the_store(engine: sa.Engine) -> None:
    """Events read back from SQLite or PostgreSQL give the same counts as live."""
    rows = _rows([(f"v{i % 7}", NAMES[(i * 5) % 4], i % 3) for i in range(200)])
    _append_rows(engine, rows)
    frame = load_columns(engine, ["Viewed", "Added", "Paid"])
    assert frame.height == sum(1 for r in rows if r[1] != "Noise")
    assert funnel_counts(frame, FUNNEL) == _live(rows)


def test_filters_are_refused_on_the_scratch_path() -> None:
    """A step with a property filter cannot be recomputed column-wise; the error says so."""
    funnel = Funnel(name="f", steps=[FunnelStep(event="A"), FunnelStep(event="B", where={"x": 1})])
    with pytest.raises(ValueError, match="without `where`"):
        funnel_counts(pl.DataFrame(schema={"visitor": pl.String}), funnel)


def test_load_columns_equals_the_events_the_log_reads(engine: sa.Engine) -> None:
    """The columns read without decoding bodies are those of the decoded events, in log order."""
    log = SqlEventLog(engine)
    log.append(
        [
            Event(
                message_id=str(i),
                type="identify" if i % 11 == 0 else "track",
                source="s",
                event=NAMES[i % 4],
                anonymous_id=None if i % 5 == 0 else f"a{i % 6}",
                user_id=f"u{i % 3}",
                timestamp=T0 + timedelta(seconds=i),
                received_at=T0,
            )
            for i in range(120)
        ]
    )
    wanted = ["Viewed", "Paid"]
    decoded = [e for e in log.read(1, limit=1000) if e.type == "track" and e.event in wanted]
    expected = pl.DataFrame(
        {
            "visitor": [e.anonymous_id or e.user_id for e in decoded],
            "event": [e.event for e in decoded],
            "ts": [to_us(e.timestamp) for e in decoded],
            "seq": [e.offset for e in decoded],
        },
        schema=COLUMNS,
    )
    assert load_columns(engine, wanted).equals(expected)
    assert load_columns(engine, ["Nothing"]).equals(expected.clear())


def _append_rows(engine: sa.Engine, rows: list[tuple[str, str, datetime]]) -> None:
    SqlEventLog(engine).append(
        [
            Event(
                message_id=str(i),
                type="track",
                source="s",
                event=name,
                anonymous_id=v,
                timestamp=at,
                received_at=at,
            )
            for i, (v, name, at) in enumerate(rows)
        ]
    )


def test_segments_and_the_unarchived_tail_add_up_to_the_log(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Wherever the copy stops, segments plus the tail read from the log are the whole log."""
    rows = _rows([(f"v{i % 9}", NAMES[(i * 7) % 4], (i * 13) % 11 - 3) for i in range(240)])
    _append_rows(engine, rows)
    everything = load_columns(engine, ["Viewed", "Added", "Paid"])
    for size, through in ((1, 0), (7, 7), (7, 100), (50, 199), (60, 240), (300, 240)):
        copy = ColumnarCopy(engine, tmp_path / f"{size}-{through}", segment_offsets=size)
        copy.catch_up(through=through)
        assert copy.covered() == through - through % size
        frame = load_columns(engine, ["Viewed", "Added", "Paid"], copy=copy)
        assert frame.equals(everything)
        assert funnel_counts(frame, FUNNEL) == _live(rows)


def test_a_crash_between_segment_write_and_record_changes_no_count(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment written but never renamed into place is neither lost nor counted twice."""
    rows = _rows([(f"v{i % 5}", NAMES[(i * 3) % 4], i % 4) for i in range(150)])
    _append_rows(engine, rows)
    copy = ColumnarCopy(engine, tmp_path, segment_offsets=40)
    real_replace = os.replace
    calls = []

    def crash_on_second(source: str, target: str | Path) -> None:
        calls.append(target)
        if len(calls) == 2:
            raise OSError("killed")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(OSError):
        copy.catch_up()
    assert copy.covered() == 40
    names = ["Viewed", "Added", "Paid"]
    assert funnel_counts(load_columns(engine, names, copy=copy), FUNNEL) == _live(rows)
    monkeypatch.setattr(os, "replace", real_replace)
    assert copy.catch_up() == 2 and copy.covered() == 120
    frame = load_columns(engine, names, copy=copy)
    assert frame.get_column("seq").is_unique().all()
    assert funnel_counts(frame, FUNNEL) == _live(rows)
