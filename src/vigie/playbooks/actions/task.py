"""The `task` and `reassign` actions: a task for a person or a team ("review the landing
page"), and moving support agents between queues or tickets between people."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import msgspec
import sqlalchemy as sa

from vigie.playbooks.actions.base import ActionContext, ActionError, inserted_id
from vigie.schedule import is_working
from vigie.store.schema import Offset, metadata
from vigie.types import to_us

tasks = sa.Table(
    "playbook_tasks",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("assignee", sa.String(200), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("due_at_us", sa.BigInteger),
    sa.Column("run_id", sa.String(64)),
)

agent_queue_assignments = sa.Table(
    "agent_queue_assignments",
    metadata,
    sa.Column("agent", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(200), nullable=False),
    sa.Column("since_us", sa.BigInteger, nullable=False),
    sa.Column("key", sa.String(300)),
)

reassignments = sa.Table(
    "reassignments",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("from_value", sa.String(200)),
    sa.Column("to_value", sa.String(200), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.UniqueConstraint("key", "kind", "subject", name="uq_reassignments_key"),
)


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
        with context.engine.begin() as conn:
            task_id = conn.execute(sa.select(tasks.c.id).where(tasks.c.key == context.key)).scalar()
            if task_id is None:
                task_id = inserted_id(
                    conn.execute(
                        tasks.insert().values(
                            key=context.key,
                            assignee=params.assignee,
                            title=params.title,
                            body=params.body,
                            status="open",
                            created_at_us=to_us(now),
                            due_at_us=to_us(due) if due else None,
                            run_id=context.run_id,
                        )
                    )
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


def current_queues(conn: sa.Connection, defaults: dict[str, list[str]]) -> dict[str, str]:
    """Each agent's queue: the configured one, overridden by recorded reassignments."""
    queues = {agent: queue for queue, agents in defaults.items() for agent in agents}
    for row in conn.execute(sa.select(agent_queue_assignments)):
        queues[row.agent] = row.queue
    return queues


class Reassign:
    """`reassign`: move agents between queues and tickets between people, once per step."""

    name: ClassVar[str] = "reassign"
    params_type: ClassVar[type[msgspec.Struct]] = ReassignParams

    def run(self, params: ReassignParams, context: ActionContext) -> dict[str, Any]:
        now = context.clock.now()
        moved: list[dict[str, Any]] = []
        with context.engine.begin() as conn:
            done = {
                (r.kind, r.subject): r
                for r in conn.execute(
                    sa.select(reassignments).where(reassignments.c.key == context.key)
                )
            }
            if done:
                return {
                    "moved": [
                        {
                            "kind": r.kind,
                            "subject": r.subject,
                            "from": r.from_value,
                            "to": r.to_value,
                        }
                        for r in done.values()
                    ]
                }
            if params.to_queue is not None:
                queues = current_queues(conn, context.settings.queues)
                agents = list(params.agents)
                if not agents and params.count:
                    candidates = [
                        agent
                        for agent, queue in sorted(queues.items())
                        if queue == params.from_queue and agent != ""
                    ]
                    at_work = [
                        a
                        for a in candidates
                        if (p := context.schedule.person(a)) is not None
                        and is_working(context.schedule, p, now)
                    ]
                    agents = (at_work + [a for a in candidates if a not in at_work])[: params.count]
                    if len(agents) < params.count:
                        raise ActionError(
                            f"only {len(agents)} agents in queue {params.from_queue!r}, "
                            f"{params.count} asked",
                            retryable=False,
                        )
                for agent in agents:
                    moved.append(
                        self._move(
                            conn, context, "agent", agent, queues.get(agent), params.to_queue, now
                        )
                    )
                    conn.execute(
                        agent_queue_assignments.delete().where(
                            agent_queue_assignments.c.agent == agent
                        )
                    )
                    conn.execute(
                        agent_queue_assignments.insert().values(
                            agent=agent, queue=params.to_queue, since_us=to_us(now), key=context.key
                        )
                    )
            if params.tickets:
                if params.assignee is None:
                    raise ActionError("reassign: tickets need an assignee", retryable=False)
                for ticket in params.tickets:
                    moved.append(
                        self._move(conn, context, "ticket", ticket, None, params.assignee, now)
                    )
        return {"moved": moved}

    @staticmethod
    def _move(
        conn: sa.Connection,
        context: ActionContext,
        kind: str,
        subject: str,
        before: str | None,
        after: str,
        now: Any,
    ) -> dict[str, Any]:
        conn.execute(
            reassignments.insert().values(
                key=context.key,
                kind=kind,
                subject=subject,
                from_value=before,
                to_value=after,
                at_us=to_us(now),
                run_id=context.run_id,
            )
        )
        return {"kind": kind, "subject": subject, "from": before, "to": after}
