"""Quiet hours of public places: a loudspeaker zone or a shop's screens in their quiet hours
get nothing; the playbook's step chooses to drop the message or hold it until they end, and
the run records which (issue 24)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from tests.playbooks.conftest import SECRET, Receiver, firing, make_engine, playbook
from vigie.clock import ManualClock
from vigie.playbooks.actions.base import ActionSettings, Screen, WebhookEndpoint, Zone
from vigie.playbooks.validation import check
from vigie.schedule import ScheduleConfig
from vigie.sensors.places import quiet_until

NIGHT = datetime(2026, 6, 6, 22, 25, tzinfo=UTC)  # 00:25 in Brussels (summer time)
OPENING = datetime(2026, 6, 7, 7, 0, tzinfo=UTC)  # 09:00 in Brussels


def settings_for(receiver: Receiver, tmp_path: Path) -> ActionSettings:
    """A street quiet 21:00-08:00 and a shop's screens dark 20:00-09:00, both in Brussels,
    each posting to the receiver; no espeak-ng, so the street gets text only."""
    return ActionSettings(
        zones=[
            Zone(
                name="rue-neuve",
                public_address="out",
                quiet_hours=["21:00-08:00"],
                timezone="Europe/Brussels",
            )
        ],
        screens=[
            Screen(
                name="shop-door",
                endpoint="out",
                quiet_hours=["20:00-09:00"],
                timezone="Europe/Brussels",
            )
        ],
        webhooks=[WebhookEndpoint(name="out", url=receiver.url, secret=SECRET)],
        allow_private_networks=True,
        broadcast_dir=str(tmp_path),
        espeak=str(tmp_path / "no-espeak"),
    )


def one_step(action: str, params: dict[str, Any]) -> Any:
    return playbook(
        {
            "name": "night",
            "triggers": [{"rule": "crowding"}],
            "steps": [{"action": action, "params": params}],
        }
    )


@pytest.mark.parametrize(
    ("action", "params", "opens"),
    [
        (
            "broadcast",
            {"zone": "rue-neuve", "text": "Bonjour"},
            datetime(2026, 6, 7, 6, 0, tzinfo=UTC),
        ),
        ("screen", {"screen": "shop-door", "text": "Promo"}, OPENING),
    ],
)
def test_a_held_message_goes_out_when_the_quiet_hours_end(
    engine: sa.Engine,
    tmp_path: Path,
    receiver: Receiver,
    action: str,
    params: dict[str, Any],
    opens: datetime,
) -> None:
    """Held at 00:25: the run waits with the step held until the place's quiet hours end;
    the timer's rounds before then send nothing; the first round after sends it once."""
    clock = ManualClock(NIGHT)
    book = one_step(action, {**params, "outside_quiet_hours": "hold"})
    playbooks = make_engine(engine, [book], settings=settings_for(receiver, tmp_path), clock=clock)
    (run,) = playbooks.handle(firing(rule="crowding"))
    assert run.status == "running"
    (step,) = run.steps
    assert step.status == "held" and step.attempts == 0
    assert datetime.fromisoformat(step.result["held_until"]) == opens
    clock.set(opens - timedelta(minutes=1))
    playbooks.resume()
    assert receiver.received == []
    clock.set(opens)
    playbooks.resume()
    playbooks.resume()
    (got,) = receiver.received
    assert got["event"]["data"]["text"] == params["text"]
    with engine.connect() as conn:
        status, attempts = conn.exec_driver_sql("SELECT status, attempts FROM playbook_steps").one()
    assert (status, attempts) == ("succeeded", 1)


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("broadcast", {"zone": "rue-neuve", "text": "Bonjour"}),
        ("screen", {"screen": "shop-door", "text": "Promo"}),
    ],
)
def test_a_dropped_message_is_recorded_and_never_sent(
    engine: sa.Engine, tmp_path: Path, receiver: Receiver, action: str, params: dict[str, Any]
) -> None:
    """Dropped (the default): the step succeeds saying it dropped the message and why; it is
    not sent later either."""
    clock = ManualClock(NIGHT)
    playbooks = make_engine(
        engine, [one_step(action, params)], settings=settings_for(receiver, tmp_path), clock=clock
    )
    (run,) = playbooks.handle(firing(rule="crowding"))
    assert run.status == "succeeded"
    assert run.steps[0].result["dropped"] is True
    assert "quiet hours" in run.steps[0].result["skipped"]
    clock.set(OPENING)
    playbooks.resume()
    assert receiver.received == []


def test_the_screens_show_a_message_in_opening_hours(
    engine: sa.Engine, tmp_path: Path, receiver: Receiver
) -> None:
    """At 14:00 in Brussels the shop's screens get a signed CloudEvent with the message."""
    clock = ManualClock(datetime(2026, 6, 6, 12, 0, tzinfo=UTC))
    book = one_step("screen", {"screen": "shop-door", "text": "Allée 21", "minutes": 45})
    (run,) = make_engine(
        engine, [book], settings=settings_for(receiver, tmp_path), clock=clock
    ).handle(firing(rule="crowding"))
    assert run.status == "succeeded", run.steps
    (got,) = receiver.received
    assert got["event"]["type"] == "be.vigie.screen.message"
    assert got["event"]["data"] == {
        "screen": "shop-door",
        "language": "fr",
        "text": "Allée 21",
        "minutes": 45.0,
    }


def test_unknown_screens_fail_without_retry(engine: sa.Engine, tmp_path: Path) -> None:
    book = playbook(
        {
            "name": "x",
            "triggers": [{"rule": "crowding"}],
            "steps": [
                {"action": "screen", "params": {"screen": "mars", "text": "x"}, "retries": 2}
            ],
        }
    )
    settings = ActionSettings(screens=[Screen(name="shop-door", endpoint="out")])
    (run,) = make_engine(engine, [book], settings=settings).handle(firing(rule="crowding"))
    assert run.status == "failed" and run.steps[0].attempts == 1
    assert "shop-door" in (run.steps[0].error or "")


def test_bad_places_are_named_in_the_configuration_check() -> None:
    """A malformed range, an unknown time zone and a screen endpoint that is not a webhook
    are each named with their path."""
    settings = ActionSettings(
        zones=[Zone(name="z", quiet_hours=["22h-8h"], timezone="Europe/Bruxelles")],
        screens=[Screen(name="s", endpoint="nowhere", quiet_hours=["20:00-09:00", "25:00-01:00"])],
    )
    found = {tuple(path): why for path, why in check([], settings, ScheduleConfig(), actions=[])}
    assert "HH:MM-HH:MM" in found[("actions", "zones", 0, "quiet_hours", 0)]
    assert "IANA" in found[("actions", "zones", 0, "timezone")]
    assert "HH:MM-HH:MM" in found[("actions", "screens", 0, "quiet_hours", 1)]
    assert ("actions", "screens", 0, "quiet_hours", 0) not in found
    assert "webhooks" in found[("actions", "screens", 0, "endpoint")]


@given(
    start=st.integers(0, 1439),
    end=st.integers(0, 1439),
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
)
def test_quiet_until_is_the_end_of_the_range(start: int, end: int, now: datetime) -> None:
    """Against plain arithmetic in UTC: outside the range nothing waits; inside, the wait
    ends at the range's next end, a whole minute."""
    if start == end:
        return
    text = f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    minute = now.hour * 60 + now.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    got = quiet_until([text], "UTC", now)
    if not inside:
        assert got is None
        return
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    expected = midnight + timedelta(minutes=end)
    if expected <= now:
        expected += timedelta(days=1)
    assert got == expected
