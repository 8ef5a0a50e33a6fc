"""Components start in order, stop in reverse, and a failed start leaves nothing running."""

from __future__ import annotations

import asyncio

import pytest

from vigie.lifecycle import Hook, Periodic, Services


class Recorded:
    """A component that notes its starts and stops in a shared journal."""

    def __init__(self, name: str, journal: list[str], *, fail: bool = False) -> None:
        self.name = name
        self.journal = journal
        self.fail = fail

    async def start(self) -> None:
        if self.fail:
            raise OSError(f"{self.name} cannot start")
        self.journal.append(f"start {self.name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


def test_services_start_in_order_and_stop_in_reverse() -> None:
    """Start follows the list; stop walks it backwards."""
    journal: list[str] = []
    services = Services([Recorded(n, journal) for n in ("store", "log", "rules")])

    async def scenario() -> None:
        await services.start()
        await services.stop()

    asyncio.run(scenario())
    assert journal == [
        "start store", "start log", "start rules", "stop rules", "stop log", "stop store"
    ]  # fmt: skip


def test_a_failed_start_stops_what_had_started() -> None:
    """When one component cannot start, those before it are stopped (in reverse) and the
    failure reaches the caller; the ones after it never start."""
    journal: list[str] = []
    services = Services(
        [Recorded("store", journal), Recorded("log", journal), Recorded("bad", journal, fail=True),
         Recorded("never", journal)]
    )  # fmt: skip
    with pytest.raises(OSError, match="bad cannot start"):
        asyncio.run(services.start())
    assert journal == ["start store", "start log", "stop log", "stop store"]


def test_a_failing_stop_does_not_keep_the_others_running() -> None:
    """Every started component is stopped even when one of them fails to stop."""
    journal: list[str] = []

    def broken() -> None:
        raise RuntimeError("cannot close")

    services = Services(
        [Recorded("store", journal), Hook("log", stop=broken), Recorded("rules", journal)]
    )

    async def scenario() -> None:
        await services.start()
        await services.stop()

    asyncio.run(scenario())
    assert journal == ["start store", "start rules", "stop rules", "stop store"]


def test_nothing_is_added_once_running() -> None:
    """The start order is fixed once the services run."""
    services = Services([Recorded("store", [])])

    async def scenario() -> None:
        await services.start()
        try:
            with pytest.raises(RuntimeError, match="running"):
                services.add(Recorded("late", []))
        finally:
            await services.stop()

    asyncio.run(scenario())


def test_a_periodic_job_survives_a_failing_round() -> None:
    """A round that raises is logged and the job runs again at the next period."""
    rounds: list[int] = []

    def job() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ValueError("first round fails")

    periodic = Periodic("job", job, seconds=0.001)

    async def scenario() -> None:
        await periodic.start()
        for _ in range(2000):
            if len(rounds) >= 3:
                break
            await asyncio.sleep(0.001)
        await periodic.stop()

    asyncio.run(scenario())
    assert len(rounds) >= 3
