"""The weekly review: what the week's numbers, alerts, playbooks, experiments and people
did, read from the parts' own records (plain data; `render.py` turns it into HTML and PDF).

- **KPIs**: each metric replayed from the log over the week and the three before it,
  sampled at every hour's end; a week's value is the mean of its hourly readings, set
  against the threshold of the rule watching it (the target), with the week's days.
- **Alerts**: every alert that started in the week, its time to acknowledge, people's
  verdict, the playbook runs its firing started and the actions they took.
- **Rules**: per rule, alerts, verdicts (precision), noise (alerts per day) and the median
  time to acknowledge.
- **Effects**: each playbook step's control group and the measured effect of its action;
  the experiments and where they stand.
- **Right to disconnect**: per person and team, the week's notifications held, rerouted,
  delivered in working time, and delivered outside it (0 unless on call).
- **Sensors**: devices silent longer than their `silence` during the week, and those that
  went silent and came back three times or more (flapping).

A week is an ISO week (`2026-W48`) of the site's calendar: Monday 00:00 to Monday 00:00 on
the wall clock of `analytics.timezone` (UTC unless set), so 167 or 169 hours across a change
of daylight-saving time; its days and the weeks before it are the local ones too.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from vigie.ai import monitoring
from vigie.events.event import Event
from vigie.kpi import make_engine
from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import Metric
from vigie.kpi.wallclock import UTC_NAME
from vigie.playbooks.holdouts import HoldoutReport
from vigie.playbooks.ledger import ActionLedger
from vigie.playbooks.runs import RunRecord
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Rule
from vigie.rules.store import AlertStore
from vigie.rules.triage import AlertTriage, Verdict
from vigie.rules.tuning import Judged, Suggestion, suggest, tunable
from vigie.schedule.dispatcher import NotificationRequest
from vigie.schedule.record import PersonRecord
from vigie.sensors.places import Device
from vigie.sensors.readings import SOURCE as SENSOR_SOURCE
from vigie.types import to_us

WEEK = re.compile(r"(\d{4})-W(\d{2})")
HISTORY_WEEKS = 3
HOUR_US = 3_600_000_000
FLAPPING = 3
MAX_ALERTS = 10_000
Problem = tuple[list[str | int], str]


class ReviewSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `review:` section of vigie.yaml: who gets each Monday's review of last week, as a
    notification held until their working hours like any other."""

    send_to: list[str] = []
    """People or teams of `schedule:`."""
    dashboard_url: str | None = None
    """The dashboard's address, for the link in the message (e.g. https://vigie.example.be)."""


def check_settings(settings: ReviewSettings, is_known: Callable[[str], bool]) -> list[Problem]:
    """Problems as (key path, message): every recipient is a person or a team."""
    return [
        (["review", "send_to", i], f"{name!r} is not a person or team of schedule:")
        for i, name in enumerate(settings.send_to)
        if not is_known(name)
    ]


class ReviewError(ValueError):
    """A review cannot be made as asked; the message names the input and what to do."""


def week_bounds(week: str) -> tuple[date, date]:
    """Monday of ISO week `week` ("2026-W48") and the Monday after."""
    match = WEEK.fullmatch(week.strip())
    if match is None:
        raise ReviewError(f"week {week!r} must read YYYY-Www, e.g. 2026-W48")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise ReviewError(f"week {week!r}: {exc}") from exc
    return monday, monday + timedelta(days=7)


def week_of(moment: datetime, timezone: str = UTC_NAME) -> str:
    """The ISO week `moment` falls in on the calendar of `timezone` ("2026-W48"): a Sunday
    23:30 in Paris is still that week, though it is Monday in some other zone."""
    return _week_id(moment.astimezone(ZoneInfo(timezone)).date())


def _week_id(day: date) -> str:
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant (in UTC) `day` begins at in `zone` (where midnight is skipped by a change
    of time, the first instant of the day)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


class WeekValue(msgspec.Struct, kw_only=True):
    week: str
    value: float | None


class KpiLine(msgspec.Struct, kw_only=True):
    """One KPI (metric and group) over the week, its days and the weeks before."""

    metric: str
    group: str
    title: dict[str, str]
    unit: str | None
    department: str | None
    target: str | None
    """The watching threshold rule's condition (`< 0.02`), if any."""
    met: bool | None
    """Whether the week's value keeps clear of the threshold (None without one)."""
    value: float | None
    days: list[float | None]
    weeks: list[WeekValue]


class RunLine(msgspec.Struct, kw_only=True):
    id: str
    playbook: str
    status: str
    actions: int


