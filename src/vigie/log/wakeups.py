"""Nudges between `vigie serve` and the worker process it runs its processors in.

The server tells the worker "new events were committed" after each durable commit, and the
worker tells the server each alert change as its rules make it (the server's alert stream
shows it before the store has it, as in one process), "alerts were stored" and "started".
The events and stored alerts are read from the shared store, and each side still polls, so a
message lost (a full buffer, a worker restarting) costs a poll period, never an event.

The pair is a `SOCK_SEQPACKET` Unix socket pair: message boundaries, no network, and the
worker sees end-of-file when the server dies, so that it does not outlive it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

COMMITTED = b"c"
"""Server → worker: the log has new events."""
ALERTS = b"a"
"""Worker → server: alert changes were stored."""
ALERT_CHANGED = b"A"
"""Worker → server: one alert change, encoded (`vigie.rules.feed.AlertSender`)."""
MAX_MESSAGE = 65536
STARTED = b"s"
"""Worker → server: the worker's parts are started (it holds its processors or waits)."""


class Wakeups:
    """One end of the pair: `send` a message (a kind byte, then any payload; never blocks),
    `on` a kind call a function with the payload, from a thread of its own started by
    `start`; `on_closed` is called when the other end is gone."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._handlers: dict[bytes, list[Callable[[bytes], object]]] = {}
        self._closed_handlers: list[Callable[[], object]] = []
        self._thread: threading.Thread | None = None
        self._closing = False

    @classmethod
    def pair(cls) -> tuple[Wakeups, socket.socket]:
        """The server's end, and the socket to hand the worker (`pass_fds`)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return cls(mine), theirs

    def on(self, kind: bytes, handler: Callable[[bytes], object]) -> None:
        """Call `handler` with the payload (from the listening thread) whenever a message of
        `kind` arrives."""
        self._handlers.setdefault(kind, []).append(handler)

    def on_nudge(self, kind: bytes, handler: Callable[[], object]) -> None:
        """Call `handler` whenever a message of `kind` arrives, its payload ignored."""
        self.on(kind, lambda _payload: handler())

    def on_closed(self, handler: Callable[[], object]) -> None:
        """Call `handler` once when the other end has closed (its process is gone)."""
        self._closed_handlers.append(handler)

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        """Tell the other end; dropped when its buffer is full (it has a wake-up pending), when
        nobody holds the other end (a worker restarting) or when too long to send."""
        if len(payload) >= MAX_MESSAGE:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            self.sock.send(kind + payload, socket.MSG_DONTWAIT)

    def committed(self) -> None:
        """Tell the worker that new events were committed."""
        self.send(COMMITTED)

    def start(self) -> None:
        """Listen in a daemon thread (one per process end)."""
        self._thread = threading.Thread(target=self._listen, name="vigie-wakeups", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening and close this end."""
        self._closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._thread is not None:
            self._thread.join(5)

    def _listen(self) -> None:
        while True:
            try:
                message = self.sock.recv(MAX_MESSAGE + 1)
            except OSError:
                message = b""
            if not message:
                break
            for handler in self._handlers.get(message[:1], ()):
                try:
                    handler(message[1:])
                except Exception:
                    logger.exception("handling the message %r failed", message[:1])
        if not self._closing:
            for closed in self._closed_handlers:
                closed()
