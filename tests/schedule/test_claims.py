"""Exactly once across processes: a notification being sent belongs to the process that
claimed it; recovery takes back only what a gone process was sending, never what a live API
node is sending as the worker starts or takes over (SQLite and PostgreSQL)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from vigie.clock import ManualClock
from vigie.schedule import Dispatcher, NotificationRequest, ScheduleConfig
from vigie.schedule.notifications import list_notifications, notifications

BRUSSELS = ZoneInfo("Europe/Brussels")
AT_WORK = datetime(2026, 11, 24, 10, 0, tzinfo=BRUSSELS)
"""A Tuesday at 10:00: Marie is at work, her messages go at once."""


@dataclass
class Outbox:
    """The e-mails sent, in order; `during` runs inside each send (another process acting
    while this one is in the middle of sending)."""

    sent: list[str] = field(default_factory=list)
    during: Callable[[], None] | None = None

    def send(self, *, to: str, subject: str, body: str) -> None:
        if self.during is not None:
            self.during()
        self.sent.append(f"{to}: {subject}")


class _ProcessDied(BaseException):
    """The process dying in the middle of sending (not an error the dispatcher handles)."""


class _DyingMailer:
    def send(self, *, to: str, subject: str, body: str) -> None:
        raise _ProcessDied


def _other_host() -> str:
    """The holder id of a process on another machine."""
    return f"api-2.shop.example:4242:{uuid.uuid4().hex[:8]}"


def _dead_here() -> str:
    """The holder id of a process of this machine that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:{uuid.uuid4().hex[:8]}"


def _marie(key: str) -> NotificationRequest:
    return NotificationRequest(key=key, recipient="marie", subject=key, body="b")


def _statuses(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.status for r in list_notifications(conn)]


def _died_sending(
    engine: sa.Engine, company: ScheduleConfig, clock: ManualClock, key: str
) -> Dispatcher:
    """A process on another machine, holding its sender lease, that claimed Marie's message
    `key` and stopped while sending it."""
    dispatcher = Dispatcher(
        engine=engine, config=company, clock=clock, mailer=_DyingMailer(), holder=_other_host()
    )
    dispatcher.beat()
    with pytest.raises(_ProcessDied):
        dispatcher.submit(_marie(key))
    return dispatcher


def test_what_a_live_api_node_is_sending_is_not_taken_back_by_recovery(
    engine: sa.Engine, company: ScheduleConfig
) -> None:
    """An API node runs a playbook that e-mails Marie; while it is sending, a worker starts
    (recovers, then its timer delivers what is due): the message stays the API node's and
    Marie gets it once."""
    clock = ManualClock(AT_WORK)
    worker_outbox = Outbox()
    worker = Dispatcher(engine=engine, config=company, clock=clock, mailer=worker_outbox)
    worker.beat()
    seen: list[tuple[int, int, list[str]]] = []

    def worker_starts() -> None:
        seen.append((worker.recover(), worker.deliver_due(), _statuses(engine)))

    api_outbox = Outbox(during=worker_starts)
    api = Dispatcher(
        engine=engine, config=company, clock=clock, mailer=api_outbox, holder=_other_host()
    )
    api.beat()
    (record,) = api.submit(_marie("k1"))
    assert seen == [(0, 0, ["sending"])]
    assert record.status == "delivered"
    assert api_outbox.sent == ["marie@shop.example: k1"] and worker_outbox.sent == []
    assert [a.decision for a in record.audit] == ["received", "delivered"]
    with engine.connect() as conn:
        claimer = conn.execute(sa.select(notifications.c.claimed_by)).scalar_one()
    assert claimer == api.holder
    assert worker.recover() == 0 and worker.deliver_due() == 0


def test_what_this_process_is_sending_is_not_taken_back_when_it_takes_over(
    engine: sa.Engine, company: ScheduleConfig
) -> None:
    """One process serving the API and the timer: it takes the processing lease over while
    its API is sending a message; its recovery leaves that message alone."""
    clock = ManualClock(AT_WORK)
    outbox = Outbox()
    dispatcher = Dispatcher(engine=engine, config=company, clock=clock, mailer=outbox)
    recovered: list[int] = []
    outbox.during = lambda: recovered.append(dispatcher.recover())
    (record,) = dispatcher.submit(_marie("k2"))
    assert recovered == [0]
    assert record.status == "delivered" and len(outbox.sent) == 1


