"""Alertmanager-compatible webhooks (payload version "4"), so existing receivers work.

Changes are queued by `alert_changed` (called on the evaluation thread) and posted by a
sender thread, grouped per rule: one POST carries every alert of a rule that changed in
the same evaluation, the way Alertmanager groups by `alertname`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from vigie.destinations import DestinationRefused, DestinationUnresolved, check_destination, pinned
from vigie.rules.alerts import Alert
from vigie.rules.definitions import Webhook

logger = logging.getLogger(__name__)
ZERO_TIME = "0001-01-01T00:00:00Z"
RETRIES = 3


def _time(moment: datetime | None) -> str:
    return ZERO_TIME if moment is None else moment.isoformat().replace("+00:00", "Z")


def payload(
    alerts: Sequence[Alert], *, receiver: str, external_url: str, truncated: int = 0
) -> dict[str, Any]:
    """The Alertmanager webhook body (version "4") for alerts of one group (one rule)."""
    rule = alerts[0].rule
    wire = [
        {
            "status": "firing" if a.status == "firing" else "resolved",
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": _time(a.fired_at or a.starts_at),
            "endsAt": _time(a.ends_at),
            "generatorURL": f"{external_url.rstrip('/')}/api/alerts?rule={rule}",
            "fingerprint": a.fingerprint,
        }
        for a in alerts
    ]
    common_labels = dict(alerts[0].labels)
    common_annotations = dict(alerts[0].annotations)
    for alert in alerts[1:]:
        common_labels = {k: v for k, v in common_labels.items() if alert.labels.get(k) == v}
        common_annotations = {
            k: v for k, v in common_annotations.items() if alert.annotations.get(k) == v
        }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{rule}"}}',
        "truncatedAlerts": truncated,
        "status": "firing" if any(a.status == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": {"alertname": rule},
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "alerts": wire,
    }


class AlertmanagerWebhook:
    """An `AlertListener` posting firing and resolved alerts to Alertmanager receivers."""

    def __init__(
        self, hooks: Sequence[Webhook], *, external_url: str, allow_private: bool = False
    ) -> None:
        self.hooks = list(hooks)
        self.external_url = external_url
        self.allow_private = allow_private
        self._queue: queue.SimpleQueue[Alert | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0
        # (receiver, outcome) -> POSTs since start, for /metrics (`WebhookCollector`).
        self.deliveries: dict[tuple[str, str], int] = {}

    def alert_changed(self, alert: Alert) -> None:
        """Queue firing alerts and resolved alerts that had fired (pending ones stay quiet)."""
        if alert.status == "firing" or (alert.status == "resolved" and alert.fired_at):
            self._queue.put(alert)

    def start(self) -> None:
        """Start the sender thread (idempotent)."""
        if self._thread is None and self.hooks:
            self._thread = threading.Thread(target=self._run, name="vigie-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Send what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client() as client:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while True:
                    try:
                        more = self._queue.get(timeout=0.05)
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                self._send(client, batch)
                if stop:
                    return

    def _send(self, client: httpx.Client, batch: list[Alert]) -> None:
        # One POST per rule; a second change of the same alert in the batch starts a new
        # POST, so a receiver sees "firing" before "resolved" even when both were queued.
        groups: dict[str, dict[str, Alert]] = {}
        for alert in batch:
            group = groups.setdefault(alert.rule, {})
            if alert.fingerprint in group:
                self._post(client, list(group.values()))
                group.clear()
            group[alert.fingerprint] = alert
        for group in groups.values():
            if group:
                self._post(client, list(group.values()))

    def _post(self, client: httpx.Client, alerts: list[Alert]) -> None:
        for hook in self.hooks:
            chosen = [a for a in alerts if a.status == "firing" or hook.send_resolved]
            if not chosen:
                continue
            body = payload(chosen, receiver=hook.name, external_url=self.external_url)
            for attempt in range(RETRIES):
                try:
                    address = check_destination(
                        hook.url,
                        allow_private=self.allow_private,
                        setting="alerting.allow_private_networks",
                    )
                    target, host, extensions = pinned(hook.url, address)
                    response = client.post(
                        target, json=body, headers=host, extensions=extensions, timeout=hook.timeout
                    )
                    response.raise_for_status()
                    self.sent += 1
                    self._count(hook.name, "delivered")
                    break
                except DestinationRefused as exc:
                    self.failed += 1
                    self._count(hook.name, "failed")
                    logger.warning("alert webhook %s refused: %s", hook.url, exc)
                    break
                except (httpx.HTTPError, DestinationUnresolved) as exc:
                    self._count(hook.name, "retried" if attempt + 1 < RETRIES else "failed")
                    if attempt + 1 == RETRIES:
                        self.failed += 1
                        logger.warning(
                            "webhook %s failed for %s: %s", hook.url, body["groupKey"], exc
                        )
                    else:
                        time.sleep(0.2 * 2**attempt)

    def _count(self, receiver: str, outcome: str) -> None:
        key = (receiver, outcome)
        self.deliveries[key] = self.deliveries.get(key, 0) + 1


class WebhookCollector(Collector):
    """`vigie_alert_webhook_deliveries_total{receiver, outcome}`: POSTs to the Alertmanager
    receivers since start, `delivered`, `retried` (a try failed, another follows) or `failed`
    (every try failed: the receiver never heard of those alerts)."""

    def __init__(self, webhooks: AlertmanagerWebhook) -> None:
        self.webhooks = webhooks

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "vigie_alert_webhook_deliveries",
            "POSTs of alerts to the Alertmanager webhooks, by receiver and outcome.",
            labels=["receiver", "outcome"],
        )
        known = {hook.name for hook in self.webhooks.hooks}
        counts = dict(self.webhooks.deliveries)
        for receiver in sorted(known | {r for r, _ in counts}):
            for outcome in ("delivered", "retried", "failed"):
                family.add_metric([receiver, outcome], counts.get((receiver, outcome), 0))
        yield family
