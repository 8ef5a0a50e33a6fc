"""The analytics processor: every projection fed from events, idempotent under replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vigie.analytics import AnalyticsConfig, AnalyticsProcessor
from vigie.analytics.funnels import Funnel, FunnelStep
from vigie.events import Event

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
CONFIG = AnalyticsConfig(
    funnels=[Funnel(name="buy", steps=[FunnelStep(page="/deal"), FunnelStep(event="Paid")])]
)


def _event(n: int, kind: str, **fields: Any) -> Event:
    at = T0 + timedelta(minutes=n)
    return Event(
        message_id=f"m{n}",
        type=kind,
        source="web",
        timestamp=at,
        received_at=at,
        offset=n,
        **fields,
    )


def _stream() -> list[Event]:
    ad = {"campaign": {"name": "spring"}}
    return [
        _event(1, "page", anonymous_id="phone", properties={"path": "/deal"}, context=ad),
        _event(2, "page", anonymous_id="laptop", properties={"path": "/deal"}),
        _event(3, "identify", anonymous_id="laptop", user_id="u1"),
        _event(4, "identify", anonymous_id="phone", user_id="u1"),
        _event(5, "track", anonymous_id="phone", user_id="u1", event="Paid"),
    ]


def test_replayed_events_are_not_counted_twice() -> None:
    """Handing the same batch twice (at-least-once delivery) leaves every figure unchanged."""
    processor = AnalyticsProcessor(CONFIG)
    events = _stream()
    processor.process(events)
    first = processor.funnel_report("buy")
    processor.process(events)
    processor.process(events[2:])
    assert processor.funnel_report("buy") == first
    assert processor.events_seen == len(events)


def test_a_person_on_two_devices_is_one_funnel_visitor() -> None:
    """After both devices identify as u1, the funnel counts u1 once, converted, from the ad."""
    processor = AnalyticsProcessor(CONFIG)
    processor.process(_stream())
    report = processor.funnel_report("buy")
    assert report is not None
    assert [s.visitors for s in report.steps] == [1, 1]
    assert report.by_campaign == {"spring": [1, 1]}
    assert processor.identity.members("u1") == {"u1", "phone", "laptop"}
    assert processor.funnel_report("nope") is None


def test_friction_lists_exit_pages() -> None:
    """The friction report names the pages sessions ended on."""
    processor = AnalyticsProcessor(CONFIG)
    processor.process(_stream())
    pages = processor.friction().pages
    assert [(p.path, p.exits) for p in pages] == [("/deal", 2)]


def test_an_event_counts_for_the_user_it_names_on_a_shared_device() -> None:
    """On a device already linked to ana, an event sent as ben counts for ben."""
    processor = AnalyticsProcessor(CONFIG)
    processor.process(
        [
            _event(1, "identify", anonymous_id="kiosk", user_id="ana"),
            _event(2, "page", anonymous_id="kiosk", user_id="ben", properties={"path": "/deal"}),
        ]
    )
    funnel = processor.funnels["buy"]
    assert funnel.reached("ben") == 1 and funnel.reached("ana") == 0
