"""The alert people see when a processor sets an event aside: rule `dead-letter`, one alert
per processor, firing while it has open dead letters and resolved when a replay clears them.

It is stored and announced like a rule's alert (the Alerts page, the SSE stream, the
Alertmanager webhooks, a playbook whose trigger names `dead-letter`), so the events that
could not be counted are never silently missing from the numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from vigie.clock import Clock
from vigie.log.deadletters import DeadLetter
from vigie.rules.alerts import Alert, AlertListener, Severity, fingerprint
from vigie.rules.store import AlertStore
from vigie.types import to_us

RULE = "dead-letter"
SEVERITY: Severity = "warning"


class DeadLetterAlerts:
    """A `DeadLetterListener` raising, updating and resolving the `dead-letter` alerts."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: AlertStore | None = None,
        listeners: Sequence[AlertListener] = (),
    ) -> None:
        self.clock = clock
        self.store = store
        self.listeners = list(listeners)
        self._lock = threading.Lock()

    def dead_lettered(self, letter: DeadLetter, open: int) -> None:
        """Fire (or update) the processor's alert with the newest letter as evidence."""
        now = self.clock.now()
        with self._lock:
            alert = self._active(letter.processor)
            if alert is None:
                labels = {"processor": letter.processor}
                fp = fingerprint(RULE, labels)
                alert = Alert(
                    id=f"{fp}-{to_us(now)}",
                    fingerprint=fp,
                    rule=RULE,
                    status="firing",
                    severity=SEVERITY,
                    labels={"alertname": RULE, **labels, "severity": SEVERITY},
                    starts_at=now,
                    fired_at=now,
                )
            alert.updated_at = now
            alert.values = {
                "group": letter.processor,
                "processor": letter.processor,
                "value": open,
                "offset": letter.offset,
                "error": letter.error,
                "events": [letter.message_id] if letter.message_id else [],
            }
            alert.annotations = _summaries(letter.processor, open, letter.error)
            self._publish(alert)

    def replayed(self, processor: str, open: int) -> None:
        """Resolve the processor's alert once a replay has left no open letter."""
        if open:
            return
        now = self.clock.now()
        with self._lock:
            alert = self._active(processor)
            if alert is None:
                return
            alert.status = "resolved"
            alert.ends_at = alert.updated_at = now
            alert.values = {**alert.values, "value": 0}
            alert.annotations = {
                "summary": f"Every event set aside by processor {processor} was replayed",
                "summary_en": f"Every event set aside by processor {processor} was replayed",
                "summary_fr": f"Tous les événements mis de côté par {processor} sont rejoués",
            }
            self._publish(alert)

    def _active(self, processor: str) -> Alert | None:
        if self.store is None:
            return None
        fp = fingerprint(RULE, {"processor": processor})
        for alert in self.store.list(rule=RULE, limit=50):
            if alert.fingerprint == fp and alert.active:
                return alert
        return None

    def _publish(self, alert: Alert) -> None:
        if self.store is not None:
            self.store.save([alert])
        for listener in self.listeners:
            listener.alert_changed(alert)


def _summaries(processor: str, open: int, error: str) -> dict[str, str]:
    english = (
        f"Processor {processor} set {open} event(s) aside: {error}. "
        "See GET /api/dead-letters; fix, then run `vigie dead-letters replay`"
    )
    french = (
        f"Le processeur {processor} a mis {open} événement(s) de côté : {error}. "
        "Voir GET /api/dead-letters ; corriger, puis `vigie dead-letters replay`"
    )
    return {"summary": english, "summary_en": english, "summary_fr": french}
