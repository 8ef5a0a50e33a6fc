"""What playbooks did, as records a person can see, close and undo: tasks, page flags,
offers, broadcasts and queue moves, each with its run, its alert, a state and an owner.

Every change a person makes is a line of `action_changes` (who, when, from which state to
which, why): the audit of the actions, and the source of their current state. Undoing an
offer ends it now; undoing a queue move sends the agent back to the queue they came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock
from vigie.playbooks import runs
from vigie.playbooks.crm_tasks import CrmTaskBook, crm_statuses
from vigie.playbooks.outputs import (
    agent_queue_assignments,
    broadcasts,
    offers,
    page_flags,
    reassignments,
    tasks,
)
from vigie.store.schema import Offset, metadata
from vigie.types import from_us, to_us

Kind = Literal["task", "page_flag", "offer", "broadcast", "move"]
KINDS: tuple[Kind, ...] = ("task", "page_flag", "offer", "broadcast", "move")
State = Literal["open", "done", "expired", "undone"]

action_changes = sa.Table(
    "action_changes",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("action_id", sa.BigInteger, nullable=False),
    sa.Column("from_state", sa.String(20), nullable=False),
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
)
sa.Index("ix_action_changes_action", action_changes.c.kind, action_changes.c.action_id)


class ActionNotFound(LookupError):
    """No action of that kind with that id."""


class NotAllowed(ValueError):
    """The change does not apply to this action in its state (the message says why)."""


class Change(msgspec.Struct, kw_only=True):
    """One change a person made to an action."""

    from_state: str
    to_state: str
    by: str
    note: str
    at: datetime


class ActionRecord(msgspec.Struct, kw_only=True):
    """An action a playbook took, as the Actions page shows it."""

    kind: Kind
    id: int
    summary: str
    target: str
    owner: str | None
    state: State
    created_at: datetime
    run_id: str | None
    playbook: str | None
    alert: str | None
    can_close: bool
    can_undo: bool
    changes: list[Change] = []
    crm_task: str | None = None
    """A task's CRM task (`GET /api/tasks/{id}`): closing either closes the other."""
    step: int | None = None
    """The index of the run's step that took it."""


@dataclass(frozen=True)
class _Source:
    table: sa.Table
    created: sa.Column[Any]


_SOURCES: dict[Kind, _Source] = {
    "task": _Source(tasks, tasks.c.created_at_us),
    "page_flag": _Source(page_flags, page_flags.c.created_at_us),
    "offer": _Source(offers, offers.c.starts_at_us),
    "broadcast": _Source(broadcasts, broadcasts.c.created_at_us),
    "move": _Source(reassignments, reassignments.c.at_us),
}


def _describe(kind: Kind, row: Any, now_us: int) -> tuple[str, str, str | None, State]:
    """Summary, target, owner and the state the action has before anyone changed it."""
    if kind == "task":
        state: State = "done" if row.status == "done" else "open"
        return row.title, row.assignee, row.assignee, state
    if kind == "page_flag":
        return row.reason, row.page, None, "done" if row.status == "closed" else "open"
    if kind == "offer":
        return (
            row.title,
            f"{row.scope}:{row.target}",
            None,
            ("open" if row.ends_at_us > now_us else "expired"),
        )
    if kind == "broadcast":
        return row.text, row.zone, None, "done"
    subject = f"{row.kind} {row.subject}: {row.from_value or '-'} -> {row.to_value}"
    return subject, row.to_value, None, "open"


def _step_of(key: str, run_id: str | None) -> int | None:
    """The step index in an action's idempotency key (`<run id>:<step index>`)."""
    head, _, index = key.partition(":")
    return int(index) if run_id and head == run_id and index.isdigit() else None


_FROM_CRM: dict[str, State] = {"done": "done", "cancelled": "undone"}


def _crm_of(conn: sa.Connection, kind: Kind, row: Any) -> dict[str, str]:
    """The CRM status of a task's CRM task, if it has one (nothing for other kinds)."""
    if kind != "task" or not row.crm_task_id:
        return {}
    return crm_statuses(conn, {row.crm_task_id})


def _allowed(kind: Kind, state: State) -> tuple[bool, bool]:
    """(can close, can undo) for an action of `kind` in `state`."""
    if state != "open":
        return False, False
    return kind in ("task", "page_flag", "move", "offer"), kind in ("offer", "move", "page_flag")


