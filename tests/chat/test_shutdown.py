"""A stopping server ends the chat's open event streams (the agents' console and the
widget's fallback) instead of cutting them after its grace period."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import yaml

from tests.chat.conftest import CONFIG, LUNCH
from tests.conftest import WRITE_KEY, free_port, make_settings, user_token
from vigie.clock import ManualClock
from vigie.config import parse_config
from vigie.system import build_system
from vigie.web import create_app
from vigie.web.server import BackgroundServer


class _Reader(threading.Thread):
    """Reads an event stream to its end; notes the first event and how the stream ended."""

    def __init__(self, url: str, **request: object) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.request = request
        self.opened = threading.Event()
        self.ended: str | None = None

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=60, **self.request) as response:  # type: ignore[arg-type]
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.opened.set()
            self.ended = "complete"
        except httpx.HTTPError as exc:
            self.ended = f"cut: {type(exc).__name__}"
        finally:
            self.opened.set()


def test_the_console_and_widget_streams_end_with_the_server(tmp_path: Path) -> None:
    """With an agent's console and a visitor's event stream open, stopping the server ends
    both responses properly (a complete body): neither is cut off mid-stream."""
    config = parse_config(yaml.safe_dump(CONFIG), origin="chat test config")
    system = build_system(
        make_settings(f"sqlite:///{tmp_path}/vigie.db", config), clock=ManualClock(LUNCH)
    )
    app = create_app(system)
    with BackgroundServer(app, port=free_port()) as server:
        token = user_token(system, username="ana", role="support")
        session = httpx.post(
            f"{server.url}/chat/v1/session",
            content=f'{{"writeKey": "{WRITE_KEY}", "anonymousId": "v-1"}}',
            timeout=30,
        ).json()
        console = _Reader(
            f"{server.url}/api/chat/stream", headers={"Authorization": f"Bearer {token}"}
        )
        widget = _Reader(
            f"{server.url}/chat/v1/stream",
            params={"writeKey": WRITE_KEY, "anonymousId": "v-1", "token": session["token"]},
        )
        for reader in (console, widget):
            reader.start()
            assert reader.opened.wait(30) and reader.ended is None
    for reader in (console, widget):
        reader.join(30)
    assert (console.ended, widget.ended) == ("complete", "complete")
