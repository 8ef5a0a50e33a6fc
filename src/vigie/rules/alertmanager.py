"""Alertmanager as a destination: Vigie's alerts posted to `POST /api/v2/alerts`, the way
Prometheus does it, so that an operations team routes, groups, silences and pages them with
the Alertmanager it already runs.

A firing alert is posted when it fires and re-sent every `resend` while it fires, with an
`endsAt` four re-sends ahead (as Prometheus does): Alertmanager keeps it active as long as
Vigie keeps sending, and ends it by itself if Vigie goes away. A resolved alert is posted
once more with `endsAt` now, which ends it at once. A failed POST is retried; what still
fails is counted, and the next re-send carries the firing alerts again.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from vigie.clock import Clock
from vigie.destinations import DestinationRefused, DestinationUnresolved, check_destination, pinned
from vigie.rules.alerts import Alert

logger = logging.getLogger(__name__)
RETRIES = 3
# Prometheus sets endsAt to four re-send intervals ahead; a missed re-send or two is harmless.
ENDS_AHEAD = 4
OUTCOMES = ("delivered", "retried", "failed")
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def label_name(name: str) -> str:
    """`name` as a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`), which Alertmanager
    requires: a group key such as `utm-campaign` becomes `utm_campaign`."""
    cleaned = _LABEL_NAME.sub("_", name) or "_"
    return "_" + cleaned if cleaned[0].isdigit() else cleaned


def postable(
    alert: Alert, *, ends_at: datetime, external_url: str, description: str | None = None
) -> dict[str, Any]:
    """One alert in Alertmanager API v2's `PostableAlert` shape.

    Labels: the alert's group labels, `alertname` and `rule` (the rule's name), `severity`.
    Annotations: every text annotation of the alert (`summary`, `summary_fr`, …), a
    `description` and the `dashboard` link.
    """
    base = external_url.rstrip("/")
    labels = {label_name(k): v for k, v in alert.labels.items() if v != ""}
    labels |= {"alertname": alert.rule, "rule": alert.rule, "severity": alert.severity}
    annotations = {k: v for k, v in alert.annotations.items() if isinstance(v, str) and v}
    summary = annotations.get("summary") or f"{alert.rule} is {alert.status}"
    annotations.setdefault("summary", summary)
    annotations["description"] = description or _description(alert)
    annotations["dashboard"] = f"{base}/alerts"
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": _time(alert.fired_at or alert.starts_at),
        "endsAt": _time(ends_at),
        "generatorURL": f"{base}/api/alerts?rule={alert.rule}",
    }


def _description(alert: Alert) -> str:
    values = ", ".join(
        f"{k}={v}" for k, v in sorted(alert.values.items()) if isinstance(v, int | float | str)
    )
    text = f"Vigie rule {alert.rule!r} ({alert.severity})"
    return f"{text}: {values}" if values else text


class Alertmanagers:
    """An `AlertListener` that keeps Alertmanagers told of Vigie's firing alerts.

    `alert_changed` only records the change (it runs on the rules' thread); a sender thread
    posts it, and re-sends every firing alert each `resend`.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        external_url: str,
        clock: Clock,
        resend: timedelta = timedelta(minutes=1),
        timeout: float = 5.0,
        muted: Callable[[Alert], Sequence[str]] | None = None,
        allow_private: bool = False,
    ) -> None:
        self.urls = [url.rstrip("/") for url in urls]
        self.allow_private = allow_private
        self.external_url = external_url
        self.clock = clock
        self.resend = resend
        self.timeout = timeout
        self.muted = muted
        self._firing: dict[str, Alert] = {}
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # (alertmanager, outcome) -> POSTs since start, for /metrics.
        self.deliveries: dict[tuple[str, str], int] = {}

    def alert_changed(self, alert: Alert) -> None:
        """Post a firing alert (unless a Vigie silence mutes it), and end a resolved one
        that had fired."""
        now = self.clock.now()
        with self._lock:
            if alert.status == "firing":
                if self.muted is not None and self.muted(alert):
                    return
                self._firing[alert.fingerprint] = alert
                ends = now + ENDS_AHEAD * self.resend
            elif alert.status == "resolved":
                known = self._firing.pop(alert.fingerprint, None)
                if known is None and alert.fired_at is None:
                    return
                ends = now
            else:
                return
        if self.urls:
            self._queue.put(postable(alert, ends_at=ends, external_url=self.external_url))

    def firing(self) -> list[dict[str, Any]]:
        """Every firing alert as it is re-sent now."""
        ends = self.clock.now() + ENDS_AHEAD * self.resend
        with self._lock:
            alerts = list(self._firing.values())
        return [postable(a, ends_at=ends, external_url=self.external_url) for a in alerts]

    def start(self) -> None:
        """Start the sender thread (idempotent; nothing to do without Alertmanagers)."""
        if self._thread is None and self.urls:
            self._thread = threading.Thread(
                target=self._run, name="vigie-alertmanagers", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Send what is queued, then stop (firing alerts stay active in Alertmanager until
        their `endsAt`, so a restart within that time does not flap them)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        interval = self.resend.total_seconds()
        due = time.monotonic() + interval
        with httpx.Client() as client:
            while True:
                batch, stop = self._take(timeout=max(0.0, due - time.monotonic()))
                self.post(client, batch)
                if stop:
                    return
                if time.monotonic() >= due:
                    due = time.monotonic() + interval
                    self.post(client, self.firing())

    def _take(self, *, timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """The changes queued within `timeout` (those that follow closely go with the
        first), and whether `stop` asked the thread to end."""
        batch: list[dict[str, Any]] = []
        wait = timeout
        while True:
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                return batch, False
            if item is None:
                return batch, True
            batch.append(item)
            wait = 0.05

    def post(self, client: httpx.Client, alerts: list[dict[str, Any]]) -> None:
        """POST `alerts` to every Alertmanager, retrying a failed try twice."""
        if not alerts:
            return
        for url in self.urls:
            for attempt in range(RETRIES):
                try:
                    address = check_destination(
                        url,
                        allow_private=self.allow_private,
                        setting="alerting.allow_private_networks",
                    )
                    target, host, extensions = pinned(f"{url}/api/v2/alerts", address)
                    response = client.post(
                        target,
                        json=alerts,
                        headers=host,
                        extensions=extensions,
                        timeout=self.timeout,
                    )
                    response.raise_for_status()
                    self._count(url, "delivered")
                    break
                except DestinationRefused as exc:
                    self._count(url, "failed")
                    logger.warning("alertmanager %s refused: %s", url, exc)
                    break
                except (httpx.HTTPError, DestinationUnresolved) as exc:
                    last = attempt + 1 == RETRIES
                    self._count(url, "failed" if last else "retried")
                    if last:
                        logger.warning(
                            "alertmanager %s refused %d alerts: %s", url, len(alerts), exc
                        )
                    else:
                        threading.Event().wait(0.2 * 2**attempt)

    def _count(self, url: str, outcome: str) -> None:
        key = (url, outcome)
        with self._lock:
            self.deliveries[key] = self.deliveries.get(key, 0) + 1


class AlertmanagerCollector(Collector):
    """`vigie_alertmanager_deliveries_total{alertmanager, outcome}`: POSTs of alerts to each
    Alertmanager since start, `delivered`, `retried` or `failed` (every try failed)."""

    def __init__(self, alertmanagers: Alertmanagers) -> None:
        self.alertmanagers = alertmanagers

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vigie_alertmanager_deliveries",
            "POSTs of alerts to Alertmanager's /api/v2/alerts, by Alertmanager and outcome.",
            labels=["alertmanager", "outcome"],
        )
        counts = dict(self.alertmanagers.deliveries)
        for url in self.alertmanagers.urls:
            for outcome in OUTCOMES:
                family.add_metric([url, outcome], counts.get((url, outcome), 0))
        yield family
