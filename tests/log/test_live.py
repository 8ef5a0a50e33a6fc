"""The live hub: per-minute activity, catching up with the log and fanning news out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from vigie.clock import ManualClock
from vigie.events import Event, notice_event
from vigie.log import SqlEventLog
from vigie.log.eventlog import ServedLog
from vigie.log.live import MINUTE_US, Activity, LiveHub, label_of, minute_of

NOW = datetime(2026, 11, 27, 12, 30, 15, tzinfo=UTC)


def _event(n: int, name: str | None, *, at: datetime = NOW, visitor: str = "v1") -> Event:
    return Event(
        message_id=f"m{n}",
        type="track" if name else "page",
        event=name,
        source="web",
        anonymous_id=visitor,
        timestamp=at,
        received_at=at,
    )


def test_label_is_the_event_name_or_the_type() -> None:
    """A tracked event counts under its name, anything else under its type."""
    assert label_of(_event(1, "Order Completed")) == "Order Completed"
    assert label_of(_event(2, None)) == "page"


def test_activity_window_keeps_the_last_minutes_only() -> None:
    """Series cover exactly `minutes` minutes ending now; older counts and idle labels go."""
    activity = Activity(minutes=3)
    end = minute_of(NOW)
    activity.add("a", end - 5, 4)
    activity.add("b", end - 2, 1)
    activity.add("b", end, 2)
    assert activity.series(end) == {"b": [1, 0, 2]}
    assert activity.series(end + 3) == {}


@given(st.lists(st.tuples(st.sampled_from("xyz"), st.integers(0, 40)), max_size=200))
def test_activity_matches_a_plain_count(hits: list[tuple[str, int]]) -> None:
    """Whatever the hits, each series equals a naive count over the window."""
    activity = Activity(minutes=10)
    for label, minute in hits:
        activity.add(label, minute)
    series = activity.series(40)
    for label in "xyz":
        expected = [sum(1 for h in hits if h == (label, m)) for m in range(31, 41)]
        assert series.get(label, [0] * 10) == expected


def _hub_scenario(engine: sa.Engine) -> None:
    log = SqlEventLog(engine)
    clock = ManualClock(NOW)
    log.append([_event(1, "Signed Up", at=NOW - timedelta(minutes=45))])
    log.append([_event(2, "Signed Up"), _event(3, None, visitor="v2")])
    ticks: list[int] = []

    async def scenario() -> None:
        hub = LiveHub(log, clock, minutes=30, on_tick=lambda: ticks.append(1))
        await hub.start()
        snapshot = hub.snapshot()
        assert snapshot["total"] == 3
        assert snapshot["series"]["Signed Up"][-1] == 1  # the 45-minute-old one is out
        assert snapshot["series"]["page"][-1] == 1
        assert snapshot["visitors_now"] == 2
        assert [e["offset"] for e in snapshot["events"]] == [1, 2, 3]
        queue = hub.subscribe()
        log.append([_event(4, "Signed Up", visitor="v3"), _event(5, "Order Completed")])
        hub.notify()
        message = await asyncio.wait_for(queue.get(), timeout=10)
        assert message is not None
        assert message["total"] == 5
        assert message["counts"] == {"Signed Up": 1, "Order Completed": 1}
        assert [e["offset"] for e in message["events"]] == [4, 5]
        assert message["visitors_now"] == 3
        assert hub.snapshot()["series"]["Signed Up"][-1] == 2
        clock.advance(timedelta(minutes=6))
        assert hub.snapshot()["visitors_now"] == 0
        await hub.stop()
        assert await asyncio.wait_for(queue.get(), timeout=10) is None
        assert ticks

    asyncio.run(scenario())


def test_hub_loads_the_log_then_follows_it(engine: sa.Engine) -> None:
    """The hub starts from the log's state, then sends each commit's counts and events."""
    _hub_scenario(engine)


def test_a_slow_reader_gets_a_resync_not_a_backlog(engine: sa.Engine) -> None:
    """A subscriber whose queue is full is told to take a fresh snapshot."""
    log = SqlEventLog(engine)

    async def scenario() -> None:
        hub = LiveHub(log, ManualClock(NOW))
        await hub.start()
        queue = hub.subscribe()
        for n in range(queue.maxsize + 5):
            hub._broadcast({"n": n})
        assert queue.get_nowait() == {"resync": True}
        rest = [queue.get_nowait() for _ in range(queue.qsize())]
        assert rest == [{"n": n} for n in range(queue.maxsize, queue.maxsize + 5)]
        await hub.stop()

    asyncio.run(scenario())


def test_minute_of_is_floor_of_microseconds() -> None:
    """Minutes are counted from the epoch, so buckets agree with the SQL grouping."""
    assert (
        minute_of(NOW) * MINUTE_US <= int(NOW.timestamp() * 1e6) < (minute_of(NOW) + 1) * MINUTE_US
    )


def test_an_idle_hub_reads_nothing_and_catches_up_for_its_next_viewer(engine: sa.Engine) -> None:
    """With no dashboard open the hub does not follow the log; the next viewer's snapshot and
    stream still hold everything committed meanwhile."""
    log = SqlEventLog(engine)
    clock = ManualClock(NOW)
    log.append([_event(1, "Signed Up")])

    async def scenario() -> None:
        hub = LiveHub(log, clock, minutes=30)
        await hub.start()
        log.append([_event(2, "Signed Up", visitor="v2"), _event(3, "Order Completed")])
        hub.notify()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if hub._stale:
                break
        assert hub._stale, "an idle hub marks itself stale instead of reading the events"
        assert hub.position == 2, "and has not read them"
        queue = hub.subscribe()
        snapshot = hub.snapshot()
        assert snapshot["total"] == 3
        assert snapshot["series"]["Signed Up"][-1] == 2
        assert [e["offset"] for e in snapshot["events"]] == [1, 2, 3]
        log.append([_event(4, "Signed Up")])
        hub.notify()
        message = await asyncio.wait_for(queue.get(), timeout=10)
        assert message is not None and message["total"] == 4
        assert message["counts"] == {"Signed Up": 1}
        await hub.stop()

    asyncio.run(scenario())


class _NoSql:
    """The SQL log seen as a log without SQL (JetStream's case): the hub scans its events."""

    def __init__(self, log: SqlEventLog) -> None:
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


@pytest.mark.parametrize("scanned", [False, True], ids=["sql", "scan"])
def test_vigies_notices_are_no_activity(engine: sa.Engine, scanned: bool) -> None:
    """Vigie's notices (an erasure, a change of the rings' links) are in no total, series or
    feed, whether loaded from the store or followed as they come; customers' events are."""
    log = SqlEventLog(engine)
    clock = ManualClock(NOW)
    erased = notice_event(source="privacy", name="Subject Erased", at=NOW)
    rings = notice_event(source="vigie-rings", name="Ring Links Changed", at=NOW)
    log.append([_event(1, "Signed Up"), erased])
    log.append([rings])

    async def scenario() -> None:
        hub = LiveHub(
            cast(ServedLog, _NoSql(log)) if scanned else log,
            clock,
            minutes=30,
            notice_sources=("privacy", "vigie-rings"),
        )
        await hub.start()
        snapshot = hub.snapshot()
        assert snapshot["total"] == 1
        assert set(snapshot["series"]) == {"Signed Up"}
        assert [e["label"] for e in snapshot["events"]] == ["Signed Up"]
        queue = hub.subscribe()
        again = notice_event(source="privacy", name="Subject Erased", at=NOW)
        log.append([again, _event(4, "Order Completed")])
        hub.notify()
        message = await asyncio.wait_for(queue.get(), timeout=10)
        assert message is not None
        assert message["total"] == 2
        assert message["counts"] == {"Order Completed": 1}
        assert [e["label"] for e in message["events"]] == ["Order Completed"]
        assert message["offset"] == 5
        await hub.stop()

    asyncio.run(scenario())
