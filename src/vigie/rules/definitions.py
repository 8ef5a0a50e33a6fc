"""Rules (the `rules:` section of `vigie.yaml`) and where alerts are sent (`alerting:`)."""

from __future__ import annotations

import math
from typing import Any, Literal

import msgspec

from vigie.kpi.baselines import Learning
from vigie.kpi.durations import parse_duration, parse_rate
from vigie.kpi.metrics import field_problems
from vigie.kpi.wallclock import UTC_NAME, zone_problem
from vigie.rules.alerts import Severity

DEFAULT_STEP_US = 300_000_000  # the window assumed when an anomaly rule's is not known
MIN_P_VALUE, MAX_P_VALUE = 1e-7, 3e-3  # the range of the default `p_value`
# The `false_alarms` rate unset: 2/month for an anomaly rule (its per-window threshold: the
# most detection on the worst seed of `vigie bench anomalies` within one false alert per
# series-week, see BENCHMARKS.md), 1/month for the sequential and absence tests.
DEFAULT_FALSE_ALARMS = "1/month"
ANOMALY_FALSE_ALARMS = "2/month"
ZONED = frozenset({"anomaly", "change", "sequential", "absence"})  # kinds that read a time of day

RuleKind = Literal["threshold", "change", "sla", "absence", "anomaly", "all", "any", "sequential"]
Op = Literal[">", ">=", "<", "<=", "==", "!="]