class ActionLedger:
    """Lists the actions playbooks took, and closes or undoes them on a person's behalf."""

    def __init__(
        self, *, engine: sa.Engine, clock: Clock, crm_tasks: CrmTaskBook | None = None
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._crm_tasks = crm_tasks

    def list(
        self,
        *,
        kind: Kind | None = None,
        state: State | None = None,
        run_id: str | None = None,
        alert: str | None = None,
        limit: int = 200,
    ) -> list[ActionRecord]:
        """Actions newest first, filtered by kind, state, run or alert fingerprint."""
        now_us = to_us(self._clock.now())
        found: list[ActionRecord] = []
        with self._engine.connect() as conn:
            rows: list[tuple[Kind, Any]] = []
            for the_kind in (kind,) if kind else KINDS:
                source = _SOURCES[the_kind]
                query = sa.select(source.table).order_by(source.created.desc()).limit(limit)
                if run_id is not None:
                    query = query.where(source.table.c.run_id == run_id)
                rows += [(the_kind, row) for row in conn.execute(query)]
            playbook_of = self._runs(conn, {row.run_id for _kind, row in rows if row.run_id})
            in_crm = crm_statuses(
                conn, {row.crm_task_id for k, row in rows if k == "task" and row.crm_task_id}
            )
            for the_kind, row in rows:
                record = self._record(conn, the_kind, row, now_us, playbook_of, in_crm)
                if state is not None and record.state != state:
                    continue
                if alert is not None and record.alert != alert:
                    continue
                found.append(record)
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[:limit]

    def get(self, kind: Kind, action_id: int) -> ActionRecord:
        """One action with its changes (ActionNotFound when there is none)."""
        now_us = to_us(self._clock.now())
        with self._engine.connect() as conn:
            row = self._row(conn, kind, action_id)
            runs_of = self._runs(conn, {row.run_id} if row.run_id else set())
            return self._record(conn, kind, row, now_us, runs_of, _crm_of(conn, kind, row))

    def close(self, kind: Kind, action_id: int, *, by: str, note: str = "") -> ActionRecord:
        """Mark an open action done (a task finished, a page fixed, an offer ended early)."""
        return self._change(kind, action_id, to="done", by=by, note=note)

    def undo(self, kind: Kind, action_id: int, *, by: str, note: str = "") -> ActionRecord:
        """Reverse an open action: end an offer now, send a moved agent back, lift a flag."""
        return self._change(kind, action_id, to="undone", by=by, note=note)

    def _change(self, kind: Kind, action_id: int, *, to: State, by: str, note: str) -> ActionRecord:
        now = self._clock.now()
        with self._engine.begin() as conn:
            row = self._row(conn, kind, action_id)
            before = self._record(conn, kind, row, to_us(now), {}, _crm_of(conn, kind, row))
            can_close, can_undo = before.can_close, before.can_undo
            if (to == "done" and not can_close) or (to == "undone" and not can_undo):
                verb = "closed" if to == "done" else "undone"
                raise NotAllowed(f"this {kind} is {before.state}: it cannot be {verb}")
            if kind == "offer":
                conn.execute(
                    offers.update().where(offers.c.id == action_id).values(ends_at_us=to_us(now))
                )
            if kind == "move" and to == "undone" and row.kind == "agent":
                conn.execute(
                    agent_queue_assignments.delete().where(
                        agent_queue_assignments.c.agent == row.subject
                    )
                )
                if row.from_value is not None:
                    conn.execute(
                        agent_queue_assignments.insert().values(
                            agent=row.subject,
                            queue=row.from_value,
                            since_us=to_us(now),
                            key=f"undo:{action_id}",
                        )
                    )
            change = conn.execute(
                action_changes.insert().values(
                    kind=kind,
                    action_id=action_id,
                    from_state=before.state,
                    to_state=to,
                    by=by,
                    note=note[:1000],
                    at_us=to_us(now),
                )
            )
        crm_task = before.crm_task
        if crm_task is not None and self._crm_tasks is not None:
            (change_id,) = change.inserted_primary_key or (0,)
            status: Literal["done", "cancelled"] = "done" if to == "done" else "cancelled"
            self._crm_tasks.set_status(crm_task, status, by=by, now=now, change=int(change_id))
        return self.get(kind, action_id)

    @staticmethod
    def _row(conn: sa.Connection, kind: Kind, action_id: int) -> Any:
        source = _SOURCES.get(kind)
        row = None
        if source is not None:
            row = conn.execute(
                sa.select(source.table).where(source.table.c.id == action_id)
            ).first()
        if row is None:
            raise ActionNotFound(f"no {kind} action {action_id}")
        return row

    @staticmethod
    def _runs(conn: sa.Connection, ids: set[str]) -> dict[str, tuple[str, str | None]]:
        """Playbook and alert fingerprint of the runs `ids` (only those, not every run)."""
        if not ids:
            return {}
        table = runs.playbook_runs
        rows = conn.execute(
            sa.select(table.c.id, table.c.playbook, table.c.trigger).where(table.c.id.in_(ids))
        )
        found = {}
        for row in rows:
            trigger = msgspec.json.decode(row.trigger) if row.trigger else {}
            fingerprint = trigger.get("fingerprint") if isinstance(trigger, dict) else None
            found[row.id] = (row.playbook, fingerprint)
        return found

    def _record(
        self,
        conn: sa.Connection,
        kind: Kind,
        row: Any,
        now_us: int,
        playbook_of: dict[str, tuple[str, str | None]],
        in_crm: dict[str, str],
    ) -> ActionRecord:
        summary, target, owner, state = _describe(kind, row, now_us)
        crm_task = row.crm_task_id if kind == "task" else None
        changes = [
            Change(
                from_state=c.from_state,
                to_state=c.to_state,
                by=c.by,
                note=c.note,
                at=from_us(c.at_us),
            )
            for c in conn.execute(
                sa.select(action_changes)
                .where(action_changes.c.kind == kind, action_changes.c.action_id == row.id)
                .order_by(action_changes.c.id)
            )
        ]
        if changes:
            state = changes[-1].to_state  # type: ignore[assignment]
        if state == "open" and crm_task is not None:
            # Closed or cancelled in the CRM (`PATCH /api/tasks/{id}`): the action follows.
            state = _FROM_CRM.get(in_crm.get(crm_task, "open"), "open")
        if kind == "offer" and state == "open" and row.ends_at_us <= now_us:
            state = "expired"
        can_close, can_undo = _allowed(kind, state)
        playbook, alert = playbook_of.get(row.run_id or "", (None, None))
        created = _SOURCES[kind].created
        return ActionRecord(
            kind=kind,
            id=row.id,
            summary=summary,
            target=target,
            owner=owner,
            state=state,
            created_at=from_us(getattr(row, created.name)),
            run_id=row.run_id,
            playbook=playbook,
            alert=alert,
            can_close=can_close,
            can_undo=can_undo,
            changes=changes,
            crm_task=crm_task,
            step=_step_of(row.key, row.run_id),
        )
