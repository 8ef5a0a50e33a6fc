"""Everything a running server holds: store, log, writer, processors, metrics and clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import sqlalchemy as sa

from vigie.clock import Clock, SystemClock
from vigie.crm.processor import CrmProcessor
from vigie.ingest.ingestor import Ingestor
from vigie.log import GroupCommitter, Processor, ProcessorRunner, SqlEventLog
from vigie.log.eventlog import AppendResult
from vigie.metrics import Metrics
from vigie.settings import Settings
from vigie.store import connect, upgrade


class Runtime:
    """Built from `Settings` by `create_app`; started and stopped by the app's lifespan."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        engine: sa.Engine | None = None,
        processors: Sequence[Processor] = (),
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.engine = engine or connect(settings.db_url, synchronous=settings.sqlite_synchronous)
        self.metrics = Metrics()
        self.log = SqlEventLog(self.engine)
        self.runner = ProcessorRunner(self.log, processors)
        self.runner.add(CrmProcessor(self.engine, settings.config.crm))
        self.committer = GroupCommitter(self.log, on_commit=self._committed)
        self.ingestor = Ingestor(
            config=settings.config, committer=self.committer, metrics=self.metrics, clock=self.clock
        )
        self._runner_task: asyncio.Task[None] | None = None

    def _committed(self, results: Sequence[AppendResult]) -> None:
        if any(r.accepted for r in results):
            self.runner.notify()

    async def start(self) -> None:
        """Migrate the store, start the writer and the processors."""
        await asyncio.to_thread(upgrade, self.engine)
        self.committer.start()
        self._runner_task = asyncio.create_task(self.runner.run_forever(), name="vigie-processors")

    async def stop(self) -> None:
        """Drain the writer and stop the processors."""
        if self._runner_task is not None:
            self._runner_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner_task
        await asyncio.to_thread(self.committer.stop)
        self.engine.dispose()
