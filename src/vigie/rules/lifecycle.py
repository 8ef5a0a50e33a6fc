"""The alert lifecycle: pending -> firing -> resolved, one alert per incident.

A pending alert whose condition clears before its `for` duration is resolved without ever
firing (`fired_at` stays empty); webhooks and playbooks only hear of alerts that fired.
A firing alert is an incident: it resolves only once its condition has not held for the
rule's `resolve_after` (a condition holding again meanwhile continues it), and a condition
holding again within `cooldown` of the resolution reopens the same alert (same id) instead
of raising another.

Pure state: findings and the time go in, the alerts that changed come out.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import msgspec

from vigie.kpi.durations import parse_duration
from vigie.rules.alerts import Alert, fingerprint
from vigie.rules.conditions import Outcome
from vigie.rules.definitions import Rule


def _summaries(rule: Rule, labels: dict[str, str], values: dict[str, Any]) -> dict[str, str]:
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


def resolve_after_us(rule: Rule, slide_us: int | None) -> int:
    """How long `rule`'s condition must not hold before its alert resolves: `resolve_after`;
    by default three windows of the metric (`slide_us`) for an anomaly rule, whose score
    hovers around its threshold during an incident, and 0 for the other kinds (as before:
    their users set it)."""
    if rule.resolve_after is not None:
        return parse_duration(rule.resolve_after)
    return 3 * slide_us if slide_us and rule.kind == "anomaly" else 0


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

    def resolving(self, rule: str) -> set[str]:
        """The groups of `rule` whose firing alert waits out `resolve_after`."""
        return {
            group
            for (name, group), fp in self._groups.items()
            if name == rule and fp in self.normal_since
        }

    def apply(
        self, rule: Rule, outcome: Outcome, now: datetime, *, resolve_after_us: int = 0
    ) -> list[Alert]:
        """Move `rule`'s alerts according to `outcome`; returns the alerts whose status changed."""
        changed: list[Alert] = []
        hold = timedelta(microseconds=_duration(rule.for_))
        for group in outcome.evaluated:
            if group in outcome.findings:
                continue
            fp = self._groups.get((rule.name, group))
            alert = self.active.get(fp) if fp else None
            if alert is None:
                continue
            was_firing = alert.status == "firing"
            if was_firing and resolve_after_us:
                since = self.normal_since.setdefault(alert.fingerprint, now)
                if now - since < timedelta(microseconds=resolve_after_us):
                    continue
            self.normal_since.pop(alert.fingerprint, None)
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
            self.normal_since.pop(fp, None)
            alert = self.active.get(fp)
            if alert is None and fp in self.reopenable:
                alert = self._reopen(fp, rule.name, group, now)
                if alert is not None:
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
