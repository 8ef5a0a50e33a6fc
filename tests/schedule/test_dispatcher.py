"""Holding, rerouting and delivering notifications through a real SMTP server, on a
manual clock: across a night, a weekend and a daylight-saving change in Europe/Brussels."""

from __future__ import annotations

import email
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import free_port
from tests.schedule.conftest import COMPANY
from vigie.clock import ManualClock
from vigie.schedule import (
    Dispatcher,
    NotificationRequest,
    ScheduleConfig,
    is_on_duty,
    is_working,
)
from vigie.schedule.mailer import SmtpMailer, SmtpSettings
from vigie.schedule.notifications import list_notifications
from vigie.store import connect, upgrade

BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass
class Inbox:
    """Messages received by the test's SMTP server."""

    messages: list[Message] = field(default_factory=list)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, SmtpSettings]]:
    """A real SMTP server (aiosmtpd) on loopback, keeping what it receives."""
    inbox = Inbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            inbox.messages.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, SmtpSettings(host="127.0.0.1", port=port, sender="vigie@shop.example")
    finally:
        controller.stop()


def _dispatcher(
    engine: sa.Engine, company: ScheduleConfig, clock: ManualClock, settings: SmtpSettings
) -> Dispatcher:
    return Dispatcher(engine=engine, config=company, clock=clock, mailer=SmtpMailer(settings))


def test_held_over_the_night_and_delivered_in_the_morning(
    engine: sa.Engine, company: ScheduleConfig, smtp: tuple[Inbox, SmtpSettings]
) -> None:
    """At 17:30 Marie's message waits; at 08:00 the next day it is e-mailed to her."""
    inbox, settings = smtp
    clock = ManualClock(datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS))
    dispatcher = _dispatcher(engine, company, clock, settings)
    (record,) = dispatcher.submit(
        NotificationRequest(key="k1", recipient="marie", subject="Conversion drop", body="b")
    )
    assert record.status == "held"
    assert record.hold_until == datetime(2026, 11, 25, 8, 0, tzinfo=BRUSSELS)

    clock.set(datetime(2026, 11, 25, 7, 59, tzinfo=BRUSSELS))
    assert dispatcher.deliver_due() == 0
    assert inbox.messages == []

    clock.set(datetime(2026, 11, 25, 8, 0, tzinfo=BRUSSELS))
    assert dispatcher.deliver_due() == 1
    (mail,) = inbox.to("marie@shop.example")
    assert mail["Subject"] == "Conversion drop"
    with engine.connect() as conn:
        (stored,) = list_notifications(conn, recipient="marie")
    assert stored.status == "delivered"
    assert stored.delivered_at == datetime(2026, 11, 25, 8, 0, tzinfo=BRUSSELS)
    assert [a.decision for a in stored.audit] == ["received", "held", "delivered"]
    assert "2026-11-25T07:00:00+00:00" in stored.audit[1].detail


def test_held_over_a_weekend_when_daylight_saving_starts(
    engine: sa.Engine, company: ScheduleConfig, smtp: tuple[Inbox, SmtpSettings]
) -> None:
    """Friday 27 March 2026 18:00 -> Monday 30 March 08:00 CEST (06:00 UTC), nothing before."""
    inbox, settings = smtp
    clock = ManualClock(datetime(2026, 3, 27, 18, 0, tzinfo=BRUSSELS))
    dispatcher = _dispatcher(engine, company, clock, settings)
    dispatcher.submit(NotificationRequest(key="k2", recipient="marie", subject="s", body="b"))
    for hours in range(0, 60, 4):
        clock.set(datetime(2026, 3, 27, 18, 0, tzinfo=BRUSSELS) + timedelta(hours=hours))
        dispatcher.deliver_due()
    assert inbox.messages == []
    clock.set(datetime(2026, 3, 30, 6, 0, tzinfo=ZoneInfo("UTC")))
    assert dispatcher.deliver_due() == 1
    assert len(inbox.to("marie@shop.example")) == 1


def test_urgent_is_rerouted_to_the_person_on_duty(
    engine: sa.Engine, company: ScheduleConfig, smtp: tuple[Inbox, SmtpSettings]
) -> None:
    """An urgent message for Marie at 17:30 is e-mailed at once to Omar, on call, and
    never to Marie; the audit says who it was for and why it went elsewhere."""
    inbox, settings = smtp
    clock = ManualClock(datetime(2026, 11, 24, 17, 30, tzinfo=BRUSSELS))
    dispatcher = _dispatcher(engine, company, clock, settings)
    (record,) = dispatcher.submit(
        NotificationRequest(key="k3", recipient="marie", subject="URGENT", body="b", urgent=True)
    )
    assert (record.status, record.recipient, record.intended_for) == ("delivered", "omar", "marie")
    assert [a.decision for a in record.audit] == ["received", "rerouted", "delivered"]
    assert len(inbox.to("omar@shop.example")) == 1
    assert inbox.to("marie@shop.example") == []
    assert record.channels == ["email:omar@shop.example"], "no personal SMS"


