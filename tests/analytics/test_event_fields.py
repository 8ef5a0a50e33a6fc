"""The analytics' view of a stored event: the fields it reads, decoded from either format."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from vigie.analytics.event_fields import ObservedContext, ObservedEvent
from vigie.events import Event
from vigie.events.event import decode_event, encode_event

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def _page() -> Event:
    return Event(
        message_id="m1",
        type="page",
        source="web",
        name="Menu",
        anonymous_id="a1",
        timestamp=T0,
        received_at=T0,
        properties={"path": "/menu"},
        traits={"plan": "pro"},
        context={
            "campaign": {"name": "lunch-deal", "source": "newsletter"},
            "page": {"path": "/menu", "referrer": "https://www.google.com/"},
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            "library": {"name": "analytics.js", "version": "next-1.64.0"},
        },
    )


def test_a_stored_event_decodes_to_the_fields_the_analytics_reads() -> None:
    """MessagePack and JSON bodies give the same view; of the context, campaign and page."""
    event = _page()
    expected = ObservedEvent(
        message_id="m1",
        type="page",
        timestamp=T0,
        name="Menu",
        anonymous_id="a1",
        properties={"path": "/menu"},
        context=ObservedContext(
            campaign={"name": "lunch-deal", "source": "newsletter"},
            page={"path": "/menu", "referrer": "https://www.google.com/"},
        ),
    )
    assert decode_event(encode_event(event), ObservedEvent) == expected
    assert decode_event(msgspec.json.encode(event), ObservedEvent) == expected


def test_the_context_reads_as_the_dict_it_came_from() -> None:
    """get() answers for campaign and page as the context's dict does; nothing else is kept."""
    whole = _page().context
    seen = decode_event(encode_event(_page()), ObservedEvent).context
    assert seen.get("campaign") == whole["campaign"]
    assert seen.get("page") == whole["page"]
    assert seen.get("userAgent") is None
    assert ObservedContext().get("campaign") is None
