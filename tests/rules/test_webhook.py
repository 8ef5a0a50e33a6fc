"""The Alertmanager webhook payload (version "4")."""

from __future__ import annotations

from datetime import UTC, datetime

from vigie.rules.alerts import Alert
from vigie.rules.webhook import payload

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _alert(campaign: str, status: str) -> Alert:
    return Alert(
        fingerprint=f"fp-{campaign}",
        rule="drop",
        status=status,  # type: ignore[arg-type]
        severity="critical",
        labels={"alertname": "drop", "severity": "critical", "campaign": campaign},
        annotations={"summary": "conversion fell"},
        starts_at=T0,
        fired_at=T0,
        ends_at=T0 if status == "resolved" else None,
    )


def test_payload_has_the_alertmanager_fields() -> None:
    """Version, group key and labels, common labels and each alert's times are present."""
    body = payload(
        [_alert("a", "firing"), _alert("b", "resolved")],
        receiver="ops",
        external_url="http://vigie:8000",
    )
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "ops"
    assert body["groupLabels"] == {"alertname": "drop"}
    assert body["commonLabels"] == {"alertname": "drop", "severity": "critical"}
    assert body["commonAnnotations"] == {"summary": "conversion fell"}
    assert body["truncatedAlerts"] == 0
    first, second = body["alerts"]
    assert (first["status"], first["endsAt"]) == ("firing", "0001-01-01T00:00:00Z")
    assert (second["status"], second["endsAt"]) == ("resolved", "2026-11-27T12:00:00Z")
    assert first["startsAt"] == "2026-11-27T12:00:00Z"
    assert first["generatorURL"].startswith("http://vigie:8000/")


def test_deliveries_are_counted_by_receiver_and_outcome() -> None:
    """Issue 14: /metrics tells delivered POSTs from retried and failed ones, per receiver."""
    from prometheus_client import CollectorRegistry, generate_latest

    from tests.conftest import free_port
    from tests.rules.receiver import Receiver
    from vigie.rules.definitions import Webhook
    from vigie.rules.webhook import AlertmanagerWebhook, WebhookCollector

    with Receiver() as receiver:
        hooks = [
            Webhook(url=receiver.url, name="ops"),
            Webhook(url=f"http://127.0.0.1:{free_port()}/gone", name="gone", timeout=0.5),
        ]
        webhooks = AlertmanagerWebhook(hooks, external_url="http://vigie", allow_private=True)
        webhooks.start()
        webhooks.alert_changed(_alert("lunch", "firing"))
        webhooks.stop()
    registry = CollectorRegistry()
    registry.register(WebhookCollector(webhooks))
    text = generate_latest(registry).decode()
    assert 'vigie_alert_webhook_deliveries_total{outcome="delivered",receiver="ops"} 1.0' in text
    assert 'vigie_alert_webhook_deliveries_total{outcome="retried",receiver="gone"} 2.0' in text
    assert 'vigie_alert_webhook_deliveries_total{outcome="failed",receiver="gone"} 1.0' in text
    assert 'vigie_alert_webhook_deliveries_total{outcome="failed",receiver="ops"} 0.0' in text


def test_a_webhook_on_a_private_address_is_refused_unless_allowed() -> None:
    """Issue 17: an Alertmanager webhook goes through the same SSRF guard as the playbooks'
    webhooks: a receiver on loopback gets nothing (counted failed, not retried) unless
    `alerting.allow_private_networks` is set."""
    from prometheus_client import CollectorRegistry, generate_latest

    from tests.rules.receiver import Receiver
    from vigie.rules.definitions import Webhook
    from vigie.rules.webhook import AlertmanagerWebhook, WebhookCollector

    with Receiver() as receiver:
        refused = AlertmanagerWebhook(
            [Webhook(url=receiver.url, name="ops")], external_url="http://vigie"
        )
        refused.start()
        refused.alert_changed(_alert("lunch", "firing"))
        refused.stop()
        assert receiver.bodies == []
        allowed = AlertmanagerWebhook(
            [Webhook(url=receiver.url, name="ops")], external_url="http://vigie", allow_private=True
        )
        allowed.start()
        allowed.alert_changed(_alert("lunch", "firing"))
        allowed.stop()
        assert len(receiver.bodies) == 1
    registry = CollectorRegistry()
    registry.register(WebhookCollector(refused))
    text = generate_latest(registry).decode()
    assert 'vigie_alert_webhook_deliveries_total{outcome="failed",receiver="ops"} 1.0' in text
    assert 'vigie_alert_webhook_deliveries_total{outcome="retried",receiver="ops"} 0.0' in text
