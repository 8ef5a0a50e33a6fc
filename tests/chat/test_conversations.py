"""The fold that rebuilds a conversation from its events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.chat import conversations as chat

T0 = datetime(2026, 5, 4, 12, 20, tzinfo=UTC)


def _events() -> list[chat.Event]:
    common = {"source": "web", "anonymous_id": "v1"}
    events = [
        chat.chat_event(
            chat.STARTED,
            "c1",
            at=T0,
            properties={"visitor_key": "k", "page": "/checkout"},
            context={"campaign": {"name": "lunch-deal"}},
            **common,
        ),
        chat.chat_event(
            chat.MESSAGE,
            "c1",
            at=T0,
            properties={"sender": "visitor", "text": "<b>help</b>"},
            **common,
        ),
        chat.chat_event(
            chat.MESSAGE,
            "c1",
            at=T0 + timedelta(seconds=5),
            properties={"sender": "agent", "author": "ana", "text": "Hello"},
            **common,
        ),
        chat.chat_event(
            chat.TAGGED, "c1", at=T0, properties={"tags": ["bug at checkout"]}, **common
        ),
        chat.chat_event(
            chat.CLOSED,
            "c1",
            at=T0 + timedelta(minutes=1),
            properties={"outcome": "bug reported"},
            **common,
        ),
    ]
    for offset, event in enumerate(events, start=1):
        event.offset = offset
    return events


def test_the_fold_rebuilds_the_conversation() -> None:
    """Messages in order (HTML kept as text), first replying agent owns it, tags, outcome."""
    conversation = None
    for event in _events():
        conversation = chat.fold(conversation, event)
    assert conversation is not None
    assert [m.text for m in conversation.messages] == ["<b>help</b>", "Hello"]
    assert conversation.owner == "ana"
    assert conversation.tags == ["bug at checkout"]
    assert (conversation.status, conversation.outcome) == ("closed", "bug reported")
    assert conversation.campaign == {"name": "lunch-deal"}
    assert "12:20 ana: Hello" in conversation.transcript()
    assert "visitor_key" not in conversation.describe()


def test_an_event_applied_twice_changes_nothing() -> None:
    """Delivery is at least once: the same offset again is a no-op."""
    events = _events()
    conversation = None
    for event in [*events[:3], events[1], events[2]]:
        conversation = chat.fold(conversation, event)
    assert conversation is not None and len(conversation.messages) == 2


def test_events_of_a_conversation_never_started_are_ignored() -> None:
    """A message for an unknown conversation folds into nothing."""
    assert chat.fold(None, _events()[1]) is None


def test_an_event_naming_the_visitor_an_erasure_replaced_is_left_out() -> None:
    """A message sent from a copy held before the visitor's erasure (it names their old
    id, the conversation their token) adds no text, but its offset is counted as read."""
    events = _events()
    conversation = None
    for event in events[:2]:
        conversation = chat.fold(conversation, event)
    assert conversation is not None
    conversation.anonymous_id = "erased-1f2e"
    late = events[2]
    conversation = chat.fold(conversation, late)
    assert conversation is not None
    assert [m.text for m in conversation.messages] == ["<b>help</b>"]
    assert conversation.owner is None and conversation.version == late.offset
