"""Everything a running server holds: store, log, writer, processors, metrics and clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import sqlalchemy as sa

from vigie.clock import Clock, SystemClock
from vigie.ingest.ingestor import Ingestor
from vigie.kpi.durations import parse_duration
from vigie.log import GroupCommitter, Processor, ProcessorRunner, SqlEventLog
from vigie.log.eventlog import AppendResult
from vigie.metrics import Metrics
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.feed import AlertFeed
from vigie.rules.store import AlertStore
from vigie.rules.webhook import AlertmanagerWebhook
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
        config = settings.config
        self.alert_store = AlertStore(self.engine)
        self.alert_feed = AlertFeed()
        self.webhooks = AlertmanagerWebhook(
            config.alerting.webhooks, external_url=config.alerting.external_url
        )
        self.alerting = AlertingEngine(
            config.metrics,
            config.rules,
            clock=self.clock,
            store=self.alert_store,
            listeners=[self.alert_feed, self.webhooks],
        )
        # The rules come first so that an alert does not wait for slower projections.
        self.runner = ProcessorRunner(self.log, [self.alerting, *processors])
        self.committer = GroupCommitter(self.log, on_commit=self._committed)
        self.ingestor = Ingestor(
            config=settings.config, committer=self.committer, metrics=self.metrics, clock=self.clock
        )
        self._runner_task: asyncio.Task[None] | None = None
        self._tick_task: asyncio.Task[None] | None = None

    def _committed(self, results: Sequence[AppendResult]) -> None:
        if any(r.accepted for r in results):
            self.runner.notify()

    async def start(self) -> None:
        """Migrate the store, start the writer and the processors."""
        await asyncio.to_thread(upgrade, self.engine)
        lookback = parse_duration(self.settings.config.alerting.lookback)
        await asyncio.to_thread(self.alerting.restore, self.log, lookback_us=lookback)
        self.alert_feed.bind(asyncio.get_running_loop())
        self.webhooks.start()
        self.committer.start()
        self._runner_task = asyncio.create_task(self.runner.run_forever(), name="vigie-processors")
        self._tick_task = asyncio.create_task(self._tick(), name="vigie-rules-tick")

    async def _tick(self) -> None:
        seconds = parse_duration(self.settings.config.alerting.tick) / 1e6
        while True:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(self.alerting.tick)

    async def stop(self) -> None:
        """Drain the writer and stop the processors."""
        for task in (self._tick_task, self._runner_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await asyncio.to_thread(self.committer.stop)
        await asyncio.to_thread(self.webhooks.stop)
        self.alert_feed.close()
        self.engine.dispose()
