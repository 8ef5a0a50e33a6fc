"""The processors' lease: one holder at a time, taken over when it expires or its process dies."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import sqlalchemy as sa

from vigie.lifecycle import Exclusive, Hook, Services
from vigie.log.leases import Lease, Members, assign


def test_a_held_lease_is_refused_to_another_process_until_released(engine: sa.Engine) -> None:
    """While one holder renews the lease nobody else gets it; once released, the next does."""
    first, second = Lease(engine, "processors"), Lease(engine, "processors")
    assert first.acquire()
    assert not second.acquire()
    assert first.acquire()
    assert first.current_holder() == first.holder
    first.release()
    assert second.acquire()
    assert not first.acquire()


def test_an_expired_lease_is_taken_over(engine: sa.Engine) -> None:
    """A holder that stopped renewing loses the lease after its time to live."""
    gone = Lease(engine, "processors", holder="elsewhere:1:x", ttl_seconds=-1.0)
    assert gone.acquire()
    assert gone.current_holder() is None
    assert Lease(engine, "processors").acquire()


def test_a_lease_of_a_dead_local_process_is_taken_over_at_once(engine: sa.Engine) -> None:
    """A `kill -9`ed worker of this machine does not hold the others back for its time to live."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    crashed = Lease(engine, "processors", holder=f"{socket.gethostname()}:{pid}:x")
    assert crashed.acquire()
    elsewhere = Lease(engine, "other", holder=f"another-host:{pid}:x")
    assert elsewhere.acquire()
    assert Lease(engine, "processors").acquire()
    assert not Lease(engine, "other").acquire()


def test_exclusive_components_run_in_one_of_two_processes(engine: sa.Engine) -> None:
    """Of two groups sharing a lease one runs; the other starts once the first stops."""
    started: list[str] = []

    def group(name: str) -> Exclusive:
        lease = Lease(engine, "processors", ttl_seconds=0.3)
        services = Services([Hook(name, start=lambda: started.append(name))])
        return Exclusive("processing", lease, services)

    async def scenario() -> None:
        first, second = group("first"), group("second")
        await first.start()
        await second.start()
        assert (first.holding, second.holding) == (True, False)
        await first.stop()
        for _ in range(200):
            if second.holding:
                break
            await asyncio.sleep(0.05)
        await second.stop()

    asyncio.run(scenario())
    assert started == ["first", "second"]


def test_a_group_that_loses_its_lease_stops_and_says_so(engine: sa.Engine) -> None:
    """When another process took the lease, the components stop and `on_lost` is called."""
    stopped: list[str] = []
    lost: list[bool] = []
    lease = Lease(engine, "processors", ttl_seconds=0.3)
    services = Services([Hook("job", stop=lambda: stopped.append("job"))])
    group = Exclusive("processing", lease, services, on_lost=lambda: lost.append(True))

    async def scenario() -> None:
        await group.start()
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE leases SET holder = 'thief:1:x', expires_at_us = 1e18"))
        for _ in range(200):
            if lost:
                break
            await asyncio.sleep(0.05)
        await group.stop()

    asyncio.run(scenario())
    assert (stopped, lost, group.holding) == (["job"], [True], False)


def test_movable_shares_go_round_robin_with_the_rules_holder_last() -> None:
    """Two members: the one without the rules gets the first movable share; one member gets
    everything; no member, nothing dealt."""
    shares = ["projections", "more"]
    assert assign(shares, ["a", "b"], sticky="a") == {"projections": "b", "more": "a"}
    assert assign(shares, ["a", "b"], sticky="b") == {"projections": "a", "more": "b"}
    assert assign(shares, ["a"], sticky="a") == {"projections": "a", "more": "a"}
    assert assign(shares, ["a", "b", "c"], sticky=None) == {"projections": "a", "more": "b"}
    assert assign(shares, [], sticky=None) == {}


def test_members_see_each_other_until_one_leaves(engine: sa.Engine) -> None:
    """Each member renews a lease of its own; the others see it until it leaves."""
    one = Members(engine, "workers", holder="h1:1:a", sticky="processors")
    two = Members(engine, "workers", holder="h2:2:b", sticky="processors")
    Lease(engine, "processors", holder="h1:1:a").acquire()
    assert one.beat() == ["h1:1:a"]
    assert two.beat() == ["h1:1:a", "h2:2:b"]
    assert two.sticky_holder == "h1:1:a"
    assert two.dealt("projections", ["projections"])
    assert one.beat() == ["h1:1:a", "h2:2:b"] and not one.dealt("projections", ["projections"])
    two.leave()
    assert one.beat() == ["h1:1:a"] and one.dealt("projections", ["projections"])


def test_a_group_hands_its_share_over_when_it_is_no_longer_dealt_to_it(engine: sa.Engine) -> None:
    """While `wanted` says no, the components stop and the lease is released for another."""
    events: list[str] = []
    wanted = [True]
    lease = Lease(engine, "share", ttl_seconds=0.3)
    services = Services(
        [Hook("job", start=lambda: events.append("start"), stop=lambda: events.append("stop"))]
    )
    group = Exclusive("share", lease, services, wanted=lambda: wanted[0])

    async def scenario() -> None:
        await group.start()
        assert group.holding
        wanted[0] = False
        for _ in range(200):
            if not group.holding and lease.current_holder() is None:
                break
            await asyncio.sleep(0.05)
        assert not group.holding and lease.current_holder() is None
        assert Lease(engine, "share").acquire()
        await group.stop()

    asyncio.run(scenario())
    assert events == ["start", "stop"]
