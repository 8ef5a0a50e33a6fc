"""The chat's KPIs (issue 19): first response, resolution, conversion after a chat, against
figures computed by hand and by a brute-force reference on random days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.chat import conversations as chat
from vigie.chat.kpis import ChatKpis
from vigie.events import Event

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
HOURS = 2.0
LUNCH_CAMPAIGN = {"campaign": {"name": "lunch"}}


def _at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


def _chat(
    name: str, cid: str, visitor: str, second: int, props: dict[str, Any], **extra: Any
) -> Event:
    return chat.chat_event(
        name, cid, source="web", anonymous_id=visitor, at=_at(second), properties=props, **extra
    )


def _order(visitor: str, second: int) -> Event:
    return Event(
        message_id=f"o-{visitor}-{second}",
        type="track",
        source="web",
        event="Order Completed",
        anonymous_id=visitor,
        timestamp=_at(second),
        received_at=_at(second),
    )


def _page(visitor: str, second: int) -> Event:
    return Event(
        message_id=f"p-{visitor}-{second}",
        type="page",
        source="web",
        anonymous_id=visitor,
        timestamp=_at(second),
        received_at=_at(second),
        properties={"path": "/"},
    )


def _fold(events: list[Event]) -> dict[str, Any]:
    kpis = ChatKpis(conversion_event="Order Completed", conversion_hours=HOURS)
    ordered = sorted(events, key=lambda e: e.timestamp)
    for offset, event in enumerate(ordered, 1):
        event.offset = offset
    kpis.process(ordered[: len(ordered) // 2])
    kpis.process(ordered)  # at least once: the first half again is skipped
    return kpis.snapshot()


def test_a_small_day_by_hand() -> None:
    """Two chats (one invited), one answered in 30 s and closed as a sale, an order 1 h
    after the invited chat, one visitor who never chatted and bought nothing."""
    events = [
        _chat(chat.STARTED, "c1", "v1", 0, {"invitation_id": 7}, context=LUNCH_CAMPAIGN),
        _chat(chat.MESSAGE, "c1", "v1", 0, {"sender": "visitor", "text": "hi"}),
        _chat(chat.MESSAGE, "c1", "v1", 30, {"sender": "agent", "author": "ana", "text": "hello"}),
        _chat(chat.TAGGED, "c1", "v1", 40, {"tags": ["price"]}),
        _chat(chat.CLOSED, "c1", "v1", 90, {"outcome": "sale"}),
        _chat(chat.STARTED, "c2", "v2", 10, {}),
        _chat(chat.MESSAGE, "c2", "v2", 10, {"sender": "visitor", "text": "allo"}),
        _order("v1", 3600),
        _page("v3", 5),
    ]  # fmt: skip
    figures = _fold(events)
    assert figures["conversations"] == 2
    assert figures["proactive"] == 1
    assert figures["first_response_s_p50"] == 30.0
    assert figures["unanswered"] == 1
    assert figures["closed"] == 1 and figures["resolution_rate"] == 1.0
    assert figures["time_to_close_s_p50"] == 90.0
    assert figures["conversion_after_proactive"] == 1.0
    assert figures["conversion_after_visitor_chat"] == 0.0
    assert figures["visitors_without_chat"] == 1
    assert figures["conversion_without_chat"] == 0.0
    assert figures["objections"] == {"lunch": {"price": 1}}


CHATS = st.lists(
    st.tuples(
        st.sampled_from(["v1", "v2", "v3", "v4"]),  # visitor
        st.integers(0, 20_000),  # start, seconds
        st.booleans(),  # invited
        st.one_of(st.none(), st.integers(0, 600)),  # agent's first answer after
        st.one_of(st.none(), st.sampled_from(["sale", "answered", "no answer"])),
    ),
    max_size=8,
)
ORDERS = st.lists(
    st.tuples(st.sampled_from(["v1", "v2", "v3", "v4", "v5"]), st.integers(0, 30_000)),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(chats=CHATS, orders=ORDERS)
def test_random_days_match_a_brute_force_count(
    chats: list[tuple[str, int, bool, int | None, str | None]], orders: list[tuple[str, int]]
) -> None:
    """Rates and response times equal those counted directly from the day's chats and
    orders (a chat converts when its visitor orders within the window after it starts)."""
    events: list[Event] = []
    for n, (visitor, start, invited, answer, outcome) in enumerate(chats):
        cid = f"c{n}"
        events.append(
            _chat(chat.STARTED, cid, visitor, start, {"invitation_id": n} if invited else {})
        )
        events.append(_chat(chat.MESSAGE, cid, visitor, start, {"sender": "visitor", "text": "q"}))
        if answer is not None:
            events.append(
                _chat(chat.MESSAGE, cid, visitor, start + answer, {"sender": "agent", "text": "a"})
            )
        if outcome is not None:
            events.append(_chat(chat.CLOSED, cid, visitor, start + 700, {"outcome": outcome}))
    events += [_order(v, s) for v, s in orders]
    events.append(_page("v5", 0))
    figures = _fold(events)

    window = HOURS * 3600

    def converts(visitor: str, start: int) -> bool:
        return any(v == visitor and start <= s <= start + window for v, s in orders)

    def rate(selected: list[tuple[str, int, bool, int | None, str | None]]) -> float | None:
        if not selected:
            return None
        return sum(converts(c[0], c[1]) for c in selected) / len(selected)

    answers = sorted(float(c[3]) for c in chats if c[3] is not None)
    closed = [c for c in chats if c[4] is not None]
    chatted = {c[0] for c in chats}
    never = {"v5"} | {v for v, _ in orders}
    never -= chatted
    assert figures["conversations"] == len(chats)
    assert figures["answered"] == len(answers)
    assert figures["unanswered"] == len(chats) - len(answers)
    if answers:
        rank = -(-len(answers) // 2)  # nearest rank, 1-based
        assert figures["first_response_s_p50"] == answers[rank - 1]
    assert figures["closed"] == len(closed)
    assert figures["resolution_rate"] == (
        sum(c[4] != "no answer" for c in closed) / len(closed) if closed else None
    )
    assert figures["conversion_after_proactive"] == rate([c for c in chats if c[2]])
    assert figures["conversion_after_visitor_chat"] == rate([c for c in chats if not c[2]])
    assert figures["visitors_without_chat"] == len(never)
    bought = {v for v, _ in orders}
    assert figures["conversion_without_chat"] == (
        len(never & bought) / len(never) if never else None
    )
