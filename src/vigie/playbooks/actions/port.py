"""What an action may do to the rest of Vigie (`ActionPort`), and the records it may leave.

The port is bound to one step of one run: every write is made at most once for the step's
idempotency key, so a step re-run after a crash finds what the first attempt did instead of
doing it again. An action never sees the database; a third party's gets the same port.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from vigie.schedule.notifications import NotificationRecord


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """A task for a person or a team ("review the landing page"), due at `due_at` if set."""

    assignee: str
    title: str
    body: str = ""
    due_at: datetime | None = None


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """An offer for a zone, an aisle, a campaign or a segment, from `starts_at` to `ends_at`."""

    scope: Literal["zone", "aisle", "campaign", "segment"]
    target: str
    title: str
    details: dict[str, Any]
    starts_at: datetime
    ends_at: datetime


class PageFlag(msgspec.Struct, frozen=True, kw_only=True):
    """A landing page marked as needing review, with the evidence."""

    page: str
    reason: str
    evidence: dict[str, Any]


class Broadcast(msgspec.Struct, frozen=True, kw_only=True):
    """A spoken message for a zone's loudspeakers, and its WAV file if one was rendered."""

    zone: str
    language: str
    text: str
    wav_path: str | None


class ChatInvitation(msgspec.Struct, frozen=True, kw_only=True):
    """An invitation to chat for one visitor; a step stores one per visitor."""

    anonymous_id: str
    page: str | None
    funnel_step: str | None
    message: str
    expires_at: datetime


class Move(msgspec.Struct, frozen=True, kw_only=True):
    """An agent moved to a queue, or a ticket to a person; a step stores one per subject.
    Moving an agent also makes `after` its current queue (see `ActionPort.queues`)."""

    kind: Literal["agent", "ticket"]
    subject: str
    before: str | None
    after: str


Record = Task | Offer | PageFlag | Broadcast | ChatInvitation | Move
"""What an action may leave in the store, once per step (and per subject, for the kinds a
step stores several of: chat invitations by visitor, moves by kind and subject)."""

R = TypeVar("R", Task, Offer, PageFlag, Broadcast, ChatInvitation, Move)


class Places(Protocol):
    """The physical world as playbooks see it (the sensors part): live crowd counts, the
    displays' relocation advice, and moving a display (which ends its current placement)."""

    def quietest_neighbour(self, zone: str) -> str | None:
        """The neighbour of `zone` with the lowest live density, if any is counted."""
        ...

    def recommended_aisle(self, display: str) -> str | None:
        """The aisle the display should move to, or None (no significant difference)."""
        ...

    def current_aisle(self, display: str) -> str:
        """The aisle the display stands in now."""
        ...

    def move_display(self, display: str, *, to: str, by: str, reason: str = "") -> object:
        """End the display's placement and start one in aisle `to` (audited)."""
        ...


class LiveChat(Protocol):
    """The website chat as a playbook sees it: who is on the site now, who could answer,
    and a way to put an invitation on an open page (implemented by `vigie.chat`)."""

    def present(self, *, page: str | None, limit: int) -> list[str]:
        """Anonymous ids of the visitors with an open widget now, on `page` if given (a
        tolerant pattern: trailing slash, query string and `/lunch-deal/*` all match)."""
        ...

    def can_answer(self) -> list[str]:
        """The agents on duty with the console open."""
        ...

    def deliver(self, invitations: Sequence[tuple[str, int]], *, message: str, run_id: str) -> int:
        """Push each invitation `(anonymous_id, invitation_id)` to that visitor's open
        widgets, in one go (a thousand visitors wake the server once); how many of the
        visitors had a widget open."""
        ...


class ActionPort(Protocol):
    """The one door from an action to Vigie, bound to the step being run."""

    def split(self, units: Sequence[str]) -> list[str]:
        """The units to act on, the step's holdout (if it declares one) left out and
        recorded as the control group."""
        ...

    def once(self, record: Record) -> int:
        """Store `record` unless this step already did; its id, on a re-run the first one's."""
        ...

    def once_each(self, records: Sequence[Record]) -> list[int]:
        """`once` for each record, all or none of the new ones stored (one transaction)."""
        ...

    def recorded(self, kind: type[R]) -> list[R]:
        """The records of `kind` this step stored already, oldest first (none the first time)."""
        ...

    def notify(
        self, *, to: str, subject: str, body: str = "", urgent: bool = False
    ) -> list[NotificationRecord]:
        """Hand a message for a person or a team to the schedule's dispatcher, once per step:
        held while they are off duty, rerouted to whoever is on duty when `urgent`."""
        ...

    def send_event(
        self, *, endpoint: str, type: str, data: Any, subject: str | None = None
    ) -> dict[str, Any]:
        """Deliver a signed CloudEvent to the configured webhook endpoint `endpoint`; a step
        delivers to an endpoint once, and a failed delivery is tried again on a re-run."""
        ...

    def visitors_on(
        self, *, page: str | None, funnel_step: str | None, since: datetime, limit: int
    ) -> list[str]:
        """Anonymous ids of the visitors whose latest page (or tracked step) since `since` is
        `page` (or `funnel_step`), at most `limit` of them."""
        ...

    def without_consent(self, visitors: Sequence[str], purpose: str) -> set[str]:
        """The visitors among `visitors` known as a contact who did not consent to `purpose`
        (`marketing`, `profiling`, `analytics`, `third_parties`): an action leaves them out
        and says so in its result."""
        ...

    def queues(self) -> dict[str, str]:
        """Each agent's queue: `actions.queues` of vigie.yaml, overridden by the moves made."""
        ...

    def move_display(self, display: str, *, to: str, reason: str) -> str | None:
        """Move a promotional display to aisle `to` unless it stands there already; the aisle
        it left (None when it did not move, as on a re-run)."""
        ...

    def live_chat(self) -> LiveChat | None:
        """The website chat, when this Vigie runs one (None for a worker without it)."""
        ...
