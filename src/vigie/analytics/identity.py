"""Identity stitching: anonymous visitor ids (devices, browsers) merged into one profile.

A profile is named by its user id once one is known, else by the visitor id itself.
`identify` (or any event carrying both ids, as after a login) links the anonymous id to the
user; `alias` merges the previous id's whole profile into the user's. Every merge is
recorded: when, why, from which ids. A device that already belongs to one user and is
identified as another (a shared computer) is not merged: two people stay two profiles.

The CRM part links its contact to the profile id (the user id) when it sees the identify.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from vigie.analytics.event_fields import AnyEvent
from vigie.store.schema import events, metadata
from vigie.types import from_us, to_us

identities = sa.Table(
    "analytics_identities",
    metadata,
    sa.Column("visitor_id", sa.String(200), primary_key=True),
    sa.Column("profile_id", sa.String(200), nullable=False, index=True),
    sa.Column("linked_at_us", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("log_offset", sa.BigInteger, nullable=False),
)

merges = sa.Table(
    "analytics_merges",
    metadata,
    sa.Column("log_offset", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("profile_id", sa.String(200), nullable=False, index=True),
    sa.Column("merged_ids", sa.Text, nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.String(200), nullable=False),
)


class Merge(msgspec.Struct, kw_only=True):
    """One identity merge: the ids folded into `profile_id`, when, why, by which event."""

    profile_id: str
    merged_ids: list[str]
    previous_profile: str
    reason: str
    at: datetime
    message_id: str
    offset: int


class IdentityGraph:
    """Which profile every visitor id belongs to, kept in memory one event at a time."""

    def __init__(self) -> None:
        self._profile: dict[str, str] = {}
        self._members: dict[str, set[str]] = {}
        self._users: set[str] = set()

    def profile_of(self, visitor_id: str) -> str:
        """The profile id of `visitor_id` (itself when never linked)."""
        return self._profile.get(visitor_id, visitor_id)

    def members(self, profile_id: str) -> set[str]:
        """Every id folded into `profile_id`, itself included."""
        return self._members.get(profile_id, {profile_id}) | {profile_id}

    def profiles(self) -> Iterator[tuple[str, set[str]]]:
        """Every profile that has merged ids, with its members."""
        for profile_id, members in self._members.items():
            yield profile_id, members | {profile_id}

    def observe(self, event: AnyEvent) -> Merge | None:
        """Link the ids an event carries; return the merge it caused, if any."""
        if event.type == "alias" and event.previous_id and event.user_id:
            return self._link(event.previous_id, event.user_id, "alias", event, force=True)
        if event.user_id:
            self._users.add(event.user_id)
            if event.anonymous_id and event.anonymous_id != event.user_id:
                reason = "identify" if event.type == "identify" else "login"
                return self._link(event.anonymous_id, event.user_id, reason, event, force=False)
        return None

    def _link(
        self, visitor: str, user: str, reason: str, event: AnyEvent, *, force: bool
    ) -> Merge | None:
        source = self.profile_of(visitor)
        target = self.profile_of(user)
        if source == target:
            return None
        if not force and source in self._users:
            return None
        moved = self._members.pop(source, {source}) | {source}
        for member in moved:
            self._profile[member] = target
        self._members.setdefault(target, {target}).update(moved)
        self._users.add(user)
        return Merge(
            profile_id=target,
            merged_ids=sorted(moved),
            previous_profile=source,
            reason=reason,
            at=event.timestamp,
            message_id=event.message_id,
            offset=event.offset or 0,
        )


def save_merges(conn: sa.Connection, found: Sequence[Merge]) -> None:
    """Record merges and the visitor -> profile links they set; replays change nothing."""
    if not found:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    links: dict[str, dict[str, object]] = {}
    rows = []
    for merge in found:
        rows.append(
            {
                "log_offset": merge.offset,
                "profile_id": merge.profile_id,
                "merged_ids": json.dumps(merge.merged_ids),
                "reason": merge.reason,
                "at_us": to_us(merge.at),
                "message_id": merge.message_id,
            }
        )
        for member in merge.merged_ids:
            links[member] = {
                "visitor_id": member,
                "profile_id": merge.profile_id,
                "linked_at_us": to_us(merge.at),
                "reason": merge.reason,
                "log_offset": merge.offset,
            }
    conn.execute(insert(merges).on_conflict_do_nothing(index_elements=["log_offset"]), rows)
    statement = insert(identities)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["visitor_id"],
            set_={
                "profile_id": statement.excluded.profile_id,
                "linked_at_us": statement.excluded.linked_at_us,
                "reason": statement.excluded.reason,
                "log_offset": statement.excluded.log_offset,
            },
            where=identities.c.log_offset <= statement.excluded.log_offset,
        ),
        list(links.values()),
    )


class ProfileRecord(msgspec.Struct, kw_only=True):
    """A profile as stored: its id, every visitor id folded into it, the merges."""

    profile_id: str
    visitor_ids: list[str]
    merges: list[dict[str, object]]


def stored_id(conn: sa.Connection, asked: str, pseudonym: str) -> str:
    """The id the store knows `asked` by: its `pseudonym` (with pseudonymised visitor ids)
    when a visitor was seen under it, else `asked` itself (a user id, never pseudonymised,
    or an id stored as it was sent)."""
    if pseudonym == asked:
        return asked
    seen = conn.execute(
        sa.select(
            sa.or_(
                sa.exists().where(identities.c.visitor_id == pseudonym),
                sa.exists().where(events.c.anonymous_id == pseudonym),
            )
        )
    ).scalar()
    return pseudonym if seen else asked


def load_profile(conn: sa.Connection, visitor_id: str) -> ProfileRecord:
    """The profile `visitor_id` belongs to (a user id, or an anonymous id)."""
    profile_id = (
        conn.execute(
            sa.select(identities.c.profile_id).where(identities.c.visitor_id == visitor_id)
        ).scalar()
        or visitor_id
    )
    ids = {profile_id}
    ids.update(
        conn.execute(
            sa.select(identities.c.visitor_id).where(identities.c.profile_id == profile_id)
        ).scalars()
    )
    records = [
        {
            "at": from_us(row.at_us),
            "reason": row.reason,
            "merged_ids": json.loads(row.merged_ids),
            "message_id": row.message_id,
            "offset": row.log_offset,
        }
        for row in conn.execute(
            sa.select(merges).where(merges.c.profile_id.in_(ids)).order_by(merges.c.log_offset)
        )
    ]
    return ProfileRecord(profile_id=profile_id, visitor_ids=sorted(ids), merges=records)
