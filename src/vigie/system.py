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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Literal, get_args

import sqlalchemy as sa

from vigie.analytics import AnalyticsProcessor
from vigie.auth.accounts import Accounts
from vigie.chat.conversations import conversation_of
from vigie.chat.fanout import ANSWER_SECONDS, ChatFeed, SharedHub
from vigie.chat.hub import ChatHub
from vigie.chat.kpis import ChatKpis
from vigie.chat.processor import SAID, ChatProcessor, forget_transcripts
from vigie.chat.service import ChatService
from vigie.clock import Clock, SystemClock
from vigie.config import alerting_rules
from vigie.crm.entities import CONTACT_IDENTIFIERS, ENTITIES
from vigie.crm.notes import forget_notes, note_events
from vigie.crm.processor import NAME as CRM_PROCESSOR
from vigie.crm.processor import CrmProcessor
from vigie.crm.service import CrmService
from vigie.events import Event
from vigie.experiments.processor import ExperimentsProcessor
from vigie.ingest.ingestor import Ingestor
from vigie.ingest.mqtt import MqttSubscriber
from vigie.ingest.sensors import SensorIntake
from vigie.ingest.webhooks import DeliveryCollector, Inbound
from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import fields_read
from vigie.kpi.partitions import Partitioning
from vigie.kpi.trends import Trends
from vigie.lifecycle import Exclusive, Hook, Periodic, Services, Task
from vigie.log import GroupCommitter, Processor, ProcessorRunner, ServedLog, SqlEventLog
from vigie.log.columnar import ColumnarCopy, ColumnarWorker
from vigie.log.deadletters import DeadLetters, SqlDeadLetters
from vigie.log.eventlog import AppendJob, AppendResult
from vigie.log.leases import DEFAULT_TTL_SECONDS, Lease, Members, ShareBoard
from vigie.log.live import LiveHub
from vigie.log.pressure import Backpressure, StoredPositions
from vigie.log.progress import ProgressCollector
from vigie.log.readiness import ReadinessProbe
from vigie.log.views import ViewLog
from vigie.log.wakeups import ALERT_CHANGED, ALERTS, COMMITTED, Wakeups
from vigie.playbooks import ActionRegistry, PlaybookEngine
from vigie.playbooks.alerts import AlertPlaybooks, ResolvedSince
from vigie.playbooks.collector import PlaybookCollector
from vigie.playbooks.crm_tasks import Append, CrmTaskBook
from vigie.playbooks.history import PlaybookHistory
from vigie.playbooks.holdouts import HoldoutBook
from vigie.playbooks.ledger import ActionLedger
from vigie.playbooks.outcomes import AlertOutcomes
from vigie.privacy import DataSubjects, PrivacyError, RetentionPurge
from vigie.privacy.config import ShreddingSettings
from vigie.privacy.consent import ConsentBook
from vigie.privacy.erasures import (
    FOLLOW_SECONDS,
    ErasureAnnouncements,
    ErasureNotices,
    ErasuresFollowed,
    erased_event,
)
from vigie.privacy.erasures import SOURCE as ERASURES_SOURCE
from vigie.privacy.safeguards import SafeguardedLog, Safeguards
from vigie.privacy.shredding import ShreddedLog, Shredder, shredded, shredder_for
from vigie.review import ReviewSources, WeeklyReviews
from vigie.review.weekly import EffectLine
from vigie.rules.alertmanager import AlertmanagerCollector, Alertmanagers
from vigie.rules.backtest import log_events
from vigie.rules.deadletters import DeadLetterAlerts
from vigie.rules.definitions import Rule
from vigie.rules.evaluator import AlertingEngine
from vigie.rules.feed import AlertFeed, AlertSender, StoredAlertsRelay
from vigie.rules.partitions import RulesPartition, RuleSplit
from vigie.rules.silences import Silenced, Silences
from vigie.rules.store import AlertStore
from vigie.rules.triage import AlertTriage
from vigie.rules.versions import RuleVersions
from vigie.rules.webhook import AlertmanagerWebhook, WebhookCollector
from vigie.schedule import Dispatcher
from vigie.schedule.inbox import Inbox
from vigie.schedule.mailer import SmtpMailer
from vigie.sensors.readings import SensorGate
from vigie.sensors.rings import NOTICE_SOURCE as RINGS_SOURCE
from vigie.sensors.rings import PURPOSE as RING_PURPOSE
from vigie.sensors.rings import RingBook, changed_event
from vigie.sensors.service import SensorsService
from vigie.settings import Settings
from vigie.sources import SourceRegistry
from vigie.store import connect, is_sqlite, upgrade
from vigie.store.wal import WalCheckpointer
from vigie.telemetry import LateEventsCollector, RejectedDroppedCollector, Telemetry
from vigie.types import to_us

logger = logging.getLogger(__name__)
RUNNER_BATCH = 1000
PROCESSORS_LEASE = "processors"
"""The rules' share: the processors with in-memory state, the timers, the columnar copy."""
PROJECTIONS_SHARE = "processors:projections"
"""A movable share: the projections kept in the store (CRM, chat), which any worker takes
over from their checkpoints."""
MOVABLE_SHARES: tuple[str, ...] = (PROJECTIONS_SHARE,)
"""The movable shares of a log not cut into partitions."""
PARTITION_SHARE = "processors:rules:p"
"""A movable share per partition of the log: its partitionable rules
(`vigie.rules.partitions`), followed `processors:rules:p0`, `…p1`, …"""
WORKERS = "workers"
"""The group the processing processes announce themselves in (`vigie.log.leases.Members`)."""

