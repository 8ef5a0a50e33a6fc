"""IP truncation and pseudonymised visitor ids before storage, and their configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigie.config import ConfigError, parse_config
from vigie.events import Event
from vigie.log.committer import GroupCommitter
from vigie.log.eventlog import AppendJob
from vigie.log.sql import SqlEventLog
from vigie.privacy.addresses import truncate_ip
from vigie.privacy.config import PrivacyConfig, VisitorIdSettings
from vigie.privacy.pseudonyms import Pseudonymiser
from vigie.privacy.safeguards import SafeguardedLog, Safeguards
from vigie.store import connect, upgrade

AT = datetime(2026, 5, 4, tzinfo=UTC)


@given(st.integers(0, 2**32 - 1))
def test_ipv4_keeps_the_first_24_bits(address: int) -> None:
    """An IPv4 address is stored as its /24 network: the last octet is zero."""
    octets = [(address >> s) & 255 for s in (24, 16, 8, 0)]
    expected = ".".join(str(o) for o in [*octets[:3], 0])
    assert truncate_ip(".".join(map(str, octets))) == expected


def test_ipv6_keeps_the_first_48_bits_and_garbage_is_dropped() -> None:
    """An IPv6 address keeps three groups; a mapped IPv4 is truncated as IPv4; a value that is
    not an address is not kept at all."""
    assert truncate_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348") == "2001:db8:85a3::"
    assert truncate_ip("::ffff:198.51.100.7") == "198.51.100.0"
    assert truncate_ip("evil\x00<script>") == ""
    assert truncate_ip("10.1.2.3", ipv4_prefix=16) == "10.1.0.0"


def test_guarded_events_lose_their_address_and_raw_visitor_id() -> None:
    """The safeguards truncate `context.ip` and PostHog's `$ip`, and pseudonymise the visitor
    id the same way every time (an alias from that id follows it, and so do the ids a CRM
    contact lists), on copies: the sender's events are left as they were."""
    config = PrivacyConfig(visitor_ids=VisitorIdSettings(pseudonymise=True, key="k" * 32))
    guard = Safeguards(config)
    sent = [
        Event(message_id="1", type="page", source="web", timestamp=AT, received_at=AT,
              anonymous_id="browser-1", context={"ip": "203.0.113.42"},
              properties={"$ip": "2001:db8:1:2::9"}),
        Event(message_id="2", type="alias", source="web", timestamp=AT, received_at=AT,
              anonymous_id="browser-1", previous_id="browser-1", user_id="u-9"),
        Event(message_id="3", type="track", source="crm", timestamp=AT, received_at=AT,
              event="Contact Created", properties={"id": "ct_1", "anonymous_ids": ["browser-1"]}),
    ]  # fmt: skip
    before = [msgspec.json.encode(e) for e in sent]
    events = guard.guarded(sent)
    assert [msgspec.json.encode(e) for e in sent] == before
    assert events[0].context["ip"] == "203.0.113.0"
    assert events[0].properties["$ip"] == "2001:db8:1::"
    assert events[0].anonymous_id == events[1].anonymous_id == events[1].previous_id
    assert events[0].anonymous_id == guard.visitor_id("browser-1") != "browser-1"
    assert events[2].properties == {"id": "ct_1", "anonymous_ids": [events[0].anonymous_id]}
    assert guard.guarded(events) == events, "a stored id is its own pseudonym"
    assert events[1].user_id == "u-9"
    assert Pseudonymiser("other-key-0123456789")("browser-1") != events[0].anonymous_id


def test_without_pseudonymising_only_addresses_change() -> None:
    """By default visitor ids are kept as sent, and an event without an address is passed
    on as it is, not copied."""
    guard = Safeguards(PrivacyConfig())
    plain = Event(
        message_id="1",
        type="page",
        source="web",
        timestamp=AT,
        received_at=AT,
        anonymous_id="browser-1",
        properties={"anonymous_ids": ["browser-1"]},
    )
    assert guard.guarded([plain])[0] is plain
    assert guard.visitor_id("browser-1") == "browser-1"


