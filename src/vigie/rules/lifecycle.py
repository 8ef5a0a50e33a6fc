"""The alert lifecycle: pending -> firing -> resolved, one alert per incident.

A pending alert whose condition clears before its `for` duration is resolved without ever
firing (`fired_at` stays empty); webhooks and playbooks only hear of alerts that fired.
A firing alert is an incident: it resolves only once its condition has not held for the
rule's `resolve_after` (a condition holding again meanwhile continues it), and a condition
holding again within `cooldown` of the resolution reopens the same alert (same id) instead
of raising another. Either way the incident counts the re-fires it joined
(`values.refires`); while it waits out `resolve_after`, `values.clear_since` says since
when its condition has not held.
An alert whose group has no data to judge is not resolved: it keeps its status, marked
`values.state = "no_data"` (with `no_data_since`) until data comes back and is judged.
A resolved alert says what recovered and by how much (`values.recovered`,
`annotations.resolution_en/fr`).

Pure state: findings and the time go in, the alerts that changed come out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from vigie.kpi.durations import parse_duration
from vigie.rules.alerts import Alert, fingerprint
from vigie.rules.conditions import Outcome
from vigie.rules.definitions import Rule


def _summaries(rule: Rule, labels: dict[str, str], values: dict[str, Any]) -> dict[str, str]:
    if not rule.summary:
        return default_summaries(rule, labels, values)
    out: dict[str, str] = {}
    fields = {**_flat(values), **labels}
    for lang, template in rule.summary.items():
        try:
            out[f"summary_{lang}"] = template.format_map(fields)
        except (KeyError, ValueError, IndexError, TypeError):
            out[f"summary_{lang}"] = template
    if "summary_en" in out:
        out["summary"] = out["summary_en"]
    return out


@functools.lru_cache(maxsize=256)
def _duration(text: str) -> int:
    return parse_duration(text)


def _copy(alert: Alert) -> Alert:
    return msgspec.structs.replace(alert)


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, int | float | str)}


# The rules judging a metric window by window, whose value hovers around the limit during an
# incident: by default their alerts wait a few windows before resolving.
WINDOWED_KINDS = frozenset({"anomaly", "threshold", "change"})
RESOLVE_WINDOWS = 3


def resolve_after_us(rule: Rule, slide_us: int | None) -> int:
    """How long `rule`'s condition must not hold before its alert resolves: `resolve_after`;
    by default three windows of the metric (`slide_us`) for an anomaly, threshold or change
    rule, whose value hovers around its limit during an incident (one alert per incident,
    not one per window), and 0 for the other kinds."""
    if rule.resolve_after is not None:
        return parse_duration(rule.resolve_after)
    return RESOLVE_WINDOWS * slide_us if slide_us and rule.kind in WINDOWED_KINDS else 0


def default_summaries(rule: Rule, labels: dict[str, str], values: dict[str, Any]) -> dict[str, str]:
    """What an alert whose rule has no `summary` says, in English and French: the value
    against what was expected (an anomaly), the threshold or the reference, e.g. "orders at
    2, expected 14 (normal 9 to 19), abnormal since 2026-01-01 10:05 UTC"."""
    value = values.get("value")
    if not isinstance(value, int | float):
        return {}
    group = ", ".join(
        f"{k}={v}" for k, v in labels.items() if k != "alertname" and k not in rule.labels
    )
    metric = str(values.get("metric") or rule.metric or rule.name) + (
        f" ({group})" if group else ""
    )
    shown = _shown(value, {})
    if isinstance(values.get("expected"), int | float):
        expected = _shown(values["expected"], {})
        band = values.get("band") or [None, None]
        low, high = _shown(band[0], {}), _shown(band[1], {})
        en = f"{metric} at {shown}, expected {expected} (normal {low} to {high})"
        fr = f"{metric} à {shown}, attendu {expected} (normal de {low} à {high})"
        since = _moment(values.get("abnormal_since"))
        if since:
            en, fr = f"{en}, abnormal since {since}", f"{fr}, anormal depuis {since}"
    elif "threshold" in values:
        bound = f"{values.get('op', '')} {_shown(values['threshold'], {})}".strip()
        en, fr = f"{metric} at {shown} ({bound})", f"{metric} à {shown} ({bound})"
    elif isinstance(values.get("reference"), int | float):
        reference = _shown(values["reference"], {})
        en = f"{metric} at {shown}, reference {reference}"
        fr = f"{metric} à {shown}, référence {reference}"
        elapsed, projected = values.get("elapsed"), values.get("projected")
        if isinstance(elapsed, int | float) and isinstance(projected, int | float):
            part, course = f"{elapsed * 100:.0f} %", _shown(projected, {})
            en = f"{metric} at {shown} after {part} of its window (on course for {course}), "
            en += f"reference {reference}"
            fr = f"{metric} à {shown} après {part} de sa fenêtre (en route vers {course}), "
            fr += f"référence {reference}"
    else:
        return {}
    return {"summary": en, "summary_en": en, "summary_fr": fr}


