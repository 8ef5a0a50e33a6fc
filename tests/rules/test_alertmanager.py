"""Vigie's alerts in a real Alertmanager (Debian's `prometheus-alertmanager`, started here)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.conftest import free_port, require_service
from vigie.clock import ManualClock, SystemClock
from vigie.rules.alertmanager import AlertmanagerCollector, Alertmanagers, label_name, postable
from vigie.rules.alerts import Alert

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CONFIG = """\
route:
  receiver: nobody
  group_wait: 1s
receivers:
  - name: nobody
"""


def _alert(status: str, *, campaign: str = "lunch-deal", at: datetime = T0) -> Alert:
    return Alert(
        fingerprint=f"fp-{campaign}",
        rule="checkout-conversion-drop",
        status=status,  # type: ignore[arg-type]
        severity="critical",
        labels={"campaign": campaign, "utm-source": "mail", "severity": "critical"},
        annotations={"summary": "conversion fell", "summary_fr": "la conversion a chuté"},
        values={"change": -0.42},
        starts_at=at,
        fired_at=at,
        ends_at=at if status == "resolved" else None,
        id="a1",
    )


def _wait(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager on a free port, with a temporary config and storage."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        require_service("Alertmanager", "apt-get install prometheus-alertmanager")
    assert binary is not None
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(ready, "Alertmanager to start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _alerts(url: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{url}/api/v2/alerts", timeout=5).json())


def test_a_postable_alert_carries_labels_annotations_and_times() -> None:
    """Labels hold the rule, group labels (as valid label names) and severity; annotations
    the summaries, a description and the dashboard link; endsAt the given end."""
    body = postable(
        _alert("firing"), ends_at=T0 + timedelta(minutes=4), external_url="http://vigie:8000/"
    )
    assert body["labels"] == {
        "alertname": "checkout-conversion-drop",
        "rule": "checkout-conversion-drop",
        "campaign": "lunch-deal",
        "utm_source": "mail",
        "severity": "critical",
    }
    assert body["annotations"]["summary"] == "conversion fell"
    assert body["annotations"]["summary_fr"] == "la conversion a chuté"
    assert "change=-0.42" in body["annotations"]["description"]
    assert body["annotations"]["dashboard"] == "http://vigie:8000/alerts"
    assert (body["startsAt"], body["endsAt"]) == ("2026-11-27T12:00:00Z", "2026-11-27T12:04:00Z")
    assert body["generatorURL"].startswith("http://vigie:8000/api/alerts")


def test_a_joined_incident_is_posted_as_the_alert_it_started() -> None:
    """Issue 15: an alert reopened by a re-fire within its cooldown is posted with the
    start of the incident (not of the re-fire) and says how many re-fires it joined."""
    from vigie.rules.conditions import Finding, Outcome
    from vigie.rules.definitions import Rule
    from vigie.rules.lifecycle import AlertBook

    rule = Rule(name="busy", metric="orders", value=5, cooldown="10m")
    holds = Outcome(evaluated={""}, findings={"": Finding("", {}, {"value": 7.0})})
    book = AlertBook()
    (fired,) = book.apply(rule, holds, T0)
    book.apply(rule, Outcome(evaluated={""}), T0 + timedelta(minutes=1))
    (reopened,) = book.apply(rule, holds, T0 + timedelta(minutes=4))
    body = postable(reopened, ends_at=T0 + timedelta(minutes=8), external_url="http://vigie")
    assert reopened.id == fired.id
    assert body["startsAt"] == "2026-11-27T12:00:00Z"
    assert "refires=1" in body["annotations"]["description"]


def test_label_names_become_valid_prometheus_names() -> None:
    """Alertmanager refuses a batch with an invalid label name, so Vigie never sends one."""
    assert label_name("utm-campaign") == "utm_campaign"
    assert label_name("9lives") == "_9lives"
    assert label_name("zone.é") == "zone__"
    assert label_name("") == "_"


def test_an_alert_fires_is_silenced_and_resolves_in_alertmanager(alertmanager: str) -> None:
    """The firing alert shows in Alertmanager's API, a silence made there is honoured, and
    resolution ends it."""
    clock = SystemClock()
    now = clock.now()
    sender = Alertmanagers(
        [alertmanager], external_url="http://vigie:8000", clock=clock, allow_private=True
    )
    sender.start()
    try:
        sender.alert_changed(_alert("firing", at=now))
        shown = _wait(lambda: _alerts(alertmanager), "the alert in Alertmanager")
        assert len(shown) == 1
        assert shown[0]["labels"]["alertname"] == "checkout-conversion-drop"
        assert shown[0]["labels"]["campaign"] == "lunch-deal"
        assert shown[0]["annotations"]["summary"] == "conversion fell"
        assert shown[0]["status"]["state"] == "active"

        silence = {
            "matchers": [{"name": "rule", "value": "checkout-conversion-drop", "isRegex": False}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "ops",
            "comment": "known incident",
        }
        created = httpx.post(f"{alertmanager}/api/v2/silences", json=silence, timeout=5)
        assert created.status_code == 200, created.text
        silence_id = created.json()["silenceID"]
        silenced = _wait(
            lambda: [a for a in _alerts(alertmanager) if a["status"]["state"] == "suppressed"],
            "the alert silenced",
        )
        assert silenced[0]["status"]["silencedBy"] == [silence_id]

        sender.alert_changed(_alert("resolved", at=now))
        _wait(lambda: not _alerts(alertmanager), "the alert ended")
    finally:
        sender.stop()
    assert sender.deliveries[(alertmanager, "delivered")] >= 2
    assert (alertmanager, "failed") not in sender.deliveries


def test_firing_alerts_are_re_sent_and_resolved_ones_are_not(alertmanager: str) -> None:
    """While it fires an alert is posted again each `resend`, its end pushed ahead, so that
    Alertmanager never resolves it by timeout; once resolved it is not re-sent."""
    clock = ManualClock(SystemClock().now())
    sender = Alertmanagers(
        [alertmanager],
        external_url="http://vigie",
        clock=clock,
        resend=timedelta(seconds=0.3),
        allow_private=True,
    )
    assert sender.firing() == []
    sender.alert_changed(_alert("firing", at=clock.now()))
    first_end = sender.firing()[0]["endsAt"]
    clock.advance(timedelta(seconds=10))
    assert sender.firing()[0]["endsAt"] > first_end
    sender.start()
    try:
        _wait(lambda: sender.deliveries.get((alertmanager, "delivered"), 0) >= 3, "re-sends")
        shown = _wait(lambda: _alerts(alertmanager), "the re-sent alert")
        assert shown[0]["endsAt"] > first_end
        sender.alert_changed(_alert("resolved", at=clock.now()))
        assert sender.firing() == []
        _wait(lambda: not _alerts(alertmanager), "the alert ended")
    finally:
        sender.stop()


def test_failed_deliveries_are_retried_and_counted() -> None:
    """An Alertmanager that cannot be reached costs three tries, counted in /metrics."""
    gone = f"http://127.0.0.1:{free_port()}"
    sender = Alertmanagers(
        [gone], external_url="http://vigie", clock=SystemClock(), timeout=0.5, allow_private=True
    )
    sender.start()
    sender.alert_changed(_alert("firing"))
    sender.stop()
    registry = CollectorRegistry()
    registry.register(AlertmanagerCollector(sender))
    text = generate_latest(registry).decode()
    metric = "vigie_alertmanager_deliveries_total"
    assert f'{metric}{{alertmanager="{gone}",outcome="retried"}} 2.0' in text
    assert f'{metric}{{alertmanager="{gone}",outcome="failed"}} 1.0' in text
    assert f'{metric}{{alertmanager="{gone}",outcome="delivered"}} 0.0' in text


def test_a_vigie_silence_keeps_a_new_alert_from_alertmanager() -> None:
    """An alert muted by one of Vigie's own silences is not posted, but an alert that was
    posted still has its resolution sent."""
    muted: set[str] = set()
    sender = Alertmanagers(
        ["http://am"],
        external_url="http://vigie",
        clock=ManualClock(T0),
        muted=lambda alert: ["s1"] if alert.fingerprint in muted else [],
    )
    sender.alert_changed(_alert("firing", campaign="a"))
    muted.update({"fp-a", "fp-b"})
    sender.alert_changed(_alert("firing", campaign="b"))
    assert [a["labels"]["campaign"] for a in sender.firing()] == ["a"]
    sender.alert_changed(_alert("resolved", campaign="a"))
    assert sender.firing() == []


def test_a_servers_rule_fires_into_alertmanager_end_to_end(
    alertmanager: str, tmp_path: Path
) -> None:
    """With `alerting.alertmanagers`, an event sent to a live server makes its rule fire and
    the alert appear in Alertmanager with the rule, group label and severity."""
    from tests.conftest import WRITE_KEY, make_settings
    from vigie.config import parse_config
    from vigie.system import build_system
    from vigie.web import create_app
    from vigie.web.server import BackgroundServer

    config = parse_config(
        f"""
