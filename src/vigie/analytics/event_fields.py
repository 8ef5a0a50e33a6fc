"""The fields of an event the analytics projections read, and nothing else.

The processor runner decodes each stored event for the analytics processor as an
`ObservedEvent` rather than a whole `Event`: the fields below are the ones sessions,
identity, funnels, campaign slots and friction use; the others (source, arrival time,
traits, sensor fields …) are skipped while decoding, which is faster. Of the context only
the campaign and the page are kept: a browser's context (library, user agent, screen,
locale …) is often the largest part of an event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from vigie.events import Event


class ObservedContext(msgspec.Struct, frozen=True, gc=False):
    """An event's `context` as the analytics reads it: its `campaign` and `page` entries."""

    campaign: Any = None
    page: Any = None

    def get(self, key: str) -> Any:
        """`campaign` or `page` (None when absent), read as from the context's dict."""
        if key == "campaign":
            return self.campaign
        if key == "page":
            return self.page
        return None


class ObservedEvent(msgspec.Struct, kw_only=True, gc=False):
    """An event as the analytics sees it: `Event`'s fields of the same names and types."""

    message_id: str
    type: str
    timestamp: datetime
    event: str | None = None
    name: str | None = None
    anonymous_id: str | None = None
    user_id: str | None = None
    previous_id: str | None = None
    properties: dict[str, Any] = {}
    context: ObservedContext = ObservedContext()
    offset: int | None = None


AnyEvent = Event | ObservedEvent
"""What the analytics accepts: a whole event (journeys, tests) or the observed fields."""
