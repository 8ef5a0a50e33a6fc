"""The notifications API and the inbox API over a real server: a notification being sent is
shown as being sent, not as held; a manager lists the notifications of their teams' people."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from tests.conftest import free_port, make_settings, user_token
from tests.web.conftest import CONFIG
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.schedule import Dispatcher, NotificationRequest
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

ROTA = {
    "people": [
        {
            "name": name,
            "email": f"{name}@shop.example",
            "teams": [team],
            "working_hours": ["always"],
            "holidays": ["2026-11-24"] if name in ("zoe", "theo") else [],
        }
        for name, team in [
            ("nina", "shop"),
            ("lea", "shop"),
            ("zoe", "shop"),
            ("omar", "support"),
            ("theo", "support"),
        ]
    ],
    "teams": [{"name": "shop"}, {"name": "support"}],
}
"""Nina manages the shop, where Léa and Zoé work; Omar and Théo are in support; all of them
always working but Zoé and Théo, off on `TODAY` (besides Ana, of quality, in the web tests'
configuration)."""
TODAY = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Brussels"))


@dataclass
class Rota:
    """A running server whose schedule is `ROTA`, and a client per user."""

    url: str
    system: System
    tokens: dict[str, str]

    def client(self, username: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[username]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def rota(db_url: str) -> Iterator[Rota]:
    """A server on `ROTA`, its clock stopped at `TODAY`, with users nina (manager), ghost (a
    manager who is nobody of schedule:), lea (support role, a person of it) and ada (admin)."""
    raw = copy.deepcopy(CONFIG)
    for part in ("people", "teams"):
        raw["schedule"][part] += copy.deepcopy(ROTA[part])
    config = parse_config(yaml.safe_dump(raw), origin="notifications test config")
    app = create_app(build_system(make_settings(db_url, config), clock=ManualClock(TODAY)))
    with BackgroundServer(app, port=free_port()) as server:
        system = app.state.system
        roles = {"nina": "manager", "ghost": "manager", "lea": "support", "ada": "admin"}
        tokens = {
            name: user_token(system, username=name, role=role) for name, role in roles.items()
        }
        yield Rota(url=server.url, system=system, tokens=tokens)


def test_a_notification_being_sent_shows_as_being_sent_not_held(rota: Rota) -> None:
    """While Léa's e-mail is on its way her inbox lists the message as being sent, counted
    neither held nor unread, and it is not among the held notifications; once sent it is
    delivered and unread."""
    started, release = threading.Event(), threading.Event()

    class SlowMailer:
        def send(self, *, to: str, subject: str, body: str) -> None:
            started.set()
            release.wait(30)

    system = rota.system
    dispatcher = Dispatcher(
        engine=system.engine, config=system.dispatcher.config, clock=system.clock,
        mailer=SlowMailer(),
    )  # fmt: skip
    # A sender holds its lease, as a running system's dispatcher does: the server's timer
    # takes back what a sender without one was sending.
    dispatcher.beat()
    request = NotificationRequest(key="slow", recipient="lea", subject="Aisle 4", body="b")
    sender = threading.Thread(target=dispatcher.submit, args=(request,))
    sender.start()
    try:
        assert started.wait(30)
        with rota.client("lea") as lea:
            inbox = lea.get("/api/inbox").json()
        assert (inbox["held"], inbox["unread"]) == (0, 0)
        assert [(i["subject"], i["state"]) for i in inbox["items"]] == [("Aisle 4", "sending")]
        with rota.client("ada") as admin:
            held = admin.get("/api/notifications", params={"status": "held"}).json()
            sending = admin.get("/api/notifications", params={"status": "sending"}).json()
        assert held["notifications"] == []
        assert [n["subject"] for n in sending["notifications"]] == ["Aisle 4"]
    finally:
        release.set()
        sender.join(30)
        dispatcher.leave()
    with rota.client("lea") as lea:
        inbox = lea.get("/api/inbox").json()
    assert (inbox["held"], inbox["unread"], inbox["items"][0]["state"]) == (0, 1, "delivered")
