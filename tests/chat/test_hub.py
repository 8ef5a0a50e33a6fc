"""The hub's pushes to agents' consoles."""

from __future__ import annotations

from vigie.chat.hub import ChatHub, Connection


def _drained(connection: Connection) -> list[str]:
    out = []
    while not connection.outbox.empty():
        message = connection.outbox.get_nowait()
        assert message is not None
        out.append(message)
    return out


def test_a_taken_conversation_reaches_its_agent_and_the_desk_not_other_salespeople() -> None:
    """Issue 17: what is said in a conversation sam has taken reaches sam's console and the
    consoles that see every chat, not another salesperson's own-only console; a message
    about no one's conversation reaches every console."""
    hub = ChatHub()
    sam = hub.connect_agent("sam", own_only=True)
    sue = hub.connect_agent("sue", own_only=True)
    ana = hub.connect_agent("ana")
    hub.to_agents({"type": "message", "text": "mon adresse"}, owner="sam")
    assert [len(_drained(c)) for c in (sam, sue, ana)] == [1, 0, 1]
    hub.to_agents({"type": "conversation", "text": "new"})
    assert [len(_drained(c)) for c in (sam, sue, ana)] == [1, 1, 1]


def test_a_conversation_taken_is_withdrawn_from_other_salespeoples_consoles() -> None:
    """A conversation sam takes is withdrawn from the own-only consoles of everyone else
    (sue's), not from sam's nor from the consoles that see every chat, and the notice names
    only the conversation."""
    hub = ChatHub()
    sam = hub.connect_agent("sam", own_only=True)
    sue = hub.connect_agent("sue", own_only=True)
    ana = hub.connect_agent("ana")
    hub.withdraw("c-1", owner="sam")
    assert [_drained(c) for c in (sam, ana)] == [[], []]
    assert _drained(sue) == ['{"type":"withdrawn","conversation_id":"c-1"}']
