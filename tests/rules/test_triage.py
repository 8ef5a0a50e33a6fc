"""What people do with an alert: acknowledge, assign, annotate, judge; each audited, folded
into the alert's handling, and counted in the rule's precision (on both stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import sqlalchemy as sa

from vigie.auth.audit import Actor, list_audit
from vigie.clock import ManualClock
from vigie.rules.alerts import Alert
from vigie.rules.store import AlertStore
from vigie.rules.triage import AlertNotFound, AlertTriage, Invalid
from vigie.schedule import ScheduleConfig

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ADA = Actor(name="ada", role="admin", ip="127.0.0.1")
LEA = Actor(name="lea", role="manager")
SCHEDULE = msgspec.convert(
    {"people": [{"name": "marie"}], "teams": [{"name": "support"}]}, ScheduleConfig
)


def _triage(engine: sa.Engine, clock: ManualClock, *rules: str) -> AlertTriage:
    store = AlertStore(engine)
    store.save(
        [
            Alert(id=f"a{n}", fingerprint=f"f{n}", rule=rule, status="firing", starts_at=T0)
            for n, rule in enumerate(rules)
        ]
    )
    return AlertTriage(engine=engine, alerts=store, schedule=SCHEDULE, clock=clock)


def test_handling_keeps_who_and_when(engine: sa.Engine) -> None:
    """Acknowledging, assigning, noting and judging show on the alert with who and when;
    the first acknowledgement counts, a later verdict replaces an earlier one."""
    clock = ManualClock(T0)
    triage = _triage(engine, clock, "rush")
    triage.acknowledge("a0", actor=ADA)
    clock.advance(timedelta(minutes=1))
    triage.acknowledge("a0", actor=LEA)
    triage.assign("a0", "support", actor=LEA)
    triage.note("a0", "  payment provider down  ", actor=ADA)
    triage.feedback("a0", "false_alarm", actor=ADA)
    handling = triage.feedback("a0", "useful", actor=LEA)
    assert (handling.acknowledged_by, handling.acknowledged_at) == ("ada", T0)
    assert (handling.assignee, handling.assigned_by) == ("support", "lea")
    assert [(n.by, n.text) for n in handling.notes] == [("ada", "payment provider down")]
    assert (handling.feedback, handling.feedback_by) == ("useful", "lea")
    trail = list_audit(engine=engine, entity="alerts", entity_id="a0")
    assert [line.action for line in reversed(trail)] == [
        "alert.ack",
        "alert.assign",
        "alert.note",
        "alert.feedback",
        "alert.feedback",
    ]
    assert trail[-1].ip == "127.0.0.1"


def test_precision_counts_each_alerts_latest_verdict(engine: sa.Engine) -> None:
    """A rule's precision is useful / judged over its alerts, each alert's last verdict."""
    triage = _triage(engine, ManualClock(T0), "rush", "rush", "rush", "drop")
    triage.feedback("a0", "false_alarm", actor=ADA)
    triage.feedback("a0", "useful", actor=ADA)
    triage.feedback("a1", "useful", actor=ADA)
    triage.feedback("a2", "false_alarm", actor=ADA)
    precision = triage.precision()
    assert (precision["rush"].useful, precision["rush"].false_alarm) == (2, 1)
    assert precision["rush"].precision == pytest.approx(2 / 3)
    assert "drop" not in precision


def test_refused_actions_name_the_field(engine: sa.Engine) -> None:
    """An unknown assignee, an empty or NUL-bearing note, a bad verdict or an unknown alert is
    refused, and nothing is recorded."""
    triage = _triage(engine, ManualClock(T0), "rush")
    for call, field in (
        (lambda: triage.assign("a0", "nobody", actor=ADA), "assignee"),
        (lambda: triage.note("a0", "   ", actor=ADA), "text"),
        (lambda: triage.note("a0", "a\x00b", actor=ADA), "text"),
        (lambda: triage.note("a0", "x" * 5000, actor=ADA), "text"),
        (lambda: triage.feedback("a0", "meh", actor=ADA), "verdict"),
    ):
        with pytest.raises(Invalid) as caught:
            call()
        assert caught.value.field == field
    with pytest.raises(AlertNotFound):
        triage.acknowledge("missing", actor=ADA)
    assert triage.handling(["a0"]) == {}
    assert list_audit(engine=engine, entity="alerts") == []
