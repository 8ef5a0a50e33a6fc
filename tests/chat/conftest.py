"""A Vigie server with the website chat: source `web` opted in, agents ana and bo working
weekdays 09:00-17:00 in Brussels, a manual clock on Monday 4 May 2026 at 12:20, and a
playbook inviting the visitors of `/lunch-deal/*`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from tests.web.conftest import dashboard_db  # noqa: F401 - the SQLite and PostgreSQL stores
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.system import System, build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer

LUNCH = datetime(2026, 5, 4, 10, 20, tzinfo=UTC)
"""Monday 12:20 in Brussels: the agents are working."""
NIGHT = datetime(2026, 5, 4, 20, 30, tzinfo=UTC)
"""Monday 22:30 in Brussels: nobody is."""
SHOP_PORT = free_port()
SHOP = f"http://127.0.0.1:{SHOP_PORT}"

CONFIG: dict[str, Any] = {
    "secret_key": "chat-test-secret-key-0123456789",
    "sources": [
        {
            "name": "web",
            "write_key": WRITE_KEY,
            "tracker": {"chat": True, "chat_origins": [SHOP]},
        }
    ],
    "schedule": {
        "time_intervals": [
            {
                "name": "office",
                "time_intervals": [
                    {
                        "times": [{"start_time": "09:00", "end_time": "17:00"}],
                        "weekdays": ["monday:friday"],
                        "location": "Europe/Brussels",
                    }
                ],
            }
        ],
        "people": [
            {"name": "ana", "teams": ["support"], "working_hours": ["office"]},
            {"name": "bo", "teams": ["support"], "working_hours": ["office"]},
        ],
        "teams": [{"name": "support"}],
    },
    "playbooks": [
        {
            "name": "invite-lunch",
            "steps": [
                {
                    "action": "chat.invite",
                    "params": {"page": "/lunch-deal/*", "message": "Un souci ? / A problem?"},
                }
            ],
        }
    ],
    "chat": {
        "agents": ["support"],
        "visitor_messages_per_minute": 8,
        "canned_answers": {"hello": {"fr": "Bonjour !", "en": "Hello!"}},
    },
}


@dataclass
class ChatServer:
    """A running chat server, its clock, and API tokens for agents ana and bo and an admin."""

    url: str
    system: System
    clock: ManualClock
    tokens: dict[str, str]

    def agent(self, name: str) -> dict[str, str]:
        """Headers that authenticate as agent `name` (or `admin`)."""
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def widget(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST a widget request as the widget does (JSON as text/plain)."""
        return httpx.post(
            f"{self.url}/chat/v1/{path}",
            content=__import__("json").dumps({"writeKey": WRITE_KEY, **body}),
            headers={"Content-Type": "text/plain", "Origin": SHOP},
            timeout=30,
        )

    def session(self, anonymous_id: str, token: str | None = None) -> dict[str, Any]:
        """A widget session for `anonymous_id`."""
        response = self.widget("session", {"anonymousId": anonymous_id, "token": token})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture(scope="module")
def chat_server(dashboard_db: str) -> Iterator[ChatServer]:  # noqa: F811
    """The chat server on SQLite and on PostgreSQL, shared by a test module."""
    config = parse_config(yaml.safe_dump(CONFIG), origin="chat test config")
    clock = ManualClock(LUNCH)
    app = create_app(build_system(make_settings(dashboard_db, config), clock=clock))
    with BackgroundServer(app, port=free_port()) as server:
        system: System = app.state.system
        tokens = {
            name: user_token(system, username=name, role=role)
            for name, role in (("ana", "support"), ("bo", "support"), ("admin", "admin"))
        }
        yield ChatServer(url=server.url, system=system, clock=clock, tokens=tokens)