class AlertLine(msgspec.Struct, kw_only=True):
    id: str
    rule: str
    severity: str
    status: str
    summary: dict[str, str]
    started_at: datetime
    ended_at: datetime | None
    acknowledged_by: str | None
    seconds_to_acknowledge: float | None
    verdict: Verdict | None
    runs: list[RunLine]


class RuleLine(msgspec.Struct, kw_only=True):
    rule: str
    alerts: int
    per_day: float
    useful: int
    false_alarm: int
    precision: float | None
    median_seconds_to_acknowledge: float | None


class EffectLine(msgspec.Struct, kw_only=True):
    """A playbook step's control group, or an experiment: where it stands, in words."""

    kind: str
    name: str
    status: str
    sentence: dict[str, str]


class SensorLine(msgspec.Struct, kw_only=True):
    device: str
    kind: str
    readings: int
    longest_silence_minutes: float
    silences: int
    state: str
    """`silent` (longer than its `silence` at least once) or `flapping` (3 times or more)."""


class AiLine(msgspec.Struct, kw_only=True):
    """The lead-scoring model in service: which version, how it came to be active, how it
    did on its test period, the shift its card warned of, and the week's drift checks."""

    version: str
    model: str | None
    activated: str | None
    """How and when it became active (`gate 2026-11-30`, `promote …`, `rollback …`)."""
    auc: float | None
    ece: float | None
    shift_warning: dict[str, str] | None
    drift_checks: int
    worst_psi: float | None
    drift_level: str | None
    """The level of the week's worst check: `none`, `moderate` or `major`."""


class WeeklyReview(msgspec.Struct, kw_only=True):
    week: str
    start: datetime
    end: datetime
    timezone: str = UTC_NAME
    """The site's time zone, whose calendar the week and its days follow."""
    generated_at: datetime
    kpis: list[KpiLine]
    alerts: list[AlertLine]
    rules: list[RuleLine]
    effects: list[EffectLine]
    disconnect: list[PersonRecord]
    disconnect_teams: list[PersonRecord]
    sensors: list[SensorLine]
    events: int
    """Events of the week in the log (the KPIs' input)."""
    tuning: list[Suggestion] = []
    """For each threshold or change rule people judged this week: the best alternative."""
    ai: AiLine | None = None
    """The lead-scoring model and its drift this week (None without a trained model)."""
    """For each threshold or change rule people judged this week: the best alternative."""


@dataclass(frozen=True)
class ReviewSources:
    """What a review reads: the parts' records (built by the composition root)."""

    metrics: Sequence[Metric]
    rules: Sequence[Rule]
    devices: Sequence[Device]
    events: Callable[[datetime, datetime], Iterable[Event]]
    alerts: AlertStore
    triage: AlertTriage
    runs_of: Callable[[Alert], list[RunRecord]]
    """The playbook runs an alert's firing and resolution started."""
    ledger: ActionLedger
    holdouts: Callable[[], list[HoldoutReport]]
    experiments: Callable[[], list[EffectLine]]
    disconnect: Callable[[date, date], tuple[list[PersonRecord], list[PersonRecord]]]
    now: Callable[[], datetime]
    current_rule: Callable[[str], Rule]
    """A rule as it stands now (its latest tuned version)."""
    models_dir: Path | None = None
    """Where the lead-scoring model versions are (`ai.models_dir`)."""
    notify: Callable[[NotificationRequest], object] | None = None
    language_of: Callable[[str], str] = lambda _name: "en"
    timezone: str = UTC_NAME
    """The site's time zone (`analytics.timezone`): the calendar of the weeks and their days,
    and the wall clock the tuning replay reads rules' daily and weekly profiles on."""


