"""What actions leave in the store — tasks, offers, page flags, broadcasts, chat
invitations, moves between queues, webhook deliveries — and `StorePort`, the `ActionPort`
over the SQL store through which every action, Vigie's own or a plugin's, leaves them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, cast

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock, SystemClock
from vigie.events.event import decode_event
from vigie.playbooks.actions.base import ActionError, ActionSettings
from vigie.playbooks.actions.port import (
    Broadcast,
    ChatInvitation,
    LiveChat,
    Move,
    Offer,
    PageFlag,
    Places,
    R,
    Record,
    Task,
)
from vigie.playbooks.actions.webhook import CloudEvent, Gone, Refused, deliver
from vigie.playbooks.crm_tasks import CrmTaskBook
from vigie.playbooks.holdouts import Holdout
from vigie.playbooks.holdouts import split as split_units
from vigie.privacy.consent import ConsentBook
from vigie.schedule import Dispatcher, NotificationRequest
from vigie.schedule.notifications import NotificationRecord
from vigie.store.schema import Offset, events, metadata
from vigie.types import from_us, to_us

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
    sa.Column("crm_task_id", sa.String(64)),
)

offers = sa.Table(
    "playbook_offers",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("starts_at_us", sa.BigInteger, nullable=False),
    sa.Column("ends_at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
)

page_flags = sa.Table(
    "page_flags",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("page", sa.String(500), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
)

broadcasts = sa.Table(
    "broadcasts",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("zone", sa.String(200), nullable=False),
    sa.Column("language", sa.String(5), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("wav_path", sa.Text),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
)

chat_invitations = sa.Table(
    "chat_invitations",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("anonymous_id", sa.String(200), nullable=False),
    sa.Column("page", sa.String(500)),
    sa.Column("funnel_step", sa.String(200)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("expires_at_us", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.UniqueConstraint("key", "anonymous_id", name="uq_chat_invitations_key"),
)
sa.Index("ix_chat_invitations_visitor", chat_invitations.c.anonymous_id)

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

agent_queue_assignments = sa.Table(
    "agent_queue_assignments",
    metadata,
    sa.Column("agent", sa.String(200), primary_key=True),
    sa.Column("queue", sa.String(200), nullable=False),
    sa.Column("since_us", sa.BigInteger, nullable=False),
    sa.Column("key", sa.String(300)),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", Offset, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("message_id", sa.String(300), nullable=False),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("key", "endpoint", name="uq_webhook_deliveries_key"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("disabled_at_us", sa.BigInteger),
    sa.Column("reason", sa.Text),
)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


@dataclass(frozen=True)
class _Kind(Generic[R]):
    """How one kind of record is stored: its table, the columns that tell two records of
    one step apart (none when a step stores one), and its conversions to and from a row
    (`now_us` stamps the time it is stored)."""

    table: sa.Table
    subject: tuple[str, ...]
    to_row: Callable[[R, int], dict[str, Any]]
    from_row: Callable[[Any], R]


_KINDS: dict[type[Any], _Kind[Any]] = {
    Task: _Kind[Task](
        tasks,
        (),
        lambda r, now_us: {
            "assignee": r.assignee,
            "title": r.title,
            "body": r.body,
            "status": "open",
            "created_at_us": now_us,
            "due_at_us": to_us(r.due_at) if r.due_at else None,
        },
        lambda row: Task(
            assignee=row.assignee,
            title=row.title,
            body=row.body,
            due_at=from_us(row.due_at_us) if row.due_at_us is not None else None,
        ),
    ),
    Offer: _Kind[Offer](
        offers,
        (),
        lambda r, _now_us: {
            "scope": r.scope,
            "target": r.target,
            "title": r.title,
            "details": _json(r.details),
            "starts_at_us": to_us(r.starts_at),
            "ends_at_us": to_us(r.ends_at),
        },
        lambda row: Offer(
            scope=row.scope,
            target=row.target,
            title=row.title,
            details=msgspec.json.decode(row.details),
            starts_at=from_us(row.starts_at_us),
            ends_at=from_us(row.ends_at_us),
        ),
    ),
    PageFlag: _Kind[PageFlag](
        page_flags,
        (),
        lambda r, now_us: {
            "page": r.page,
            "reason": r.reason,
            "evidence": _json(r.evidence),
            "status": "open",
            "created_at_us": now_us,
        },
        lambda row: PageFlag(
            page=row.page, reason=row.reason, evidence=msgspec.json.decode(row.evidence)
        ),
    ),
    Broadcast: _Kind[Broadcast](
        broadcasts,
        (),
        lambda r, now_us: {
            "zone": r.zone,
            "language": r.language,
            "text": r.text,
            "wav_path": r.wav_path,
            "created_at_us": now_us,
        },
        lambda row: Broadcast(
            zone=row.zone, language=row.language, text=row.text, wav_path=row.wav_path
        ),
    ),
    ChatInvitation: _Kind[ChatInvitation](
        chat_invitations,
        ("anonymous_id",),
        lambda r, now_us: {
            "anonymous_id": r.anonymous_id,
            "page": r.page,
            "funnel_step": r.funnel_step,
            "message": r.message,
            "status": "pending",
            "created_at_us": now_us,
            "expires_at_us": to_us(r.expires_at),
        },
        lambda row: ChatInvitation(
            anonymous_id=row.anonymous_id,
            page=row.page,
            funnel_step=row.funnel_step,
            message=row.message,
            expires_at=from_us(row.expires_at_us),
        ),
    ),
    Move: _Kind[Move](
        reassignments,
        ("kind", "subject"),
        lambda r, now_us: {
            "kind": r.kind,
            "subject": r.subject,
            "from_value": r.before,
            "to_value": r.after,
            "at_us": now_us,
        },
        lambda row: Move(
            kind=row.kind, subject=row.subject, before=row.from_value, after=row.to_value
        ),
    ),
}


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class Invitation(msgspec.Struct, kw_only=True):
    """A chat invitation as the browser tracker receives it."""

    id: int
    anonymous_id: str
    page: str | None
    funnel_step: str | None
    message: str
    status: str
    created_at: datetime
    expires_at: datetime


def pending_for(engine: sa.Engine, *, anonymous_id: str, now: datetime) -> list[Invitation]:
    """Invitations for a visitor that have not expired, newest first."""
    query = (
        sa.select(chat_invitations)
        .where(
            chat_invitations.c.anonymous_id == anonymous_id,
            chat_invitations.c.expires_at_us > to_us(now),
            chat_invitations.c.status == "pending",
        )
        .order_by(chat_invitations.c.id.desc())
    )
    with engine.connect() as conn:
        return [
            Invitation(
                id=r.id,
                anonymous_id=r.anonymous_id,
                page=r.page,
                funnel_step=r.funnel_step,
                message=r.message,
                status=r.status,
                created_at=from_us(r.created_at_us),
                expires_at=from_us(r.expires_at_us),
            )
            for r in conn.execute(query)
        ]


def current_queues(conn: sa.Connection, defaults: dict[str, list[str]]) -> dict[str, str]:
    """Each agent's queue: the configured one, overridden by recorded reassignments."""
    queues = {agent: queue for queue, agents in defaults.items() for agent in agents}
    for row in conn.execute(sa.select(agent_queue_assignments)):
        queues[row.agent] = row.queue
    return queues