def _moment(text: Any) -> str:
    """An ISO 8601 instant as a person reads it (minutes, UTC); empty when there is none."""
    if not isinstance(text, str):
        return ""
    try:
        return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return ""


NO_DATA = frozenset({"state", "no_data_since", "no_data_en", "no_data_fr"})


def _shown(value: Any, about: dict[str, Any]) -> str:
    """A value as a person reads it: a ratio without a unit as a percentage."""
    if not isinstance(value, int | float):
        return "?"
    unit = about.get("unit")
    if about.get("kind") == "ratio" and not unit:
        return f"{value * 100:.0f} %"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}" if unit else text


def _title(about: dict[str, Any], lang: str) -> str:
    titles = about.get("title") or {}
    return str(titles.get(lang) or titles.get("en") or about.get("metric") or "")


def resolution_messages(recovered: dict[str, Any]) -> dict[str, str]:
    """What recovered and by how much, in English and French, e.g. "Checkout conversion
    back to 34 % (fired at 0 %, reference 36 %)"."""
    now, fired = _shown(recovered.get("value"), recovered), recovered.get("fired_value")
    if "threshold" in recovered:
        compared_en = f"threshold {_shown(recovered['threshold'], recovered)}"
        compared_fr = f"seuil {_shown(recovered['threshold'], recovered)}"
    else:
        compared_en = f"reference {_shown(recovered.get('reference'), recovered)}"
        compared_fr = f"référence {_shown(recovered.get('reference'), recovered)}"
    at = _shown(fired, recovered)
    return {
        "resolution_en": f"{_title(recovered, 'en')} back to {now} (fired at {at}, {compared_en})",
        "resolution_fr": f"{_title(recovered, 'fr')} revenu à {now} (alerte à {at}, {compared_fr})",
    }


def no_data_messages(rule: Rule, alert: Alert) -> dict[str, str]:
    """Why an alert stays open without data, in English and French."""
    metric = rule.metric or rule.name
    return {
        "no_data_en": f"No data for {metric}: the alert stays open until there is data again",
        "no_data_fr": f"Pas de données pour {metric} : l'alerte reste ouverte jusqu'à leur retour",
    }


