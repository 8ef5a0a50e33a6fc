"""The clients of `vigie bench ingest`: each a process sending batches over keep-alive
connections, spread over the ingest nodes' ports, and reporting what it was acknowledged,
each request's latency and the CPU it used itself over the timed window.

Two kinds, the same events on the wire:

- `python_client`: `http.client`, the body made per request (a client written as an
  application would write it; ~11 µs of CPU per event on the machine's own cores);
- `prebuilt_client`: every request built (head and body, unique message ids) before the
  window, then only written to plain sockets and the answers read: the closest stand-in,
  on one machine, for clients on other machines, since the server then gets the cores.
"""

from __future__ import annotations

import base64
import http.client
import json
import multiprocessing as mp
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

WRITE_KEY = "bench-write-key-0123456789"
MARK = b"@@BATCH@@"
AUTHORIZATION = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
PREBUILT_EVENTS_PER_S = 150_000
"""The prebuilt clients make enough requests for this rate over the window, all clients
together (about 70 MB per second of window, at 469 bytes an event): a connection that has
sent all of its own stops, and the run says so (`prebuilt_exhausted`)."""
_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:[ \t]*(\d+)")


def template_batch(size: int) -> bytes:
    """A realistic mixed batch; `@@BATCH@@` in each messageId is replaced per request."""
    messages: list[dict[str, Any]] = []
    now = datetime.now(UTC).isoformat()
    for i in range(size):
        anon = f"anon-{i % 97}"
        kind = ("track", "page", "track", "identify")[i % 4]
        message: dict[str, Any] = {
            "type": kind,
            "messageId": f"@@BATCH@@-{i}",
            "anonymousId": anon,
            "timestamp": now,
            "context": {
                "ip": "203.0.113.7",
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
                "page": {"path": "/lunch-deal", "url": "https://shop.example.be/lunch-deal"},
                "campaign": {"name": "lunch-deal", "source": "facebook", "medium": "paid_social"},
            },
        }
        if kind == "track":
            message["event"] = "Product Added" if i % 8 else "Order Completed"
            message["properties"] = {"product_id": f"sku-{i % 13}", "price": 9.5, "quantity": 1}
        elif kind == "page":
            message["name"] = "Lunch deal"
            message["properties"] = {"path": "/lunch-deal", "title": "Lunch deal"}
        else:
            message["userId"] = f"user-{i}"
            message["traits"] = {"email": f"user-{i}@example.be", "plan": "pro"}
        messages.append(message)
    return json.dumps({"batch": messages, "sentAt": now}).encode()


def batch_request(template: bytes, tag: str, *, port: int) -> bytes:
    """One whole `POST /v1/batch` request (head and body) of `template` with `tag` in its
    message ids, as it goes on the wire over a keep-alive connection."""
    body = template.replace(MARK, tag.encode())
    head = (
        f"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAuthorization: {AUTHORIZATION}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Answer:
    """Reads HTTP/1.1 answers one after the other from a keep-alive socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.pending += chunk

    def read(self) -> tuple[int, bytes]:
        """The status and body of the next answer (its length from `Content-Length`)."""
        while (end := self.pending.find(b"\r\n\r\n")) < 0:
            self._more()
        head = self.pending[:end]
        found = _CONTENT_LENGTH.search(head)
        length = int(found.group(1)) if found else 0
        start = end + 4
        while len(self.pending) < start + length:
            self._more()
        body = self.pending[start : start + length]
        self.pending = self.pending[start + length :]
        return int(head[9:12]), body


def accepted_of(status: int, body: bytes) -> int | None:
    """The events an answer acknowledges (None: the batch was refused)."""
    if status != 200:
        return None
    return int(json.loads(body)["accepted"])


class Tally:
    """What one client process's connections were acknowledged, under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted = 0
        self.errors = 0
        self.latencies: list[float] = []
        self.exhausted = 0
        """Connections that sent every request built for them before the window's end."""

    def answered(self, accepted: int | None, elapsed: float) -> None:
        with self.lock:
            if accepted is None:
                self.errors += 1
            else:
                self.accepted += accepted
                self.latencies.append(elapsed)


def _timed_window(
    connections: int,
    seconds: float,
    start: Any,
    out: mp.Queue,  # type: ignore[type-arg]
    tally: Tally,
    run: Callable[[int, float], None],
) -> None:
    """Wait for every client at `start` (a barrier), run `connections` threads of `run`
    until `seconds` have passed, and report the tally with this process's CPU over it."""
    start.wait()
    cpu = time.process_time()
    began = time.monotonic()
    deadline = began + seconds
    threads = [threading.Thread(target=run, args=(i, deadline)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(
        {
            "accepted": tally.accepted,
            "errors": tally.errors,
            "latencies": tally.latencies,
            "cpu_seconds": time.process_time() - cpu,
            "seconds": time.monotonic() - began,
            "exhausted": tally.exhausted,
        }
    )


def python_client(
    worker: int,
    ports: Sequence[int],
    connections: int,
    seconds: float,
    batch: int,
    start: Any,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Send batches with `http.client`, each body made as it is sent, for `seconds`."""
    template = template_batch(batch)
    tally = Tally()
    headers = {"Content-Type": "application/json", "Authorization": AUTHORIZATION}

    def run(conn_no: int, deadline: float) -> None:
        port = ports[(worker * connections + conn_no) % len(ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            body = template.replace(MARK, f"w{worker}c{conn_no}n{n}".encode())
            started = time.perf_counter()
            conn.request("POST", "/v1/batch", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            tally.answered(accepted_of(response.status, payload), time.perf_counter() - started)
        conn.close()

    _timed_window(connections, seconds, start, out, tally, run)


def prebuilt_client(
    worker: int,
    ports: Sequence[int],
    connections: int,
    seconds: float,
    batch: int,
    start: Any,
    out: mp.Queue,  # type: ignore[type-arg]
    *,
    clients: int = 1,
    events_per_s: int = PREBUILT_EVENTS_PER_S,
) -> None:
    """Build this process's share of `events_per_s` x `seconds` events (of `clients`
    processes) as whole requests, then, in the window, only write them and read the answers."""
    template = template_batch(batch)
    per_connection = -(-int(events_per_s * seconds) // (batch * clients * connections))
    built: list[list[bytes]] = []
    for conn_no in range(connections):
        port = ports[(worker * connections + conn_no) % len(ports)]
        built.append(
            [
                batch_request(template, f"p{worker}c{conn_no}n{n}", port=port)
                for n in range(max(1, per_connection))
            ]
        )
    tally = Tally()

    def run(conn_no: int, deadline: float) -> None:
        port = ports[(worker * connections + conn_no) % len(ports)]
        requests = built[conn_no]
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        answers = Answer(sock)
        try:
            for request in requests:
                if time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                sock.sendall(request)
                status, body = answers.read()
                tally.answered(accepted_of(status, body), time.perf_counter() - started)
            with tally.lock:
                tally.exhausted += 1
        finally:
            sock.close()

    _timed_window(connections, seconds, start, out, tally, run)
