"""The alert lifecycle: pending -> firing -> resolved, deduplicated, with a cooldown.

A pending alert whose condition clears before its `for` duration is resolved without ever
firing (`fired_at` stays empty); webhooks and playbooks only hear of alerts that fired.

Pure state: findings and the time go in, the alerts that changed come out.
"""

from __future__ import annotations

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


def _copy(alert: Alert) -> Alert:
    return msgspec.structs.replace(alert)


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, int | float | str)}


class AlertBook:
    """The active alerts by fingerprint, and when each may fire again after resolving."""

    def __init__(self, alerts: list[Alert] | None = None) -> None:
        self.active: dict[str, Alert] = {a.fingerprint: a for a in alerts or () if a.active}
        self._groups: dict[tuple[str, str], str] = {}
        for alert in self.active.values():
            self._groups[(alert.rule, alert.values.get("group", ""))] = alert.fingerprint
        self.quiet_until: dict[str, datetime] = {}

    def firing(self, rule: str, group: str) -> bool:
        """Whether `rule` has a firing alert for `group`."""
        fp = self._groups.get((rule, group))
        alert = self.active.get(fp) if fp else None
        return alert is not None and alert.status == "firing"

    def apply(self, rule: Rule, outcome: Outcome, now: datetime) -> list[Alert]:
        """Move `rule`'s alerts according to `outcome`; returns the alerts whose status changed."""
        changed: list[Alert] = []
        hold = timedelta(microseconds=parse_duration(rule.for_))
        for group in outcome.evaluated:
            if group in outcome.findings:
                continue
            fp = self._groups.get((rule.name, group))
            alert = self.active.get(fp) if fp else None
            if alert is None:
                continue
            del self.active[alert.fingerprint]
            del self._groups[(rule.name, group)]
            was_firing = alert.status == "firing"
            alert.status = "resolved"
            alert.ends_at = now
            alert.updated_at = now
            cooldown = parse_duration(rule.cooldown)
            if cooldown and was_firing:
                self.quiet_until[alert.fingerprint] = now + timedelta(microseconds=cooldown)
            changed.append(_copy(alert))
        for group, finding in outcome.findings.items():
            labels = {"alertname": rule.name, **rule.labels, **finding.labels}
            values = {"group": group, **finding.values}
            # A group's labels come from its key: its active alert's fingerprint stands.
            fp = self._groups.get((rule.name, group)) or fingerprint(rule.name, finding.labels)
            alert = self.active.get(fp)
            if alert is None:
                quiet = self.quiet_until.get(fp)
                if quiet is not None and now < quiet:
                    continue
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
