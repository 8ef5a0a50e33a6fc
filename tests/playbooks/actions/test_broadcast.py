"""Spoken messages rendered with the real espeak-ng and posted to a zone's loudspeakers."""

from __future__ import annotations

import base64
import wave
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import require_service
from tests.playbooks.conftest import SECRET, Receiver, firing, make_engine, playbook
from vigie.playbooks.actions.base import ActionSettings, WebhookEndpoint, Zone

ESPEAK = "/usr/bin/espeak-ng"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_message_is_rendered_to_a_wav_file(
    engine: sa.Engine, tmp_path: Path, language: str
) -> None:
    """espeak-ng turns the text into a WAV file with sound in it, once per step."""
    if not Path(ESPEAK).exists():
        require_service("espeak-ng", f"{ESPEAK} is not installed")
    settings = ActionSettings(
        zones=[Zone(name="rue-neuve", language=language)], broadcast_dir=str(tmp_path)
    )
    book = playbook(
        {
            "name": "crowd",
            "triggers": [{"rule": "crowding"}],
            "steps": [{"action": "broadcast", "params": {"zone": "rue-neuve", "text": "Bonjour"}}],
        }
    )
    (run,) = make_engine(engine, [book], settings=settings).handle(firing(rule="crowding"))
    assert run.status == "succeeded", run.steps
    path = Path(run.steps[0].result["wav"])
    with wave.open(str(path)) as audio:
        assert audio.getnframes() > 1000
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT language FROM broadcasts").scalar() == language


def test_an_unknown_zone_fails_without_retry(engine: sa.Engine, tmp_path: Path) -> None:
    """A zone missing from actions.zones fails the step once, naming the known zones."""
    book = playbook(
        {
            "name": "crowd",
            "triggers": [{"rule": "crowding"}],
            "steps": [
                {"action": "broadcast", "params": {"zone": "mars", "text": "x"}, "retries": 3}
            ],
        }
    )
    settings = ActionSettings(zones=[Zone(name="rue-neuve")], broadcast_dir=str(tmp_path))
    (run,) = make_engine(engine, [book], settings=settings).handle(firing(rule="crowding"))
    assert run.status == "failed" and run.steps[0].attempts == 1
    assert "rue-neuve" in (run.steps[0].error or "")


def test_the_zone_public_address_receives_text_and_audio(
    engine: sa.Engine, tmp_path: Path, receiver: Receiver
) -> None:
    """A zone with a public-address endpoint gets a signed CloudEvent with the text and the
    WAV audio (base64), even on a simulated clock."""
    if not Path(ESPEAK).exists():
        require_service("espeak-ng", f"{ESPEAK} is not installed")
    settings = ActionSettings(
        zones=[Zone(name="rue-neuve", language="fr", public_address="pa")],
        webhooks=[WebhookEndpoint(name="pa", url=receiver.url, secret=SECRET)],
        allow_private_networks=True,
        broadcast_dir=str(tmp_path),
    )
    book = playbook(
        {
            "name": "crowd",
            "triggers": [{"rule": "crowding"}],
            "steps": [
                {
                    "action": "broadcast",
                    "params": {"zone": "rue-neuve", "text": "Place de la Monnaie"},
                }
            ],
        }
    )
    (run,) = make_engine(engine, [book], settings=settings).handle(firing(rule="crowding"))
    assert run.status == "succeeded", run.steps
    (got,) = receiver.received
    data = got["event"]["data"]
    assert got["event"]["type"] == "be.vigie.broadcast"
    assert data["text"] == "Place de la Monnaie" and data["language"] == "fr"
    assert base64.b64decode(data["audio_wav_base64"])[:4] == b"RIFF"


def test_nothing_is_broadcast_during_the_zones_quiet_hours(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """At 00:25 in Brussels a zone quiet from 21:00 to 08:00 gets no message, and the step
    says why (issue 20: the broadcast went out at 00:25)."""
    from datetime import UTC, datetime

    from vigie.clock import ManualClock

    settings = ActionSettings(
        zones=[Zone(name="rue-neuve", quiet_hours=["21:00-08:00"], timezone="Europe/Brussels")],
        broadcast_dir=str(tmp_path),
    )
    book = playbook(
        {
            "name": "crowd",
            "triggers": [{"rule": "crowding"}],
            "steps": [{"action": "broadcast", "params": {"zone": "rue-neuve", "text": "Bonjour"}}],
        }
    )
    night = ManualClock(datetime(2026, 6, 6, 22, 25, tzinfo=UTC))  # 00:25 in Brussels
    runs = make_engine(engine, [book], settings=settings, clock=night).handle(
        firing(rule="crowding")
    )
    (run,) = runs
    assert run.status == "succeeded", run.steps
    assert "quiet hours" in run.steps[0].result["skipped"]
    assert not list(tmp_path.glob("*.wav"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM broadcasts").scalar() == 0
