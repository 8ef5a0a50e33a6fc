"""The chat's KPIs, folded live from the log: how fast agents answer, how conversations end,
and whether visitors buy after a chat (proactive or not) against visitors who never chatted.

A `vigie.log.Processor` (idempotent per offset), rebuilt from the start of the log when the
system starts, as the shop's state is. Pure: events in, figures out; time is event time.

- **First response**: from a conversation's first visitor message to its first agent
  message (seconds; conversations still unanswered are counted apart).
- **Resolution**: the share of closed conversations whose outcome is not "no answer", and
  the time from start to close.
- **Conversion after chat**: a visitor converts after a chat when a `conversion_event`
  (default `Order Completed`) of theirs comes at most `conversion_hours` after the chat
  started; split into chats the visitor opened and chats that followed an invitation. The
  comparison is the visitors seen on the site who never chatted and converted.
- **Objections per campaign**: the tags agents put on conversations, by campaign.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vigie.chat.conversations import CLOSED, MESSAGE, STARTED, TAGGED, conversation_of
from vigie.events import Event
from vigie.types import Micros, to_us

UNRESOLVED = frozenset({"no answer"})
"""Outcomes that do not count as resolved."""
NO_CAMPAIGN = "(none)"


@dataclass
class _Chat:
    anonymous_id: str
    started_us: Micros
    proactive: bool
    campaign: str
    first_visitor_us: Micros | None = None
    first_agent_us: Micros | None = None
    closed_us: Micros | None = None
    outcome: str | None = None
    tags: set[str] = field(default_factory=set)
    converted: bool = False


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile of `values` by the nearest rank (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class ChatKpis:
    """Live chat KPIs from the log's chat and conversion events."""

    name = "chat-kpis"

    def __init__(self, *, conversion_event: str, conversion_hours: float) -> None:
        self.conversion_event = conversion_event
        self.window_us = int(conversion_hours * 3_600_000_000)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything (the log is replayed from its start after this)."""
        self._last_offset = 0
        self._chats: dict[str, _Chat] = {}
        self._by_visitor: dict[str, list[_Chat]] = defaultdict(list)
        self._visitors: set[str] = set()
        self._converted: set[str] = set()

    def process(self, events: Sequence[Event]) -> None:
        """Fold a batch of events (those at or below the last offset seen are skipped)."""
        with self._lock:
            for event in events:
                offset = event.offset or 0
                if offset and offset <= self._last_offset:
                    continue
                self._last_offset = max(self._last_offset, offset)
                self._fold(event)

    def _fold(self, event: Event) -> None:
        cid = conversation_of(event)
        if cid is not None:
            self._fold_chat(cid, event)
            return
        visitor = event.anonymous_id
        if not visitor or event.type not in ("track", "page", "screen"):
            return
        self._visitors.add(visitor)
        if event.type == "track" and event.event == self.conversion_event:
            self._converted.add(visitor)
            at = to_us(event.timestamp)
            for chat in self._by_visitor.get(visitor, ()):
                if chat.started_us <= at <= chat.started_us + self.window_us:
                    chat.converted = True

    def _fold_chat(self, cid: str, event: Event) -> None:
        at = to_us(event.timestamp)
        props = event.properties
        if event.event == STARTED:
            if cid in self._chats:
                return
            campaign = event.context.get("campaign")
            name = campaign.get("name") if isinstance(campaign, dict) else None
            started = _Chat(
                anonymous_id=event.anonymous_id or "",
                started_us=at,
                proactive=isinstance(props.get("invitation_id"), int),
                campaign=str(name) if name else NO_CAMPAIGN,
            )
            self._chats[cid] = started
            self._by_visitor[started.anonymous_id].append(started)
            return
        chat = self._chats.get(cid)
        if chat is None:
            return
        if event.event == MESSAGE:
            if props.get("sender") == "agent":
                if chat.first_agent_us is None:
                    chat.first_agent_us = at
            elif chat.first_visitor_us is None:
                chat.first_visitor_us = at
        elif event.event == TAGGED and isinstance(props.get("tags"), list):
            chat.tags |= {str(t) for t in props["tags"]}
        elif event.event == CLOSED and chat.closed_us is None:
            chat.closed_us = at
            outcome = props.get("outcome")
            chat.outcome = outcome if isinstance(outcome, str) else None

    def snapshot(self) -> dict[str, Any]:
        """The KPIs now: counts, rates (0 to 1, None without data) and durations (seconds)."""
        with self._lock:
            chats = list(self._chats.values())
            chatted = set(self._by_visitor)
            without = self._visitors - chatted
            converted_without = len(without & self._converted)
        responses = [
            (c.first_agent_us - c.first_visitor_us) / 1e6
            for c in chats
            if c.first_agent_us is not None
            and c.first_visitor_us is not None
            and c.first_agent_us >= c.first_visitor_us
        ]
        unanswered = sum(
            1 for c in chats if c.first_agent_us is None and c.first_visitor_us is not None
        )
        closed = [c for c in chats if c.closed_us is not None]
        resolved = [c for c in closed if c.outcome not in UNRESOLVED]
        durations = [(c.closed_us - c.started_us) / 1e6 for c in closed if c.closed_us]
        proactive = [c for c in chats if c.proactive]
        reactive = [c for c in chats if not c.proactive]
        objections: dict[str, Counter[str]] = defaultdict(Counter)
        for c in chats:
            objections[c.campaign].update(c.tags)
        return {
            "conversations": len(chats),
            "proactive": len(proactive),
            "open": len(chats) - len(closed),
            "first_response_s_p50": percentile(responses, 0.5),
            "first_response_s_p90": percentile(responses, 0.9),
            "answered": len(responses),
            "unanswered": unanswered,
            "closed": len(closed),
            "resolved": len(resolved),
            "resolution_rate": _rate(len(resolved), len(closed)),
            "time_to_close_s_p50": percentile(durations, 0.5),
            "conversion_window_hours": self.window_us / 3_600_000_000,
            "conversion_event": self.conversion_event,
            "conversion_after_proactive": _rate(
                sum(c.converted for c in proactive), len(proactive)
            ),
            "conversion_after_visitor_chat": _rate(
                sum(c.converted for c in reactive), len(reactive)
            ),
            "visitors_without_chat": len(without),
            "conversion_without_chat": _rate(converted_without, len(without)),
            "objections": {
                campaign: dict(counts.most_common())
                for campaign, counts in sorted(objections.items())
                if counts
            },
        }
