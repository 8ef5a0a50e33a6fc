"""The morning digest on a manual clock: what was held overnight reaches the person as one
message at the start of their working period, in their language and time zone, alerts that
resolved meanwhile marked (or dropped, when they prefer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest
import sqlalchemy as sa

from vigie.clock import ManualClock
from vigie.schedule import Dispatcher, NotificationRequest, Person, ScheduleConfig
from vigie.schedule.digests import DigestItem, compose

BRUSSELS = ZoneInfo("Europe/Brussels")
EVENING = datetime(2026, 11, 24, 19, 0, tzinfo=BRUSSELS)  # a Tuesday
MORNING = datetime(2026, 11, 25, 8, 0, tzinfo=BRUSSELS)


@dataclass
class Outbox:
    """The e-mails a dispatcher sent."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, *, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


def _hold_three(
    engine: sa.Engine, schedule: ScheduleConfig
) -> tuple[Dispatcher, Outbox, ManualClock]:
    """Three messages for Marie at 19:00, 21:30 and 23:00; the alert of the second resolved."""
    clock = ManualClock(EVENING)
    outbox = Outbox()
    dispatcher = Dispatcher(
        engine=engine,
        config=schedule,
        clock=clock,
        mailer=outbox,
        resolved=lambda run_id: run_id == "run-2",
    )
    for n, (hour, minute) in enumerate([(19, 0), (21, 30), (23, 0)], start=1):
        clock.set(datetime(2026, 11, 24, hour, minute, tzinfo=BRUSSELS))
        (held,) = dispatcher.submit(
            NotificationRequest(
                key=f"k{n}", recipient="marie", subject=f"Alert {n}", run_id=f"run-{n}", body=""
            )
        )
        assert held.status == "held"
    return dispatcher, outbox, clock


def test_held_messages_arrive_as_one_digest(engine: sa.Engine, company: ScheduleConfig) -> None:
    """At 08:00 Marie gets one e-mail in French with Brussels times, the resolved alert
    marked; the three messages are kept as digested, the digest as delivered."""
    dispatcher, outbox, clock = _hold_three(engine, company)
    clock.set(datetime(2026, 11, 25, 7, 59, tzinfo=BRUSSELS))
    assert dispatcher.deliver_due() == 0
    clock.set(MORNING)
    assert dispatcher.deliver_due() == 1
    ((to, subject, body),) = outbox.sent
    assert to == "marie@shop.example"
    assert subject == "Vigie : 3 messages pendant votre absence (1 résolu depuis)"
    assert "mar. 24/11/2026 19:00 · Alert 1\n" in body + "\n"
    assert "mar. 24/11/2026 21:30 · Alert 2 [résolue depuis]" in body
    assert "mar. 24/11/2026 23:00 · Alert 3\n" in body + "\n"
    found = dispatcher.notifications(recipient="marie")
    digest, *held = found
    assert (digest.status, digest.subject, digest.delivered_at) == ("delivered", subject, MORNING)
    assert [n.status for n in held] == ["digested"] * 3
    assert f"digest #{digest.id}" in held[0].audit[-1].detail
    assert dispatcher.deliver_due() == 0


def test_resolved_alerts_dropped_when_preferred(engine: sa.Engine, company: ScheduleConfig) -> None:
    """With `digest_resolved: drop`, the resolved alert's message is dropped (and audited as
    such); the digest carries the other two."""
    marie = company.person("marie")
    assert marie is not None
    company.people = [
        msgspec.structs.replace(p, digest_resolved="drop", language="en") if p is marie else p
        for p in company.people
    ]
    dispatcher, outbox, clock = _hold_three(engine, company)
    clock.set(MORNING)
    assert dispatcher.deliver_due() == 1
    ((_to, subject, body),) = outbox.sent
    assert subject == "Vigie: 2 messages while you were away"
    assert "Alert 2" not in body
    assert "Tue 2026-11-24 19:00 · Alert 1" in body
    statuses = {n.subject: n.status for n in dispatcher.notifications(recipient="marie")}
    assert statuses["Alert 2"] == "dropped"
    assert statuses["Alert 1"] == statuses["Alert 3"] == "digested"


def test_compose_uses_the_persons_zone() -> None:
    """A digest for someone in New York shows New York times, not UTC."""
    person = Person(name="sam", language="en", location="America/New_York")
    night = datetime(2026, 11, 25, 3, 0, tzinfo=ZoneInfo("UTC"))
    items = [DigestItem(subject="A", body="", created_at=night)]
    _subject, body = compose(items, person=person)
    assert "Tue 2026-11-24 22:00 · A" in body


class _ServerDied(BaseException):
    """The process dying (not an error the dispatcher handles)."""


def test_a_crash_after_a_digest_is_sent_sends_it_once_more_not_twice(
    engine: sa.Engine, company: ScheduleConfig
) -> None:
    """The server dies as it records the morning digest it has just e-mailed (at the update
    that marks it delivered); after recovery the three messages go out again as one digest,
    and the half-recorded digest is not e-mailed a third time: two e-mails, one digest kept."""
    dispatcher, outbox, clock = _hold_three(engine, company)
    clock.set(MORNING)

    def die(conn: object, cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.startswith("UPDATE notifications") and outbox.sent:
            raise _ServerDied

    sa.event.listen(engine, "before_cursor_execute", die)
    try:
        with pytest.raises(_ServerDied):
            dispatcher.deliver_due()
    finally:
        sa.event.remove(engine, "before_cursor_execute", die)
    assert len(outbox.sent) == 1
    restarted = Dispatcher(
        engine=engine, config=company, clock=clock, mailer=outbox, resolved=dispatcher.resolved
    )
    restarted.recover()
    restarted.deliver_due()
    assert restarted.deliver_due() == 0
    assert len(outbox.sent) == 2 and outbox.sent[0] == outbox.sent[1]
    digest, *held = restarted.notifications(recipient="marie")
    assert digest.status == "delivered" and digest.key.startswith("digest/")
    assert [n.status for n in held] == ["digested"] * 3
