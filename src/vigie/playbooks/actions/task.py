"""The `task` and `reassign` actions: a task for a person or a team ("review the landing
page"), and moving support agents between queues or tickets between people."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import msgspec

from vigie.playbooks.actions.base import ActionContext, ActionError
from vigie.playbooks.actions.port import Move, Task
from vigie.schedule import is_working


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
        task_id = context.port.once(
            Task(assignee=params.assignee, title=params.title, body=params.body, due_at=due)
        )
        return {"task_id": task_id, "assignee": params.assignee}


class ReassignParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Move `agents` (or `count` agents at work from `from_queue`) to `to_queue`; or move
    `tickets` to `assignee`."""

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
        if params.to_queue is not None:
            queues = context.port.queues()
            agents = list(params.agents)
            if not agents and params.count:
                agents = self._at_work_first(params.from_queue, queues, context)[: params.count]
                if len(agents) < params.count:
                    raise ActionError(
                        f"only {len(agents)} agents in queue {params.from_queue!r}, "
                        f"{params.count} asked",
                        retryable=False,
                    )
            moves += [
                Move(kind="agent", subject=a, before=queues.get(a), after=params.to_queue)
                for a in agents
            ]
        if params.tickets:
            if params.assignee is None:
                raise ActionError("reassign: tickets need an assignee", retryable=False)
            moves += [
                Move(kind="ticket", subject=t, before=None, after=params.assignee)
                for t in params.tickets
            ]
        context.port.once_each(moves)
        return _summary(moves)

    @staticmethod
    def _at_work_first(
        queue: str | None, queues: dict[str, str], context: ActionContext
    ) -> list[str]:
        """The agents of `queue`, those at work now first."""
        now, schedule = context.clock.now(), context.schedule
        candidates = [agent for agent, q in sorted(queues.items()) if q == queue and agent != ""]
        at_work = [
            a
            for a in candidates
            if (p := schedule.person(a)) is not None and is_working(schedule, p, now)
        ]
        return at_work + [a for a in candidates if a not in at_work]