def _path(properties: dict[str, Any], context: dict[str, Any]) -> str | None:
    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    value = properties.get("path") or (page or {}).get("path")
    return str(value) if value is not None else None


class StorePort:
    """The `ActionPort` of one step (`key`) of one run, over the SQL store, the schedule's
    dispatcher and the configured webhook endpoints."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        dispatcher: Dispatcher,
        key: str,
        run_id: str,
        clock: Clock,
        settings: ActionSettings,
        sleep: Callable[[float], None] = time.sleep,
        places: Places | None = None,
        chat: LiveChat | None = None,
        holdout: tuple[str, str, Holdout] | None = None,
        crm_tasks: CrmTaskBook | None = None,
    ) -> None:
        self._crm_tasks = crm_tasks
        self._holdout = holdout
        self._places = places
        self._engine = engine
        self._chat = chat
        self._dispatcher = dispatcher
        self._key = key
        self._run_id = run_id
        self._clock = clock
        self._settings = settings
        self._sleep = sleep

    def split(self, units: Sequence[str]) -> list[str]:
        """The units to act on: all of them, or, when the step declares a holdout, those not
        held out (every unit's group is recorded, to measure the step's effect)."""
        if self._holdout is None:
            return list(units)
        playbook, step, design = self._holdout
        with self._engine.begin() as conn:
            return split_units(
                conn,
                design,
                playbook=playbook,
                step=step,
                units=units,
                run_id=self._run_id,
                at=self._clock.now(),
            )

    def once(self, record: Record) -> int:
        """Store `record` unless this step already did; its id, on a re-run the first one's."""
        (record_id,) = self.once_each([record])
        return record_id

    def once_each(self, records: Sequence[Record]) -> list[int]:
        """`once` for each record, all or none of the new ones stored (one transaction).
        A task is also a CRM task, appended to the log once it is stored (see `CrmTaskBook`)."""
        with self._engine.begin() as conn:
            kinds = {type(record) for record in records}
            if len(records) > 1 and len(kinds) == 1 and Move not in kinds:
                ids = self._once_many(conn, records)
            else:
                ids = [self._once(conn, record) for record in records]
        for record, record_id in zip(records, ids, strict=True):
            if isinstance(record, Task):
                self._crm_task(record, record_id)
        return ids

    def _crm_task(self, task: Task, task_id: int) -> None:
        """Open the CRM task of playbook task `task_id` (again, on a re-run: the log keeps
        one) and note its id on the playbook task."""
        if self._crm_tasks is None:
            return
        crm_id = self._crm_tasks.open(
            key=f"{self._key}:{task_id}",
            action_id=task_id,
            run_id=self._run_id,
            title=task.title,
            body=task.body,
            owner=self._crm_tasks.owner_of(task.assignee),
            due_at=task.due_at,
            now=self._clock.now(),
        )
        with self._engine.begin() as conn:
            conn.execute(tasks.update().where(tasks.c.id == task_id).values(crm_task_id=crm_id))

    def _once_many(self, conn: sa.Connection, records: Sequence[Record]) -> list[int]:
        """`_once` for many records of one kind in three statements: a read of what this
        step stored already, one `executemany` insert of the rest, a read of their ids.

        The ids are read back by the step's key rather than returned by the insert: an
        insert that returns ids in parameter order runs row by row on SQLite and as one
        sorted statement of thousands of parameters on PostgreSQL, which kept a chat
        invitation to a thousand visitors from reaching their pages for 0.1 to 0.6 s."""
        kind = _KINDS[type(records[0])]
        table = kind.table
        now_us = to_us(self._clock.now())
        rows = [kind.to_row(record, now_us) for record in records]
        subject = [table.c[name] for name in kind.subject]
        mine = sa.select(table.c.id, *subject).where(table.c.key == self._key)
        ids: dict[tuple[Any, ...], int] = {
            tuple(found[1:]): int(found[0]) for found in conn.execute(mine)
        }
        fresh: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[name] for name in kind.subject)
            if key not in ids:
                fresh.setdefault(key, {"key": self._key, "run_id": self._run_id, **row})
        if fresh:
            conn.execute(table.insert(), list(fresh.values()))
            ids = {tuple(found[1:]): int(found[0]) for found in conn.execute(mine)}
        return [ids[tuple(row[name] for name in kind.subject)] for row in rows]

    def _once(self, conn: sa.Connection, record: Record) -> int:
        kind = _KINDS[type(record)]
        now_us = to_us(self._clock.now())
        row = kind.to_row(record, now_us)
        table = kind.table
        found = conn.execute(
            sa.select(table.c.id).where(
                table.c.key == self._key, *(table.c[name] == row[name] for name in kind.subject)
            )
        ).scalar()
        if found is not None:
            return int(found)
        record_id = inserted_id(
            conn.execute(table.insert().values(key=self._key, run_id=self._run_id, **row))
        )
        if isinstance(record, Move) and record.kind == "agent":
            conn.execute(
                agent_queue_assignments.delete().where(
                    agent_queue_assignments.c.agent == record.subject
                )
            )
            conn.execute(
                agent_queue_assignments.insert().values(
                    agent=record.subject, queue=record.after, since_us=now_us, key=self._key
                )
            )
        return record_id

    def recorded(self, kind: type[R]) -> list[R]:
        """The records of `kind` this step stored already, oldest first (none the first time)."""
        stored = cast(_Kind[R], _KINDS[kind])
        query = (
            sa.select(stored.table)
            .where(stored.table.c.key == self._key)
            .order_by(stored.table.c.id)
        )
        with self._engine.connect() as conn:
            return [stored.from_row(row) for row in conn.execute(query)]

    def notify(
        self, *, to: str, subject: str, body: str = "", urgent: bool = False
    ) -> list[NotificationRecord]:
        """Hand a message for a person or a team to the schedule's dispatcher, once per step:
        held while they are off duty, rerouted to whoever is on duty when `urgent`."""
        return self._dispatcher.submit(
            NotificationRequest(
                key=self._key,
                recipient=to,
                subject=subject,
                body=body or subject,
                urgent=urgent,
                run_id=self._run_id,
            )
        )

    def send_event(
        self, *, endpoint: str, type: str, data: Any, subject: str | None = None
    ) -> dict[str, Any]:
        """Deliver a signed CloudEvent to the configured webhook endpoint `endpoint`; a step
        delivers to an endpoint once, and a failed delivery is tried again on a re-run."""
        target = self._settings.webhook(endpoint)
        if target is None:
            known = ", ".join(w.name for w in self._settings.webhooks) or "none configured"
            raise ActionError(
                f"no webhook endpoint {endpoint!r} (actions.webhooks: {known})", retryable=False
            )
        with self._engine.connect() as conn:
            done = conn.execute(
                sa.select(webhook_deliveries).where(
                    webhook_deliveries.c.key == self._key,
                    webhook_deliveries.c.endpoint == target.name,
                )
            ).first()
            disabled = conn.execute(
                sa.select(webhook_endpoints.c.reason).where(webhook_endpoints.c.name == target.name)
            ).first()
        if done is not None and done.status == "delivered":
            return {
                "endpoint": target.name,
                "id": done.message_id,
                "status": "delivered",
                "status_code": done.status_code,
                "attempts": done.attempts,
            }
        if disabled is not None:
            raise ActionError(
                f"endpoint {target.name} is disabled: {disabled.reason}", retryable=False
            )
        message_id = f"msg_{self._key.replace(':', '_')}"
        event = CloudEvent(
            specversion="1.0",
            datacontenttype="application/json",
            id=message_id,
            source=self._settings.source,
            type=type,
            subject=subject,
            time=self._clock.now(),
            data=data,
        )
        status, code, attempts, error = "failed", None, target.max_attempts, None
        try:
            code, attempts = deliver(
                endpoint=target,
                event=event,
                settings=self._settings,
                # Receivers check webhook-timestamp against their own wall clock (replay
                # protection), so it is the real time even when Vigie runs on simulated time.
                now=SystemClock().now,
                sleep=self._sleep,
            )
            status = "delivered"
        except Gone as exc:
            error, status, code = str(exc), "gone", 410
            self._disable(target.name, error)
            raise
        except Refused as exc:
            error, status = str(exc), "refused"
            raise
        except ActionError as exc:
            error = str(exc)
            raise
        finally:
            self._record_delivery(target.name, message_id, type, status, attempts, code, error)
        return {
            "endpoint": target.name,
            "id": message_id,
            "status": status,
            "status_code": code,
            "attempts": attempts,
        }

    def _disable(self, endpoint: str, reason: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(webhook_endpoints.delete().where(webhook_endpoints.c.name == endpoint))
            conn.execute(
                webhook_endpoints.insert().values(
                    name=endpoint, disabled_at_us=to_us(self._clock.now()), reason=reason
                )
            )

    def _record_delivery(
        self,
        endpoint: str,
        message_id: str,
        event_type: str,
        status: str,
        attempts: int,
        code: int | None,
        error: str | None,
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                webhook_deliveries.delete().where(
                    webhook_deliveries.c.key == self._key, webhook_deliveries.c.endpoint == endpoint
                )
            )
            conn.execute(
                webhook_deliveries.insert().values(
                    key=self._key,
                    endpoint=endpoint,
                    message_id=message_id,
                    event_type=event_type,
                    status=status,
                    attempts=attempts,
                    status_code=code,
                    error=error,
                    at_us=to_us(self._clock.now()),
                )
            )

    def visitors_on(
        self, *, page: str | None, funnel_step: str | None, since: datetime, limit: int
    ) -> list[str]:
        """Anonymous ids of the visitors whose latest page (or tracked step) since `since` is
        `page` (or `funnel_step`), at most `limit` of them."""
        kinds = ["page"] if page is not None else ["track"]
        query = (
            sa.select(events.c.anonymous_id, events.c.body)
            .where(
                events.c.timestamp_us >= to_us(since),
                events.c.type.in_(kinds),
                events.c.anonymous_id.is_not(None),
            )
            .order_by(events.c.log_offset)
        )
        latest: dict[str, str | None] = {}
        with self._engine.connect() as conn:
            for anonymous_id, body in conn.execute(query):
                event = decode_event(body)
                if page is not None:
                    latest[anonymous_id] = _path(event.properties, event.context)
                else:
                    latest[anonymous_id] = event.event
        wanted = page if page is not None else funnel_step
        return [visitor for visitor, where in latest.items() if where == wanted][:limit]

    def without_consent(self, visitors: Sequence[str], purpose: str) -> set[str]:
        """The visitors known as a contact without consent to `purpose` (see `ConsentBook`)."""
        return ConsentBook(self._engine).refused(visitors, purpose)

    def live_chat(self) -> LiveChat | None:
        """The website chat, when this Vigie runs one."""
        return self._chat

    def queues(self) -> dict[str, str]:
        """Each agent's queue: `actions.queues` of vigie.yaml, overridden by the moves made."""
        with self._engine.connect() as conn:
            return current_queues(conn, self._settings.queues)

    def move_display(self, display: str, *, to: str, reason: str) -> str | None:
        """Move a promotional display to aisle `to` unless it stands there already; the aisle
        it left (None when it did not move, as on a re-run)."""
        if self._places is None:
            raise ActionError("no sensors part: displays cannot be moved", retryable=False)
        before = self._places.current_aisle(display)
        if before == to:
            return None
        self._places.move_display(display, to=to, by=f"playbook:{self._run_id}", reason=reason)
        return before