Role = Literal["all", "ingest", "api", "worker"]
"""What a process does: everything (one machine), ingestion or the API and dashboard (no
processors: stateless behind a load balancer), or the processors only (`vigie worker`)."""
ROLES: tuple[str, ...] = get_args(Role)
WORKER_POLL_SECONDS = 0.25
"""How often a worker looks for new events: no commit of its own wakes it."""


@dataclass(kw_only=True)
class System:
    """A built Vigie: its parts' services, and the ordered list that starts and stops them.

    The attributes are what the edges (web, CLI, benchmarks, tests) may use; the SQL engine
    stays inside the parts' services.
    """

    settings: Settings
    clock: Clock
    role: Role
    telemetry: Telemetry
    log: ServedLog
    sql_log: SqlEventLog
    safeguards: Safeguards
    """What is done to events before storage; `visitor_id` finds the id stored for a
    visitor a client names."""
    committer: GroupCommitter
    runner: ProcessorRunner
    dead_letters: DeadLetters
    ingestor: Ingestor
    inbound: Inbound
    alerting: AlertingEngine
    alerts: AlertStore
    alert_feed: AlertFeed
    webhooks: AlertmanagerWebhook
    alertmanagers: Alertmanagers
    silences: Silences
    triage: AlertTriage
    analytics: AnalyticsProcessor
    experiments: ExperimentsProcessor
    sensors: SensorsService
    sensor_intake: SensorIntake
    crm: CrmService
    chat: ChatService
    accounts: Accounts
    dispatcher: Dispatcher
    inbox: Inbox
    playbooks: PlaybookEngine
    playbook_history: PlaybookHistory
    actions: ActionLedger
    holdouts: HoldoutBook
    outcomes: AlertOutcomes
    live: LiveHub
    trends: Trends
    columns: ColumnarCopy | None
    privacy: DataSubjects
    erasures: ErasuresFollowed
    """Drops this process's copies of the log and cached keys after an erasure made by any
    process, whatever this one's role (`vigie.privacy.erasures`)."""
    retention: RetentionPurge
    readiness: ReadinessProbe
    processing: ShareBoard
    partitions: list[RulesPartition]
    """The partitionable rules, one processor per partition of the log (none when the log
    is not cut into partitions); each runs where its share's lease is held."""
    engine: sa.Engine
    """The SQL store, for the edges' own set-up (CLI, tests); routes never get it."""
    services: Services = field(default_factory=Services)
    reviews: WeeklyReviews = field(init=False)
    rule_versions: RuleVersions = field(init=False)
    """Tuned rules: versions of thresholds, applied live (`vigie.rules.versions`)."""
    """The weekly review, read from the parts above (`vigie.review`)."""
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
        """End the open live streams (SSE) and the chat's connections, so that a shutdown
        does not wait for them."""
        self.live.close()
        self.alert_feed.close()
        self.chat.hub.close()

    def sample_kpis(self) -> None:
        """Record the KPIs' current values for the dashboard's sparklines."""
        self.trends.record(to_us(self.clock.now()), self.alerting.snapshot())

    def apply_rule(self, rule: Rule) -> None:
        """Put a tuned version of `rule` in place where it is evaluated: in the whole log's
        engine, or, for a rule run per partition of the log, in the engine of each partition
        held here and in those of the partitions taken later."""
        split = self.partitions[0].split if self.partitions else None
        if split is not None and rule.name in split.partitioned_names:
            split.tune(rule)
            for partition in self.partitions:
                partition.tune(rule)
        else:
            self.alerting.replace_rule(rule)

    def rule_problem(self, rule: Rule) -> str | None:
        """Why a new version of `rule` could not be put in place where it is evaluated (its
        kind or metric changed, or a same_slot history it would read is not learned); None
        when it can (`apply_rule` then takes it)."""
        split = self.partitions[0].split if self.partitions else None
        if split is None or rule.name not in split.partitioned_names:
            return self.alerting.replacement_problem(rule)
        old = next(r for r in split.partitioned if r.name == rule.name)
        if (rule.kind, rule.metric) != (old.kind, old.metric):
            return (
                f"rule {rule.name!r}: only a threshold or change rule's parameters change "
                "live; its kind and metric stay"
            )
        for partition in self.partitions:
            engine = partition.engine
            problem = None if engine is None else engine.replacement_problem(rule)
            if problem is not None:
                return problem
        return None

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


def _both(
    notify: Callable[[Sequence[AppendResult]], None],
    pressure: Backpressure,
    results: Sequence[AppendResult],
) -> None:
    """After a commit: tell the processors and the live feed, and the back-pressure gauge."""
    pressure.committed(results)
    notify(results)


def _partitioning(settings: Settings) -> Partitioning:
    """How the log is cut into partitions (`?partitions=N&key=FIELD` on a NATS log URL); a
    key that crypto-shredding seals is refused (its partition is not the same sealed and
    opened)."""
    if not settings.log_url:
        return Partitioning()
    from vigie.log.nats import parse_nats_url

    options = parse_nats_url(settings.log_url)
    key = options.partition_key
    try:
        partitioning = Partitioning(count=options.partitions, key=key)
    except ValueError as exc:
        raise ValueError(f"log URL: key={key!r}: {exc}") from exc
    shredding = settings.config.privacy.shredding
    sealed = [f for f in fields_read(key) if _sealed(shredding, f)]
    if partitioning.partitioned and sealed:
        # The log is published on the partition of the value as stored (sealed), and each
        # worker keeps the events whose opened value is of its partition: the two differ.
        clear = f"properties.{key}"
        hint = (
            f"write key={clear} if that property is kept in clear, or "
            if "." not in key and not _sealed(shredding, clear)
            else ""
        )
        raise ValueError(
            f"log URL: key={key!r} reads {', '.join(sealed)}, which crypto-shredding "
            "(privacy.shredding) seals in the log: events would be published on the partition "
            "of the sealed value and each worker would keep those of the opened one, so most "
            f"would be lost to the partitions' rules; {hint}partition on a field kept in clear "
            "(e.g. key=campaign or key=contact)"
        )
    return partitioning


