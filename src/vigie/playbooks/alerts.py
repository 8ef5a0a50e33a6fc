"""The bridge from alerts to playbooks: an alert that fires or resolves starts its playbooks."""

from __future__ import annotations

import logging

import msgspec
import sqlalchemy as sa

from vigie.playbooks import runs
from vigie.playbooks.engine import PlaybookEngine
from vigie.playbooks.trigger import PlaybookTrigger
from vigie.rules.alerts import Alert
from vigie.rules.store import AlertStore

logger = logging.getLogger(__name__)


def trigger_for(alert: Alert) -> PlaybookTrigger | None:
    """The playbook trigger of an alert's change; none while it is only pending.

    `at` is when this firing began (or when it resolved), so the evidence updates of one
    firing map to the same trigger and the engine runs its playbooks once.
    """
    if alert.status == "firing":
        at = alert.fired_at or alert.starts_at
    elif alert.status == "resolved" and alert.ends_at is not None:
        at = alert.ends_at
    else:
        return None
    return PlaybookTrigger(
        rule=alert.rule,
        status=alert.status,
        fingerprint=alert.fingerprint,
        at=at,
        labels=dict(alert.labels),
        values=dict(alert.values),
        annotations=dict(alert.annotations),
        severity=alert.severity,
        # The rule names the playbook that answers its firing; what runs on resolution is
        # chosen by the playbooks' own `triggers:` (a "recovered" playbook, say).
        playbook=alert.playbook if alert.status == "firing" else None,
    )


class AlertPlaybooks:
    """An alert listener that records the runs an alert asks for; the system's
    playbook timer runs them.

    Recording only (no action here) keeps the rules processor fast: a slow webhook never
    delays the next alert.
    """

    def __init__(self, engine: PlaybookEngine) -> None:
        self.engine = engine

    def alert_changed(self, alert: Alert) -> None:
        trigger = trigger_for(alert)
        if trigger is None:
            return
        try:
            self.engine.enqueue(trigger)
        except Exception:
            logger.exception("could not start the playbooks of alert %s", alert.rule)


class ResolvedSince:
    """Whether the alert whose firing started a playbook run has resolved since: what the
    dispatcher asks to mark (or drop) a held message in someone's morning digest."""

    def __init__(self, engine: sa.Engine, alerts: AlertStore) -> None:
        self.engine = engine
        self.alerts = alerts

    def __call__(self, run_id: str) -> bool:
        with self.engine.connect() as conn:
            text = conn.execute(
                sa.select(runs.playbook_runs.c.trigger).where(runs.playbook_runs.c.id == run_id)
            ).scalar()
        if text is None:
            return False
        trigger = msgspec.json.decode(str(text), type=PlaybookTrigger)
        if trigger.status != "firing" or trigger.rule == "manual":
            return False
        alert = self.alerts.life_at(trigger.fingerprint, trigger.at)
        return alert is not None and alert.status == "resolved"