def test_a_placeholder_pseudonym_key_is_refused_in_production() -> None:
    """Outside development, pseudonymising needs a real key; the error names the key path."""
    text = (
        "environment: production\nsecret_key: a-long-random-session-secret-value\n"
        "privacy:\n  visitor_ids:\n    pseudonymise: true\n    key: change-me\n"
    )
    with pytest.raises(ConfigError, match=r"privacy\.visitor_ids\.key \(line 6\)"):
        parse_config(text)
    with pytest.raises(ConfigError, match=r"privacy\.retention\.events"):
        parse_config("privacy:\n  retention:\n    events: forever\n")


def test_a_job_prepared_before_queuing_is_stored_as_the_writer_would_store_it(
    tmp_path: Path,
) -> None:
    """A job the group committer prepares on the sender's thread (guarded, encoded) is stored
    exactly as one the writer prepares (IP truncated, visitor id pseudonymised), and the
    sender's events are left as they were."""
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    config = PrivacyConfig(visitor_ids=VisitorIdSettings(pseudonymise=True, key="k" * 32))
    guard = Safeguards(config)
    log = SafeguardedLog(SqlEventLog(engine), guard)

    def page(message_id: str) -> Event:
        return Event(
            message_id=message_id,
            type="page",
            source="web",
            timestamp=AT,
            received_at=AT,
            anonymous_id="browser-1",
            context={"ip": "203.0.113.42"},
        )

    committer = GroupCommitter(log)
    committer.start()
    try:
        sent = page("queued")
        prepared = log.prepare(AppendJob(events=[sent], source="web"))
        assert prepared.stored and prepared.rows is not None
        assert committer.submit(AppendJob(events=[sent], source="web")).result(30).accepted == 1
        assert sent.anonymous_id == "browser-1" and sent.context["ip"] == "203.0.113.42"
    finally:
        committer.stop()
    log.append_many([AppendJob(events=[page("direct")], source="web")])
    queued, direct = sorted(log.inner.read(1), key=lambda e: e.message_id, reverse=True)
    assert queued.anonymous_id == direct.anonymous_id == guard.visitor_id("browser-1")
    assert queued.context == direct.context == {"ip": "203.0.113.0"}
    engine.dispose()


def test_an_owned_job_is_guarded_in_place_and_stored_as_a_copied_one(tmp_path: Path) -> None:
    """An ingest request's events (`AppendJob.owned`) are guarded themselves, not copied: the
    very events appended carry the truncated address and the pseudonymised id, and the log
    stores them as it stores a job guarded on copies."""
    engine = connect(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    config = PrivacyConfig(visitor_ids=VisitorIdSettings(pseudonymise=True, key="k" * 32))
    guard = Safeguards(config)
    log = SafeguardedLog(SqlEventLog(engine), guard)

    def page(message_id: str) -> Event:
        return Event(
            message_id=message_id, type="page", source="web", timestamp=AT, received_at=AT,
            anonymous_id="browser-1", context={"ip": "203.0.113.42", "locale": "fr-BE"},
            properties={"$ip": "2001:db8:1:2::9", "path": "/"},
        )  # fmt: skip

    owned = page("owned")
    context, properties = owned.context, owned.properties
    prepared = log.prepare(AppendJob(events=[owned], source="web", owned=True))
    assert prepared.events[0] is owned
    assert owned.context is context and context["ip"] == "203.0.113.0"
    assert owned.properties is properties and properties["$ip"] == "2001:db8:1::"
    assert owned.anonymous_id == guard.visitor_id("browser-1")
    log.append_many([prepared, AppendJob(events=[page("copied")], source="web")])
    stored = {e.message_id: e for e in log.inner.read(1)}
    assert msgspec.structs.replace(stored["owned"], message_id="x", offset=None) == (
        msgspec.structs.replace(stored["copied"], message_id="x", offset=None)
    )
    assert stored["owned"].context == {"ip": "203.0.113.0", "locale": "fr-BE"}
    engine.dispose()