def _event_log(
    settings: Settings,
    sql_log: SqlEventLog,
    shredder: Shredder | None,
    partitioning: Partitioning,
) -> ServedLog:
    log: ServedLog = sql_log
    if settings.log_url:
        from vigie.log.nats import NatsEventLog

        # Rejected input stays in the SQL store; the events go to JetStream, each on its
        # partition's subjects when the stream is cut into partitions.
        # A conversation's events also go on subjects of their own, which every node serving
        # the chat follows (`vigie.chat.fanout`).
        log = NatsEventLog.from_url(
            settings.log_url,
            rejects=sql_log,
            partition_of=partitioning.reader() if partitioning.partitioned else None,
            topic_of=conversation_of,
        )
    return log if shredder is None else shredded(log, shredder)


def guarded_log(
    settings: Settings,
    sql_log: SqlEventLog,
    *,
    shredder: Shredder | None,
    partitioning: Partitioning | None = None,
) -> SafeguardedLog:
    """The event log as every writer appends to it: the SQL store's, or NATS JetStream's
    (`settings.log_url`), sealed by `shredder` (crypto-shredding), behind the safeguards (IP
    addresses truncated, visitor ids pseudonymised; before sealing, as a visitor's key is
    that of their stored id). Closing it closes the log beneath."""
    safeguards = Safeguards(settings.config.privacy, environment=settings.config.environment)
    cut = partitioning if partitioning is not None else _partitioning(settings)
    return SafeguardedLog(_event_log(settings, sql_log, shredder, cut), safeguards)


def command_log(settings: Settings, engine: sa.Engine) -> SafeguardedLog:
    """The log the server's writer appends to, for a command that appends outside the server
    (`vigie leads publish`, `vigie import`): what it stores is protected like any other
    event, and goes to NATS JetStream when the settings name it. Close it after use."""
    return guarded_log(
        settings, SqlEventLog(engine), shredder=shredder_of(settings.config.privacy.shredding)
    )


def _sealed_records() -> dict[str, tuple[str, ...]]:
    """The events of a record sealed under a record's key, with the properties sealed
    (they carry no user id): a contact's own events (`Contact Created` …), its identifiers;
    an interaction's and a task's, their notes (under their contact's key, `_record_owners`)."""
    contacts = dict.fromkeys(ENTITIES["contacts"].events, CONTACT_IDENTIFIERS)
    return contacts | note_events()


def _record_owners() -> dict[str, str]:
    """The property naming whose key seals a record's event, when not the record's own id:
    an interaction's and a task's notes are their contact's."""
    return dict.fromkeys(note_events(), "contact_id")


def _sealed(shredding: ShreddingSettings, field: str) -> bool:
    """Whether the event field at path `field` goes into the log sealed in some events: as
    `privacy.shredding` asks, or as a record's property sealed under its key."""
    if shredding.seals(field):
        return True
    part, _, rest = field.partition(".")
    if shredding.keys is None or part != "properties" or not rest:
        return False
    return any(rest.split(".")[0] in fields for fields in _sealed_records().values())


def shredder_of(shredding: ShreddingSettings) -> Shredder | None:
    """The crypto-shredder `privacy.shredding` asks for (None when off), sealing a record's
    own events under the record's key (`_sealed_records`)."""
    return shredder_for(shredding, records=_sealed_records(), owners=_record_owners())


def _announce_rings(append: Append, clock: Clock) -> None:
    """Log that the rings' links changed, for every process's sensors to re-read them."""
    append([changed_event(at=clock.now())])


def _appender(committer: GroupCommitter, endpoint: str) -> Append:
    """Append events through the log's writer from a worker thread, once committed."""

    def append(events: Sequence[Event]) -> None:
        job = AppendJob(events=events, source=events[0].source, endpoint=endpoint)
        committer.submit(job).result(timeout=30)

    return append


def _chat_fanout(settings: Settings, log: ServedLog, role: Role) -> tuple[ChatHub, ChatFeed | None]:
    """The chat's connections, and the feed of its conversations: with the log on NATS, the
    nodes share them (`vigie.chat.fanout`; a worker only reaches the visitors for its
    playbooks' invitations); on the embedded log, this process holds them all."""
    if not settings.log_url:
        return ChatHub(), None
    from vigie.log.nats import NatsEventLog

    relay = log.inner if isinstance(log, ShreddedLog) else log
    assert isinstance(relay, NatsEventLog)
    shown = log.shredder.open if isinstance(log, ShreddedLog) else None
    if role == "worker":
        return SharedHub(relay, answer_seconds=ANSWER_SECONDS), None
    return SharedHub(relay), ChatFeed(relay, shown=shown)


