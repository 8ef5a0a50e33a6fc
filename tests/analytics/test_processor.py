"""The analytics processor: every projection fed from events, idempotent under replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.analytics import AnalyticsConfig, AnalyticsProcessor
from vigie.analytics.campaigns import Campaign, Schedule
from vigie.analytics.event_fields import ObservedEvent
from vigie.analytics.funnels import Funnel, FunnelStep
from vigie.events import Event
from vigie.events.event import decode_events, encode_event

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


RICH = AnalyticsConfig(
    timezone="Europe/Brussels",
    funnels=[
        Funnel(name="buy", steps=[FunnelStep(page="/deal"), FunnelStep(event="Paid")]),
        Funnel(
            name="shop",
            steps=[
                FunnelStep(page="/shop/*"),
                FunnelStep(event="Added", where={"sku": "s1"}),
                FunnelStep(event="Paid"),
            ],
            window_minutes=20,
            slot_minutes=15,
        ),
    ],
    campaigns=[
        Campaign(
            name="lunch",
            utm_campaign="lunch-deal",
            schedule=Schedule(start="10:00", end="14:00", timezone="Europe/Brussels"),
        ),
        Campaign(name="spring", utm_id="spring"),
    ],
)

_streams = st.lists(
    st.tuples(
        st.sampled_from(["page", "track", "identify", "alias", "screen", "group"]),
        st.sampled_from(["a", "b", "c", None]),
        st.sampled_from(["u1", "u2", None]),
        st.sampled_from(["/deal", "/shop/1", "/a", "Added", "Paid", "Other"]),
        st.sampled_from([None, "lunch-deal", "spring"]),
        st.booleans(),
        st.integers(min_value=0, max_value=50),
    ),
    max_size=40,
)


def _rich_events(
    raw: list[tuple[str, str | None, str | None, str, str | None, bool, int]],
) -> list[Event]:
    events = []
    at = T0
    for n, (kind, device, user, what, campaign, flag, gap) in enumerate(raw, start=1):
        at += timedelta(minutes=gap)
        fields: dict[str, Any] = {"anonymous_id": device, "user_id": user}
        if kind == "alias":
            fields["previous_id"] = device
        # A browser's context: the analytics reads the campaign and the page, nothing else.
        context: dict[str, Any] = {"userAgent": "Mozilla/5.0", "locale": "fr-BE"} if flag else {}
        if campaign is not None:
            context["campaign"] = {"name": campaign} if gap % 2 else {"id": campaign}
        if what.startswith("/"):
            fields["properties"] = {"path": what} if flag else {}
            context["page"] = {"path": what, "title": what.upper(), "referrer": "https://g/"}
        else:
            fields["event"] = what
            fields["properties"] = {"sku": "s1" if flag else "s2"}
        fields["traits"] = {"plan": "pro"} if flag else {}
        fields["context"] = context
        events.append(_event(n, kind, **fields))
    return events


def _figures(processor: AnalyticsProcessor) -> list[Any]:
    return [
        processor.funnel_report("buy", dropped_limit=100),
        processor.funnel_report("shop", dropped_limit=100),
        processor.funnel_report("shop", campaign="lunch", dropped_limit=100),
        processor.friction(limit=100),
        processor.campaign_slots("lunch"),
        sorted((p, sorted(m)) for p, m in processor.identity.profiles()),
        processor.events_seen,
    ]


@settings(max_examples=150, deadline=None)
@given(_streams, st.integers(min_value=1, max_value=10))
def test_observed_fields_give_the_same_figures_as_whole_events(
    raw: list[tuple[str, str | None, str | None, str, str | None, bool, int]], batch: int
) -> None:
    """Fed the observed fields decoded from the stored bodies, every figure is unchanged."""
    events = _rich_events(raw)
    observed = decode_events([encode_event(e) for e in events], ObservedEvent)
    for seen, event in zip(observed, events, strict=True):
        seen.offset = event.offset
    whole, light = AnalyticsProcessor(RICH), AnalyticsProcessor(RICH)
    for start in range(0, len(events), batch):
        whole.process(events[start : start + batch])
        light.process(observed[start : start + batch])
    assert _figures(light) == _figures(whole)


def test_a_batch_retried_after_a_failure_counts_each_event_once() -> None:
    """When an event fails mid-batch, the retried batch skips the events already counted."""
    processor = AnalyticsProcessor(CONFIG)
    events = _stream()
    observe = processor.sessions.observe
    failures = [5]

    def flaky(hit: Any) -> Any:
        if hit.offset in failures:
            failures.clear()
            raise RuntimeError("projection store unavailable")
        return observe(hit)

    processor.sessions.observe = flaky  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        processor.process(events)
    assert processor.last_offset == 4 and processor.events_seen == 5
    processor.process(events)
    whole = AnalyticsProcessor(CONFIG)
    whole.process(events)
    assert processor.funnel_report("buy") == whole.funnel_report("buy")
    assert processor.last_offset == whole.last_offset == 5
    assert processor.events_seen == 6  # the failed event was seen twice
