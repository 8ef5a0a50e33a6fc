"""Threshold tuning: for a rule people have judged, replay the period's events through
alternative thresholds and say which one keeps every alert marked useful with the fewest
false alarms ("raise the drop from 30 % to 40 %: 6 fewer false alarms, the 2 useful alerts
kept"). Threshold rules tune their `value`, change rules their `drop` or `rise`.

A judged alert is *caught* by a variant when one of the variant's incidents overlaps it,
give or take the metric's window (a replay fires on arrival time, the live rule on the
server's clock). The variants are replayed together, through one KPI engine, on the wall
clock of the site's time zone as the live engine reads it (a `change` rule's same slot, a
rule's daily or weekly profile).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from vigie.events import Event
from vigie.kpi.durations import parse_duration
from vigie.kpi.metrics import Metric
from vigie.kpi.wallclock import UTC_NAME
from vigie.rules.alerts import Alert
from vigie.rules.backtest import replay
from vigie.rules.definitions import Rule

Parameter = Literal["value", "drop", "rise"]
THRESHOLD_FACTORS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.3, 1.5, 2.0)
CHANGE_STEPS = (-0.2, -0.15, -0.1, -0.05, 0.05, 0.1, 0.15, 0.2, 0.3)
SEP = "@"


class Judged(msgspec.Struct, kw_only=True, frozen=True):
    """An alert of the rule with people's verdict."""

    starts_at: datetime
    ends_at: datetime | None
    verdict: Literal["useful", "false_alarm"]


class Candidate(msgspec.Struct, kw_only=True):
    """What the rule would have done with `value` for its parameter."""

    value: float
    alerts: int
    useful_caught: int
    false_alarms_caught: int


class Suggestion(msgspec.Struct, kw_only=True):
    """The best alternative (or none), against the rule as it is, over the same events."""

    rule: str
    parameter: Parameter
    current: float
    proposed: float | None
    useful: int
    false_alarms: int
    now: Candidate
    then: Candidate | None
    candidates: list[Candidate]
    sentence: dict[str, str]


def tunable(rule: Rule) -> Parameter | None:
    """The parameter tuning moves for `rule`, if it has one."""
    if rule.kind == "threshold" and rule.value is not None:
        return "value"
    if rule.kind == "change" and rule.drop is not None:
        return "drop"
    if rule.kind == "change" and rule.rise is not None:
        return "rise"
    return None


def alternatives(rule: Rule, parameter: Parameter) -> list[float]:
    """The values tried: around a threshold by factors, around a drop or a rise by steps of
    five points (kept between 1 % and 99 % for a drop)."""
    current = float(getattr(rule, parameter))
    if parameter == "value":
        if current == 0:
            return [-1.0, -0.5, 0.5, 1.0]
        return sorted({round(current * f, 10) for f in THRESHOLD_FACTORS})
    values = {round(current + step, 4) for step in CHANGE_STEPS}
    upper = 0.99 if parameter == "drop" else 10.0
    return sorted(v for v in values if 0.01 <= v <= upper)