def build_system(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: sa.Engine | None = None,
    processors: Sequence[Processor] = (),
    tick_seconds: float = 1.0,
    role: Role = "all",
    lease_seconds: float | None = None,
    on_lease_lost: Callable[[], None] | None = None,
    link: Wakeups | None = None,
) -> System:
    """Every part of Vigie for `settings`, wired, ready to start. `processors` run after
    the rules and before the built-in projections (tests and plugins add theirs here).

    `role` chooses what the process runs (`Role`). The processors, their timers and the
    columnar copy run in one process at a time among all those on the same store (a lease,
    `vigie.log.leases`, of `lease_seconds`); `on_lease_lost` is called if this process loses
    it, so that a worker exits and is restarted with fresh state.

    `link` joins `vigie serve` and the worker process it runs its processors in
    (`vigie.log.wakeups`): with role all, the processors are left to that worker (this process
    keeps the dashboard's views, as an API node does, and nudges the worker after each
    commit); with role worker, the worker hears of the server's commits and tells it of the
    alerts it stores."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if link is not None and role not in ("all", "worker"):
        raise ValueError(f"role {role!r} runs no processors: it takes no worker link")
    apart = link is not None and role == "all"
    clock = clock or SystemClock()
    config = settings.config
    engine = engine or connect(settings.db_url, synchronous=settings.sqlite_synchronous)
    telemetry = Telemetry()

    # The log, and what is told of each commit.
    sql_log = SqlEventLog(engine)
    telemetry.registry.register(RejectedDroppedCollector(lambda: sql_log.rejected_dropped))
    # With crypto-shredding, traits go into the log sealed with a key per person (kept in a
    # store of its own) and every reader of the log sees them opened. Whoever appends
    # (ingestion, the chat, the sensors, the CRM) goes through the log's writer, which guards
    # copies of the events first: IP addresses truncated, visitor ids pseudonymised.
    shredder = shredder_of(config.privacy.shredding)
    partitioning = _partitioning(settings)
    guarded = guarded_log(settings, sql_log, shredder=shredder, partitioning=partitioning)
    log: ServedLog = guarded.inner
    safeguards = guarded.safeguards

    # Alerts: the schedule's dispatcher and the playbooks hear of every alert change.
    alerts = AlertStore(
        engine, on_saved=partial(link.send, ALERTS) if link and role == "worker" else None
    )
    dispatcher = Dispatcher(
        engine=engine,
        config=config.schedule,
        clock=clock,
        mailer=SmtpMailer(config.actions.smtp) if config.actions.smtp else None,
        resolved=ResolvedSince(engine, alerts),
        ttl_seconds=DEFAULT_TTL_SECONDS if lease_seconds is None else lease_seconds,
    )
    # The shop and city state: playbooks read live counts from it and move displays.
    # A loyalty ring is linked to a customer only with their consent to profiling.
    consents = ConsentBook(engine)
    rings = RingBook(
        engine=engine,
        clock=clock,
        consent=lambda contact: consents.contact_gives(contact, RING_PURPOSE),
    )
    sensors = SensorsService(config=config.sensors, engine=engine, clock=clock, rings=rings)
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
        config.alerting.webhooks,
        external_url=config.alerting.external_url,
        allow_private=config.alerting.allow_private_networks,
    )
    telemetry.registry.register(WebhookCollector(webhooks))
    # A silenced alert is stored and shown (the feed), but posts nothing and runs nothing;
    # an Alertmanager still hears that an alert it knows of resolved.
    silences = Silences(engine=engine, clock=clock)
    alertmanagers = Alertmanagers(
        config.alerting.alertmanagers,
        external_url=config.alerting.external_url,
        clock=clock,
        resend=timedelta(microseconds=parse_duration(config.alerting.alertmanager_resend)),
        muted=silences.silencing,
        allow_private=config.alerting.allow_private_networks,
    )
    telemetry.registry.register(AlertmanagerCollector(alertmanagers))
    # An API node keeps its own copy of the KPIs for the dashboard: it fires nothing.
    views = role == "api" or apart
    # On a log cut into partitions, a worker runs the rules on the whole log (`alerting`)
    # and those of the partitions dealt to it (`partitions`); a process serving the
    # dashboard keeps every metric in `alerting` for it (`vigie.rules.partitions`).
    rules = alerting_rules(config)
    split = RuleSplit(config.metrics, rules, partitioning)
    partitioned = partitioning.partitioned and (role == "worker" or (role == "all" and not apart))
    build_engine = partial(
        AlertingEngine,
        clock=clock,
        timezone=config.analytics.timezone,
        store=None if views else alerts,
        listeners=[]
        if views
        else [
            *([AlertSender(partial(link.send, ALERT_CHANGED))] if link else []),
            alert_feed,
            Silenced(webhooks, silences),
            alertmanagers,
            Silenced(AlertPlaybooks(playbooks), silences),
        ],
    )
    alerting = build_engine(
        split.whole_metrics if partitioned and role == "worker" else config.metrics,
        split.whole if partitioned else rules,
        owns=split.owned_by_whole if partitioned else None,
    )
    partitions = (
        [RulesPartition(k, split=split, build=build_engine) for k in range(partitioning.count)]
        if partitioned and split.partitioned
        else []
    )
    telemetry.registry.register(LateEventsCollector(alerting.late_events))

    # Processors: the rules first, so that an alert does not wait for slower projections;
    # new events go to them between two batches of the others, so batches are kept short.
    # An event a processor keeps failing on is set aside (a dead letter) and raises an alert.
    analytics = AnalyticsProcessor(
        config.analytics, engine=engine, visitor_id=safeguards.visitor_id
    )
    experiments = ExperimentsProcessor(config.experiments, clock=clock)
    dead_letters = SqlDeadLetters(engine, clock=clock)
    chat_kpis = ChatKpis(
        conversion_event=config.chat.conversion_event,
        conversion_hours=config.chat.conversion_hours,
    )
    # An erasure made elsewhere (another node, `vigie privacy erase`) is followed in the log:
    # this process then drops its copies of what the erasure rewrote at once. Every process,
    # these processors held here or not, also follows the store's record of erasures
    # (`erasures-followed`).
    notices = ErasureNotices(forget=lambda: forget_copies())
    shares: dict[str, list[Processor]] = {
        PROCESSORS_LEASE: [
            alerting,
            *processors,
            sensors,
            analytics,
            experiments,
            chat_kpis,
            notices,
        ],
        PROJECTIONS_SHARE: [CrmProcessor(engine, config.crm), ChatProcessor(engine)],
    }
    for partition in partitions:
        shares[f"{PARTITION_SHARE}{partition.partition}"] = [partition]
    movable = [name for name in shares if name != PROCESSORS_LEASE]
    share_names = {name: [p.name for p in share] for name, share in shares.items()}
    if role == "worker" or (role == "all" and not apart):
        runner = ProcessorRunner(
            log,
            [p for share in shares.values() for p in share],
            batch_size=RUNNER_BATCH,
            dead_letters=dead_letters,
            listeners=[
                DeadLetterAlerts(
                    clock=clock,
                    store=alerts,
                    listeners=[alert_feed, webhooks, alertmanagers, AlertPlaybooks(playbooks)],
                )
            ],
        )
    else:
        # No projection of the shared store here; an API node rebuilds the in-memory ones
        # for its dashboard, at positions of its own (`vigie.log.views`): the KPIs (firing
        # nothing), the analytics, the shop and city state, the experiments and the chat's
        # KPIs. Folding events, these only count in memory (the sensors read the rings' links,
        # write nothing): displays are moved and rings linked by people and playbooks.
        local: tuple[Processor, ...] = (
            (alerting, analytics, sensors, experiments, chat_kpis, notices) if views else ()
        )
        view_log = ViewLog(log, [p.name for p in local])
        runner = ProcessorRunner(view_log, local, batch_size=RUNNER_BATCH)
    telemetry.registry.register(ProgressCollector(runner, clock=clock))
    # The live hub follows the log; a node that does not ingest everything itself (other
    # ingest nodes append too) looks for news every second.
    live = LiveHub(
        log,
        clock,
        poll_seconds=5.0 if role == "all" else 1.0,
        notice_sources=(ERASURES_SOURCE, RINGS_SOURCE),
    )

    def forget_copies() -> None:
        """Drop what this process keeps of the log in memory: its last committed bodies,
        the live feed's newest events, the chat's conversations, the keys it read (an
        erasure changed them)."""
        sql_log.recent_bodies.clear()
        live.forget()
        chat.forget()
        if shredder is not None:
            shredder.keys.forget_cached()

    if apart:
        assert link is not None
        # The worker process is woken; the dashboard's views catch up every second, in
        # batches, rather than taking the interpreter from ingestion at every commit.
        notify = _notify_all(link.committed, live.notify)
    else:
        notify = _notify_all(runner.notify, live.notify)
    committer = GroupCommitter(guarded, on_commit=lambda results: _both(notify, pressure, results))
    # Back-pressure: ingestion answers 503 when the writer or the processors fall behind.
    # With the processors in a worker process, their lag is read from their checkpoints.
    stored = (
        StoredPositions(log, share_names[PROCESSORS_LEASE] + share_names[PROJECTIONS_SHARE])
        if apart
        else None
    )
    pressure = Backpressure(
        committer=committer,
        runner=runner,
        max_queued=config.ingest.max_queued_batches,
        max_lag=config.ingest.max_processor_lag,
        stored=stored,
    )
    ingestor = Ingestor(
        config=config,
        committer=committer,
        metrics=telemetry,
        clock=clock,
        pressure=pressure,
    )
    # Business sources (Stripe, Shopify, Twilio, Mailchimp, plugins) come in by the ingestor.
    inbound = Inbound(
        config.inbound, registry=SourceRegistry.from_entry_points(), ingestor=ingestor
    )
    telemetry.registry.register(DeliveryCollector(inbound))
    # The website chat: its conversations are logged, then pushed to the open widgets and
    # consoles; the playbooks' `chat.invite` reaches the visitors on the site through it.
    crm = CrmService(engine=engine, committer=committer, runner=runner, clock=clock)
    hub, feed = _chat_fanout(settings, log, role)
    chat = ChatService(
        config=config.chat,
        schedule=config.schedule,
        secret=config.session_secret,
        source_for_key=lambda key: s.name if (s := config.source_for_key(key)) else None,
        engine=engine,
        committer=committer,
        crm=crm,
        clock=clock,
        hub=hub,
        kpis=chat_kpis,
        visitor_id=safeguards.visitor_id,
        feed=feed,
    )
    playbooks.chat = chat
    # A ring's link made, ended or erased here reaches every process's sensors through the log.
    rings.announce = partial(_announce_rings, _appender(committer, "rings"), clock)
    # A playbook's task is a CRM task: its `Task Created` goes to the log like the API's.
    crm_tasks = CrmTaskBook(
        engine=engine, schedule=config.schedule, append=_appender(committer, "playbooks")
    )
    playbooks.crm_tasks = crm_tasks
    # The log's columnar copy, for from-scratch recomputations (SQL log only).
    columns = None if settings.log_url else ColumnarCopy.for_store(engine, settings.columns_dir)

    # What playbooks did, closed or undone by people, and what it changed: each alert's
    # actions, measured against their steps' control groups.
    ledger = ActionLedger(engine=engine, clock=clock, crm_tasks=crm_tasks)
    holdouts = HoldoutBook(
        engine=engine,
        designs=[
            (book.name, step.label(i), step.holdout)
            for book in config.playbooks
            for i, step in enumerate(book.steps)
            if step.holdout is not None
        ],
    )

    system = System(
        settings=settings,
        clock=clock,
        role=role,
        telemetry=telemetry,
        log=log,
        safeguards=safeguards,
        sql_log=sql_log,
        committer=committer,
        runner=runner,
        dead_letters=dead_letters,
        ingestor=ingestor,
        inbound=inbound,
        alerting=alerting,
        alerts=alerts,
        alert_feed=alert_feed,
        webhooks=webhooks,
        alertmanagers=alertmanagers,
        silences=silences,
        triage=AlertTriage(engine=engine, alerts=alerts, schedule=config.schedule, clock=clock),
        analytics=analytics,
        experiments=experiments,
        sensors=sensors,
        sensor_intake=SensorIntake(ingestor=ingestor, gate=SensorGate(config.sensors)),
        crm=crm,
        chat=chat,
        accounts=Accounts(
            engine=engine,
            clock=clock,
            session_secret=config.session_secret,
            is_write_key=lambda token: config.source_for_key(token) is not None,
            secure_cookies=config.environment == "production",
        ),
        dispatcher=dispatcher,
        inbox=Inbox(engine=engine, config=config.schedule, clock=clock),
        playbooks=playbooks,
        playbook_history=PlaybookHistory(engine=engine, clock=clock),
        actions=ledger,
        holdouts=holdouts,
        outcomes=AlertOutcomes(engine=engine, ledger=ledger, holdouts=holdouts, clock=clock),
        live=live,
        trends=Trends(),
        columns=columns,
        privacy=DataSubjects(
            engine=engine,
            clock=clock,
            columns=columns,
            forget_cached=forget_copies,
            announcements=ErasureAnnouncements(
                engine=engine,
                announce=lambda: _appender(committer, "privacy")([erased_event(at=clock.now())]),
            ),
            forget_person=sensors.forget_customer,
            forget_notes=forget_notes,
            notes=note_events(),
            said=SAID,
            forget_said=forget_transcripts,
            settle=_projections_settled(runner, log),
            forget_keys=shredder.keys.forget if shredder is not None else None,
            open_record=shredder.open_record if shredder is not None else None,
            log=stored_log(log) if settings.log_url else None,
        ),
        erasures=ErasuresFollowed(engine=engine, forget=forget_copies),
        retention=RetentionPurge(engine=engine, clock=clock, retention=config.privacy.retention),
        readiness=ReadinessProbe(
            ping_store=lambda: _ping(engine),
            runner=runner,
            clock=clock,
            max_lag_seconds=parse_duration(config.readiness.max_lag) / 1e6,
            stored=stored,
        ),
        processing=ShareBoard(engine, share_names, group=WORKERS, movable=movable),
        partitions=partitions,
        engine=engine,
    )
    system.rule_versions = RuleVersions(
        engine=engine,
        rules=config.rules,
        clock=clock,
        apply=system.apply_rule,
        check=system.rule_problem,
    )
    system.reviews = _reviews(system)
    ttl = DEFAULT_TTL_SECONDS if lease_seconds is None else lease_seconds
    _add_services(
        system,
        engine,
        tick_seconds=tick_seconds,
        shares=share_names,
        movable=movable,
        ttl_seconds=ttl,
        on_lost=on_lease_lost,
        link=link,
    )
    return system


def _reviews(system: System) -> WeeklyReviews:
    """The weekly review reads the parts' records: the log replayed for the KPIs, the
    alerts and people's handling, the playbooks, effects and the disconnect record."""
    config = system.settings.config
    experiments = system.experiments

    def experiment_lines() -> list[EffectLine]:
        lines = []
        for name in experiments.experiments:
            verdict = experiments.verdict(name)
            lines.append(
                EffectLine(
                    kind="experiment",
                    name=name,
                    status=verdict.status,
                    sentence=dict(verdict.sentence),
                )
            )
        return lines

    return WeeklyReviews(
        ReviewSources(
            metrics=config.metrics,
            rules=config.rules,
            devices=config.sensors.devices,
            events=lambda start, end: log_events(system.sql_log, start=start, end=end),
            alerts=system.alerts,
            triage=system.triage,
            runs_of=system.outcomes.runs_of,
            models_dir=config.ai.models_dir,
            ledger=system.actions,
            holdouts=system.holdouts.reports,
            experiments=experiment_lines,
            disconnect=system.dispatcher.record_between,
            current_rule=system.rule_versions.rule,
            notify=system.dispatcher.submit,
            language_of=lambda name: getattr(config.schedule.person(name), "language", "en"),
            now=system.clock.now,
            timezone=config.analytics.timezone,
        )
    )


