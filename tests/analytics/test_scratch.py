"""The from-scratch (Polars) funnel agrees with the live tracker, and reads both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.analytics.funnels import Funnel, FunnelStep, FunnelTracker
from vigie.analytics.scratch import COLUMNS, _load_sqlite, funnel_counts, load_columns
from vigie.analytics.sessions import Hit
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.log.sql import to_us

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


def _rows(raw: list[tuple[str, str, int]]) -> list[tuple[str, str, datetime]]:
    at, out = T0, []
    for visitor, name, gap in raw:
        at += timedelta(minutes=gap)
        out.append((visitor, name, at))
    return out


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
    frame = pl.DataFrame(
        {
            "visitor": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "ts": [to_us(r[2]) for r in rows],
            "seq": list(range(1, len(rows) + 1)),
        },
        schema={"visitor": pl.String, "event": pl.String, "ts": pl.Int64, "seq": pl.Int64},
    )
    assert funnel_counts(frame, FUNNEL) == _live(rows)


def test_load_columns_from_the_store(engine: sa.Engine) -> None:
    """Events read back from SQLite or PostgreSQL give the same counts as live."""
    rows = _rows([(f"v{i % 7}", NAMES[(i * 5) % 4], i % 3) for i in range(200)])
    log = SqlEventLog(engine)
    log.append(
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
    if engine.dialect.name == "sqlite":
        assert _load_sqlite(engine, wanted).equals(expected)
    assert load_columns(engine, ["Nothing"]).equals(expected.clear())
