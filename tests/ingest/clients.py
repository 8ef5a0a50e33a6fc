"""What the client-library tests share: a site on its own origin, a recorder of what Vigie
answered, and a way to lose the first answer so that the library retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import sqlalchemy as sa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.conftest import free_port
from vigie.events import Event
from vigie.store.schema import events, rejected_events
from vigie.system import System

T = TypeVar("T")


@dataclass
class Exchange:
    """One request Vigie handled: its path, the client's retry count and Vigie's status."""

    path: str
    retry: str | None
    status: int


@dataclass
class Exchanges:
    """Every POST to a collection path, and which first attempts to answer 503."""

    fail_first: Callable[[str], bool] = lambda path: False
    seen: list[Exchange] = field(default_factory=list)
    failed: int = 0


class LoseFirstAnswer:
    """ASGI middleware: Vigie handles every request, but the answer to a first attempt that
    `fail_first` picks is replaced by a 503, as a proxy in front of Vigie timing out after
    Vigie stored the events would; the client then retries what is already in the log."""

    def __init__(self, app: ASGIApp, exchanges: Exchanges) -> None:
        self.app = app
        self.exchanges = exchanges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        # analytics-next says it retries in a header, posthog-js in the query string.
        retry = dict(scope["headers"]).get(b"x-retry-count")
        if retry is None:
            retry = next(
                (
                    value.encode()
                    for name, value in parse_qsl(scope["query_string"].decode())
                    if name == "retry_count"
                ),
                None,
            )
        path = scope["path"]
        lose = retry is None and self.exchanges.fail_first(path)
        if lose:
            self.exchanges.failed += 1
        status = 0

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if lose:
                    return
            if lose:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 503,
                            "headers": [
                                (b"content-type", b"text/plain"),
                                (b"access-control-allow-origin", b"*"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": b"lost"})
                return
            await send(message)

        await self.app(scope, receive, answer)
        self.exchanges.seen.append(
            Exchange(path=path, retry=retry.decode() if retry else None, status=status)
        )


def stored_ids(system: System) -> list[str]:
    """The message ids in the log, one per stored event."""
    with system.engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.select(events.c.message_id))]


def stored_events(system: System) -> list[Event]:
    """Every event in the log, read at once."""
    return list(system.log.read(1, system.log.last_offset() or 1))


def rejected(system: System) -> list[dict[str, Any]]:
    """The rejected-events table."""
    with system.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(rejected_events))]


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll until `probe` returns something (the libraries send asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


@contextmanager
def static_site(pages: dict[str, str], assets: dict[str, Path]) -> Iterator[str]:
    """A site on its own origin: `pages` by path, and files under `assets` by path prefix."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path in pages:
                body, kind = pages[path].encode(), "text/html; charset=utf-8"
            else:
                found = next(
                    (
                        root / path[len(prefix) :]
                        for prefix, root in assets.items()
                        if path.startswith(prefix)
                    ),
                    None,
                )
                if found is None or not found.is_file():
                    self.send_error(404)
                    return
                body, kind = found.read_bytes(), "application/javascript"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
