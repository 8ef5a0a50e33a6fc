"""The `chat` section of vigie.yaml: who answers, the limits a visitor's input must respect."""

from __future__ import annotations

import msgspec


class ChatConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Who answers the website chat and the limits of the visitors' input."""

    agents: list[str] = []
    """The schedule's people who answer chats; a team name brings its members."""
    max_message_chars: int = 2000
    """A longer message is refused (HTTP 413) and nothing is stored."""
    visitor_messages_per_minute: int = 20
    """Per visitor; more gets HTTP 429 with Retry-After."""
    source_messages_per_minute: int = 600
    """Per source (one site), all its visitors together."""
    offline_response_minutes: int = 60
    """An offline form's ticket is due this long after the next working period starts."""
    invitation_session_minutes: int = 30
    """A visitor who closes an invitation is not invited again for this long."""
    canned_answers: dict[str, dict[str, str]] = {}
    """Named answers in each language, `{"delivery": {"fr": "…", "en": "…"}}`."""
    conversion_event: str = "Order Completed"
    """The event that counts as a conversion in the chat's KPIs (conversion after a chat)."""
    conversion_hours: float = 24.0
    """A conversion counts for a chat when it comes at most this long after the chat started."""