def suggest(
    rule: Rule,
    metric: Metric,
    events: Iterable[Event],
    judged: Sequence[Judged],
    *,
    until: datetime | None = None,
    timezone: str = UTC_NAME,
) -> Suggestion | None:
    """Replay `events` through the rule and its alternatives; None when the rule has nothing
    to tune. The proposal keeps every useful alert and catches strictly fewer false alarms
    (then fewer alerts); None as `proposed` when no alternative does better. `timezone` is
    the site's (`analytics.timezone`), for a rule that names none, as the live engine has it."""
    parameter = tunable(rule)
    if parameter is None:
        return None
    current = float(getattr(rule, parameter))
    values = [current, *(v for v in alternatives(rule, parameter) if v != current)]
    variants = [
        msgspec.structs.replace(rule, name=f"{rule.name}{SEP}{i}", playbook=None, **{parameter: v})
        for i, v in enumerate(values)
    ]
    changes = replay([metric], variants, events, tick="1m", until=until, timezone=timezone)
    slack = timedelta(microseconds=parse_duration(metric.window))
    incidents: dict[int, list[tuple[datetime, datetime | None]]] = {
        i: [] for i in range(len(values))
    }
    for alert in _last_states(changes):
        if alert.fired_at is None:
            continue
        index = int(alert.rule.rsplit(SEP, 1)[1])
        incidents[index].append((alert.fired_at, alert.ends_at))
    candidates = [_score(value, incidents[i], judged, slack) for i, value in enumerate(values)]
    now, others = candidates[0], candidates[1:]
    useful = sum(j.verdict == "useful" for j in judged)
    false_alarms = len(judged) - useful
    better = [
        c
        for c in others
        if c.useful_caught >= now.useful_caught
        and (c.false_alarms_caught, c.alerts) < (now.false_alarms_caught, now.alerts)
        and c.false_alarms_caught < now.false_alarms_caught
    ]
    best = min(
        better,
        key=lambda c: (c.false_alarms_caught, c.alerts, abs(c.value - current)),
        default=None,
    )
    return Suggestion(
        rule=rule.name,
        parameter=parameter,
        current=current,
        proposed=best.value if best else None,
        useful=useful,
        false_alarms=false_alarms,
        now=now,
        then=best,
        candidates=sorted(candidates, key=lambda c: c.value),
        sentence=_sentence(rule.name, parameter, current, now, best, useful),
    )


def _last_states(changes: list[Alert]) -> list[Alert]:
    last: dict[str, Alert] = {}
    for alert in changes:
        last[alert.id] = alert
    return list(last.values())


def _score(
    value: float,
    incidents: list[tuple[datetime, datetime | None]],
    judged: Sequence[Judged],
    slack: timedelta,
) -> Candidate:
    def caught(item: Judged) -> bool:
        lo = item.starts_at - slack
        hi = (item.ends_at or item.starts_at) + slack
        return any(start <= hi and (end is None or end >= lo) for start, end in incidents)

    return Candidate(
        value=value,
        alerts=len(incidents),
        useful_caught=sum(caught(j) for j in judged if j.verdict == "useful"),
        false_alarms_caught=sum(caught(j) for j in judged if j.verdict == "false_alarm"),
    )


def _shown(parameter: Parameter, value: float) -> str:
    return f"{value:.0%}" if parameter in ("drop", "rise") else f"{value:g}"


def _sentence(
    rule: str,
    parameter: Parameter,
    current: float,
    now: Candidate,
    best: Candidate | None,
    useful: int,
) -> dict[str, str]:
    if best is None:
        return {
            "en": f"{rule}: no {parameter} tried does better than {_shown(parameter, current)} "
            "on this period's judged alerts.",
            "fr": f"{rule} : aucune valeur de {parameter} essayée ne fait mieux que "
            f"{_shown(parameter, current)} sur les alertes jugées de la période.",
        }
    fewer = now.false_alarms_caught - best.false_alarms_caught
    way = "raise" if best.value > current else "lower"
    sens = "relever" if best.value > current else "abaisser"
    a, b = _shown(parameter, current), _shown(parameter, best.value)
    kept_en = f"the {best.useful_caught} useful alerts kept" if useful else "no useful alert judged"
    kept_fr = (
        f"les {best.useful_caught} alertes utiles conservées"
        if useful
        else "aucune alerte utile jugée"
    )
    return {
        "en": f"{rule}: {way} the {parameter} from {a} to {b}: {fewer} fewer false alarms, "
        f"{kept_en} ({best.alerts} alerts instead of {now.alerts}).",
        "fr": f"{rule} : {sens} le seuil {parameter} de {a} à {b} : {fewer} fausses alertes "
        f"de moins, {kept_fr} ({best.alerts} alertes au lieu de {now.alerts}).",
    }
