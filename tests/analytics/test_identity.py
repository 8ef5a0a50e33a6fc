"""Identity stitching: anonymous ids merged into profiles, merges recorded in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from vigie.analytics.identity import IdentityGraph, load_profile, save_merges
from vigie.events import Event

T0 = datetime(2026, 5, 5, 13, 0, tzinfo=UTC)


def _event(n: int, kind: str, **fields: str) -> Event:
    at = T0 + timedelta(minutes=n)
    return Event(
        message_id=f"m{n}",
        type=kind,
        source="web",
        timestamp=at,
        received_at=at,
        offset=n,
        event="X" if kind == "track" else None,
        **fields,  # type: ignore[arg-type]
    )


def test_identify_merges_the_device_into_the_user() -> None:
    """identify(anon, user) folds the anonymous id into the user's profile, once."""
    graph = IdentityGraph()
    assert graph.observe(_event(1, "page", anonymous_id="a1")) is None
    merge = graph.observe(_event(2, "identify", anonymous_id="a1", user_id="u1"))
    assert merge is not None
    assert (merge.profile_id, merge.merged_ids, merge.reason) == ("u1", ["a1"], "identify")
    assert graph.profile_of("a1") == "u1"
    assert graph.observe(_event(3, "track", anonymous_id="a1", user_id="u1")) is None


def test_two_devices_and_an_alias_make_one_profile() -> None:
    """A second device logging in joins the profile; alias folds an old user id in too."""
    graph = IdentityGraph()
    graph.observe(_event(1, "identify", anonymous_id="phone", user_id="u1"))
    login = graph.observe(_event(2, "track", anonymous_id="laptop", user_id="u1"))
    assert login is not None and login.reason == "login"
    graph.observe(_event(3, "identify", anonymous_id="tablet", user_id="old"))
    alias = graph.observe(_event(4, "alias", previous_id="old", user_id="u1"))
    assert alias is not None
    assert alias.merged_ids == ["old", "tablet"]
    assert graph.members("u1") == {"u1", "phone", "laptop", "old", "tablet"}


def test_a_shared_device_does_not_merge_two_people() -> None:
    """A device already identified as one user, identified as another, is not merged."""
    graph = IdentityGraph()
    graph.observe(_event(1, "identify", anonymous_id="kiosk", user_id="ana"))
    assert graph.observe(_event(2, "identify", anonymous_id="kiosk", user_id="ben")) is None
    assert graph.profile_of("kiosk") == "ana"
    assert graph.members("ben") == {"ben"}


def test_merges_are_stored_and_replays_change_nothing(engine: sa.Engine) -> None:
    """Saved merges give the profile's ids and history; saving them again is harmless."""
    graph = IdentityGraph()
    found = [
        m
        for m in (
            graph.observe(_event(1, "identify", anonymous_id="phone", user_id="u1")),
            graph.observe(_event(2, "identify", anonymous_id="laptop", user_id="old")),
            graph.observe(_event(3, "alias", previous_id="old", user_id="u1")),
        )
        if m is not None
    ]
    for _ in range(2):
        with engine.begin() as conn:
            save_merges(conn, found)
    with engine.connect() as conn:
        profile = load_profile(conn, "laptop")
    assert profile.profile_id == "u1"
    assert profile.visitor_ids == ["laptop", "old", "phone", "u1"]
    assert [m["reason"] for m in profile.merges] == ["identify", "identify", "alias"]
    assert profile.merges[2]["merged_ids"] == ["laptop", "old"]
    assert profile.merges[0]["at"] == T0 + timedelta(minutes=1)