def _weekly_sender(system: System) -> Callable[[], None]:
    """Each hour, make sure last week's review went to `review.send_to` (once per week and
    recipient: the dispatcher's keys; it holds each message until their working hours). Last
    week is the site's: it ends at Monday 00:00 in `analytics.timezone`."""
    sent: list[str] = []

    def send() -> None:
        week = system.reviews.week_of(system.clock.now() - timedelta(weeks=1))
        if week in sent:
            return
        system.reviews.send(week, system.settings.config.review)
        sent.append(week)

    return send


def _ping(engine: sa.Engine) -> None:
    """One round trip to the SQL store."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _add_services(
    system: System,
    engine: sa.Engine,
    *,
    tick_seconds: float,
    shares: dict[str, list[str]],
    movable: Sequence[str],
    ttl_seconds: float,
    on_lost: Callable[[], None] | None,
    link: Wakeups | None,
) -> None:
    """The start order: store, live feed, writer, then the processors, each share under its
    lease: the rules' (alerts restored, processors, timers), then the movable ones; or, with
    the processors in a worker process (`link`), the dashboard's views."""
    add = system.services.add
    add(Hook("store", start=lambda: upgrade(engine)))
    # Every process may send notifications (an API node as a playbook runs, the worker when
    # they are due): it says it is alive, so that no other process's recovery takes back
    # what it is sending (`Dispatcher.recover`).
    dispatcher = system.dispatcher
    add(Hook("sender", start=dispatcher.beat, stop=dispatcher.leave))
    add(Periodic("sender-renewal", dispatcher.beat, seconds=ttl_seconds / 3, delay_first=True))
    apart = link is not None and system.role == "all"
    if link is not None:
        if system.role == "worker":
            link.on_nudge(COMMITTED, system.runner.notify)
        add(Hook("wakeups", start=link.start, stop=link.close))
    add(Hook("log", stop=system.log.close))
    # Every process, following the log or not, drops its copies and cached keys within a
    # second of an erasure made by any other (`vigie.privacy.erasures`).
    erasures = system.erasures
    add(Periodic("erasures-followed", erasures.poll, seconds=FOLLOW_SECONDS))
    if is_sqlite(engine):
        wal = WalCheckpointer(engine)
        add(Hook("wal-checkpoints", start=wal.start, stop=wal.stop))
    if system.role != "worker":
        add(system.live)
        add(system.chat.hub)
        if system.chat.feed is not None:
            add(system.chat.feed)
    elif isinstance(system.chat.hub, SharedHub):
        add(system.chat.hub)
    add(AlertFeedBinding(system.alert_feed))
    add(Hook("log-writer", start=system.committer.start, stop=system.committer.stop))
    if system.settings.config.sensors.mqtt_url and system.role in ("all", "ingest"):
        add(MqttSubscriber(system.settings.config.sensors.mqtt_url, system.sensor_intake))
    if system.role == "worker" or (system.role == "all" and not apart):
        _add_shares(
            system,
            engine,
            shares,
            movable=movable,
            tick_seconds=tick_seconds,
            ttl_seconds=ttl_seconds,
            on_lost=on_lost,
        )
    elif system.role == "api" or apart:
        _add_views(system, link if apart else None)


