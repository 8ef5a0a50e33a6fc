"""The composition root: one running Vigie, built from `Settings` in the order data flows.

    store ─► event log ─► writer (group commit) ─► processors: rules ─► alerts ─► playbooks
                                                   analytics, CRM projection
                                                   (dead letters ─► an alert)
                                        └────────► live feed, columnar copy

`build_system` makes every part and wires them with explicit subscriptions (who is told of
a commit, who hears of an alert change); `System.start` starts them in that order and
`System.stop` stops them in reverse. The web layer only serves a built system
(`vigie.web.app.create_app(system)`); a worker builds the same system and serves nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from vigie.analytics import AnalyticsProcessor
from vigie.auth.accounts import Accounts
from vigie.clock import Clock, SystemClock
from vigie.config import alerting_rules
from vigie.crm.processor import CrmProcessor
from vigie.crm.service import CrmService
from vigie.ingest.ingestor import Ingestor
from vigie.ingest.mqtt import MqttSubscriber
from vigie.ingest.sensors import SensorIntake
from vigie.kpi.durations import parse_duration
from vigie.kpi.trends import Trends
from vigie.lifecycle import Hook, Periodic, Services, Task
from vigie.log import GroupCommitter, Processor, ProcessorRunner, ServedLog, SqlEventLog
from vigie.log.columnar import ColumnarCopy, ColumnarWorker
from vigie.log.deadletters import DeadLetters, SqlDeadLetters
from vigie.log.eventlog import AppendResult
from vigie.log.live import LiveHub
from vigie.log.progress import ProgressCollector
from vigie.playbooks import ActionRegistry, PlaybookEngine
from vigie.playbooks.alerts import AlertPlaybooks, ResolvedSince
from vigie.playbooks.collector import PlaybookCollector
from vigie.playbooks.history import PlaybookHistory
from vigie.rules.deadletters import DeadLetterAlerts
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.feed import AlertFeed
from vigie.rules.silences import Silenced, Silences
from vigie.rules.store import AlertStore
from vigie.rules.triage import AlertTriage
from vigie.rules.webhook import AlertmanagerWebhook, WebhookCollector
from vigie.schedule import Dispatcher
from vigie.schedule.mailer import SmtpMailer
from vigie.sensors.readings import SensorGate
from vigie.sensors.service import SensorsService
from vigie.settings import Settings
from vigie.store import connect, is_sqlite, upgrade
from vigie.store.wal import WalCheckpointer
from vigie.telemetry import LateEventsCollector, Telemetry
from vigie.types import to_us

logger = logging.getLogger(__name__)
RUNNER_BATCH = 1000


@dataclass(kw_only=True)
class System:
    """A built Vigie: its parts' services, and the ordered list that starts and stops them.

    The attributes are what the edges (web, CLI, benchmarks, tests) may use; the SQL engine
    stays inside the parts' services.
    """

    settings: Settings
    clock: Clock
    telemetry: Telemetry
    log: ServedLog
    sql_log: SqlEventLog
    committer: GroupCommitter
    runner: ProcessorRunner
    dead_letters: DeadLetters
    ingestor: Ingestor
    alerting: AlertingEngine
    alerts: AlertStore
    alert_feed: AlertFeed
    webhooks: AlertmanagerWebhook
    silences: Silences
    triage: AlertTriage
    analytics: AnalyticsProcessor
    sensors: SensorsService
    sensor_intake: SensorIntake
    crm: CrmService
    accounts: Accounts
    dispatcher: Dispatcher
    playbooks: PlaybookEngine
    playbook_history: PlaybookHistory
    live: LiveHub
    trends: Trends
    columns: ColumnarCopy | None
    engine: sa.Engine
    """The SQL store, for the edges' own set-up (CLI, tests); routes never get it."""
    services: Services = field(default_factory=Services)
    _sampled_bucket: int | None = None

    async def start(self) -> None:
        """Start every part in data-flow order (the store is migrated first)."""
        await self.services.start()

    async def stop(self) -> None:
        """Stop every started part in reverse order; the log's writer drains first."""
        self.end_streams()
        await self.services.stop()
        self.engine.dispose()

    def end_streams(self) -> None:
        """End the open live streams (SSE), so that a shutdown does not wait for them."""
        self.live.close()
        self.alert_feed.close()

    def sample_kpis(self) -> None:
        """Record the KPIs' current values for the dashboard's sparklines."""
        self.trends.record(to_us(self.clock.now()), self.alerting.snapshot())

    def tick(self) -> None:
        """Let the rules see time pass, and sample the KPIs once per trend bucket.

        Sampling reads every KPI under the rules' lock (tens of milliseconds with thousands
        of groups); doing it after every commit cost a third of the server's CPU at 10,000
        events/s and held back the alerts meanwhile. Trends keep one value per bucket, and
        the dashboard samples afresh when it asks.
        """
        self.alerting.tick()
        bucket = to_us(self.clock.now()) // self.trends.bucket_us
        if bucket != self._sampled_bucket:
            self._sampled_bucket = bucket
            self.sample_kpis()


