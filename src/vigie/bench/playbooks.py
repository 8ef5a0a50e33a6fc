"""`vigie bench playbooks`: how fast the right to disconnect decides, and what recording a
playbook run step by step costs.

Two measurements, each beside its baseline in the same run:
- schedule: `next_working_instant` by segment algebra, against a naive scan that steps
  minute by minute until the person is working (the same answers are checked);
- runs: recorded, idempotent playbook runs (three steps: page.flag, task, notify held)
  per second on the store, against the same three actions called directly, unrecorded.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from vigie.clock import ManualClock
from vigie.playbooks import ActionRegistry, Playbook, PlaybookEngine, PlaybookTrigger, Step
from vigie.playbooks.actions.base import ActionContext, ActionSettings
from vigie.playbooks.outputs import StorePort
from vigie.schedule import (
    Dispatcher,
    NamedInterval,
    Person,
    ScheduleConfig,
    TimeInterval,
    TimeRange,
    is_working,
    next_working_instant,
)
from vigie.store import connect, upgrade


def _company() -> ScheduleConfig:
    office = NamedInterval(
        name="office",
        time_intervals=[
            TimeInterval(
                weekdays=["monday:friday"],
                times=[TimeRange(start_time="08:30", end_time="18:00")],
                location="Europe/Brussels",
            )
        ],
    )
    marie = Person(name="marie", working_hours=["office"], holidays=["2026-12-24:2026-12-31"])
    return ScheduleConfig(time_intervals=[office], people=[marie])


def _naive_next(config: ScheduleConfig, person: Person, after: datetime) -> datetime | None:
    moment = after.replace(second=0, microsecond=0)
    if moment < after:
        moment += timedelta(minutes=1)
    for _ in range(60 * 24 * 30):
        if is_working(config, person, moment):
            return moment
        moment += timedelta(minutes=1)
    return None


def _instants(count: int, seed: int = 7) -> list[datetime]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Whole minutes, so the naive minute scan can find the exact same instant.
    return [start + timedelta(minutes=rng.randrange(365 * 24 * 60)) for _ in range(count)]


def _rate(count: int, elapsed: float) -> float:
    return count / elapsed if elapsed > 0 else float("inf")


def bench_schedule(seconds: float) -> dict[str, float]:
    """Next-working-instant lookups per second, segment algebra vs minute scan."""
    config = _company()
    person = config.people[0]
    instants = _instants(5000)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        next_working_instant(config, person, instants[done % len(instants)])
        done += 1
    fast = _rate(done, time.perf_counter() - started)
    naive_done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        at = instants[naive_done % len(instants)]
        expected = next_working_instant(config, person, at)
        if _naive_next(config, person, at) != expected:
            raise AssertionError(f"the naive scan disagrees at {at.isoformat()}")
        naive_done += 1
    naive = _rate(naive_done, time.perf_counter() - started)
    return {"next_instant_per_s": fast, "naive_minute_scan_per_s": naive}


def bench_runs(seconds: float, db_url: str) -> dict[str, float]:
    """Recorded playbook runs per second against the same actions called directly."""
    engine = connect(db_url)
    upgrade(engine)
    clock = ManualClock(datetime(2026, 11, 24, 17, 30, tzinfo=UTC))
    schedule = _company()
    dispatcher = Dispatcher(engine=engine, config=schedule, clock=clock)
    registry = ActionRegistry.from_entry_points()
    steps = [
        Step(action="page.flag", params={"page": "{{ labels.page }}"}),
        Step(action="task", params={"assignee": "marie", "title": "Review {{ labels.page }}"}),
        Step(action="notify", params={"to": "marie", "subject": "Drop on {{ labels.page }}"}),
    ]
    book = Playbook(name="bench", steps=steps)
    settings = ActionSettings()
    runner = PlaybookEngine(
        engine=engine,
        playbooks=[book],
        registry=registry,
        schedule=schedule,
        settings=settings,
        dispatcher=dispatcher,
        clock=clock,
    )
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds / 2:
        trigger = PlaybookTrigger(
            rule="r",
            status="firing",
            fingerprint=f"f{runs}",
            at=clock.now(),
            labels={"page": "/lunch"},
            playbook="bench",
        )
        runner.handle(trigger)
        runs += 1
    recorded = _rate(runs, time.perf_counter() - started)
    direct, started = 0, time.perf_counter()
    params: list[dict[str, Any]] = [
        {"page": "/lunch"},
        {"assignee": "marie", "title": "Review /lunch"},
        {"to": "marie", "subject": "Drop on /lunch"},
    ]
    while time.perf_counter() - started < seconds / 2:
        run_id = uuid.uuid4().hex
        trigger = PlaybookTrigger(rule="r", status="firing", fingerprint=run_id, at=clock.now())
        for index, (step, raw) in enumerate(zip(steps, params, strict=True)):
            key = f"{run_id}:{index}"
            port = StorePort(
                engine=engine,
                dispatcher=dispatcher,
                key=key,
                run_id=run_id,
                clock=clock,
                settings=settings,
            )
            context = ActionContext(
                key=key,
                run_id=run_id,
                trigger=trigger,
                port=port,
                clock=clock,
                schedule=schedule,
                settings=settings,
            )
            registry.get(step.action).run(registry.params(step.action, raw), context)
        direct += 1
    baseline = _rate(direct, time.perf_counter() - started)
    engine.dispose()
    return {"recorded_runs_per_s": recorded, "direct_actions_per_s": baseline}


def run_playbooks_bench(*, seconds: float, db_url: str | None, console: Console) -> dict[str, Any]:
    """Run both measurements, print a table and return the figures."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        url = db_url or f"sqlite:///{tmp}/bench.db"
        figures: dict[str, Any] = {**bench_schedule(seconds / 2), **bench_runs(seconds / 2, url)}
    figures["schedule_speedup"] = figures["next_instant_per_s"] / figures["naive_minute_scan_per_s"]
    figures["recording_overhead"] = figures["direct_actions_per_s"] / figures["recorded_runs_per_s"]
    figures["store"] = url.split("://")[0] if db_url else "sqlite"
    table = Table(title="vigie bench playbooks")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else str(value))
    console.print(table)
    return figures
