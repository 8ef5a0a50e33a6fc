"""The alert: what a rule raised for one group, and who is told when it changes."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

AlertStatus = Literal["pending", "firing", "resolved"]
Severity = Literal["info", "warning", "critical"]


class Alert(msgspec.Struct, kw_only=True):
    """One alert: a rule's condition for one group, from pending to firing to resolved.

    `fingerprint` (rule + group labels) deduplicates: while an alert is active, the same
    condition updates it instead of raising another. `values` is the evidence: the KPI
    values, the window, and links to the events or visitors involved.
    """

    fingerprint: str
    rule: str
    status: AlertStatus
    severity: Severity = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    starts_at: datetime
    ends_at: datetime | None = None
    updated_at: datetime | None = None
    fired_at: datetime | None = None
    values: dict[str, Any] = {}
    playbook: str | None = None
    id: str = ""

    @property
    def active(self) -> bool:
        """Pending or firing."""
        return self.status != "resolved"


class AlertListener(Protocol):
    """Told of every change of an alert's status (playbooks, the SSE stream, webhooks)."""

    def alert_changed(self, alert: Alert) -> None: ...


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """A stable id for a rule and a group: the same condition always maps to the same alert."""
    text = rule + "\x00" + "\x00".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