class _Evidence(Mapping[str, dict[str, Any]]):
    """The evidence of one rule's active alerts by group, read from the book when asked."""

    def __init__(self, book: AlertBook, rule: str) -> None:
        self.book, self.rule = book, rule

    def __getitem__(self, group: str) -> dict[str, Any]:
        fp = self.book._groups.get((self.rule, group))
        alert = self.book.active.get(fp) if fp else None
        if alert is None:
            raise KeyError(group)
        return alert.values

    def __iter__(self) -> Iterator[str]:
        return iter([g for (r, g) in self.book._groups if r == self.rule and g in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)


class AlertBook:
    """The active alerts by fingerprint, when each firing one stopped holding, and the
    resolved ones a cooldown may still reopen."""

    def __init__(self, alerts: list[Alert] | None = None) -> None:
        self.active: dict[str, Alert] = {a.fingerprint: a for a in alerts or () if a.active}
        self._groups: dict[tuple[str, str], str] = {}
        for alert in self.active.values():
            self._groups[(alert.rule, alert.values.get("group", ""))] = alert.fingerprint
        self.normal_since: dict[str, datetime] = {}
        self.reopenable: dict[str, tuple[Alert, datetime]] = {}

    def firing(self, rule: str, group: str) -> bool:
        """Whether `rule` has a firing alert for `group`."""
        fp = self._groups.get((rule, group))
        alert = self.active.get(fp) if fp else None
        return alert is not None and alert.status == "firing"

    def tracks(self, rule: str, group: str) -> bool:
        """Whether `rule` has an active (pending or firing) alert for `group`."""
        return (rule, group) in self._groups

    def resolving(self, rule: str) -> set[str]:
        """The groups of `rule` whose firing alert waits out `resolve_after`."""
        return {
            group
            for (name, group), fp in self._groups.items()
            if name == rule and fp in self.normal_since
        }

    def evidence(self, rule: str) -> Mapping[str, dict[str, Any]]:
        """Per group, the evidence of `rule`'s active alert (what the condition judges a
        recovery against), looked up when asked."""
        return _Evidence(self, rule)

    def apply(
        self, rule: Rule, outcome: Outcome, now: datetime, *, resolve_after_us: int = 0
    ) -> list[Alert]:
        """Move `rule`'s alerts according to `outcome`; returns the alerts whose status
        changed. (Losing data is not a change of status: a window that has just begun or
        holds too few events says nothing yet. The alert is marked, and shown so, in place.)
        A firing alert resolves once its condition has not held for `resolve_after_us`."""
        changed: list[Alert] = []
        hold = timedelta(microseconds=_duration(rule.for_))
        for group in outcome.evaluated:
            if group in outcome.findings:
                continue
            fp = self._groups.get((rule.name, group))
            alert = self.active.get(fp) if fp else None
            if alert is None:
                continue
            if group in outcome.no_data:
                if alert.values.get("state") != "no_data":
                    alert.values = {
                        **alert.values,
                        "state": "no_data",
                        "no_data_since": now.isoformat(),
                    }
                    alert.annotations = {**alert.annotations, **no_data_messages(rule, alert)}
                    alert.updated_at = now
                continue
            was_firing = alert.status == "firing"
            if was_firing and resolve_after_us:
                since = self.normal_since.get(alert.fingerprint)
                if since is None:
                    since = self.normal_since[alert.fingerprint] = now
                    alert.values = {**alert.values, "clear_since": now.isoformat()}
                if now - since < timedelta(microseconds=resolve_after_us):
                    continue
            self.normal_since.pop(alert.fingerprint, None)
            alert.values = {k: v for k, v in alert.values.items() if k != "clear_since"}
            recovered = outcome.recovered.get(group)
            if recovered is not None:
                alert.values = {k: v for k, v in alert.values.items() if k not in NO_DATA}
                alert.values["recovered"] = recovered
                annotations = {k: v for k, v in alert.annotations.items() if k not in NO_DATA}
                alert.annotations = annotations | resolution_messages(recovered)
                alert.annotations["resolution"] = alert.annotations["resolution_en"]
            del self.active[alert.fingerprint]
            del self._groups[(rule.name, group)]
            alert.status = "resolved"
            alert.ends_at = now
            alert.updated_at = now
            cooldown = _duration(rule.cooldown)
            if cooldown and was_firing:
                until = now + timedelta(microseconds=cooldown)
                self.reopenable[alert.fingerprint] = (alert, until)
            changed.append(_copy(alert))
        for group, finding in outcome.findings.items():
            labels = {"alertname": rule.name, **rule.labels, **finding.labels}
            values = {"group": group, **finding.values}
            # A group's labels come from its key: its active alert's fingerprint stands.
            fp = self._groups.get((rule.name, group)) or fingerprint(rule.name, finding.labels)
            # Holding again while waiting out `resolve_after`, or within the cooldown of the
            # resolution: a re-fire joining the same incident.
            rejoined = self.normal_since.pop(fp, None) is not None
            alert = self.active.get(fp)
            reopened = False
            if alert is None and fp in self.reopenable:
                alert = self._reopen(fp, rule.name, group, now)
                reopened = rejoined = alert is not None
            if alert is not None and (rejoined or "refires" in alert.values):
                values["refires"] = int(alert.values.get("refires", 0)) + rejoined
            if reopened and alert is not None:
                alert.values = values
                alert.annotations = _summaries(rule, labels, values)
                changed.append(_copy(alert))
            if alert is None:
                alert = Alert(
                    id=f"{fp}-{int(now.timestamp() * 1e6)}",
                    fingerprint=fp,
                    rule=rule.name,
                    status="pending",
                    severity=rule.severity,
                    labels={**labels, "severity": rule.severity},
                    starts_at=now,
                    updated_at=now,
                    playbook=rule.playbook,
                )
                self.active[fp] = alert
                self._groups[(rule.name, group)] = fp
                if hold:
                    alert.values = values
                    alert.annotations = _summaries(rule, labels, values)
                    changed.append(_copy(alert))
            if values != alert.values:
                alert.values = values
                alert.annotations = _summaries(rule, labels, values)
            if alert.status == "pending" and now - alert.starts_at >= hold:
                alert.status = "firing"
                alert.fired_at = now
                alert.updated_at = now
                changed.append(_copy(alert))
        return changed

    def _reopen(self, fp: str, rule: str, group: str, now: datetime) -> Alert | None:
        """The alert of `fp` firing again, if its cooldown has not ended (the same incident)."""
        alert, until = self.reopenable.pop(fp)
        if now >= until:
            return None
        alert.status = "firing"
        alert.ends_at = None
        alert.updated_at = now
        self.active[fp] = alert
        self._groups[(rule, group)] = fp
        return alert

    def forget_reopenable(self, now: datetime) -> None:
        """Drop the resolved alerts whose cooldown has ended."""
        self.reopenable = {fp: kept for fp, kept in self.reopenable.items() if now < kept[1]}
