"""The live hub: per-minute activity, catching up with the log and fanning news out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from vigie.clock import ManualClock
from vigie.events import NOTICE_TYPE, Event, notice_event
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


QUESTIONS = ("extent", "count", "count_notices", "last_offset", "recent", "read")
"""What the hub asks of a log while it loads and follows it: its size, its notices, its
newest offset, its events."""


def racing(log: Any, racer: Event, *, after: int) -> Callable[[], None]:
    """Make `log` commit `racer` just after the `after`-th question it is asked (of the
    `QUESTIONS` it answers), as another writer would between two of a reader's reads; the
    call returned lets the racer in now if it is still waiting (the hub asked fewer)."""
    asked = 0
    waiting = [racer]

    def let_in() -> None:
        if waiting:
            log.append([waiting.pop()])

    def question(answer: Callable[..., Any]) -> Callable[..., Any]:
        def asked_then(*args: Any, **kwargs: Any) -> Any:
            nonlocal asked
            answered = answer(*args, **kwargs)
            asked += 1
            if asked == after:
                let_in()
            return answered

        return asked_then

    for name in QUESTIONS:
        if hasattr(log, name):
            setattr(log, name, question(getattr(log, name)))
    return let_in


def assert_counted_once(log: Any, hub_log: ServedLog, racer: Event, *, after: int) -> None:
    """Load a hub on `hub_log` (`log`, as the hub sees it) while `racer` is committed just
    after its `after`-th question, then follow one more commit: the live total, the series
    and the feed hold each of the log's events (Vigie's notices left out) exactly once."""
    erased = notice_event(source="privacy", name="Subject Erased", at=NOW)
    log.append([_event(1, "Signed Up"), erased])
    let_in = racing(log, racer, after=after)

    async def followed() -> tuple[dict[str, Any] | None, dict[str, Any]]:
        hub = LiveHub(hub_log, ManualClock(NOW), minutes=30, notice_sources=("privacy",))
        await hub.start()
        queue = hub.subscribe()
        let_in()
        log.append([_event(3, "Order Completed")])
        hub.notify()
        message = await asyncio.wait_for(queue.get(), timeout=30)
        snapshot = hub.snapshot()
        await hub.stop()
        return message, snapshot

    message, snapshot = asyncio.run(followed())
    activity = [e for e in log.read(1, 100) if e.type != NOTICE_TYPE]
    assert message is not None and message["total"] == len(activity)
    assert snapshot["total"] == len(activity)
    latest = {label: series[-1] for label, series in snapshot["series"].items()}
    assert latest == Counter(label_of(e) for e in activity)
    assert [e["offset"] for e in snapshot["events"]] == [e.offset for e in activity]


RACERS = {
    "event": lambda: _event(2, "Signed Up", visitor="v2"),
    "notice": lambda: notice_event(source="privacy", name="Subject Erased", at=NOW),
}


@pytest.mark.parametrize("after", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("racer", list(RACERS))
@pytest.mark.parametrize("scanned", [False, True], ids=["sql", "scan"])
def test_an_event_committed_while_the_hub_loads_is_counted_once(
    engine: sa.Engine, scanned: bool, racer: str, after: int
) -> None:
    """An event or notice another writer commits between two of the hub's reads of the log
    (its size, its notices, its newest offset, its events) is neither counted twice nor
    missed: the total and the position the hub follows from describe the same events."""
    log = SqlEventLog(engine)
    hub_log = cast(ServedLog, _NoSql(log)) if scanned else log
    assert_counted_once(log, hub_log, RACERS[racer](), after=after)
