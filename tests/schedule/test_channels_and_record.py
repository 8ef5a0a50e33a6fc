"""The SMS gateway channel, the dashboard inbox and the monthly right-to-disconnect record,
on a manual clock and a real store (issue 24)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
import sqlalchemy as sa

from tests.schedule.test_policies import SHOP
from vigie.clock import ManualClock
from vigie.schedule import Dispatcher, NotificationRequest, ScheduleConfig
from vigie.schedule.inbox import Inbox
from vigie.schedule.record import to_csv

BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP receiver standing in for an SMS provider's relay: keeps each POST."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            body["authorization"] = self.headers.get("Authorization")
            received.append(body)
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send", received
    finally:
        server.shutdown()
        server.server_close()


def _config(gateway_url: str | None = None) -> ScheduleConfig:
    raw = dict(SHOP)
    if gateway_url:
        raw["gateways"] = {"sms": {"url": gateway_url, "token": "s3cret"}}
    return msgspec.convert(raw, ScheduleConfig)


def test_an_urgent_message_reaches_the_opted_in_phone_only_on_call(
    engine: sa.Engine, gateway: tuple[str, list[dict[str, Any]]]
) -> None:
    """At 20:00 an urgent alert for Omar, on call, goes by e-mail-less channels he allows:
    his personal phone through the gateway, with its token; at 10:00 an urgent one does
    not touch the phone."""
    url, received = gateway
    clock = ManualClock(datetime(2026, 11, 24, 20, 0, tzinfo=BRUSSELS))
    dispatcher = Dispatcher(engine=engine, config=_config(url), clock=clock)
    (night,) = dispatcher.submit(
        NotificationRequest(
            key="n1", recipient="omar", subject="Checkout down", body="b", urgent=True
        )
    )
    assert night.status == "delivered"
    assert night.channels == ["sms:+32470000001"]
    assert [(r["to"], r["subject"], r["authorization"]) for r in received] == [
        ("+32470000001", "Checkout down", "Bearer s3cret")
    ]
    clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=BRUSSELS))
    (day,) = dispatcher.submit(
        NotificationRequest(key="n2", recipient="omar", subject="Again", body="b", urgent=True)
    )
    assert day.status == "delivered" and len(received) == 1


def test_a_refusing_gateway_holds_the_message_for_a_retry(engine: sa.Engine) -> None:
    """A gateway that cannot be reached is a failed delivery: the message is held again,
    with the reason in its audit, not lost."""
    clock = ManualClock(datetime(2026, 11, 24, 20, 0, tzinfo=BRUSSELS))
    dispatcher = Dispatcher(engine=engine, config=_config("http://127.0.0.1:9/none"), clock=clock)
    (record,) = dispatcher.submit(
        NotificationRequest(key="n3", recipient="omar", subject="s", body="b", urgent=True)
    )
    assert record.status == "held"
    assert "unreachable" in record.audit[-1].detail


def test_the_inbox_shows_held_then_delivered_and_unread_then_read(engine: sa.Engine) -> None:
    """A message for Léa at 19:00 shows in her inbox as held until 09:30; delivered at
    09:30 it counts as unread until she reads it; nobody else can mark it read."""
    clock = ManualClock(datetime(2026, 11, 24, 19, 0, tzinfo=BRUSSELS))
    config = _config()
    dispatcher = Dispatcher(engine=engine, config=config, clock=clock)
    inbox = Inbox(engine=engine, config=config, clock=clock)
    dispatcher.submit(NotificationRequest(key="i1", recipient="lea", subject="Aisle 4", body="b"))
    view = inbox.view("lea")
    assert (view.unread, view.held) == (0, 1)
    (item,) = view.items
    assert item.state == "held"
    assert item.hold_until == datetime(2026, 11, 25, 9, 30, tzinfo=BRUSSELS)
    clock.set(datetime(2026, 11, 25, 9, 30, tzinfo=BRUSSELS))
    assert dispatcher.deliver_due() == 1
    view = inbox.view("lea")
    assert (view.unread, view.held, view.items[0].state) == (1, 0, "delivered")
    assert inbox.mark_read("karim", [item.id]) == 0
    assert inbox.mark_read("lea", [item.id]) == 1
    assert inbox.mark_read("lea", [item.id]) == 0
    assert inbox.counts("lea") == (0, 0)
    assert inbox.view("nobody").person is None


def test_the_monthly_record_counts_and_proves_the_policy(engine: sa.Engine) -> None:
    """Over November: Karim's weekend message is held, an urgent one for him goes to Omar on
    call, Léa is reached on a Saturday in her hours; nobody got anything outside working time,
    and a delivery in breach is counted where it happened."""
    clock = ManualClock(datetime(2026, 11, 28, 10, 0, tzinfo=BRUSSELS))
    config = _config()
    dispatcher = Dispatcher(engine=engine, config=config, clock=clock)
    dispatcher.submit(NotificationRequest(key="r1", recipient="karim", subject="s", body="b"))
    dispatcher.submit(NotificationRequest(key="r2", recipient="lea", subject="s", body="b"))
    clock.set(datetime(2026, 11, 24, 20, 0, tzinfo=BRUSSELS))
    dispatcher.submit(
        NotificationRequest(key="r3", recipient="karim", subject="u", body="b", urgent=True)
    )
    clock.set(datetime(2026, 11, 30, 8, 30, tzinfo=BRUSSELS))
    dispatcher.deliver_due()
    people, teams = dispatcher.record("2026-11")
    by = {r.name: r for r in people}
    assert (by["karim"].received, by["karim"].held, by["karim"].rerouted_away) == (2, 1, 1)
    assert by["omar"].covered_for_others == 1 and by["omar"].delivered_on_call_urgent == 1
    assert by["lea"].delivered_in_working_time == 1
    assert all(r.holds for r in people)
    sales = next(t for t in teams if t.name == "sales")
    assert sales.received == by["karim"].received + by["omar"].received
    december, _ = dispatcher.record("2026-12")
    assert sum(r.received for r in december) == 0
    assert by["karim"].delivered_in_working_time == 1, "held from Saturday to Monday 30th"
    # A breach, as if an older policy had let a message through at night, is counted.
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE notifications SET delivered_at_us = delivered_at_us - "
            f"{int(timedelta(hours=14).total_seconds() * 1_000_000)} WHERE key = 'r2'"
        )
    people, _ = dispatcher.record("2026-11")
    lea = next(r for r in people if r.name == "lea")
    assert lea.delivered_outside_working_time == 1 and not lea.holds
    assert "person,lea," in to_csv(people)