def _notify_all(*targets: Callable[[], None]) -> Callable[[Sequence[AppendResult]], None]:
    def committed(results: Sequence[AppendResult]) -> None:
        if any(r.accepted for r in results):
            for notify in targets:
                notify()

    return committed


def _event_log(settings: Settings, sql_log: SqlEventLog) -> ServedLog:
    if not settings.log_url:
        return sql_log
    from vigie.log.nats import NatsEventLog

    # Rejected input stays in the SQL store; the events go to JetStream.
    return NatsEventLog.from_url(settings.log_url, rejects=sql_log)


def build_system(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: sa.Engine | None = None,
    processors: Sequence[Processor] = (),
    tick_seconds: float = 1.0,
) -> System:
    """Every part of Vigie for `settings`, wired, ready to start. `processors` run after
    the rules and before the built-in projections (tests and plugins add theirs here)."""
    clock = clock or SystemClock()
    config = settings.config
    engine = engine or connect(settings.db_url, synchronous=settings.sqlite_synchronous)
    telemetry = Telemetry()

    # The log, and what is told of each commit.
    sql_log = SqlEventLog(engine)
    log = _event_log(settings, sql_log)

    # Alerts: the schedule's dispatcher and the playbooks hear of every alert change.
    alerts = AlertStore(engine)
    dispatcher = Dispatcher(
        engine=engine,
        config=config.schedule,
        clock=clock,
        mailer=SmtpMailer(config.actions.smtp) if config.actions.smtp else None,
        resolved=ResolvedSince(engine, alerts),
    )
    # The shop and city state: playbooks read live counts from it and move displays.
    sensors = SensorsService(config=config.sensors, engine=engine, clock=clock)
    playbooks = PlaybookEngine(
        engine=engine,
        playbooks=config.playbooks,
        registry=ActionRegistry.from_entry_points(),
        schedule=config.schedule,
        settings=config.actions,
        dispatcher=dispatcher,
        clock=clock,
        places=sensors,
    )
    telemetry.registry.register(PlaybookCollector(engine))
    alert_feed = AlertFeed()
    webhooks = AlertmanagerWebhook(
        config.alerting.webhooks, external_url=config.alerting.external_url
    )
    telemetry.registry.register(WebhookCollector(webhooks))
    # A silenced alert is stored and shown (the feed), but posts nothing and runs nothing.
    silences = Silences(engine=engine, clock=clock)
    alerting = AlertingEngine(
        config.metrics,
        alerting_rules(config),
        clock=clock,
        store=alerts,
        listeners=[
            alert_feed,
            Silenced(webhooks, silences),
            Silenced(AlertPlaybooks(playbooks), silences),
        ],
    )
    telemetry.registry.register(LateEventsCollector(alerting.late_events))

    # Processors: the rules first, so that an alert does not wait for slower projections;
    # new events go to them between two batches of the others, so batches are kept short.
    # An event a processor keeps failing on is set aside (a dead letter) and raises an alert.
    analytics = AnalyticsProcessor(config.analytics, engine=engine)
    dead_letters = SqlDeadLetters(engine, clock=clock)
    runner = ProcessorRunner(
        log,
        [alerting, *processors, sensors, analytics, CrmProcessor(engine, config.crm)],
        batch_size=RUNNER_BATCH,
        dead_letters=dead_letters,
        listeners=[
            DeadLetterAlerts(
                clock=clock,
                store=alerts,
                listeners=[alert_feed, webhooks, AlertPlaybooks(playbooks)],
            )
        ],
    )
    telemetry.registry.register(ProgressCollector(runner, clock=clock))
    # The live hub reads the SQL log (its bootstrap queries the events table).
    live = LiveHub(sql_log, clock)
    committer = GroupCommitter(log, on_commit=_notify_all(runner.notify, live.notify))
    ingestor = Ingestor(config=config, committer=committer, metrics=telemetry, clock=clock)
    # The log's columnar copy, for from-scratch recomputations (SQL log only).
    columns = None if settings.log_url else ColumnarCopy.for_store(engine, settings.columns_dir)

    system = System(
        settings=settings,
        clock=clock,
        telemetry=telemetry,
        log=log,
        sql_log=sql_log,
        committer=committer,
        runner=runner,
        dead_letters=dead_letters,
        ingestor=ingestor,
        alerting=alerting,
        alerts=alerts,
        alert_feed=alert_feed,
        webhooks=webhooks,
        silences=silences,
        triage=AlertTriage(engine=engine, alerts=alerts, schedule=config.schedule, clock=clock),
        analytics=analytics,
        sensors=sensors,
        sensor_intake=SensorIntake(ingestor=ingestor, gate=SensorGate(config.sensors)),
        crm=CrmService(engine=engine, committer=committer, runner=runner, clock=clock),
        accounts=Accounts(
            engine=engine,
            clock=clock,
            session_secret=config.session_secret,
            is_write_key=lambda token: config.source_for_key(token) is not None,
            secure_cookies=config.environment == "production",
        ),
        dispatcher=dispatcher,
        playbooks=playbooks,
        playbook_history=PlaybookHistory(engine=engine, clock=clock),
        live=live,
        trends=Trends(),
        columns=columns,
        engine=engine,
    )
    _add_services(system, engine, tick_seconds=tick_seconds)
    return system


