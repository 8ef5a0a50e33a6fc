"""Runs playbooks: matches triggers, records each run and step, retries, resumes after a
restart without acting twice, and shows what a run would do (`dry_run`)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock
from vigie.playbooks import runs
from vigie.playbooks.actions.base import ActionContext, ActionError, ActionHeld, ActionSettings
from vigie.playbooks.actions.port import LiveChat, Places
from vigie.playbooks.crm_tasks import CrmTaskBook
from vigie.playbooks.holdouts import Holdout
from vigie.playbooks.outputs import StorePort
from vigie.playbooks.playbooks import Playbook, Step
from vigie.playbooks.registry import ActionRegistry, UnknownAction
from vigie.playbooks.templates import TemplateProblem, condition, render
from vigie.playbooks.trigger import PlaybookTrigger
from vigie.schedule import Dispatcher, ScheduleConfig

logger = logging.getLogger(__name__)

HELD = object()
"""What `_step` returns for a step held until a place's quiet hours end."""


class PlannedStep(msgspec.Struct, kw_only=True):
    """What a step would do: run with these parameters, be skipped, or fail, and why."""

    index: int
    name: str
    action: str
    outcome: str
    params: Any = None
    reason: str | None = None


class Plan(msgspec.Struct, kw_only=True):
    """A dry run: the playbook, the trigger, and each step's planned outcome."""

    playbook: str
    trigger: PlaybookTrigger
    steps: list[PlannedStep]


class PlaybookNotFound(KeyError):
    """No playbook of that name is configured."""


def trigger_key(playbook: str, trigger: PlaybookTrigger) -> str:
    """The idempotency key of one firing (or resolution) of an alert for one playbook."""
    return (
        f"{playbook}/{trigger.rule}/{trigger.fingerprint}/{trigger.status}/{trigger.at.isoformat()}"
    )


def template_context(
    trigger: PlaybookTrigger,
    params: Mapping[str, Any],
    steps: Mapping[str, Any],
    places: Places | None = None,
) -> dict[str, Any]:
    """What templates and conditions see: the alert, its labels and values, the parameters
    (labels, then values, then parameters given by hand) and earlier steps' results; with
    the sensors part, `quietest_neighbour(zone)` and `recommended_aisle(display)` read the
    live counts (a street to send people to is never written in the playbook)."""
    alert = msgspec.to_builtins(trigger)
    merged = {**trigger.labels, **trigger.values, **params}
    live: dict[str, Any] = {}
    if places is not None:
        live = {
            "quietest_neighbour": places.quietest_neighbour,
            "recommended_aisle": places.recommended_aisle,
        }
    return {
        **live,
        "alert": alert,
        "labels": trigger.labels,
        "values": trigger.values,
        "annotations": trigger.annotations,
        "params": merged,
        "steps": dict(steps),
    }


