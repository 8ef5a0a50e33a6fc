"""Silences: Alertmanager's matcher semantics, refused input, and a silenced alert that is
recorded and shown but runs no playbook and sends no notification (on both stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import make_settings
from vigie.auth.audit import Actor, list_audit
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.events import Event
from vigie.rules.alerts import Alert
from vigie.rules.silences import Matcher, SilenceDraft, alert_labels, validate
from vigie.rules.triage import Invalid
from vigie.store import upgrade
from vigie.system import build_system

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday
ADA = Actor(name="ada", role="admin")
CONFIG = """
metrics:
  - name: orders
    kind: count
    where: {event: Order Completed}
    by: [campaign]
    window: 1h
rules:
  - name: order-rush
    metric: orders
    op: ">="
    value: 2
    labels: {team: sales}
playbooks:
  - name: tell-sales
    triggers: [{rule: order-rush, status: [firing]}]
    steps:
      - action: notify
        params: {to: ana, subject: "Rush on {{ labels.campaign }}"}
schedule:
  time_intervals:
    - name: always
      time_intervals: [{times: [{start_time: "00:00", end_time: "24:00"}]}]
  policy: {earliest: "00:00", latest: "24:00", weekends: true}
  people:
    - {name: ana, teams: [sales], working_hours: [always]}
"""


def _alert(**labels: str) -> Alert:
    return Alert(fingerprint="f", rule="order-rush", status="firing", labels=labels, starts_at=T0)


def test_matchers_follow_alertmanager() -> None:
    """Regexes are anchored, isEqual false negates, and a missing label matches as ""."""
    labels = alert_labels(_alert(campaign="lunch-deal"))
    assert Matcher(name="alertname", value="order-rush").matches(labels)
    assert Matcher(name="campaign", value="lunch.*", is_regex=True).matches(labels)
    assert not Matcher(name="campaign", value="lunch", is_regex=True).matches(labels)
    assert Matcher(name="campaign", value="x", is_equal=False).matches(labels)
    assert Matcher(name="site", value="").matches(labels)
    assert Matcher(name="severity", value="warning").matches(labels)


@pytest.mark.parametrize(
    ("matchers", "ends_in", "field"),
    [
        ([], timedelta(hours=1), "matchers"),
        ([Matcher(name="campaign", value=".*", is_regex=True)], timedelta(hours=1), "matchers"),
        (
            [Matcher(name="campaign", value="(", is_regex=True)],
            timedelta(hours=1),
            "matchers[0].value",
        ),
        ([Matcher(name="a\x00", value="b")], timedelta(hours=1), "matchers[0].name"),
        ([Matcher(name="a", value="b" * 5000)], timedelta(hours=1), "matchers[0].value"),
        ([Matcher(name="a", value="b")], -timedelta(hours=1), "endsAt"),
    ],
)
def test_refused_silences_name_the_field(
    matchers: list[Matcher], ends_in: timedelta, field: str
) -> None:
    """A silence muting everything, a bad regex, NUL, a huge value or an end in the past is
    refused with the field that is wrong."""
    with pytest.raises(Invalid) as caught:
        validate(SilenceDraft(matchers=matchers, ends_at=T0 + ends_in), now=T0)
    assert caught.value.field == field


def _orders(campaign: str, first: int, at: datetime) -> list[Event]:
    return [
        Event(
            message_id=f"{campaign}-{n}",
            type="track",
            source="web",
            event="Order Completed",
            properties={"campaign": campaign},
            timestamp=at,
            received_at=at,
            offset=first + n,
        )
        for n in range(2)
    ]


def test_a_silence_suppresses_the_playbook_and_the_notification(db_url: str) -> None:
    """Two campaigns fire the same rule; the silenced one is stored and listed as firing but
    runs no playbook and notifies nobody, while the other runs and notifies as usual."""
    clock = ManualClock(T0)
    system = build_system(make_settings(db_url, parse_config(CONFIG)), clock=clock)
    try:
        upgrade(system.engine)
        silence = system.silences.create(
            SilenceDraft(
                matchers=[
                    Matcher(name="alertname", value="order-rush"),
                    Matcher(name="campaign", value="lunch-.*", is_regex=True),
                ],
                ends_at=T0 + timedelta(hours=2),
                comment="known: the lunch deal is meant to rush",
            ),
            actor=ADA,
        )
        system.alerting.process(_orders("lunch-deal", 1, T0) + _orders("spring", 3, T0))
        system.playbooks.resume()

        firing = {a.labels["campaign"]: a for a in system.alerts.list(status="firing")}
        assert set(firing) == {"lunch-deal", "spring"}
        assert system.silences.silencing(firing["lunch-deal"]) == [silence.id]
        assert system.silences.silencing(firing["spring"]) == []
        runs = system.playbook_history.runs()
        assert [r.trigger["labels"]["campaign"] for r in runs] == ["spring"]
        notes = system.dispatcher.notifications()
        assert [(n.recipient, n.subject, n.status) for n in notes] == [
            ("ana", "Rush on spring", "delivered")
        ]
        (created,) = list_audit(engine=system.engine, entity="silences")
        assert (created.actor, created.action, created.entity_id) == (
            "ada",
            "silence.create",
            silence.id,
        )
    finally:
        system.engine.dispose()


def test_an_expired_silence_mutes_nothing(db_url: str) -> None:
    """Deleting (expiring) a silence ends it at once: the next firing runs its playbook."""
    clock = ManualClock(T0)
    system = build_system(make_settings(db_url, parse_config(CONFIG)), clock=clock)
    try:
        upgrade(system.engine)
        draft = SilenceDraft(
            matchers=[Matcher(name="alertname", value="order-rush")],
            ends_at=T0 + timedelta(hours=2),
        )
        silence = system.silences.create(draft, actor=ADA)
        assert system.silences.expire(silence.id, actor=ADA).status.state == "expired"
        system.alerting.process(_orders("spring", 1, T0))
        system.playbooks.resume()
        assert len(system.playbook_history.runs()) == 1
        assert [s.id for s in system.silences.list(state="expired")] == [silence.id]
    finally:
        system.engine.dispose()