def _add_services(system: System, engine: sa.Engine, *, tick_seconds: float) -> None:
    """The start order: store, live feed, alerts restored, writer, processors, timers."""
    config = system.settings.config
    add = system.services.add
    add(Hook("store", start=lambda: upgrade(engine)))
    add(Hook("log", stop=system.log.close))
    if is_sqlite(engine):
        wal = WalCheckpointer(engine)
        add(Hook("wal-checkpoints", start=wal.start, stop=wal.stop))
    add(system.live)
    lookback = parse_duration(config.alerting.lookback)
    add(Hook("alerts", start=lambda: system.alerting.restore(system.log, lookback_us=lookback)))
    add(AlertFeedBinding(system.alert_feed))
    add(Hook("alert-webhooks", start=system.webhooks.start, stop=system.webhooks.stop))
    # The analytics counters live in memory: rebuild them from the start of the log.
    add(
        Hook(
            "analytics-replay",
            start=lambda: system.log.save_checkpoint(system.analytics.name, 1),
        )
    )
    # The shop and city state lives in memory too.
    add(Hook("sensors-replay", start=lambda: _replay(system.log, system.sensors)))
    add(Hook("log-writer", start=system.committer.start, stop=system.committer.stop))
    if config.sensors.mqtt_url:
        add(MqttSubscriber(config.sensors.mqtt_url, system.sensor_intake))
    add(Task("processors", system.runner.run_forever))
    tick = parse_duration(config.alerting.tick) / 1e6
    add(Periodic("rules-tick", system.tick, seconds=tick, delay_first=True))
    add(
        Periodic(
            "playbook-timer",
            _timer_round(system),
            seconds=tick_seconds,
            first=system.dispatcher.recover,
        )
    )
    if system.columns is not None:
        add(ColumnarWorker(system.columns))


def _replay(log: ServedLog, sensors: SensorsService) -> None:
    sensors.reset()
    log.save_checkpoint(sensors.name, 1)


def _timer_round(system: System) -> Callable[[], None]:
    """Run enqueued or interrupted playbook runs, then deliver held notifications when due;
    one failing does not keep the other from running."""
    jobs = (
        (system.playbooks.resume, "running playbooks"),
        (system.dispatcher.deliver_due, "delivering held notifications"),
    )

    def round_() -> None:
        for job, what in jobs:
            try:
                job()
            except Exception:
                logger.exception("%s failed; will retry", what)

    return round_


class AlertFeedBinding:
    """Binds the alert feed to the running event loop (its subscribers live there)."""

    name = "alert-feed"

    def __init__(self, feed: AlertFeed) -> None:
        self.feed = feed

    async def start(self) -> None:
        self.feed.bind(asyncio.get_running_loop())

    async def stop(self) -> None:
        self.feed.close()