class WeeklyReviews:
    """Builds the review of a week from the parts' records."""

    def __init__(self, sources: ReviewSources) -> None:
        self._sources = sources
        self._zone = ZoneInfo(sources.timezone)
        self._drift: list[tuple[float, str]] = []

    def week_of(self, moment: datetime) -> str:
        """The ISO week `moment` falls in on the site's calendar."""
        return week_of(moment, self._sources.timezone)

    def build(self, week: str) -> WeeklyReview:
        """The review of ISO week `week` of the site's calendar."""
        first, after = week_bounds(week)
        start, end = self._midnight(first), self._midnight(after)
        now = self._sources.now()
        if start > now:
            raise ReviewError(f"week {week!r} has not started yet (today is {self.week_of(now)})")
        kpis, events, sensors = self._replay(first, start, end)
        alerts = self._alerts(start, end)
        people, teams = self._sources.disconnect(first, after)
        tuning = self._tuning(alerts, start, min(end, now))
        return WeeklyReview(
            week=week.strip(),
            start=start,
            end=end,
            timezone=self._sources.timezone,
            generated_at=now,
            kpis=kpis,
            alerts=alerts,
            rules=_rules(alerts, self._sources.rules),
            effects=self._effects(),
            disconnect=people,
            disconnect_teams=teams,
            sensors=sensors,
            events=events,
            tuning=tuning,
            ai=self._ai(),
        )

    def _ai(self) -> AiLine | None:
        """The active model's card and activation, with the drift checks the replay saw."""
        from vigie.ai import versions  # the models' libraries load only for a review with a model

        root = self._sources.models_dir
        version = versions.active_version(root) if root is not None and root.exists() else None
        if root is None or version is None:
            return None
        card = json.loads((root / version / "card.json").read_text(encoding="utf-8"))
        history = [h for h in versions.registry(root)["history"] if h.get("version") == version]
        last = history[-1] if history else None
        metrics = card.get("metrics") or {}
        worst = max(self._drift, default=None)
        return AiLine(
            version=version,
            model=card.get("model"),
            activated=f"{last['how']} {str(last['at'])[:10]}" if last else None,
            auc=metrics.get("auc"),
            ece=metrics.get("ece"),
            shift_warning=(card.get("shift") or {}).get("warning"),
            drift_checks=len(self._drift),
            worst_psi=worst[0] if worst else None,
            drift_level=worst[1] if worst else None,
        )

    def send(self, week: str, settings: ReviewSettings) -> int:
        """Notify each recipient of `settings` that `week`'s review is ready (in their
        language, held until their working hours by the dispatcher); submitting twice is
        harmless (one key per week and recipient). Returns how many were submitted."""
        notify = self._sources.notify
        if not settings.send_to or notify is None:
            return 0
        review = self.build(week)
        base = (settings.dashboard_url or "").rstrip("/")
        link = f"{base}/review?week={review.week}" if base else None
        for recipient in settings.send_to:
            subject, body = digest(review, self._sources.language_of(recipient), link)
            notify(
                NotificationRequest(
                    key=f"weekly-review:{review.week}:{recipient}",
                    recipient=recipient,
                    subject=subject,
                    body=body,
                )
            )
        return len(settings.send_to)

    def _tuning(
        self, alerts: Sequence[AlertLine], start: datetime, end: datetime
    ) -> list[Suggestion]:
        """Replay the week through alternatives of each judged threshold or change rule."""
        judged: dict[str, list[Judged]] = defaultdict(list)
        for alert in alerts:
            if alert.verdict is not None:
                judged[alert.rule].append(
                    Judged(
                        starts_at=alert.started_at, ends_at=alert.ended_at, verdict=alert.verdict
                    )
                )
        metrics = {m.name: m for m in self._sources.metrics}
        found: list[Suggestion] = []
        events: list[Event] | None = None
        for name, verdicts in judged.items():
            try:
                rule = self._sources.current_rule(name)
            except LookupError:
                continue
            metric = metrics.get(rule.metric or "")
            if metric is None or tunable(rule) is None:
                continue
            if events is None:  # read once, for every rule
                events = list(self._sources.events(start - timedelta(days=1), end))
            suggestion = suggest(
                rule, metric, events, verdicts, until=end, timezone=self._sources.timezone
            )
            if suggestion is not None:
                found.append(suggestion)
        return found

    def _midnight(self, day: date) -> datetime:
        return _midnight(day, self._zone)

    def _replay(
        self, first: date, start: datetime, end: datetime
    ) -> tuple[list[KpiLine], int, list[SensorLine]]:
        """Replay the log from three weeks before `start` (Monday `first`) to `end` through
        a fresh KPI engine, reading every metric at each hour's end; and the sensors' gaps."""
        metrics = list(self._sources.metrics)
        origin = self._midnight(first - timedelta(weeks=HISTORY_WEEKS))
        engine = make_engine(metrics)
        samples: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        labels: dict[tuple[str, str], dict[str, str]] = {}
        start_us, end_us, origin_us = to_us(start), to_us(end), to_us(origin)
        next_us = origin_us + HOUR_US
        seen: dict[str, list[int]] = defaultdict(list)
        in_week = 0
        drift = self._drift = []

        def sample(at_us: int) -> None:
            # Read the windows ending at the hour: event time just before it (at the hour
            # itself, a tumbling window would already be the next, empty one).
            engine.advance(at_us - 1)
            for row in engine.snapshot():
                if row["value"] is None:
                    continue
                key = (str(row["metric"]), str(row["group"]))
                labels.setdefault(key, dict(row.get("labels") or {}))
                samples[key][at_us - 1].append(float(row["value"]))

        batch: list[Event] = []
        for event in self._sources.events(origin, end):
            at = to_us(event.timestamp)
            if at >= next_us:
                if batch:
                    engine.ingest(batch)
                    batch = []
                while at >= next_us:
                    sample(next_us)
                    next_us += HOUR_US
            batch.append(event)
            if at >= start_us:
                in_week += 1
                if event.source == monitoring.SOURCE and event.event == monitoring.EVENT:
                    psi = event.properties.get("psi")
                    if isinstance(psi, int | float):
                        drift.append((float(psi), str(event.properties.get("level") or "")))
                if event.source == SENSOR_SOURCE and event.type == "sensor":
                    device = event.properties.get("device")
                    if isinstance(device, str):
                        seen[device].append(at)
        if batch:
            engine.ingest(batch)
        stop_us = min(end_us, to_us(self._sources.now()))  # a week in progress: up to now
        while next_us <= stop_us:
            sample(next_us)
            next_us += HOUR_US
        return (
            self._kpi_lines(samples, labels, first),
            in_week,
            _sensor_lines(
                self._sources.devices, seen, start_us, min(end_us, to_us(self._sources.now()))
            ),
        )

    def _kpi_lines(
        self,
        samples: dict[tuple[str, str], dict[int, list[float]]],
        labels: dict[tuple[str, str], dict[str, str]],
        first: date,
    ) -> list[KpiLine]:
        """Per KPI, the means of its hourly readings over the week starting Monday `first`,
        each of its local days, and each of the weeks before."""
        day = self._midnight
        order = {m.name: i for i, m in enumerate(self._sources.metrics)}
        by_name = {m.name: m for m in self._sources.metrics}
        thresholds = {
            r.metric: r
            for r in self._sources.rules
            if r.kind == "threshold" and r.metric and r.value is not None
        }
        lines: list[KpiLine] = []
        for (name, group), by_hour in sorted(
            samples.items(), key=lambda item: (order.get(item[0][0], 0), item[0][1])
        ):
            metric = by_name[name]

            def mean_between(
                a: datetime, b: datetime, hours: dict[int, list[float]] = by_hour
            ) -> float | None:
                lo, hi = to_us(a), to_us(b)
                values = [v for at, vs in hours.items() if lo <= at < hi for v in vs]
                return statistics.fmean(values) if values else None

            value = mean_between(day(first), day(first + timedelta(days=7)))
            weeks = [
                WeekValue(
                    week=_week_id(first - timedelta(weeks=k)),
                    value=mean_between(
                        day(first - timedelta(weeks=k)), day(first - timedelta(weeks=k - 1))
                    ),
                )
                for k in range(HISTORY_WEEKS, 0, -1)
            ]
            if value is None and all(w.value is None for w in weeks):
                continue
            rule = thresholds.get(name)
            target = (
                f"{rule.op} {rule.value:g}" if rule is not None and rule.value is not None else None
            )
            met = None
            if rule is not None and rule.value is not None and value is not None:
                met = not _breaks(rule.op, value, rule.value)
            lines.append(
                KpiLine(
                    metric=name,
                    group=group,
                    title=metric.title,
                    unit=metric.unit,
                    department=metric.department or _department(rule, labels.get((name, group))),
                    target=target,
                    met=met,
                    value=value,
                    days=[
                        mean_between(
                            day(first + timedelta(days=d)), day(first + timedelta(days=d + 1))
                        )
                        for d in range(7)
                    ],
                    weeks=weeks,
                )
            )
        return lines

    def _alerts(self, start: datetime, end: datetime) -> list[AlertLine]:
        found = [
            a
            for a in self._sources.alerts.list(since=start, limit=MAX_ALERTS)
            if a.starts_at < end and a.status != "pending"
        ]
        found.sort(key=lambda a: a.starts_at)
        handling = self._sources.triage.handling([a.id for a in found])
        actions = self._sources.ledger.list(limit=MAX_ALERTS)
        per_run: dict[str, int] = defaultdict(int)
        for action in actions:
            if action.run_id:
                per_run[action.run_id] += 1
        lines: list[AlertLine] = []
        for alert in found:
            h = handling.get(alert.id)
            fired = alert.fired_at or alert.starts_at
            acked = h.acknowledged_at if h is not None else None
            mine = self._sources.runs_of(alert)
            lines.append(
                AlertLine(
                    id=alert.id,
                    rule=alert.rule,
                    severity=alert.severity,
                    status=alert.status,
                    summary=_summary(alert),
                    started_at=fired,
                    ended_at=alert.ends_at if alert.status == "resolved" else None,
                    acknowledged_by=h.acknowledged_by if h is not None else None,
                    seconds_to_acknowledge=(acked - fired).total_seconds() if acked else None,
                    verdict=h.feedback if h is not None else None,
                    runs=[
                        RunLine(
                            id=r.id, playbook=r.playbook, status=r.status, actions=per_run[r.id]
                        )
                        for r in sorted(mine, key=lambda r: r.started_at)
                    ],
                )
            )
        return lines

    def _effects(self) -> list[EffectLine]:
        effects = [
            EffectLine(
                kind="holdout",
                name=f"{report.playbook} / {report.step}",
                status=report.verdict.status,
                sentence=dict(report.verdict.sentence),
            )
            for report in self._sources.holdouts()
        ]
        return effects + self._sources.experiments()