def _add_shares(
    system: System,
    engine: sa.Engine,
    shares: dict[str, list[str]],
    *,
    movable: Sequence[str],
    tick_seconds: float,
    ttl_seconds: float,
    on_lost: Callable[[], None] | None,
) -> None:
    """The processors, fed by one runner, each share under a lease of its own
    (`vigie.log.leases`): every processor waits paused until its share is taken here. The
    rules' share moves only when its holder dies; the movable ones are dealt over the live
    workers, so that two workers share the load."""
    add = system.services.add
    runner = system.runner
    holder = system.dispatcher.holder
    members = Members(
        engine, WORKERS, holder=holder, sticky=PROCESSORS_LEASE, ttl_seconds=ttl_seconds
    )
    everything = [name for names in shares.values() for name in names]
    add(Hook("processors-paused", start=lambda: runner.pause(everything)))
    add(Hook("membership", start=members.beat, stop=members.leave))
    add(Periodic("membership-renewal", members.beat, seconds=ttl_seconds / 3, delay_first=True))
    if system.role == "worker":
        add(Task("processors", partial(runner.run_forever, poll_seconds=WORKER_POLL_SECONDS)))
    else:
        add(Task("processors", runner.run_forever))
    rules = shares[PROCESSORS_LEASE]
    processing = _processing(system, rules, tick_seconds=tick_seconds)
    lease = Lease(engine, PROCESSORS_LEASE, holder=holder, ttl_seconds=ttl_seconds)
    add(Exclusive("processing", lease, processing, on_lost=on_lost))
    lookback = parse_duration(system.settings.config.alerting.lookback)
    tick = parse_duration(system.settings.config.alerting.tick) / 1e6
    by_name = {p.name: p for p in system.partitions}
    if system.partitions:
        # The partitions' rules are tuned too, on a worker without the rules' share as well.
        add(Periodic("partitions-tuned-rules", system.rule_versions.sync, seconds=tick_seconds))
    for share in movable:
        names = shares[share]
        feeding = Services()
        for name in names:
            partition = by_name.get(name)
            if partition is not None:
                # A partition's rules: its windows and alerts rebuilt before it is fed, and
                # dropped when it moves on (its next holder rebuilds them), as tuned now.
                take = partial(_take_partition, system, partition, lookback_us=lookback)
                feeding.add(Hook(f"{name}-state", start=take, stop=partition.give_up))
        feeding.add(
            Hook(share, start=partial(runner.resume, names), stop=partial(runner.pause, names))
        )
        for name in names:
            partition = by_name.get(name)
            if partition is not None:
                # Its windows slide and its alerts go firing or resolve where it is held,
                # whoever holds the rules' share.
                feeding.add(
                    Periodic(f"{name}-tick", partition.tick, seconds=tick, delay_first=True)
                )
        add(
            Exclusive(
                share,
                Lease(engine, share, holder=holder, ttl_seconds=ttl_seconds),
                feeding,
                on_lost=on_lost,
                wanted=partial(members.dealt, share, list(movable)),
            )
        )


