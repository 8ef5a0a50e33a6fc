"""The `task` and `reassign` actions: a task for a person or a team ("review the landing
page"), and moving support agents between queues or tickets between people."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import msgspec

from vigie.playbooks.actions.base import ActionContext, ActionError
from vigie.playbooks.actions.port import Move, Task
from vigie.schedule import is_working, next_working_instant


class TaskParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A task for `assignee` (a person or a team), due in `due_in_minutes` if given."""

    assignee: str
    title: str
    body: str = ""
    due_in_minutes: float | None = None


class CreateTask:
    """`task`: record the task once per step."""

    name: ClassVar[str] = "task"
    params_type: ClassVar[type[msgspec.Struct]] = TaskParams

    def run(self, params: TaskParams, context: ActionContext) -> dict[str, Any]:
        if context.schedule.person(params.assignee) is None and not context.schedule.members(
            params.assignee
        ):
            raise ActionError(
                f"{params.assignee!r} is neither a person nor a team", retryable=False
            )
        now = context.clock.now()
        due = now + timedelta(minutes=params.due_in_minutes) if params.due_in_minutes else None
        back = _back_at_work(params.assignee, now, context)
        if back is not None and due is not None:
            due = back + timedelta(minutes=params.due_in_minutes or 0)
        task_id = context.port.once(
            Task(assignee=params.assignee, title=params.title, body=params.body, due_at=due)
        )
        result: dict[str, Any] = {"task_id": task_id, "assignee": params.assignee}
        if back is not None:
            result["off_duty_until"] = back.isoformat()
        return result


def _back_at_work(assignee: str, now: datetime, context: ActionContext) -> datetime | None:
    """None when `assignee` (or someone of that team) is working now; else when they are
    back, so that a task is never due while its assignee is off duty."""
    schedule = context.schedule
    person = schedule.person(assignee)
    people = [person] if person is not None else schedule.members(assignee)
    if any(is_working(schedule, p, now) for p in people):
        return None
    starts = [t for p in people if (t := next_working_instant(schedule, p, now)) is not None]
    return min(starts) if starts else None


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