def test_what_a_dead_process_of_this_machine_was_sending_is_delivered_once(
    engine: sa.Engine, company: ScheduleConfig
) -> None:
    """A process of this machine dies while e-mailing Marie, its membership not yet
    expired: the worker's recovery sees the process is gone, takes the message back and
    delivers it, once."""
    clock = ManualClock(AT_WORK)
    dying = Dispatcher(
        engine=engine, config=company, clock=clock, mailer=_DyingMailer(), holder=_dead_here()
    )
    dying.beat()
    with pytest.raises(_ProcessDied):
        dying.submit(_marie("k3"))
    assert _statuses(engine) == ["sending"]
    outbox = Outbox()
    worker = Dispatcher(engine=engine, config=company, clock=clock, mailer=outbox)
    worker.beat()
    assert worker.recover() == 1
    assert worker.deliver_due() == 1
    assert worker.recover() == 0 and worker.deliver_due() == 0
    assert outbox.sent == ["marie@shop.example: k3"]
    (record,) = worker.notifications()
    assert [a.decision for a in record.audit] == ["received", "recovered", "delivered"]
    assert "which has stopped" in record.audit[1].detail


def test_what_a_process_of_another_machine_was_sending_goes_once_its_membership_expires(
    engine: sa.Engine, company: ScheduleConfig
) -> None:
    """An API node on another machine dies while sending: while its membership lasts, the
    worker's timer leaves the message alone; once it has expired, the timer takes it back
    and delivers it, once, without waiting for a restart."""
    clock = ManualClock(AT_WORK)
    dying = _died_sending(engine, company, clock, "k4")
    outbox = Outbox()
    worker = Dispatcher(engine=engine, config=company, clock=clock, mailer=outbox)
    assert worker.recover() == 0 and worker.deliver_due() == 0
    assert _statuses(engine) == ["sending"]
    dying.membership.ttl_seconds = -1.0  # its last renewal, already expired
    dying.beat()
    assert worker.deliver_due() == 1
    assert worker.deliver_due() == 0 and worker.recover() == 0
    assert outbox.sent == ["marie@shop.example: k4"]


def test_a_claim_older_than_the_bound_is_taken_back_even_from_a_live_process(
    engine: sa.Engine, company: ScheduleConfig
) -> None:
    """A live process that claimed a message and never sent it (stuck past any e-mail
    timeout): a worker whose bound has passed takes it back; one within it does not."""
    clock = ManualClock(AT_WORK)
    _died_sending(engine, company, clock, "k5")
    outbox = Outbox()
    patient = Dispatcher(engine=engine, config=company, clock=clock, mailer=outbox)
    assert patient.recover() == 0
    worker = Dispatcher(
        engine=engine, config=company, clock=clock, mailer=outbox, stale_after=timedelta(0)
    )
    assert worker.recover() == 1
    assert worker.deliver_due() == 1 and outbox.sent == ["marie@shop.example: k5"]
    (record,) = worker.notifications()
    assert "never sent" in record.audit[1].detail


def test_a_message_sent_before_claims_were_recorded_is_taken_back_at_startup(
    engine: sa.Engine, company: ScheduleConfig
) -> None:
    """A message left `sending` by the version before this one (no claimer recorded) is
    taken back when the worker starts, as it always was, and delivered once."""
    clock = ManualClock(AT_WORK)
    dying = Dispatcher(engine=engine, config=company, clock=clock, mailer=_DyingMailer())
    with pytest.raises(_ProcessDied):
        dying.submit(_marie("k6"))
    with engine.begin() as conn:
        conn.execute(notifications.update().values(claimed_by=None, claimed_at_us=None))
    outbox = Outbox()
    worker = Dispatcher(engine=engine, config=company, clock=clock, mailer=outbox)
    worker.beat()
    assert worker.deliver_due() == 0
    assert worker.recover() == 1 and worker.deliver_due() == 1
    assert outbox.sent == ["marie@shop.example: k6"]
