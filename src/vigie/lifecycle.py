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
        """The components' names, in start order."""
        return [c.name for c in self.components]

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
