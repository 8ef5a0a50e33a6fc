"""The log's erasure notice: a notice of Vigie's, honoured whatever its type was when logged."""

from __future__ import annotations

from datetime import UTC, datetime

from vigie.events import EVENT_TYPES, Event
from vigie.privacy.erasures import ERASED, SOURCE, ErasureNotices, erased_event

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _forgets(events: list[Event]) -> int:
    calls: list[None] = []
    ErasureNotices(forget=lambda: calls.append(None)).process(events)
    return len(calls)


def test_the_notice_is_no_tracked_event_and_names_nobody() -> None:
    """The notice is of a type no client may send, with no person's id in it."""
    notice = erased_event(at=AT)
    assert notice.type == "notice" and notice.type not in EVENT_TYPES
    assert (notice.user_id, notice.anonymous_id, notice.properties) == (None, None, {})
    assert _forgets([notice]) == 1


def test_an_older_track_notice_replayed_is_still_honoured() -> None:
    """A notice logged as a `track` event before it became a notice still drops the copies;
    the same name from another source does not."""
    older = Event(message_id="e1", type="track", source=SOURCE, event=ERASED,
                  timestamp=AT, received_at=AT)  # fmt: skip
    forged = Event(message_id="e2", type="track", source="web", event=ERASED,
                   timestamp=AT, received_at=AT)  # fmt: skip
    assert _forgets([older]) == 1
    assert _forgets([forged]) == 0