def _take_partition(system: System, partition: RulesPartition, *, lookback_us: int) -> None:
    """Start holding `partition` with its rules' latest tuned versions."""
    system.rule_versions.sync()
    partition.take(system.log, lookback_us=lookback_us)


def _add_views(system: System, link: Wakeups | None = None) -> None:
    """An API node's read models: the KPI windows rebuilt over the alerting lookback, the
    analytics, sensors, experiments and chat's KPIs from the start of the log, then all kept
    up to date every second; and the alerts the worker stores, relayed to the node's alert
    stream."""
    config = system.settings.config
    add = system.services.add
    view_log = system.runner.log
    assert isinstance(view_log, ViewLog)
    lookback = parse_duration(config.alerting.lookback)

    def rebuild() -> None:
        view_log.start_at_end(system.alerting.name)
        system.alerting.restore(view_log, lookback_us=lookback)

    add(Hook("views", start=rebuild))
    relay = StoredAlertsRelay(system.alerts, system.alert_feed)
    if link is not None:
        # The worker sends each alert change as its rules make it, and nudges once it has
        # stored changes (those of dead letters too): streamed at once, and once only.
        add(Hook("alert-changes", start=partial(link.on, ALERT_CHANGED, relay.pushed)))
        add(Hook("alert-nudges", start=partial(link.on_nudge, ALERTS, relay.poll)))
    add(Periodic("alert-relay", relay.poll, seconds=1.0, first=relay.start))
    stored = system.ingestor.pressure.stored if system.ingestor.pressure else None
    if stored is not None:
        add(Periodic("processor-positions", stored.refresh, seconds=1.0))
    add(Task("view-processors", partial(system.runner.run_forever, poll_seconds=1.0)))
    tick = parse_duration(config.alerting.tick) / 1e6
    add(Periodic("kpi-tick", system.tick, seconds=tick, delay_first=True))