def test_submitting_twice_is_harmless(
    engine: sa.Engine, company: ScheduleConfig, smtp: tuple[Inbox, SmtpSettings]
) -> None:
    """The same key submitted again returns the first notification and sends nothing more."""
    inbox, settings = smtp
    clock = ManualClock(datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS))
    dispatcher = _dispatcher(engine, company, clock, settings)
    request = NotificationRequest(key="k4", recipient="marie", subject="s", body="b")
    first = dispatcher.submit(request)
    again = dispatcher.submit(request)
    assert [r.id for r in first] == [r.id for r in again]
    assert len(inbox.messages) == 1


def test_a_notification_delivered_at_once_is_never_stored_as_held(
    engine: sa.Engine, company: ScheduleConfig, smtp: tuple[Inbox, SmtpSettings]
) -> None:
    """Marie at work at 10:00: her message is stored as being sent, then delivered, and is
    never held in between, where a page listing held notifications (the on-duty page) would
    have counted it."""
    _, settings = smtp
    written: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:  # fmt: skip
        table = getattr(getattr(context, "compiled", None), "statement", None)
        if getattr(getattr(table, "table", None), "name", None) == "notifications":
            written.extend(p["status"] for p in context.compiled_parameters if "status" in p)

    sa.event.listen(engine, "after_cursor_execute", record)
    try:
        clock = ManualClock(datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS))
        dispatcher = _dispatcher(engine, company, clock, settings)
        (sent,) = dispatcher.submit(
            NotificationRequest(key="k0", recipient="marie", subject="s", body="b")
        )
    finally:
        sa.event.remove(engine, "after_cursor_execute", record)
    assert sent.status == "delivered"
    assert written == ["sending", "delivered"]


class _ServerDied(BaseException):
    """The process dying in the middle of sending (not an error the dispatcher handles)."""


class _DyingMailer:
    """A mailer whose server process dies as it sends."""

    def send(self, *, to: str, subject: str, body: str) -> None:
        raise _ServerDied


def test_a_notification_caught_sending_by_a_crash_is_delivered_once_after_recovery(
    engine: sa.Engine, company: ScheduleConfig, smtp: tuple[Inbox, SmtpSettings]
) -> None:
    """The server dies while e-mailing Marie (at work) a message stored as being sent; the
    next server recovers it and its timer delivers it, once, as it was: not as a digest."""
    inbox, settings = smtp
    clock = ManualClock(datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS))
    dying = Dispatcher(engine=engine, config=company, clock=clock, mailer=_DyingMailer())
    for key in ("k6", "k7"):
        with pytest.raises(_ServerDied):
            dying.submit(NotificationRequest(key=key, recipient="marie", subject=key, body="b"))
    with engine.connect() as conn:
        assert {r.status for r in list_notifications(conn)} == {"sending"}
    clock.advance(timedelta(seconds=30))
    restarted = _dispatcher(engine, company, clock, settings)
    assert restarted.recover() == 2
    assert restarted.deliver_due() == 2
    clock.advance(timedelta(minutes=5))
    assert restarted.recover() == 0
    assert restarted.deliver_due() == 0
    assert sorted(m["Subject"] for m in inbox.to("marie@shop.example")) == ["k6", "k7"]
    with engine.connect() as conn:
        records = list_notifications(conn)
    assert [r.status for r in records] == ["delivered", "delivered"]
    assert [a.decision for a in records[0].audit] == ["received", "recovered", "delivered"]


def test_a_failed_email_is_retried_later(engine: sa.Engine, company: ScheduleConfig) -> None:
    """With the SMTP server down the message stays held, with the failure audited."""
    clock = ManualClock(datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS))
    down = SmtpSettings(host="127.0.0.1", port=free_port(), timeout_seconds=2)
    dispatcher = _dispatcher(engine, company, clock, down)
    (record,) = dispatcher.submit(
        NotificationRequest(key="k5", recipient="marie", subject="s", body="b")
    )
    assert record.status == "held"
    assert record.audit[-1].decision == "held" and "e-mail failed" in record.audit[-1].detail


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20), timezones=st.just(UTC)
    ),
    urgent=st.booleans(),
    steps=st.lists(st.integers(min_value=1, max_value=60 * 60), min_size=1, max_size=12),
)
def test_whatever_the_clock_does_delivery_happens_on_duty(
    tmp_path_factory: pytest.TempPathFactory,
    start: datetime,
    urgent: bool,
    steps: list[int],
) -> None:
    """However the clock jumps (minutes to days), a notification is delivered only to a
    person who is working then — or on duty, for an urgent one — never to Marie off duty."""
    company = msgspec.convert(COMPANY, ScheduleConfig)
    engine = connect(f"sqlite:///{tmp_path_factory.mktemp('prop')}/vigie.db")
    upgrade(engine)
    clock = ManualClock(start)
    dispatcher = Dispatcher(engine=engine, config=company, clock=clock)
    dispatcher.submit(
        NotificationRequest(key="p", recipient="marie", subject="s", body="b", urgent=urgent)
    )
    dispatcher.deliver_due()
    for minutes in steps:
        clock.advance(timedelta(minutes=minutes))
        dispatcher.deliver_due()
    with engine.connect() as conn:
        records = list_notifications(conn)
    engine.dispose()
    for record in records:
        if record.status != "delivered":
            continue
        assert record.delivered_at is not None and record.recipient is not None
        person = company.person(record.recipient)
        assert person is not None
        if record.recipient == "marie":
            assert is_working(company, person, record.delivered_at)
        else:
            assert urgent and is_on_duty(company, person, record.delivered_at)
