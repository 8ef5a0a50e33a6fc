"""The router hands trackers what feeding them every event would count (issue 20: the
per-device silence rules made each RFID read cost one filter per reader)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.events import Event
from vigie.rules.conditions import AbsenceTracker
from vigie.rules.definitions import Rule
from vigie.rules.routing import Router

EPOCH = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
DEVICES = st.one_of(
    st.sampled_from(["r1", "r2", "r3", "7"]), st.integers(0, 9), st.none(), st.booleans()
)
WHERES = st.fixed_dictionaries(
    {},
    optional={
        "source": st.sampled_from(["sensors", "web"]),
        "properties.device": st.one_of(DEVICES, st.lists(DEVICES, min_size=1, max_size=3)),
        "event": st.sampled_from(["RFID Read", "Door Count"]),
        "aisle": st.sampled_from(["a1", "a2"]),
    },
)


class Recorder:
    """A tracker that remembers what it was fed, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def feed(self, events: Iterable[Event]) -> None:
        """Note the events' ids."""
        self.seen += [e.message_id for e in events]


def _event(n: int, device: Any, source: str, name: str, aisle: str) -> Event:
    at = EPOCH + timedelta(seconds=n)
    properties = {} if device == "absent" else {"device": device}
    return Event(
        message_id=f"m{n}",
        type="sensor",
        source=source,
        event=name,
        timestamp=at,
        received_at=at,
        aisle=aisle,
        properties=properties,
        offset=n + 1,
    )


EVENTS = st.lists(
    st.tuples(
        st.one_of(DEVICES, st.just("absent"), st.floats(0, 9, allow_nan=False)),
        st.sampled_from(["sensors", "web"]),
        st.sampled_from(["RFID Read", "Door Count"]),
        st.sampled_from(["a1", "a2"]),
    ),
    max_size=40,
)


def _rule(i: int, where: dict[str, Any]) -> Rule:
    return Rule(name=f"r{i}", kind="absence", where=where, silence="5m")


@settings(max_examples=300, deadline=None)
@given(wheres=st.lists(WHERES, min_size=1, max_size=6), stream=EVENTS)
def test_routed_trackers_count_what_every_event_would(
    wheres: list[dict[str, Any]], stream: list[tuple[Any, str, str, str]]
) -> None:
    """Each absence tracker fed through the router notes the same groups at the same times
    as one fed every event (values compared as `Filter` does: as given and as text)."""
    events = [_event(n, *item) for n, item in enumerate(stream)]
    started = 0
    plain = [AbsenceTracker(_rule(i, w), started_us=started) for i, w in enumerate(wheres)]
    routed = [AbsenceTracker(_rule(i, w), started_us=started) for i, w in enumerate(wheres)]
    for tracker in plain:
        tracker.feed(events)
    router = Router([(t, w) for t, w in zip(routed, wheres, strict=True)])
    # In two batches, as the processors hand them.
    router.feed(events[: len(events) // 2])
    router.feed(events[len(events) // 2 :])
    assert [t.last_seen for t in routed] == [t.last_seen for t in plain]


@settings(max_examples=200, deadline=None)
@given(wheres=st.lists(WHERES, min_size=1, max_size=6), stream=EVENTS)
def test_a_tracker_sees_its_events_once_and_in_order(
    wheres: list[dict[str, Any]], stream: list[tuple[Any, str, str, str]]
) -> None:
    """A routed tracker is handed a subsequence of the events, each at most once."""
    events = [_event(n, *item) for n, item in enumerate(stream)]
    trackers = [Recorder() for _ in wheres]
    Router([(t, w) for t, w in zip(trackers, wheres, strict=True)]).feed(events)
    order = [e.message_id for e in events]
    for tracker in trackers:
        assert len(set(tracker.seen)) == len(tracker.seen)
        assert tracker.seen == [m for m in order if m in set(tracker.seen)]


def test_the_device_field_is_indexed_not_the_shared_source() -> None:
    """With one silence rule per device, a read reaches only its device's tracker."""
    wheres = [{"source": "sensors", "properties.device": f"reader-{i}"} for i in range(20)]
    trackers = [Recorder() for _ in wheres]
    router = Router([(t, w) for t, w in zip(trackers, wheres, strict=True)])
    assert router.path == "properties.device"
    router.feed([_event(0, "reader-3", "sensors", "RFID Read", "a1")])
    assert [len(t.seen) for t in trackers] == [1 if i == 3 else 0 for i in range(20)]
