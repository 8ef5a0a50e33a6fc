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
