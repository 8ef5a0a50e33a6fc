"""The worker process `vigie serve --processors worker` runs its processors in: a
`vigie worker` child on the same store, started with the server, restarted when it dies, and
stopped with it.

Ingestion then no longer shares an interpreter (and its lock) with the rules, the
projections and the playbooks. The two processes nudge each other over a socket pair
(`vigie.log.wakeups`): the server after each commit, the worker after storing alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time

from vigie.log.wakeups import STARTED, Wakeups

logger = logging.getLogger(__name__)

READY_SECONDS = 120.0
"""How long the server waits at start for its worker to be up (importing Vigie on a loaded
machine takes seconds); it starts anyway after that, and the worker catches up."""
STEADY_SECONDS = 30.0
"""A worker that ran this long is restarted at once; one that dies sooner, after a growing
delay (at most `MAX_DELAY_SECONDS`), so that a worker failing at start does not spin."""
MAX_DELAY_SECONDS = 30.0


class WorkerProcess:
    """A lifecycle component (`vigie.lifecycle`): `vigie worker ARGS` as a supervised child,
    with `env` added to the server's environment (the store's and the log's URLs)."""

    name = "worker-process"

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        link: Wakeups,
        theirs: socket.socket,
    ) -> None:
        self.args = args
        self.env = env or {}
        self.link = link
        self.theirs = theirs
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._started = threading.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        link.on_nudge(STARTED, self._started.set)

    def _spawn(self) -> subprocess.Popen[bytes]:
        fd = self.theirs.fileno()
        command = [sys.executable, "-m", "vigie", "worker", "--wake-fd", str(fd), *self.args]
        self.proc = subprocess.Popen(command, pass_fds=(fd,), env={**os.environ, **self.env})
        logger.info("started the processors' worker process %d", self.proc.pid)
        return self.proc

    async def start(self) -> None:
        """Start the worker and wait (at most `READY_SECONDS`) until it is up."""
        self._stopping = False
        self._spawn()
        self._task = asyncio.create_task(self._supervise(), name="vigie-worker-process")
        if not await asyncio.to_thread(self._started.wait, READY_SECONDS):
            logger.warning("the processors' worker is not up after %g s", READY_SECONDS)

    async def _supervise(self) -> None:
        delay = 1.0
        while True:
            proc = self.proc
            assert proc is not None
            began = time.monotonic()
            code = await asyncio.to_thread(proc.wait)
            if self._stopping:
                return
            if time.monotonic() - began >= STEADY_SECONDS:
                delay = 0.0
            logger.warning(
                "the processors' worker process %d exited with %s; restarting it in %g s",
                proc.pid,
                code,
                delay,
            )
            await asyncio.sleep(delay)
            if self._stopping:
                return
            self._spawn()
            self.restarts += 1
            delay = min(max(delay * 2, 1.0), MAX_DELAY_SECONDS)

    async def stop(self) -> None:
        """Stop the worker (SIGTERM: it saves its checkpoints; SIGKILL after 30 s)."""
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.theirs.close()