def _breaks(op: str, value: float, threshold: float) -> bool:
    """Whether `value` meets the rule's firing condition `op threshold`."""
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
        "==": value == threshold,
        "!=": value != threshold,
    }.get(op, False)


def _department(rule: Rule | None, labels: dict[str, str] | None) -> str | None:
    for source in (rule.labels if rule is not None else {}, labels or {}):
        for key in ("department", "team"):
            if source.get(key):
                return source[key]
    return None


def _summary(alert: Alert) -> dict[str, str]:
    notes = alert.annotations
    default = notes.get("summary") or notes.get("summary_en") or alert.rule
    return {
        "en": notes.get("summary_en") or default,
        "fr": notes.get("summary_fr") or default,
    }


def _rules(alerts: Sequence[AlertLine], rules: Sequence[Rule]) -> list[RuleLine]:
    by_rule: dict[str, list[AlertLine]] = defaultdict(list)
    for alert in alerts:
        by_rule[alert.rule].append(alert)
    lines: list[RuleLine] = []
    for name in [r.name for r in rules if r.name in by_rule] + sorted(
        set(by_rule) - {r.name for r in rules}
    ):
        mine = by_rule[name]
        useful = sum(a.verdict == "useful" for a in mine)
        false_alarm = sum(a.verdict == "false_alarm" for a in mine)
        waits = [a.seconds_to_acknowledge for a in mine if a.seconds_to_acknowledge is not None]
        lines.append(
            RuleLine(
                rule=name,
                alerts=len(mine),
                per_day=len(mine) / 7,
                useful=useful,
                false_alarm=false_alarm,
                precision=useful / (useful + false_alarm) if useful + false_alarm else None,
                median_seconds_to_acknowledge=statistics.median(waits) if waits else None,
            )
        )
    return lines


