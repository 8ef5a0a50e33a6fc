"""A playbook's task as a CRM task: the `task` action's record becomes a task of the CRM's
own model (`GET /api/tasks`), owned by the staff member of the person it is for, due at a
working time of theirs, and naming the playbook run and the action-ledger entry behind it.

Like every CRM write, it is an event appended to the log (`Task Created`, `Task Updated`
from source `crm`) that the CRM projection applies; its message id is derived from the
step, so a step run again after a crash appends it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import msgspec
import sqlalchemy as sa

from vigie.auth.audit import Actor
from vigie.auth.users import users
from vigie.crm import tables
from vigie.crm.commands import crm_event
from vigie.crm.entities import ENTITIES
from vigie.events import Event
from vigie.schedule import Person, ScheduleConfig

Append = Callable[[Sequence[Event]], None]
"""Appends CRM events to the log and returns once they are committed."""

_TASKS = ENTITIES["tasks"]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def crm_task_id(key: str) -> str:
    """The CRM task id of the playbook task of step `key` (the same on every re-run)."""
    return f"{_TASKS.prefix}_{_digest('playbook-task', key)[:20]}"


class CrmTaskBook:
    """Opens and closes the CRM tasks of playbook tasks, through the log."""

    def __init__(self, *, engine: sa.Engine, schedule: ScheduleConfig, append: Append) -> None:
        self._engine = engine
        self._schedule = schedule
        self._append = append

    def owner_of(self, name: str) -> str | None:
        """The CRM staff id of the person called `name` in `schedule:`: the staff link of
        their Vigie user (`user`, else their name), else the staff member with their e-mail
        address; None when the CRM does not know them."""
        person = self._schedule.person(name)
        if person is None:
            return None
        with self._engine.connect() as conn:
            return _linked_staff(conn, person)

    def open(
        self,
        *,
        key: str,
        action_id: int,
        run_id: str,
        title: str,
        body: str,
        owner: str | None,
        due_at: datetime | None,
        now: datetime,
    ) -> str:
        """Append the `Task Created` of the playbook task `action_id` of step `key` (once:
        a re-run appends a duplicate the log drops); its CRM task id."""
        record_id = crm_task_id(key)
        data = {
            "title": title[:200],
            "notes": body[:5000] or None,
            "owner_id": owner,
            "due_at": due_at.isoformat() if due_at else None,
            "status": "open",
            "playbook_run_id": run_id,
            "action_id": action_id,
        }
        _TASKS.create.model_validate(data)
        event = crm_event(
            entity=_TASKS,
            operation="create",
            record_id=record_id,
            data=data,
            actor=Actor(name=f"playbook:{run_id}", role="system"),
            now=now,
        )
        self._append([msgspec.structs.replace(event, message_id=_digest("created", key))])
        return record_id

    def set_status(
        self,
        record_id: str,
        status: Literal["done", "cancelled"],
        *,
        by: str,
        now: datetime,
        change: int,
    ) -> None:
        """Append the `Task Updated` that marks the CRM task `status`, on `by`'s behalf;
        `change` (the ledger's change id) makes a retried append a duplicate."""
        event = crm_event(
            entity=_TASKS,
            operation="update",
            record_id=record_id,
            data={"status": status},
            actor=Actor(name=by),
            now=now,
        )
        message_id = _digest("status", record_id, str(change))
        self._append([msgspec.structs.replace(event, message_id=message_id)])


def _linked_staff(conn: sa.Connection, person: Person) -> str | None:
    username = person.user or person.name
    linked = conn.execute(
        sa.select(users.c.staff_id).where(
            users.c.username == username,
            users.c.disabled_at.is_(None),
            users.c.staff_id.is_not(None),
        )
    ).scalar()
    if linked is not None:
        return str(linked)
    if not person.email:
        return None
    staff = tables.staff
    found = conn.execute(
        sa.select(staff.c.id)
        .where(
            sa.func.lower(staff.c.email) == person.email.lower(),
            staff.c.archived_at.is_(None),
        )
        .order_by(staff.c.id)
        .limit(1)
    ).scalar()
    return str(found) if found is not None else None


def crm_statuses(conn: sa.Connection, ids: set[str]) -> dict[str, str]:
    """The CRM status (`open`, `done`, `cancelled`) of the CRM tasks `ids` applied so far."""
    if not ids:
        return {}
    table = tables.tasks
    rows = conn.execute(sa.select(table.c.id, table.c.status).where(table.c.id.in_(ids)))
    return {row.id: row.status for row in rows}
