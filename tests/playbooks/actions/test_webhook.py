"""Signed CloudEvents to a real local receiver: verification, retries, 410, SSRF guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from tests.playbooks.conftest import SECRET, Receiver, firing, make_engine, playbook
from vigie.clock import SystemClock
from vigie.playbooks.actions.base import ActionSettings, WebhookEndpoint
from vigie.playbooks.actions.webhook import Refused, _pinned, check_destination, sign


def _settings(url: str, *, allow_private: bool = True) -> ActionSettings:
    return ActionSettings(
        source="urn:vigie:test",
        webhooks=[
            WebhookEndpoint(
                name="crm", url=url, secret=SECRET, max_attempts=3, backoff_seconds=0.01
            )
        ],
        allow_private_networks=allow_private,
    )


BOOK = {
    "name": "hook",
    "triggers": [{"rule": "conversion-drop"}],
    "steps": [
        {
            "action": "webhook",
            "params": {
                "endpoint": "crm",
                "type": "be.vigie.alert.firing",
                "data": {"page": "{{ labels.page }}"},
            },
        }
    ],
}


def test_signature_scheme_matches_the_reference_library() -> None:
    """Our signature equals the one the standardwebhooks package computes."""
    body = b'{"a":1}'
    theirs = Webhook(SECRET).sign(
        "msg_1", datetime.fromtimestamp(1700000000, tz=UTC), body.decode()
    )
    assert sign(SECRET, "msg_1", 1700000000, body) == theirs


def test_a_cloudevent_arrives_signed_and_verified(engine: sa.Engine, receiver: Receiver) -> None:
    """The receiver verifies the signature and reads a structured CloudEvents 1.0 event."""
    runner = make_engine(
        engine, [playbook(BOOK)], clock=SystemClock(), settings=_settings(receiver.url)
    )
    (run,) = runner.handle(firing(labels={"page": "/lunch"}))
    assert run.status == "succeeded", run.steps
    (got,) = receiver.received
    assert got["headers"]["content-type"].startswith("application/cloudevents+json")
    event = got["event"]
    assert event["specversion"] == "1.0"
    assert event["type"] == "be.vigie.alert.firing"
    assert event["source"] == "urn:vigie:test"
    assert event["data"] == {"page": "/lunch"}
    assert got["headers"]["webhook-id"] == event["id"]


def test_a_500_is_retried_with_the_same_id_then_succeeds(
    engine: sa.Engine, receiver: Receiver
) -> None:
    """500 then 200: two attempts, one webhook-id, the step succeeds after a backoff."""
    receiver.statuses = [(500, {}), (200, {})]
    waits: list[float] = []
    runner = make_engine(
        engine,
        [playbook(BOOK)],
        clock=SystemClock(),
        settings=_settings(receiver.url),
        sleep=waits.append,
    )
    (run,) = runner.handle(firing(labels={"page": "/lunch"}))
    assert run.status == "succeeded"
    assert run.steps[0].result["attempts"] == 2
    ids = {r["headers"]["webhook-id"] for r in receiver.received}
    assert len(receiver.received) == 2 and len(ids) == 1
    assert len(waits) == 1 and 0.005 <= waits[0] <= 0.01


def test_retry_after_is_honoured(engine: sa.Engine, receiver: Receiver) -> None:
    """A 429 with Retry-After: 0 waits what the receiver asked, not the backoff."""
    receiver.statuses = [(429, {"Retry-After": "0"}), (200, {})]
    waits: list[float] = []
    runner = make_engine(
        engine,
        [playbook(BOOK)],
        clock=SystemClock(),
        settings=_settings(receiver.url),
        sleep=waits.append,
    )
    assert runner.handle(firing(labels={"page": "/x"}))[0].status == "succeeded"
    assert waits == [0.0]


def test_410_disables_the_endpoint(engine: sa.Engine, receiver: Receiver) -> None:
    """A 410 Gone fails the step without retrying, and later events are not sent."""
    receiver.statuses = [(410, {})]
    runner = make_engine(
        engine, [playbook(BOOK)], clock=SystemClock(), settings=_settings(receiver.url)
    )
    (run,) = runner.handle(firing(labels={"page": "/x"}))
    assert run.status == "failed" and run.steps[0].attempts == 1
    (second,) = runner.handle(firing(fingerprint="fp-2", labels={"page": "/x"}))
    assert second.status == "failed"
    assert "disabled" in (second.steps[0].error or "")
    assert len(receiver.received) == 1


def test_loopback_is_refused_unless_allowed(engine: sa.Engine, receiver: Receiver) -> None:
    """Without allow_private_networks, a loopback URL is refused and nothing is sent."""
    runner = make_engine(
        engine,
        [playbook(BOOK)],
        clock=SystemClock(),
        settings=_settings(receiver.url, allow_private=False),
    )
    (run,) = runner.handle(firing(labels={"page": "/x"}))
    assert run.status == "failed"
    assert "private or local" in (run.steps[0].error or "")
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[fe80::1]/x",
        "http://localhost/x",
        "ftp://example.com/x",
        "http://100.100.100.200/latest/meta-data",
        "http://100.64.0.1/x",
        "http://[2002:a9fe:a9fe::1]/x",
        "http://[2002:808:808::1]/x",
        "http://[64:ff9b::a9fe:a9fe]/x",
        "http://198.18.0.1/x",
        "http://[fc00::1]/x",
        "http://[::ffff:100.64.0.1]/x",
        "http://240.0.0.1/x",
        "http://0.0.0.0/x",
    ],
)
def test_private_loopback_and_link_local_destinations_are_refused(url: str) -> None:
    """Every resolved address is checked: anything not globally reachable is refused,
    including shared 100.64.0.0/10 and 6to4 2002::/16 (issue 17)."""
    with pytest.raises(Refused):
        check_destination(url, allow_private=False)


def test_the_checked_address_is_the_one_connected_to() -> None:
    """After the check, the request goes to the checked IP with the original Host and TLS
    name, so a second DNS answer cannot swap in a private address (DNS rebinding)."""
    url, headers, extensions = _pinned("https://hooks.example.com:8443/in?x=1", "93.184.216.34")
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert headers == {"host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    assert _pinned("http://h.example/x", "2001:db8::1")[0] == "http://[2001:db8::1]/x"


def test_a_public_address_is_allowed() -> None:
    """A globally reachable address passes the guard and is the one connected to."""
    assert check_destination("http://93.184.216.34/in", allow_private=False) == "93.184.216.34"
