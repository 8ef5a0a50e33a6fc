"""Building a playbook engine on a real store, with test actions through the same door."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec
import sqlalchemy as sa

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
    engine: sa.Engine,
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
    dispatcher = Dispatcher(engine=engine, config=schedule, clock=clock, mailer=mailer)
    return PlaybookEngine(
        engine=engine,
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