class PlaybookEngine:
    """Everything needed to run the configured playbooks against the store."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        playbooks: Sequence[Playbook],
        registry: ActionRegistry,
        schedule: ScheduleConfig,
        settings: ActionSettings,
        dispatcher: Dispatcher,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        places: Places | None = None,
        chat: LiveChat | None = None,
        crm_tasks: CrmTaskBook | None = None,
    ) -> None:
        self.crm_tasks = crm_tasks
        """Where tasks become CRM tasks, set by the composition root once the log is."""
        self.places = places
        self.engine = engine
        self.chat = chat
        """The website chat, set by the composition root once it is built."""
        self.playbooks = list(playbooks)
        self.registry = registry
        self.schedule = schedule
        self.settings = settings
        self.dispatcher = dispatcher
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()

    def playbook(self, name: str) -> Playbook:
        """The playbook called `name`."""
        for playbook in self.playbooks:
            if playbook.name == name:
                return playbook
        known = ", ".join(p.name for p in self.playbooks) or "none configured"
        raise PlaybookNotFound(f"no playbook {name!r} (playbooks: {known})")

    def handle(self, trigger: PlaybookTrigger) -> list[runs.RunRecord]:
        """Run every playbook `trigger` asks for, once per firing; returns the runs."""
        return [self._execute(run_id) for run_id in self.enqueue(trigger)]

    def enqueue(self, trigger: PlaybookTrigger) -> list[str]:
        """Record the runs `trigger` asks for without running them (`resume` will); fast
        enough to call from a log processor. Returns the run ids, existing ones included."""
        matching = [p for p in self.playbooks if p.matches(trigger)]
        if trigger.playbook is not None and not matching:
            logger.warning(
                "rule %s asks for playbook %r, which is not configured or is disabled",
                trigger.rule,
                trigger.playbook,
            )
        return [
            self._start(playbook, trigger, {}, trigger_key(playbook.name, trigger))
            for playbook in matching
        ]

    def run(self, name: str, params: Mapping[str, Any] | None = None) -> runs.RunRecord:
        """Run playbook `name` by hand now, with `params` for its templates."""
        playbook = self.playbook(name)
        trigger = self.manual_trigger(name, params or {})
        run_id = self._start(playbook, trigger, dict(params or {}), f"manual/{trigger.fingerprint}")
        return self._execute(run_id)

    def manual_trigger(self, name: str, params: Mapping[str, Any]) -> PlaybookTrigger:
        """The trigger of a run started by hand."""
        return PlaybookTrigger(
            rule="manual",
            status="firing",
            fingerprint=uuid.uuid4().hex,
            at=self.clock.now(),
            labels={k: str(v) for k, v in params.items()},
            playbook=name,
        )

    def plan(
        self, name: str, trigger: PlaybookTrigger, params: Mapping[str, Any] | None = None
    ) -> Plan:
        """What running `name` for `trigger` would do, acting on nothing (`--dry-run`)."""
        playbook = self.playbook(name)
        context = template_context(trigger, params or {}, {}, self.places)
        planned = []
        for index, step in enumerate(playbook.steps):
            label = step.label(index)
            try:
                if step.when and not condition(step.when, context):
                    planned.append(
                        PlannedStep(
                            index=index,
                            name=label,
                            action=step.action,
                            outcome="skip",
                            reason=f"condition is false: {step.when}",
                        )
                    )
                    continue
                rendered = render(step.params, context)
                typed = self.registry.params(step.action, rendered)
            except (TemplateProblem, msgspec.ValidationError, UnknownAction) as exc:
                planned.append(
                    PlannedStep(
                        index=index,
                        name=label,
                        action=step.action,
                        outcome="error",
                        reason=str(exc),
                    )
                )
                continue
            planned.append(
                PlannedStep(
                    index=index,
                    name=label,
                    action=step.action,
                    outcome="run",
                    params=rendered,
                    reason=self._describe(step.action, typed, trigger),
                )
            )
        return Plan(playbook=name, trigger=trigger, steps=planned)

    def _describe(self, action_name: str, params: Any, trigger: PlaybookTrigger) -> str | None:
        """What an action says it would do, for actions that can tell without acting."""
        describe = getattr(self.registry.get(action_name), "describe", None)
        if describe is None:
            return None
        result: str = describe(params, self._context("dry-run", "dry-run", trigger))
        return result

    def _context(
        self,
        key: str,
        run_id: str,
        trigger: PlaybookTrigger,
        *,
        holdout: tuple[str, str, Holdout] | None = None,
    ) -> ActionContext:
        """What the action of step `key` is given: a port bound to that key, not the store;
        `holdout` is the step's control group (playbook, step name, design), if it has one."""
        port = StorePort(
            engine=self.engine,
            dispatcher=self.dispatcher,
            key=key,
            run_id=run_id,
            clock=self.clock,
            settings=self.settings,
            sleep=self.sleep,
            places=self.places,
            chat=self.chat,
            holdout=holdout,
            crm_tasks=self.crm_tasks,
        )
        return ActionContext(
            key=key,
            run_id=run_id,
            trigger=trigger,
            port=port,
            clock=self.clock,
            schedule=self.schedule,
            settings=self.settings,
        )

    def resume(self) -> int:
        """Run the recorded runs not finished yet — enqueued, or interrupted by a stop —
        from their first unfinished step."""
        with self.engine.connect() as conn:
            pending = runs.unfinished(conn)
        for run_id in pending:
            self._execute(run_id)
        return len(pending)

    def _start(
        self, playbook: Playbook, trigger: PlaybookTrigger, params: dict[str, Any], key: str
    ) -> str:
        with self.engine.connect() as conn:
            existing = runs.run_id_for(conn, key=key)
        if existing is not None:
            return existing
        run_id = uuid.uuid4().hex
        try:
            with self.engine.begin() as conn:
                runs.create_run(
                    conn,
                    run_id=run_id,
                    key=key,
                    playbook=playbook.name,
                    trigger=trigger,
                    params=params,
                    at=self.clock.now(),
                )
        except sa.exc.IntegrityError:
            with self.engine.connect() as conn:
                found = runs.run_id_for(conn, key=key)
            assert found is not None
            return found
        return run_id

    def _execute(self, run_id: str) -> runs.RunRecord:
        with self._lock:
            self._execute_locked(run_id)
        with self.engine.connect() as conn:
            record = runs.get_run(conn, run_id=run_id)
        assert record is not None
        return record

    def _execute_locked(self, run_id: str) -> None:
        with self.engine.connect() as conn:
            record = runs.get_run(conn, run_id=run_id)
        if record is None or record.status != "running":
            return
        trigger = msgspec.convert(record.trigger, PlaybookTrigger)
        try:
            playbook = self.playbook(record.playbook)
        except PlaybookNotFound as exc:
            self._finish(run_id, "failed", str(exc))
            return
        done = {s.index: s for s in record.steps}
        results = {s.name: s.result for s in record.steps if s.status == "succeeded"}
        for index, step in enumerate(playbook.steps):
            previous = done.get(index)
            if previous is not None and previous.status in runs.FINISHED_STEP:
                if previous.status == "failed" and not step.continue_on_error:
                    self._finish(run_id, "failed", f"step {previous.name} failed")
                    return
                continue
            until = runs.held_until(previous) if previous is not None else None
            if until is not None and self.clock.now() < until:
                return  # a held step waits (a place's quiet hours); the timer comes back
            ok, result = self._step(
                playbook.name,
                run_id,
                index,
                step,
                trigger,
                record.params or {},
                results,
                previous.attempts if previous else 0,
            )
            if result is HELD:
                return
            if ok:
                results[step.label(index)] = result
            elif not step.continue_on_error:
                self._finish(run_id, "failed", f"step {step.label(index)} failed: {result}")
                return
        self._finish(run_id, "succeeded", None)

    def _step(
        self,
        playbook: str,
        run_id: str,
        index: int,
        step: Step,
        trigger: PlaybookTrigger,
        params: Mapping[str, Any],
        results: Mapping[str, Any],
        attempts_before: int,
    ) -> tuple[bool, Any]:
        label = step.label(index)
        context = template_context(trigger, params, results, self.places)
        now = self.clock.now()
        try:
            if step.when and not condition(step.when, context):
                with self.engine.begin() as conn:
                    runs.skip_step(
                        conn,
                        run_id=run_id,
                        index=index,
                        name=label,
                        action=step.action,
                        at=now,
                        why=f"condition is false: {step.when}",
                    )
                return True, None
            rendered = render(step.params, context)
            typed = self.registry.params(step.action, rendered)
            action = self.registry.get(step.action)
        except (TemplateProblem, msgspec.ValidationError, UnknownAction) as exc:
            with self.engine.begin() as conn:
                runs.start_step(
                    conn,
                    run_id=run_id,
                    index=index,
                    name=label,
                    action=step.action,
                    params=step.params,
                    at=now,
                )
                runs.end_step(
                    conn, run_id=run_id, index=index, status="failed", at=now, error=str(exc)
                )
            return False, str(exc)
        attempt = attempts_before
        while True:
            with self.engine.begin() as conn:
                attempt = runs.start_step(
                    conn,
                    run_id=run_id,
                    index=index,
                    name=label,
                    action=step.action,
                    params=rendered,
                    at=self.clock.now(),
                )
            control = (playbook, label, step.holdout) if step.holdout else None
            context_for_action = self._context(
                f"{run_id}:{index}", run_id, trigger, holdout=control
            )
            try:
                result = action.run(typed, context_for_action)
            except ActionHeld as exc:
                with self.engine.begin() as conn:
                    runs.hold_step(conn, run_id=run_id, index=index, until=exc.until, why=str(exc))
                return False, HELD
            except ActionError as exc:
                error, retryable = str(exc), exc.retryable
            except Exception as exc:
                logger.exception("action %s of run %s failed", step.action, run_id)
                error, retryable = f"{type(exc).__name__}: {exc}", True
            else:
                with self.engine.begin() as conn:
                    runs.end_step(
                        conn,
                        run_id=run_id,
                        index=index,
                        status="succeeded",
                        at=self.clock.now(),
                        result=result,
                    )
                return True, result
            if retryable and attempt <= step.retries:
                with self.engine.begin() as conn:
                    runs.end_step(
                        conn,
                        run_id=run_id,
                        index=index,
                        status="retrying",
                        at=self.clock.now(),
                        error=f"attempt {attempt}: {error}",
                    )
                self.sleep(step.retry_delay_seconds * 2 ** (attempt - 1))
                continue
            with self.engine.begin() as conn:
                runs.end_step(
                    conn,
                    run_id=run_id,
                    index=index,
                    status="failed",
                    at=self.clock.now(),
                    error=f"attempt {attempt}: {error}",
                )
            return False, error

    def _finish(self, run_id: str, status: str, error: str | None) -> None:
        with self.engine.begin() as conn:
            runs.finish_run(conn, run_id=run_id, status=status, at=self.clock.now(), error=error)
