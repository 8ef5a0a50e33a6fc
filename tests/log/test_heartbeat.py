"""Issue 17: the event loop's heartbeat, which tells the processors' thread when requests are
kept waiting for the interpreter, and how long the processors then pause."""

from __future__ import annotations

import asyncio

from vigie.log.heartbeat import BEAT_SECONDS, LATE_SECONDS, MAX_PAUSE_SECONDS, Heartbeat


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_pause_while_the_loop_beats_on_time() -> None:
    """A beat that is due but not late asks for no pause, however long the work took."""
    clock = Clock()
    heartbeat = Heartbeat(clock=clock)
    heartbeat.last = clock.now
    clock.now += BEAT_SECONDS + LATE_SECONDS / 2
    paused: list[float] = []
    assert heartbeat.give_way(5.0, paused.append) == 0.0 and paused == []


def test_a_late_beat_pauses_as_long_as_the_work_took_within_the_bound() -> None:
    """When the beat is late, the pause is the work's duration, capped at MAX_PAUSE_SECONDS,
    so the processors keep at least half of the interpreter."""
    clock = Clock()
    heartbeat = Heartbeat(clock=clock)
    heartbeat.last = clock.now
    clock.now += BEAT_SECONDS + 2 * LATE_SECONDS
    paused: list[float] = []
    assert heartbeat.give_way(0.004, paused.append) == 0.004
    assert heartbeat.give_way(10.0, paused.append) == MAX_PAUSE_SECONDS
    assert paused == [0.004, MAX_PAUSE_SECONDS]


def test_without_a_beating_loop_nothing_is_late() -> None:
    """Processors run with no event loop (a one-off run, or after it stopped) never pause."""
    heartbeat = Heartbeat()
    assert heartbeat.late() == 0.0
    assert heartbeat.give_way(1.0, lambda seconds: None) == 0.0


def test_run_beats_and_stops_beating_when_cancelled() -> None:
    """`run` records a beat on the loop at once, and forgets it when cancelled."""
    heartbeat = Heartbeat()

    async def scenario() -> float | None:
        task = asyncio.create_task(heartbeat.run())
        await asyncio.sleep(0)
        beat = heartbeat.last
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return beat

    assert asyncio.run(scenario()) is not None
    assert heartbeat.last is None
