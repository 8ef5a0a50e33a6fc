"""Everything a running server holds: store, log, writer, processors, live feed, metrics, clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import sqlalchemy as sa

from vigie.analytics import AnalyticsProcessor
from vigie.clock import Clock, SystemClock
from vigie.crm.processor import CrmProcessor
from vigie.ingest.ingestor import Ingestor
from vigie.kpi.durations import parse_duration
from vigie.log import GroupCommitter, Processor, ProcessorRunner, ServedLog, SqlEventLog
from vigie.log.columnar import ColumnarCopy, catch_up_in_process, start_worker
from vigie.log.eventlog import AppendResult
from vigie.playbooks import ActionRegistry, PlaybookEngine
from vigie.playbooks.alerts import AlertPlaybooks
from vigie.playbooks.collector import PlaybookCollector
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.feed import AlertFeed
from vigie.rules.store import AlertStore
from vigie.rules.webhook import AlertmanagerWebhook
from vigie.schedule import Dispatcher
from vigie.schedule.mailer import SmtpMailer
from vigie.settings import Settings
from vigie.store import connect, is_sqlite, upgrade
from vigie.store.wal import WalCheckpointer
from vigie.telemetry import Metrics
from vigie.types import to_us
from vigie.web.live import LiveHub
from vigie.web.trends import Trends

logger = logging.getLogger(__name__)
RUNNER_BATCH = 1000
COLUMNS_SECONDS = 10.0


class Runtime:
    """Built from `Settings` by `create_app`; started and stopped by the app's lifespan."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        engine: sa.Engine | None = None,
        processors: Sequence[Processor] = (),
        tick_seconds: float = 1.0,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.engine = engine or connect(settings.db_url, synchronous=settings.sqlite_synchronous)
        self.metrics = Metrics()
        self.sql_log = SqlEventLog(self.engine)
        self.log: ServedLog = self.sql_log
        if settings.log_url:
            from vigie.log.nats import NatsEventLog

            # Rejected input stays in the SQL store; the events go to JetStream.
            self.log = NatsEventLog.from_url(settings.log_url, rejects=self.sql_log)
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
        # The rules come first so that an alert does not wait for slower projections; new
        # events go to them between two batches of the others, so batches are kept short.
        self.runner = ProcessorRunner(
            self.log, [self.alerting, *processors], batch_size=RUNNER_BATCH
        )
        self.analytics = AnalyticsProcessor(settings.config.analytics, engine=self.engine)
        self.runner.add(self.analytics)
        self.trends = Trends()
        # The live hub reads the SQL log (its bootstrap queries the events table).
        self.live = LiveHub(self.sql_log, self.clock)
        self.runner.add(CrmProcessor(self.engine, settings.config.crm))
        self.committer = GroupCommitter(self.log, on_commit=self._committed)
        # The log's columnar copy, for from-scratch recomputations (SQL log only).
        self.columns = (
            None if settings.log_url else ColumnarCopy.for_store(self.engine, settings.columns_dir)
        )
        self.ingestor = Ingestor(
            config=settings.config, committer=self.committer, metrics=self.metrics, clock=self.clock
        )
        config = settings.config
        self.dispatcher = Dispatcher(
            engine=self.engine,
            config=config.schedule,
            clock=self.clock,
            mailer=SmtpMailer(config.actions.smtp) if config.actions.smtp else None,
        )
        self.playbooks = PlaybookEngine(
            engine=self.engine,
            playbooks=config.playbooks,
            registry=ActionRegistry.from_entry_points(),
            schedule=config.schedule,
            settings=config.actions,
            dispatcher=self.dispatcher,
            clock=self.clock,
        )
        self.metrics.registry.register(PlaybookCollector(self.engine))
        self.alerting.listeners.append(AlertPlaybooks(self.playbooks))
        self.tick_seconds = tick_seconds
        self.wal = WalCheckpointer(self.engine) if is_sqlite(self.engine) else None
        self._runner_task: asyncio.Task[None] | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._columns_task: asyncio.Task[None] | None = None
        self._columns_pool: ProcessPoolExecutor | None = None

    def _committed(self, results: Sequence[AppendResult]) -> None:
        if any(r.accepted for r in results):
            self.runner.notify()
            self.live.notify()

    async def start(self) -> None:
        """Migrate the store, start the live feed, the writer and the processors."""
        await asyncio.to_thread(upgrade, self.engine)
        if self.wal is not None:
            self.wal.start()
        await self.live.start()
        lookback = parse_duration(self.settings.config.alerting.lookback)
        await asyncio.to_thread(self.alerting.restore, self.log, lookback_us=lookback)
        self.alert_feed.bind(asyncio.get_running_loop())
        self.webhooks.start()
        # The analytics counters live in memory: rebuild them from the start of the log.
        await asyncio.to_thread(self.log.save_checkpoint, self.analytics.name, 1)
        self.committer.start()
        self._runner_task = asyncio.create_task(self.runner.run_forever(), name="vigie-processors")
        self._tick_task = asyncio.create_task(self._tick(), name="vigie-rules-tick")
        self._timer_task = asyncio.create_task(self._timer(), name="vigie-timer")
        if self.columns is not None:
            self._columns_task = asyncio.create_task(
                self._copy_columns(self.columns), name="vigie-columns"
            )

    async def _tick(self) -> None:
        """Let the rules see time pass, and sample the KPIs' trends once per trend bucket.

        Sampling reads every KPI under the rules' lock (tens of milliseconds with thousands
        of groups); doing it after every commit cost a third of the server's CPU at 10,000
        events/s and held back the alerts meanwhile. Trends keep one value per bucket (the
        first tick of a bucket samples it), and the dashboard samples afresh when it asks.
        """
        seconds = parse_duration(self.settings.config.alerting.tick) / 1e6
        sampled: int | None = None
        while True:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(self.alerting.tick)
            bucket = to_us(self.clock.now()) // self.trends.bucket_us
            if bucket != sampled:
                sampled = bucket
                await asyncio.to_thread(self.sample_kpis)

    async def _timer(self) -> None:
        """Run enqueued or interrupted playbook runs and deliver held notifications when due."""
        try:
            await asyncio.to_thread(self.dispatcher.recover)
        except Exception:
            logger.exception("recovering notifications caught while sending failed")
        while True:
            for job, what in (
                (self.playbooks.resume, "running playbooks"),
                (self.dispatcher.deliver_due, "delivering held notifications"),
            ):
                try:
                    await asyncio.to_thread(job)
                except Exception:
                    logger.exception("%s failed; will retry", what)
            await asyncio.sleep(self.tick_seconds)

    async def _copy_columns(self, columns: ColumnarCopy) -> None:
        """Write the log's columnar segments as the log grows, in a worker process of its
        own (`catch_up_in_process`): in a thread, each segment held the interpreter lock
        for most of a second, and requests and alerts waited meanwhile."""
        url = self.engine.url.render_as_string(hide_password=False)
        loop = asyncio.get_running_loop()
        while True:
            if self._columns_pool is None:
                # Spawned, not forked: a fork would copy this process's threads' locks
                # mid-use. The worker leaves Ctrl-C to the server and ends with it.
                self._columns_pool = ProcessPoolExecutor(
                    1,
                    mp_context=mp.get_context("spawn"),
                    initializer=start_worker,
                    initargs=(os.getpid(),),
                )
            try:
                await loop.run_in_executor(
                    self._columns_pool,
                    catch_up_in_process,
                    url,
                    str(columns.folder),
                    columns.segment_offsets,
                )
            except BrokenProcessPool:
                # The worker died (killed, out of memory): the next round starts another.
                logger.exception("the columnar copy's worker died; starting another")
                pool, self._columns_pool = self._columns_pool, None
                pool.shutdown(wait=False)
            except Exception:
                logger.exception("writing the log's columnar copy failed; will retry")
            await asyncio.sleep(COLUMNS_SECONDS)

    def sample_kpis(self) -> None:
        """Record the KPIs' current values for the dashboard's sparklines."""
        self.trends.record(to_us(self.clock.now()), self.alerting.snapshot())

    def end_streams(self) -> None:
        """End the open live streams (SSE), so that a shutdown does not wait for them."""
        self.live.close()
        self.alert_feed.close()

    async def stop(self) -> None:
        """Drain the writer and stop the processors."""
        await self.live.stop()
        for task in (self._tick_task, self._timer_task, self._columns_task, self._runner_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._columns_pool is not None:
            # Cancelling the task does not stop a segment under way in the worker: wait for
            # it, so that no copy outlives the server.
            await asyncio.to_thread(self._columns_pool.shutdown, wait=True, cancel_futures=True)
            self._columns_pool = None
        await asyncio.to_thread(self.committer.stop)
        await asyncio.to_thread(self.webhooks.stop)
        self.alert_feed.close()
        await asyncio.to_thread(self.log.close)
        if self.wal is not None:
            await asyncio.to_thread(self.wal.stop)
        self.engine.dispose()
