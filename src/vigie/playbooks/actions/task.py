"""The `task` and `reassign` actions: a task for a person or a team ("review the landing
page"), and moving support agents between queues or tickets between people."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import msgspec

from vigie.playbooks.actions.base import ActionContext, ActionError
from vigie.playbooks.actions.port import Move, Task
from vigie.schedule import Decision, Person, after_working_time, decide, is_working


class TaskParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A task for `assignee` (a person or a team), due after `due_in_minutes` of the working
    time of whoever takes it (at their next working instant when not given)."""

    assignee: str
    title: str
    body: str = ""
    due_in_minutes: float | None = None


class CreateTask:
    """`task`: record the task once per step, for a person at work: the schedule's decision
    for a work message (the right to disconnect) says who takes it and from when. A person
    off duty keeps their task, due once they are back; a team's goes to a member at work,
    else to the one back first. The task is also a CRM task (`GET /api/tasks`)."""

    name: ClassVar[str] = "task"
    params_type: ClassVar[type[msgspec.Struct]] = TaskParams

    def run(self, params: TaskParams, context: ActionContext) -> dict[str, Any]:
        if not params.title.strip() or len(params.title) > 200:
            raise ActionError("task: title must have 1 to 200 characters", retryable=False)
        now = context.clock.now()
        person, decision = _taker(params.assignee, now, context)
        start = decision.deliver_at or now
        due = after_working_time(context.schedule, person, start, params.due_in_minutes or 0)
        if due is None:
            raise ActionError(
                f"{person.name} has no working period within a year: no task for them",
                retryable=False,
            )
        task_id = context.port.once(
            Task(assignee=person.name, title=params.title, body=params.body, due_at=due)
        )
        result: dict[str, Any] = {
            "task_id": task_id,
            "assignee": person.name,
            "due_at": due.isoformat(),
            "why": decision.reason,
        }
        if person.name != params.assignee:
            result["for"] = params.assignee
        if decision.outcome == "hold":
            result["off_duty_until"] = start.isoformat()
        return result

    def describe(self, params: TaskParams, context: ActionContext) -> str:
        """Who would take the task, and when it would be due."""
        now = context.clock.now()
        person, decision = _taker(params.assignee, now, context)
        due = after_working_time(
            context.schedule, person, decision.deliver_at or now, params.due_in_minutes or 0
        )
        when = due.isoformat() if due else "never (no working period within a year)"
        return f"task for {person.name}, due {when} ({decision.reason})"


def _taker(assignee: str, now: datetime, context: ActionContext) -> tuple[Person, Decision]:
    """The person who takes a task for `assignee` created `now`, and the schedule's decision
    (deliver now, or hold until they are back), as for a work message that is not urgent."""
    schedule = context.schedule
    decisions = [
        d
        for d in decide(schedule, recipient=assignee, urgent=False, at=now)
        if d.outcome in ("deliver", "hold") and d.recipient is not None
    ]
    if not decisions:
        if schedule.person(assignee) is None and not schedule.members(assignee):
            raise ActionError(f"{assignee!r} is neither a person nor a team", retryable=False)
        raise ActionError(
            f"nobody of {assignee!r} has a working period within a year", retryable=False
        )
    decision = decisions[0]
    person = schedule.person(decision.recipient or "")
    assert person is not None
    return person, decision


class ReassignParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Move `agents` (or `count` agents at work from `from_queue`) to `to_queue`; or move
    `tickets` to `assignee`. Only people at work are moved or assigned: the right to
    disconnect holds for queue moves too."""

    to_queue: str | None = None
    from_queue: str | None = None
    agents: list[str] = []
    count: int | None = None
    tickets: list[str] = []
    assignee: str | None = None


def _summary(moves: list[Move]) -> dict[str, Any]:
    return {
        "moved": [
            {"kind": m.kind, "subject": m.subject, "from": m.before, "to": m.after} for m in moves
        ]
    }


class Reassign:
    """`reassign`: move agents between queues and tickets between people, once per step."""

    name: ClassVar[str] = "reassign"
    params_type: ClassVar[type[msgspec.Struct]] = ReassignParams

    def run(self, params: ReassignParams, context: ActionContext) -> dict[str, Any]:
        done = context.port.recorded(Move)
        if done:
            return _summary(done)
        moves: list[Move] = []
        skipped: list[str] = []
        if params.to_queue is not None:
            queues = context.port.queues()
            agents = [a for a in params.agents if self._at_work(a, context)]
            skipped += [a for a in params.agents if a not in agents]
            if not params.agents and params.count:
                candidates = sorted(a for a, q in queues.items() if q == params.from_queue and a)
                agents = [a for a in candidates if self._at_work(a, context)][: params.count]
                if len(agents) < params.count:
                    raise ActionError(
                        f"only {len(agents)} of the {len(candidates)} agents in queue "
                        f"{params.from_queue!r} are at work, {params.count} asked",
                        retryable=False,
                    )
            moves += [
                Move(kind="agent", subject=a, before=queues.get(a), after=params.to_queue)
                for a in agents
            ]
        if params.tickets:
            if params.assignee is None:
                raise ActionError("reassign: tickets need an assignee", retryable=False)
            if not self._at_work(params.assignee, context):
                raise ActionError(
                    f"{params.assignee} is off duty: tickets are not assigned to them",
                    retryable=False,
                )
            moves += [
                Move(kind="ticket", subject=t, before=None, after=params.assignee)
                for t in params.tickets
            ]
        context.port.once_each(moves)
        summary = _summary(moves)
        if skipped:
            summary["skipped_off_duty"] = skipped
        return summary

    @staticmethod
    def _at_work(name: str, context: ActionContext) -> bool:
        """True when `name` is a person of schedule: working now (or not a person at all:
        a queue or system account the schedule does not govern)."""
        person = context.schedule.person(name)
        return person is None or is_working(context.schedule, person, context.clock.now())