def _processing(system: System, names: list[str], *, tick_seconds: float) -> Services:
    """The rules' share, in one process at a time: the alerts restored, the processors
    `names` fed, the rules' tick, the playbook timer and the columnar copy."""
    config = system.settings.config
    services = Services()
    add = services.add
    lookback = parse_duration(config.alerting.lookback)
    add(Hook("tuned-rules", start=system.rule_versions.sync))
    if config.review.send_to:
        add(Periodic("weekly-review", _weekly_sender(system), seconds=3600.0))
    add(Hook("alerts", start=lambda: system.alerting.restore(system.log, lookback_us=lookback)))
    add(Hook("alert-webhooks", start=system.webhooks.start, stop=system.webhooks.stop))
    add(Hook("alertmanagers", start=system.alertmanagers.start, stop=system.alertmanagers.stop))
    # The analytics counters live in memory: rebuild them from the start of the log.
    add(
        Hook(
            "analytics-replay",
            start=lambda: system.log.save_checkpoint(system.analytics.name, 1),
        )
    )
    # So do the experiments' exposures and conversions.
    add(
        Hook(
            "experiments-replay",
            start=lambda: system.log.save_checkpoint(system.experiments.name, 1),
        )
    )
    # The shop and city state lives in memory too.
    add(Hook("sensors-replay", start=lambda: _replay(system.log, system.sensors)))
    # A change of the rings' links whose notice the log refused, or whose process died before
    # sending it, still owes it: sent here, so the sensors do not keep reading by old links.
    rings = system.sensors.rings
    if rings is not None:
        add(Periodic("ring-notices", rings.settle, seconds=tick_seconds))
    # So does an erasure, whose notice tells every process to drop its copies (`erasures.py`).
    announcements = system.privacy.announcements
    if announcements is not None:
        add(Periodic("erasure-notices", announcements.settle, seconds=tick_seconds))
    # And the chat's KPIs.
    add(Hook("chat-kpis-replay", start=lambda: _replay(system.log, system.chat.kpis)))
    runner = system.runner
    add(
        Hook(
            "rules-processors",
            start=partial(runner.resume, names),
            stop=partial(runner.pause, names),
        )
    )
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
    if system.retention.configured:
        # The first purge waits one period: starting up (and the tests' short-lived servers)
        # does not contend with a purge for the store's write lock.
        add(
            Periodic(
                "retention-purge",
                system.retention.run,
                seconds=system.retention.every_seconds,
                delay_first=True,
            )
        )
    return services


def _replay(log: ServedLog, state: SensorsService | ChatKpis) -> None:
    state.reset()
    log.save_checkpoint(state.name, 1)


def stored_log(log: ServedLog) -> ServedLog:
    """`log` as stored: crypto-shredding's sealed values left sealed (the privacy export
    searches the stored form, then opens what it found)."""
    return log.inner if isinstance(log, ShreddedLog) else log


def _projections_settled(
    runner: ProcessorRunner, log: ServedLog, *, timeout: float = 30.0
) -> Callable[[], None]:
    """A wait until the CRM projection has applied every event logged so far: an erasure run
    meanwhile could see the contact's row rewritten in clear by an event already in flight."""

    def settle() -> None:
        last = log.last_offset()
        deadline = time.monotonic() + timeout
        while runner.position(CRM_PROCESSOR) <= last:
            if time.monotonic() > deadline:
                raise PrivacyError(
                    f"the CRM projection has not caught up with the log in {timeout:.0f} s; "
                    "nothing was erased, try again / projection en retard, réessayez"
                )
            runner.notify()
            time.sleep(0.02)

    return settle


def _timer_round(system: System) -> Callable[[], None]:
    """Run enqueued or interrupted playbook runs, then deliver held notifications when due;
    one failing does not keep the other from running."""
    jobs = (
        (system.playbooks.resume, "running playbooks"),
        (system.dispatcher.deliver_due, "delivering held notifications"),
        (system.rule_versions.sync, "loading tuned rules"),
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
