"""Building a playbook engine on a real store, with test actions through the same door."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from tests.playbooks.stores import (
    open_store,
    shared_postgres_url,  # noqa: F401
)
from vigie.clock import Clock, ManualClock
from vigie.playbooks import ActionRegistry, Playbook, PlaybookEngine, PlaybookTrigger
from vigie.playbooks.actions.base import ActionContext, ActionError, ActionSettings
from vigie.schedule import Dispatcher, ScheduleConfig
from vigie.schedule.mailer import Mailer

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class RecordParams(msgspec.Struct, kw_only=True):
    """Parameters of the recording test action."""

    label: str = ""
    fail_times: int = 0


class Recorder:
    """A third-party-style action that remembers every call, and fails when told to."""

    name: ClassVar[str] = "test.record"
    params_type: ClassVar[type[msgspec.Struct]] = RecordParams

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.crash_on: str | None = None

    def run(self, params: RecordParams, context: ActionContext) -> dict[str, Any]:
        if self.crash_on == params.label:
            self.crash_on = None
            raise Crash(params.label)
        self.calls.append((context.key, params.label))
        failures = sum(1 for _, label in self.calls if label == params.label)
        if failures <= params.fail_times:
            raise ActionError(f"{params.label} fails on purpose ({failures})")
        return {"label": params.label}


class Crash(BaseException):
    """Stands for the process dying in the middle of a step."""


def make_engine(
    store: sa.Engine,
    playbooks: Sequence[Playbook],
    *,
    clock: Clock | None = None,
    schedule: ScheduleConfig | None = None,
    settings: ActionSettings | None = None,
    actions: Sequence[Any] = (),
    mailer: Mailer | None = None,
    sleep: Callable[[float], None] = lambda _s: None,
) -> PlaybookEngine:
    """A PlaybookEngine with the installed actions plus `actions`."""
    clock = clock or ManualClock(START)
    schedule = schedule or ScheduleConfig()
    dispatcher = Dispatcher(engine=store, config=schedule, clock=clock, mailer=mailer)
    return PlaybookEngine(
        engine=store,
        playbooks=playbooks,
        registry=ActionRegistry.from_entry_points(extra=actions),
        schedule=schedule,
        settings=settings or ActionSettings(),
        dispatcher=dispatcher,
        clock=clock,
        sleep=sleep,
    )


def playbook(data: dict[str, Any]) -> Playbook:
    """A playbook from its vigie.yaml shape."""
    return msgspec.convert(data, Playbook)


def firing(
    rule: str = "conversion-drop", fingerprint: str = "fp-1", **extra: Any
) -> PlaybookTrigger:
    """A firing alert's trigger."""
    return PlaybookTrigger(rule=rule, status="firing", fingerprint=fingerprint, at=START, **extra)


SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Receiver:
    """A webhook receiver answering a scripted list of statuses, verifying every signature."""

    statuses: list[tuple[int, dict[str, str]]]
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on loopback that checks Standard Webhooks signatures."""
    state = Receiver(statuses=[])
    verifier = Webhook(SECRET)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified = verifier.verify(body, headers)
            state.received.append({"headers": headers, "event": verified})
            status, extra = state.statuses.pop(0) if state.statuses else (200, {})
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated, empty store on SQLite and on PostgreSQL (one database per session)."""
    yield from open_store(request, tmp_path)