sources: [{{name: web, write_key: {WRITE_KEY}}}]
metrics:
  - {{name: refunds, kind: count, where: {{event: Order Refunded}}, by: [shop], window: 15m}}
rules:
  - name: refunds-seen
    metric: refunds
    op: ">"
    value: 0
    severity: critical
    summary: {{en: "{{value}} refunds in {{shop}}", fr: "{{value}} remboursements à {{shop}}"}}
alerting:
  alertmanagers: [{alertmanager}]
  alertmanager_resend: 5s
  external_url: http://vigie.example
  allow_private_networks: true
"""
    )
    app = create_app(build_system(make_settings(f"sqlite:///{tmp_path}/v.db", config)))
    with BackgroundServer(app, port=free_port()) as server:
        sent = httpx.post(
            f"{server.url}/v1/track",
            auth=(WRITE_KEY, ""),
            json={"event": "Order Refunded", "userId": "u1", "properties": {"shop": "gent"}},
        )
        assert sent.status_code == 200, sent.text
        shown = _wait(lambda: _alerts(alertmanager), "the server's alert in Alertmanager")
    labels = shown[0]["labels"]
    assert labels["alertname"] == labels["rule"] == "refunds-seen"
    assert (labels["shop"], labels["severity"]) == ("gent", "critical")
    assert shown[0]["annotations"]["summary"].endswith(" refunds in gent")
    assert shown[0]["annotations"]["dashboard"] == "http://vigie.example/alerts"


def test_an_alertmanager_on_a_private_address_is_refused_unless_allowed() -> None:
    """Issue 17: Alertmanagers go through the same SSRF guard as the playbooks' webhooks: one
    on loopback or at the cloud metadata address is refused at once (no retry), with the
    setting to change named in the log, unless `alerting.allow_private_networks`."""
    from tests.rules.receiver import Receiver

    with Receiver() as receiver:
        base = receiver.url.removesuffix("/hook")
        metadata = "http://100.100.100.200"
        sender = Alertmanagers([base, metadata], external_url="http://vigie", clock=SystemClock())
        with httpx.Client() as client:
            sender.post(client, [{"labels": {"alertname": "x"}}])
        assert receiver.bodies == []
        assert sender.deliveries == {(base, "failed"): 1, (metadata, "failed"): 1}
        allowed = Alertmanagers(
            [base], external_url="http://vigie", clock=SystemClock(), allow_private=True
        )
        with httpx.Client() as client:
            allowed.post(client, [{"labels": {"alertname": "x"}}])
        assert allowed.deliveries == {(base, "delivered"): 1}
