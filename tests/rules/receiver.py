"""A real local HTTP receiver that records the webhook bodies posted to it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class Receiver:
    """An HTTP server on loopback collecting JSON POST bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies
        self.arrived = threading.Condition()
        cond = self.arrived

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with cond:
                    received.append(body)
                    cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The bodies once at least `count` arrived (or what arrived by the timeout)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout=timeout)
            return list(self.bodies)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