class Rule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, rename={"for_": "for"}):
    """When a KPI (or the event stream) needs someone's attention, and what to run then.

    kinds:
      threshold  `metric` `op` `value`, e.g. visitors_now > 500; `<` on a count or sum
                 still filling its tumbling window judges the last closed window until
                 the filling one has reached `value` (it fires as a window closes below)
      change     `metric` compared with the previous window (`compare: previous`) or the
                 same slot on previous days (`compare: same_slot`, the local time of day of
                 `timezone`, or of `analytics.timezone`); `drop: 0.3` fires on a
                 fall of more than 30 %, `rise: 0.5` on a rise of more than 50 %; a
                 count or sum still filling its tumbling window is judged on what it
                 is on course for (its value so far plus the rest at the reference's pace)
      sla        items opened by `open` (a filter) and closed by `close`, keyed by `key`,
                 breach when one stays open longer than `within`
      absence    no event matching `where` for `silence` (processing time); with an
                 `expected_rate` (events/s, learned per local time of day of `timezone`, or
                 of `analytics.timezone`, from then on), as soon as
                 the silence is improbable at the `false_alarms` rate (`silence` then caps it)
      anomaly    `metric` improbable under its learned level and seasonality
                 (`seasonality`: auto, none, daily, weekly, both; in the local time of
                 `timezone`, or of `analytics.timezone`): its tail p-value below
                 `p_value` (or beyond `z` robust standard deviations) after `min_samples`
                 samples; by default `p_value` is the chance per window of the
                 `false_alarms` rate (2/month unless declared: noise alone crosses it about
                 twice a month, whatever the window); it keeps holding while below
                 `clear_p_value` (default: the square root of `p_value`)

      sequential the rate of events matching `where` (or with `then`, the conversion from
                 `where` events to `then` events) tested continuously against its learned
                 level for the local time of day (in `timezone`, or `analytics.timezone`;
                 `expected_rate` / `expected_conversion`: the
                 prior for a cold start, worth `prior_weight` of history; forgotten with
                 `half_life`): fires once the evidence of a drop (`direction: down`), a
                 surge (`up`) or either (`both`) of at least `min_effect` passes the
                 threshold of the declared `false_alarms` rate (e.g. 1/month); see
                 `vigie.rules.sequential` and `vigie rules explain`

    Every rule's alert is one incident: once firing it resolves only after the condition
    has not held for `resolve_after` (default: three of the metric's windows for an
    anomaly, threshold or change rule, 0 for the other kinds), and a condition holding
    again within `cooldown` of the resolution reopens the same alert; a first crossing
    still fires at once.
      all / any  `rules`: the listed rules hold together (all) or one of them does (any)

    A `change` rule's alert resolves once the value is back within `tolerance` (relative,
    default the `drop` or `rise` that fired) of the reference that fired it. Groups whose
    `by` field is absent from the events (label `(none)`) are not evaluated unless
    `missing_labels: evaluate`.
    """

    name: str
    """The rule's unique name: the `alertname` of its alerts, what playbook triggers and `all`/`any`
    rules refer to."""
    kind: RuleKind = "threshold"
    """What the rule watches (see the kinds above): a `threshold`, a `change`, an `sla`, an
    `absence`, an `anomaly`, a `sequential` test, or `all`/`any` of other rules."""
    metric: str | None = None
    """The metric watched by a `threshold`, `change` or `anomaly` rule (a name under `metrics:`)."""
    op: Op = ">"
    """For a `threshold` rule, how the metric's value is compared with `value`."""
    value: float | None = None
    """For a `threshold` rule, the number the metric's value is compared with."""
    clear_value: float | None = None
    """For a `threshold` rule, the limit an active alert is held to instead of `value`
    (hysteresis: `op: ">"`, `value: 100`, `clear_value: 90` fires above 100 and holds while
    above 90); none: `value` itself."""
    compare: Literal["previous", "same_slot"] = "previous"
    """For a `change` rule, the reference: the `previous` window, or the mean of the `same_slot`
    (the local time of day in `timezone`) on the previous `days`."""
    drop: float | None = None
    """For a `change` rule, the relative fall that fires (0.3: more than 30 % below the
    reference)."""
    rise: float | None = None
    """For a `change` rule, the relative rise that fires (0.5: more than 50 % above the
    reference)."""
    days: int = 7
    """For `compare: same_slot`, how many previous days of the same slot make the reference."""
    min_reference: float = 0.0
    """For a `change` rule, the smallest reference judged: below it a relative change means little,
    and nothing fires."""
    min_events: int = 0
    """For a `change` rule, the events (or a ratio's denominator) the current window must hold
    before it is judged; raise it so that a quiet hour does not fire (a count or a sum filling
    its window needs none against the start of each window: it is judged on what it is on
    course for)."""
    tolerance: float | None = None
    """For a `change` rule, how close (relative, between 0 and 1) to the reference that fired the
    value must come back for the alert to resolve; none: the `drop` or `rise` itself."""
    missing_labels: Literal["skip", "evaluate"] = "skip"
    """Whether groups whose `by` field is absent from the events (label `(none)`) are skipped or
    evaluated like the others."""
    open: dict[str, Any] = {}
    """For an `sla` rule, the filter of the events that open an item (e.g.
    `{event: Ticket Created}`)."""
    close: dict[str, Any] = {}
    """For an `sla` rule, the filter of the events that close an item (e.g.
    `{event: Ticket First Response}`)."""
    key: str = "properties.ticket_id"
    """For an `sla` rule, the field that ties a closing event to the item it closes (e.g. the
    ticket's id)."""
    within: str | None = None
    """For an `sla` rule, a duration: how long an item may stay open before it breaches (e.g.
    `15m`)."""
    by: list[str] = []
    """For `sla`, `absence` and `sequential` rules, fields whose values split the events into
    groups, each with its own alert (e.g. `[queue]`)."""
    where: dict[str, Any] = {}
    """For `absence` and `sequential` rules, the filter of the events watched: each listed field
    equals its value (or one of a list's values)."""
    silence: str | None = None
    """For an `absence` rule, a duration: no matching event for this long (processing time) fires;
    with `expected_rate`, the longest silence tolerated."""
    seasonality: Literal["auto", "none", "daily", "weekly", "both"] = "auto"
    """For an `anomaly` rule, the cycles of the metric's learned level: `daily`, `weekly`, `both`,
    `none`, or `auto` to find them from the data."""
    timezone: str | None = None
    """The time zone (an IANA name, e.g. `Europe/Paris`) whose local time of day a rule's
    calendar follows, through daylight-saving changes: an `anomaly` rule's daily and weekly
    cycles, a `change` rule's `same_slot`, a `sequential` or rate-aware `absence` rule's level
    for the time of day; unset: the site's, `analytics.timezone` (UTC unless set)."""
    p_value: float | None = None
    """For an `anomaly` rule, the tail probability below which a value is improbable enough to fire;
    lower it for fewer, surer alerts. Unset (and no `z`): the chance per window of the
    `false_alarms` rate, between 1e-7 and 3e-3 (`3e-4` restores the former default)."""
    z: float | None = None
    """For an `anomaly` rule, fire beyond this many robust standard deviations instead of giving
    `p_value` (e.g. 4)."""
    clear_p_value: float | None = None
    """For an `anomaly` rule, the tail probability above which a firing alert clears; none: the
    square root of `p_value`."""
    min_samples: int = 12
    """For an `anomaly` rule, the values of the metric (one per slide) learned before it may
    fire at all."""
    direction: Literal["both", "up", "down"] = "both"
    """For `anomaly` and `sequential` rules, which departures fire: a rise (`up`), a fall (`down`)
    or `both`."""
    rules: list[str] = []
    """For `all` and `any` rules, the names of the rules combined (defined above in the file)."""
    then: dict[str, Any] = {}
    """For a `sequential` rule, the filter of the follow-up events: the rule then tests the
    conversion from `where` events to these instead of the rate of `where` events."""
    expected_rate: float | None = None
    """For `sequential` and `absence` rules, the expected events per second before any history is
    learned (a cold-start prior)."""
    expected_conversion: float | None = None
    """For a `sequential` rule with `then`, the expected `then` events per `where` event before any
    history is learned."""
    false_alarms: str | None = None
    """For `sequential`, rate-aware `absence` and `anomaly` rules, the false alarms you accept, as a
    rate (`1/month`, `1/week`); rarer means surer but later alerts. Unset: `1/month`, and
    `2/month` for an `anomaly` rule (whose default `p_value` it sets)."""
    min_effect: float = 0.5
    """For a `sequential` rule, the smallest relative change worth an alert (0.5: a rate halved, or
    up by half)."""
    prior_weight: str = "1h"
    """For a `sequential` rule, a duration: how much history `expected_rate` or
    `expected_conversion` is worth before real data takes over."""
    half_life: str = "7d"
    """For a `sequential` rule, a duration: how fast old history is forgotten when the level is
    learned; shorter follows change faster."""
    severity: Severity = "warning"
    """How urgent the alerts are (`info`, `warning`, `critical`): their `severity` label, shown on
    the dashboard and matched by silences and Alertmanager routes."""
    labels: dict[str, str] = {}
    """Labels added to every alert of the rule (e.g. `{team: support}`), sent with it to
    webhooks and Alertmanagers and matched by silences."""
    summary: dict[str, str] = {}
    """The alert's summary by language (`{en: …, fr: …}`), with `{name}` placeholders filled from
    the alert's labels and values; empty: a summary written by Vigie."""
    for_: str = "0s"
    """A duration: how long the condition must hold before the alert fires (pending until then);
    `0s`: at once."""
    resolve_after: str | None = None
    """A duration: how long the condition must stay false before a firing alert resolves; none:
    three of the metric's windows for an anomaly, threshold or change rule (a value hovering
    around its limit stays one alert), at once for the others; `0s`: at once."""
    cooldown: str = "0s"
    """A duration: a condition holding again within this time of the resolution reopens the same
    alert instead of a new one (`resolve_after` already joins what holds again before the
    resolution)."""
    playbook: str | None = None
    """The playbook (a name under `playbooks:`) run on this rule's alerts, instead of those whose
    `triggers:` name the rule."""

    def _zone_kind_problem(self) -> str | None:
        """Why this rule has no time of day for a `timezone` to set, or None when it has one."""
        if self.kind not in ZONED:
            return (
                "only anomaly, change (same_slot), sequential and absence (expected_rate) "
                "rules read a time of day in a time zone"
            )
        if self.kind == "change" and self.compare != "same_slot":
            return "a change rule reads a time of day only with `compare: same_slot`"
        if self.kind == "absence" and self.expected_rate is None:
            return "an absence rule reads a time of day only with an `expected_rate`"
        return None

    def check(self, metrics: set[str], rules: set[str]) -> list[tuple[str, str]]:
        """Problems as (key, message) pairs, naming what to fix."""
        problems: list[tuple[str, str]] = []
        needs_metric = self.kind in ("threshold", "change", "anomaly")
        if needs_metric and self.metric is None:
            problems.append(("metric", f"a {self.kind} rule needs the metric it watches"))
        if self.metric is not None and self.metric not in metrics:
            known = ", ".join(sorted(metrics)) or "none defined"
            problems.append(("metric", f"unknown metric {self.metric!r} (metrics: {known})"))
        if self.kind == "threshold" and self.value is None:
            problems.append(("value", "a threshold rule needs the value to compare with"))
        if self.kind == "change" and self.drop is None and self.rise is None:
            problems.append(("drop", "a change rule needs `drop` or `rise` (e.g. drop: 0.3)"))
        if self.kind == "change" and self.days < 1:
            problems.append(("days", "days counts the previous days compared with: 1 or more"))
        problems += self._clear_value_problems()
        if self.tolerance is not None and not 0 <= self.tolerance < 1:
            problems.append(("tolerance", "a tolerance is a fraction between 0 and 1, e.g. 0.1"))
        if self.kind == "sla" and (not self.open or not self.close or not self.within):
            problems.append(("within", "an sla rule needs `open`, `close` and `within`"))
        if self.kind == "absence" and not self.silence and self.expected_rate is None:
            problems.append(
                ("silence", "an absence rule needs `silence` (e.g. 10m) or `expected_rate`")
            )
        if self.kind in ("sequential", "absence"):
            problems += self._sequential_problems()
        if self.kind in ("all", "any"):
            if not self.rules:
                problems.append(("rules", f"an {self.kind} rule lists the rules it combines"))
            for name in self.rules:
                if name not in rules or name == self.name:
                    problems.append(("rules", f"unknown rule {name!r} (define it above)"))
        fields = [("by", path) for path in self.by] + [("key", self.key)]
        for section in ("where", "open", "close", "then"):
            fields += [(section, path) for path in getattr(self, section) if path != "event"]
        problems += field_problems(fields)
        if self.timezone is not None:
            problem = self._zone_kind_problem() or zone_problem(self.timezone)
            if problem is not None:
                problems.append(("timezone", problem))
        if self.kind == "anomaly" and self.p_value is not None and not 0 < self.p_value < 0.5:
            problems.append(("p_value", "p_value is a probability between 0 and 0.5 (e.g. 1e-4)"))
        if self.kind == "anomaly" and self.p_value is None and self.z is None:
            try:
                parse_rate(self.declared_false_alarms())
            except ValueError as exc:
                problems.append(("false_alarms", str(exc)))
        for key in (
            "for_",
            "resolve_after",
            "cooldown",
            "within",
            "silence",
            "prior_weight",
            "half_life",
        ):
            text = getattr(self, key)
            if text is not None:
                try:
                    parse_duration(text)
                except ValueError as exc:
                    problems.append((key.rstrip("_"), str(exc)))
        return problems

    def _clear_value_problems(self) -> list[tuple[str, str]]:
        """What is wrong with `clear_value`: it belongs to a threshold rule comparing with
        `<`, `<=`, `>` or `>=`, and lies on the side of `value` that is nearer normal."""
        clear = self.clear_value
        if clear is None:
            return []
        if self.kind != "threshold" or self.op in ("==", "!="):
            return [("clear_value", "clear_value holds a threshold rule with <, <=, > or >=")]
        if not math.isfinite(clear):
            return [("clear_value", "clear_value is a finite number")]
        if self.value is None:
            return []
        if self.op in (">", ">=") and clear > self.value:
            return [
                (
                    "clear_value",
                    f"with op {self.op!r} clear_value is at most value (e.g. 90 for 100)",
                )
            ]
        if self.op in ("<", "<=") and clear < self.value:
            return [
                (
                    "clear_value",
                    f"with op {self.op!r} clear_value is at least value (e.g. 110 for 100)",
                )
            ]
        return []

    def baseline(self, timezone: str = UTC_NAME) -> Learning | None:
        """The history of past windows the rule compares with, None if it keeps none: for a
        `same_slot` change rule, `days` values per time of day on the wall clock of its
        `timezone` (`timezone` given here, the site's, when it names none)."""
        if self.kind != "change" or self.compare != "same_slot":
            return None
        return ("daily", max(self.days, 1), self.timezone or timezone)

    def held_limit(self, *, active: bool) -> float:
        """The number a threshold rule's value is compared with: `clear_value` while its alert
        is active (pending or firing: hysteresis), else `value`."""
        assert self.value is not None
        return self.clear_value if active and self.clear_value is not None else self.value

    def _sequential_problems(self) -> list[tuple[str, str]]:
        """What a sequential (or rate-aware absence) rule declares wrong, naming the key."""
        problems: list[tuple[str, str]] = []
        try:
            parse_rate(self.declared_false_alarms())
        except ValueError as exc:
            problems.append(("false_alarms", str(exc)))
        rate = self.expected_rate
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            problems.append(("expected_rate", "expected_rate is events per second above 0"))
        if self.kind == "absence":
            return problems
        if not self.where:
            problems.append(("where", "a sequential rule needs `where`: the events it counts"))
        upper = math.inf if self.direction == "up" else 1.0
        if not (math.isfinite(self.min_effect) and 0 < self.min_effect < upper):
            problems.append(
                ("min_effect", "min_effect is the relative change to detect, between 0 and 1")
            )
        conversion = self.expected_conversion
        if self.then and conversion is None:
            problems.append(
                ("expected_conversion", "a conversion (`then`) needs `expected_conversion`")
            )
        if conversion is not None and not (math.isfinite(conversion) and conversion > 0):
            problems.append(
                ("expected_conversion", "expected_conversion is `then` events per `where` event")
            )
        if self.metric is not None:
            problems.append(("metric", "a sequential rule counts events (`where`), not a metric"))
        return problems

    def declared_false_alarms(self) -> str:
        """The `false_alarms` rate, or the rule kind's default when unset."""
        if self.false_alarms is not None:
            return self.false_alarms
        return ANOMALY_FALSE_ALARMS if self.kind == "anomaly" else DEFAULT_FALSE_ALARMS

    def fire_p_value(self, step_us: int | None = None) -> float:
        """The tail probability below which an anomaly rule fires: `p_value`; the one of `z`
        robust standard deviations when `z` is given; else the chance per window (of
        `step_us`, 5 minutes when unknown) of the `false_alarms` rate, between 1e-7 and
        3e-3, so that a fine series (many windows a week) is held to a stricter threshold
        than an hourly one and both raise about as few false alarms a month."""
        if self.z is not None:
            tail = 0.5 * math.erfc(abs(self.z) / math.sqrt(2))
            return 2 * tail if self.direction == "both" else tail
        if self.p_value is not None:
            return self.p_value
        per_window = parse_rate(self.declared_false_alarms()) * (step_us or DEFAULT_STEP_US) / 1e6
        return min(MAX_P_VALUE, max(MIN_P_VALUE, per_window))


class Webhook(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An Alertmanager-compatible receiver (payload version "4")."""

    url: str
    """Where the alerts are POSTed, as Alertmanager's webhook payload (version 4)."""
    name: str = "vigie"
    """The receiver's name, sent as `receiver` in the payload and used in delivery counts."""
    send_resolved: bool = True
    """Whether resolved alerts are sent too (not only firing ones)."""
    timeout: float = 5.0
    """Seconds to wait for the receiver's answer before the delivery is retried."""


class Alerting(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where alerts go and how often they are re-evaluated."""

    webhooks: list[Webhook] = []
    alertmanagers: list[str] = []
    """Alertmanager base URLs; alerts go to each one's `POST /api/v2/alerts`."""
    alertmanager_resend: str = "1m"
    """How often firing alerts are re-sent to the Alertmanagers; keep it below their
    `resolve_timeout` (5m by default)."""
    tick: str = "1s"
    lookback: str = "2h"
    external_url: str = "http://localhost:8000"
    allow_private_networks: bool = False
    """Whether webhooks and Alertmanagers may be on private, loopback or link-local addresses
    (refused by default, as the playbooks' webhooks are: a URL must not reach the server's
    own network unless meant to)."""