def _sensor_lines(
    devices: Sequence[Device], seen: dict[str, list[int]], start_us: int, end_us: int
) -> list[SensorLine]:
    """Per configured device with a `silence`, its longest gap in the week (the week's
    edges count: a device never heard of is silent all week) and how often it went silent."""
    lines: list[SensorLine] = []
    for device in devices:
        if device.silence is None:
            continue
        limit = parse_duration(device.silence)
        times = sorted(seen.get(device.id, []))
        edges = [start_us, *times, end_us]
        gaps = [b - a for a, b in itertools.pairwise(edges)]
        silences = sum(gap > limit for gap in gaps)
        if not silences:
            continue
        lines.append(
            SensorLine(
                device=device.id,
                kind=device.kind,
                readings=len(times),
                longest_silence_minutes=max(gaps) / 60e6,
                silences=silences,
                state="flapping" if silences >= FLAPPING else "silent",
            )
        )
    return lines


def digest(review: WeeklyReview, language: str, link: str | None) -> tuple[str, str]:
    """The message that announces a review: its subject and a few lines of plain text."""
    missed = [k for k in review.kpis if k.met is False]
    judged = [r for r in review.rules if r.precision is not None]
    outside = sum(r.delivered_outside_working_time for r in review.disconnect)
    if language == "fr":
        subject = f"Revue hebdomadaire {review.week}"
        lines = [
            f"{len(review.alerts)} alertes, {len(missed)} indicateurs hors objectif, "
            f"{len(review.tuning)} suggestions de seuil.",
            f"Règles jugées : {len(judged)} ; notifications hors temps de travail : {outside}.",
        ]
        if link:
            lines.append(f"La revue complète : {link}")
    else:
        subject = f"Weekly review {review.week}"
        lines = [
            f"{len(review.alerts)} alerts, {len(missed)} KPIs off target, "
            f"{len(review.tuning)} threshold suggestions.",
            f"Rules judged: {len(judged)}; notifications outside working time: {outside}.",
        ]
        if link:
            lines.append(f"The whole review: {link}")
    return subject, "\n".join(lines)
