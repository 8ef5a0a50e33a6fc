"""Starting and stopping a built system: components, periodic jobs, and the ordered list.

Every long-lived part of a running Vigie (the log writer, the processors, the live feed,
the timers) is a `Component`: `start` and `stop`, both async. `Services` starts them in
the order given and stops them in reverse, also when one of them fails to start, so that a
failed start never leaves a thread or a task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import (
    Any,
    Protocol,
)

logger = logging.getLogger(__name__)


class Component(Protocol):
    """Something a running system starts once and stops once."""

    name: str

    async def start(self) -> None:
        """Begin work; return once the component serves (a failure raises)."""
        ...

    async def stop(self) -> None:
        """End work and release what `start` took; called once, after a successful start."""
        ...


class Hook:
    """A component made of two plain callables, run in a worker thread: a one-off step at
    start (migrating the store, restoring alerts) and/or one at stop (closing the log)."""

    def __init__(
        self,
        name: str,
        *,
        start: Callable[[], object] | None = None,
        stop: Callable[[], object] | None = None,
    ) -> None:
        self.name = name
        self._start = start
        self._stop = stop

    async def start(self) -> None:
        if self._start is not None:
            await asyncio.to_thread(self._start)

    async def stop(self) -> None:
        if self._stop is not None:
            await asyncio.to_thread(self._stop)


class Task:
    """A component that runs one coroutine as an asyncio task until stopped."""

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"vigie-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Periodic(Task):
    """A job run in a worker thread every `seconds`; a failure is logged and the job runs
    again at the next period (a timer must not die of one bad round)."""

    def __init__(
        self,
        name: str,
        job: Callable[[], object],
        *,
        seconds: float | Callable[[], float],
        first: Callable[[], object] | None = None,
        delay_first: bool = False,
    ) -> None:
        super().__init__(name, self._loop)
        self.job = job
        self._seconds = seconds
        self._first = first
        self._delay_first = delay_first

    @property
    def seconds(self) -> float:
        """The period now (a callable period is read before each wait)."""
        return self._seconds() if callable(self._seconds) else self._seconds

    async def _loop(self) -> None:
        if self._first is not None:
            await self._guarded(self._first)
        if self._delay_first:
            await asyncio.sleep(self.seconds)
        while True:
            await self._guarded(self.job)
            await asyncio.sleep(self.seconds)

    async def _guarded(self, job: Callable[[], object]) -> None:
        try:
            await asyncio.to_thread(job)
        except Exception:
            logger.exception("%s failed; will retry", self.name)


class Services:
    """Components started in order and stopped in reverse order."""

    def __init__(self, components: Sequence[Component] = ()) -> None:
        self.components: list[Component] = list(components)
        self._started: list[Component] = []

    def add(self, component: Component) -> None:
        """Append `component`: it starts after and stops before those already here."""
        if self._started:
            raise RuntimeError(f"cannot add {component.name!r}: the services are running")
        self.components.append(component)

    @property
    def names(self) -> list[str]:
        """The components' names, in start order (with those of nested groups)."""
        return [n for c in self.components for n in getattr(c, "names", [c.name])]

    async def start(self) -> None:
        """Start every component in order; if one fails, stop those already started (in
        reverse) and raise the failure."""
        for component in self.components:
            try:
                await component.start()
            except BaseException:
                logger.error("starting %s failed; stopping what had started", component.name)
                await self.stop()
                raise
            self._started.append(component)

    async def stop(self) -> None:
        """Stop the started components in reverse order; a failing stop is logged and the
        others still stop."""
        while self._started:
            component = self._started.pop()
            try:
                await component.stop()
            except Exception:
                logger.exception("stopping %s failed", component.name)


class Claim(Protocol):
    """The right to do something in one process at a time (`vigie.log.leases.Lease`)."""

    ttl_seconds: float

    def acquire(self) -> bool:
        """Take or renew the right; False while another process holds it."""
        ...

    def release(self) -> None:
        """Give the right up."""
        ...


class Exclusive:
    """Components that run in one process at a time, among all those sharing `claim`.

    They start once the claim is acquired (at once when it is free, else in the background
    as soon as its holder stops or dies) and run while it is renewed every third of its time
    to live. When it is lost (renewals failed for too long, another process took it) they
    stop for good and `on_lost` is called: their in-memory state (the rules' windows) may
    have missed events, so the process is to be restarted rather than resume with it.

    `wanted`, when given, says whether this process should hold the claim now (a share of
    the work dealt to it): while it says no, the claim is not taken, and a held one is
    handed over (the components stop, the claim is released) for the process it is for.
    """

    def __init__(
        self,
        name: str,
        claim: Claim,
        services: Services,
        *,
        on_lost: Callable[[], None] | None = None,
        wanted: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.claim = claim
        self.services = services
        self.on_lost = on_lost
        self.wanted = wanted
        self.holding = False
        self.lost = False
        self._task: asyncio.Task[None] | None = None

    @property
    def names(self) -> list[str]:
        """This group's name, then its components' names."""
        return [self.name, *self.services.names]

    async def start(self) -> None:
        """Start the components now if the claim is free; else stand by for it."""
        if self._wanted() and await self._acquire():
            await self._begin()
        else:
            logger.info("%s: another process holds the lease; standing by", self.name)
        self._task = asyncio.create_task(self._keep(), name=f"vigie-{self.name}")

    def _wanted(self) -> bool:
        return self.wanted is None or self.wanted()

    async def _hand_over(self) -> None:
        """Stop the components and release the claim for the process it is dealt to."""
        logger.info("%s: dealt to another process; handing it over", self.name)
        self.holding = False
        await self.services.stop()
        try:
            await asyncio.to_thread(self.claim.release)
        except Exception as exc:
            logger.warning("%s: could not release the lease (it expires): %s", self.name, exc)

    async def _acquire(self) -> bool | None:
        """Whether the claim is ours now; None when the store could not be asked."""
        try:
            return await asyncio.to_thread(self.claim.acquire)
        except Exception as exc:
            logger.warning("%s: could not renew the lease: %s", self.name, exc)
            return None

    async def _begin(self) -> None:
        try:
            await self.services.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.claim.release)
            raise
        self.holding = True

    async def _keep(self) -> None:
        period = self.claim.ttl_seconds / 3
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(period)
            if not self._wanted():
                if self.holding:
                    await self._hand_over()
                continue
            held = await self._acquire()
            if held:
                renewed = time.monotonic()
                if not self.holding:
                    logger.info("%s: took the lease over; starting", self.name)
                    try:
                        await self._begin()
                    except Exception:
                        logger.exception("%s: starting failed; will try again", self.name)
                continue
            # Not renewed in time: another process may take over, so stop at once.
            late = time.monotonic() - renewed > self.claim.ttl_seconds * 0.6
            if self.holding and (held is False or late):
                logger.error("%s: lost the lease; stopping", self.name)
                self.holding, self.lost = False, True
                await self.services.stop()
                if self.on_lost is not None:
                    self.on_lost()
                return

    async def stop(self) -> None:
        """Stop the components (when running) and give the claim up for another process."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.holding:
            self.holding = False
            await self.services.stop()
            try:
                await asyncio.to_thread(self.claim.release)
            except Exception:
                logger.exception("%s: could not release the lease", self.name)
