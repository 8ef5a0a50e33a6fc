"""Sessionisation: the batch function and the live tracker against a naive reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.analytics.sessions import Hit, SessionRule, SessionTracker, sessionise

START = datetime(2026, 3, 28, 21, 0, tzinfo=UTC)  # spans a DST change in Europe


def _reference(hits: list[Hit], timeout: timedelta, tz: str) -> list[int]:
    """Session number of each hit, computed the obvious way."""
    from zoneinfo import ZoneInfo

    last: dict[str, tuple[datetime, str | None, int]] = {}
    out = []
    for hit in hits:
        previous = last.get(hit.visitor_id)
        if previous is None:
            number, campaign = 1, hit.campaign
        else:
            at, campaign, number = previous
            day_then = at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")
            day_now = hit.at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")
            new = (
                (hit.at - at).total_seconds() > timeout.total_seconds()
                or day_then != day_now
                or (hit.campaign is not None and hit.campaign != campaign)
            )
            if new:
                number, campaign = number + 1, hit.campaign
        last[hit.visitor_id] = (hit.at, campaign, number)
        out.append(number)
    return out


streams = st.lists(
    st.tuples(
        st.sampled_from(["v1", "v2", "v3"]),
        st.integers(min_value=0, max_value=50 * 60),
        st.sampled_from([None, None, None, "spring", "lunch"]),
        st.sampled_from(["page", "track"]),
    ),
    max_size=60,
)


def _hits(raw: list[tuple[str, int, str | None, str]]) -> list[Hit]:
    hits, at = [], START
    for i, (visitor, gap, campaign, kind) in enumerate(raw):
        at = at + timedelta(seconds=gap)
        hits.append(
            Hit(
                at=at, visitor_id=visitor, type=kind, path=f"/p{i % 4}", campaign=campaign, offset=i
            )
        )
    return hits


@settings(max_examples=200, deadline=None)
@given(streams, st.sampled_from(["UTC", "Europe/Brussels", "Pacific/Auckland"]))
def test_sessions_match_the_reference(raw: list[tuple[str, int, str | None, str]], tz: str) -> None:
    """Batch and live sessionisation number every hit as the naive reference does."""
    hits = _hits(raw)
    rule = SessionRule(timeout=timedelta(minutes=30), timezone=tz)
    expected = _reference(hits, rule.timeout, tz)
    tracker = SessionTracker(rule)
    assert [tracker.observe(h).number for h in hits] == expected
    numbered = {(h.visitor_id, h.offset): s.number for s in sessionise(hits, rule) for h in s.hits}
    assert [numbered[(h.visitor_id, h.offset)] for h in hits] == expected


def test_session_summary() -> None:
    """A session reports its entry and exit pages, duration, page count and bounce."""
    rule = SessionRule()
    hits = [
        Hit(at=START, visitor_id="v", type="page", path="/a"),
        Hit(at=START + timedelta(minutes=5), visitor_id="v", type="track", event="Clicked"),
        Hit(at=START + timedelta(minutes=9), visitor_id="v", type="page", path="/b"),
        Hit(at=START + timedelta(hours=2), visitor_id="v", type="page", path="/c"),
    ]
    first, second = sessionise(hits, rule)
    assert (first.entry_page, first.exit_page, first.duration_seconds) == ("/a", "/b", 540.0)
    assert len(first.page_views) == 2 and not first.bounce
    assert second.bounce and second.number == 2


def test_midnight_in_the_site_time_zone_cuts_a_session() -> None:
    """Two hits minutes apart around local midnight fall in two sessions."""
    rule = SessionRule(timezone="Europe/Brussels")
    before = datetime(2026, 6, 1, 21, 55, tzinfo=UTC)  # 23:55 in Brussels
    hits = [
        Hit(at=before, visitor_id="v", type="page", path="/a"),
        Hit(at=before + timedelta(minutes=10), visitor_id="v", type="page", path="/b"),
    ]
    assert [s.number for s in sessionise(hits, rule)] == [1, 2]
    assert len(sessionise(hits, SessionRule(timezone="UTC"))) == 1
