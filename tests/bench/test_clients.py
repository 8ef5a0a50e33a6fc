"""The ingest benchmark's clients: the prebuilt requests are well-formed and unique, the
answers are read off a keep-alive socket however they arrive, and a run says what it sent."""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from vigie.bench.clients import (
    AUTHORIZATION,
    MARK,
    Answer,
    accepted_of,
    batch_request,
    prebuilt_client,
    template_batch,
)


class _Start:
    def wait(self) -> None:
        return None


def _split(request: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return {key.lower(): value for key, value in headers.items()}, body


def test_a_prebuilt_request_is_a_whole_batch_post_with_its_own_message_ids() -> None:
    """The request carries the write key, the body's exact length, and ids tagged for it."""
    template = template_batch(4)
    request = batch_request(template, "p0c1n7", port=8123)
    assert request.startswith(b"POST /v1/batch HTTP/1.1\r\n")
    headers, body = _split(request)
    assert headers["authorization"] == AUTHORIZATION
    assert int(headers["content-length"]) == len(body)
    ids = [m["messageId"] for m in json.loads(body)["batch"]]
    assert ids == [f"p0c1n7-{i}" for i in range(4)]
    assert MARK not in body


def _pair() -> tuple[socket.socket, socket.socket]:
    left, right = socket.socketpair()
    left.settimeout(10)
    return left, right


def test_answers_split_anywhere_and_pipelined_are_read_one_by_one() -> None:
    """Two answers sent a byte at a time, headers in any case, come out whole and in order."""
    ours, theirs = _pair()
    wire = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nCONTENT-LENGTH: 15\r\n\r\n"
        b'{"accepted":12}'
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 2\r\n\r\n{}"
    )
    for i in range(len(wire)):
        theirs.sendall(wire[i : i + 1])
    answers = Answer(ours)
    assert answers.read() == (200, b'{"accepted":12}')
    assert answers.read() == (503, b"{}")
    ours.close()
    theirs.close()


def test_a_connection_closed_mid_answer_is_an_error_not_a_hang() -> None:
    """A server that closes the connection before its answer is whole raises ConnectionError."""
    ours, theirs = _pair()
    theirs.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n{")
    theirs.close()
    with pytest.raises(ConnectionError):
        Answer(ours).read()
    ours.close()


def test_only_a_200_answer_counts_its_events() -> None:
    """A refused batch (503, 400) acknowledges nothing."""
    assert accepted_of(200, b'{"accepted": 3, "duplicates": 0}') == 3
    assert accepted_of(503, b'{"accepted": 3}') is None
    assert accepted_of(400, b"{}") is None


class _FakeServer:
    """Answers every `POST /v1/batch` on keep-alive connections: 200 with the batch's size,
    except every third one, 503; keeps the message ids it was sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.ids: list[str] = []
        self.requests = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        pending = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in pending:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    pending += chunk
                head, _, pending = pending.partition(b"\r\n\r\n")
                headers, _ = _split(head + b"\r\n\r\n")
                length = int(headers["content-length"])
                while len(pending) < length:
                    pending += conn.recv(65536)
                body, pending = pending[:length], pending[length:]
                ids = [m["messageId"] for m in json.loads(body)["batch"]]
                with self.lock:
                    self.requests += 1
                    refused = self.requests % 3 == 0
                    if not refused:
                        self.ids += ids
                answer = b"{}" if refused else json.dumps({"accepted": len(ids)}).encode()
                status = b"503 Service Unavailable" if refused else b"200 OK"
                conn.sendall(
                    b"HTTP/1.1 " + status + b"\r\nContent-Length: "
                    + str(len(answer)).encode() + b"\r\n\r\n" + answer
                )  # fmt: skip


@pytest.fixture
def server() -> Iterator[_FakeServer]:
    """A fake ingest node on a free port."""
    fake = _FakeServer()
    yield fake
    fake.sock.close()


def test_a_prebuilt_client_sends_what_it_built_and_reports_it(server: _FakeServer) -> None:
    """Two connections send their 3 batches each, then stop: the accepted and refused
    batches, the latencies and the exhausted connections are reported, and every id sent
    was unique."""
    out: queue.Queue[dict[str, Any]] = queue.Queue()
    prebuilt_client(
        0,
        [server.port],
        2,
        30.0,
        5,
        _Start(),
        out,  # type: ignore[arg-type]
        events_per_s=1,  # 30 events over 2 connections of 5-event batches: 3 batches each
    )
    report = out.get_nowait()
    assert server.requests == 6
    assert report["errors"] == 2
    assert report["accepted"] == 20 == len(server.ids) == len(set(server.ids))
    assert len(report["latencies"]) == 4
    assert report["exhausted"] == 2
    assert report["cpu_seconds"] >= 0
