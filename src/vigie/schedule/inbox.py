"""The dashboard's inbox: each person's notifications, held and delivered, read or not.

The `app` channel needs no sender: a notification stored for a person is in their inbox.
What is held shows as held (with the time it will be delivered); what is being sent shows as
such, not as held; what was delivered shows as unread until the person opens it. Digests are
not listed again: the messages they merged are, each marked as delivered in the digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import msgspec
import sqlalchemy as sa

from vigie.clock import Clock
from vigie.schedule.notifications import notifications
from vigie.schedule.schedules import ScheduleConfig
from vigie.store.schema import metadata
from vigie.types import from_us, to_us

inbox_reads = sa.Table(
    "inbox_reads",
    metadata,
    sa.Column("notification_id", sa.BigInteger, primary_key=True),
    sa.Column("person", sa.String(200), nullable=False),
    sa.Column("read_at_us", sa.BigInteger, nullable=False),
)

_SHOWN = ("held", "sending", "delivered", "digested")
_STATES: dict[str, Literal["held", "sending", "delivered"]] = {
    "held": "held",
    "sending": "sending",
    "delivered": "delivered",
    "digested": "delivered",
}
_WITH_READS = notifications.outerjoin(
    inbox_reads, inbox_reads.c.notification_id == notifications.c.id
)


class InboxItem(msgspec.Struct, kw_only=True):
    """One notification as its recipient sees it in the inbox."""

    id: int
    subject: str
    body: str
    urgent: bool
    state: Literal["held", "sending", "delivered"]
    created_at: datetime
    hold_until: datetime | None
    delivered_at: datetime | None
    read: bool


class InboxView(msgspec.Struct, kw_only=True):
    """A person's inbox: `person` is None when the signed-in user is nobody of schedule:."""

    person: str | None
    language: str | None
    unread: int
    held: int
    items: list[InboxItem]


class Inbox:
    """Reads a person's inbox and marks its notifications read."""

    def __init__(self, *, engine: sa.Engine, config: ScheduleConfig, clock: Clock) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock

    def view(self, username: str, *, limit: int = 50) -> InboxView:
        """The inbox of the person whose dashboard user is `username`, newest first."""
        person = self._config.person_of_user(username)
        if person is None:
            return InboxView(person=None, language=None, unread=0, held=0, items=[])
        c = notifications.c
        mine = sa.and_(
            c.recipient == person.name, c.status.in_(_SHOWN), sa.not_(c.key.like("digest/%"))
        )
        query = (
            sa.select(c.id, c.subject, c.body, c.urgent, c.status, c.created_at_us)
            .add_columns(c.hold_until_us, c.delivered_at_us, inbox_reads.c.read_at_us)
            .select_from(_WITH_READS)
            .where(mine)
            .order_by(c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            unread, held = self._counts(conn, mine)
        items = [
            InboxItem(
                id=row.id,
                subject=row.subject,
                body=row.body,
                urgent=row.urgent,
                state=_STATES[row.status],
                created_at=from_us(row.created_at_us),
                hold_until=from_us(row.hold_until_us) if row.hold_until_us else None,
                delivered_at=from_us(row.delivered_at_us) if row.delivered_at_us else None,
                read=row.read_at_us is not None,
            )
            for row in rows
        ]
        return InboxView(
            person=person.name, language=person.language, unread=unread, held=held, items=items
        )

    def counts(self, username: str) -> tuple[int, int]:
        """(unread, held) for the person whose user is `username`; (0, 0) for nobody."""
        person = self._config.person_of_user(username)
        if person is None:
            return 0, 0
        c = notifications.c
        mine = sa.and_(
            c.recipient == person.name, c.status.in_(_SHOWN), sa.not_(c.key.like("digest/%"))
        )
        with self._engine.connect() as conn:
            return self._counts(conn, mine)

    @staticmethod
    def _counts(conn: sa.Connection, mine: sa.ColumnElement[bool]) -> tuple[int, int]:
        c = notifications.c
        delivered = c.status.in_(("delivered", "digested"))
        row = conn.execute(
            sa.select(
                sa.func.count().filter(delivered, inbox_reads.c.read_at_us.is_(None)),
                sa.func.count().filter(c.status == "held"),
            )
            .select_from(_WITH_READS)
            .where(mine)
        ).one()
        return int(row[0]), int(row[1])

    def mark_read(self, username: str, ids: Sequence[int]) -> int:
        """Mark the delivered notifications `ids` of this user's person read; returns how
        many were newly marked (others' notifications and held ones are left alone)."""
        person = self._config.person_of_user(username)
        if person is None or not ids:
            return 0
        c = notifications.c
        now = to_us(self._clock.now())
        with self._engine.begin() as conn:
            own = conn.execute(
                sa.select(c.id).where(
                    c.id.in_(list(ids)),
                    c.recipient == person.name,
                    c.status.in_(("delivered", "digested")),
                )
            ).scalars()
            done = set(
                conn.execute(
                    sa.select(inbox_reads.c.notification_id).where(
                        inbox_reads.c.notification_id.in_(list(ids))
                    )
                ).scalars()
            )
            fresh = [i for i in own if i not in done]
            if fresh:
                conn.execute(
                    inbox_reads.insert(),
                    [
                        {"notification_id": i, "person": person.name, "read_at_us": now}
                        for i in fresh
                    ],
                )
        return len(fresh)
