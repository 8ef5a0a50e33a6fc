"""Issue 14: hostile events, through the door and straight into the log, stall no processor
of a system built from the shipped example configuration."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.conftest import make_settings
from vigie.config import load_config
from vigie.events import Event
from vigie.log.eventlog import AppendJob
from vigie.system import System, build_system

EXAMPLE = Path(__file__).parents[1] / "vigie.example.yaml"
EXTREME_TIMES = ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00",
                 "0001-01-01T00:00:00+02:00", "1970-01-01T00:00:00Z")  # fmt: skip
HUGE = (10**30, -(2**70), 2**64 - 1, -(2**63), 1e308, -1e308, 2**63)
EVENT_NAMES = ("Order Completed", "Checkout Started", "Ad Clicked", "Ad Impression",
               "Call Ended", "Newsletter Signed Up", "Deal Won", "Ticket Created",
               "Contact Created", "Deal Created", "Ticket Updated", "Page Viewed")  # fmt: skip


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = {"level": value} if level % 2 else [value]
    return value


def _properties(i: int) -> dict[str, Any]:
    huge = HUGE[i % len(HUGE)]
    return {
        "revenue": huge, "cost": huge, "amount": huge, "value": huge, "status": "missed\x00",
        "email": "a\x00b@example.com", "name": "\x00" * 3, "url": "https://x.example/?utm_campaign=\x00",
        "path": "/\x00", "deep": _nested(40), "ticket_id": huge, "stage": ["won"], "count": huge,
        "campaign": {"name": huge},
    }  # fmt: skip


def _wire_messages() -> list[dict[str, Any]]:
    """Segment messages a hostile client can send with the public write key."""
    messages: list[dict[str, Any]] = []
    for i, name in enumerate(EVENT_NAMES):
        stamp = EXTREME_TIMES[i % len(EXTREME_TIMES)]
        base: dict[str, Any] = {"anonymousId": f"hostile-{i}", "timestamp": stamp}
        messages += [
            {**base, "type": "track", "event": name, "properties": _properties(i)},
            {**base, "type": "track", "event": name, "sentAt": EXTREME_TIMES[-1 - i % 5]},
            {
                **base,
                "type": "page",
                "name": "\x00",
                "properties": _properties(i),
                "context": {
                    "page": {"path": "/lunch", "url": "https://x.example/lunch?utm_campaign=lunch"},
                    "campaign": {"name": huge_text(i)},
                },
            },
            {**base, "type": "identify", "userId": f"user-{i}", "traits": _properties(i)},
            {**base, "type": "alias", "userId": f"user-{i}", "previousId": f"hostile-{i}"},
            {**base, "type": "group", "groupId": HUGE[i % len(HUGE)], "traits": _properties(i)},
            {**base, "type": "screen", "name": "Home", "properties": {"deep": _nested(64)}},
            {**base, "type": "sensor", "site": "shop", "zone": "\x00", "count": 10**30},
            {**base, "type": "sensor", "site": "shop", "zone": "a", "count": -(2**63)},
            {**base, "type": "bogus", "event": name},
            {**base, "type": "track", "event": "a\x00b"},
            {**base, "type": "track", "event": name, "properties": {"deep": _nested(200)}},
        ]
    return messages


def huge_text(i: int) -> Any:
    return HUGE[i % len(HUGE)] if i % 2 else "x" * 10_000


def _log_events(at: datetime) -> list[Event]:
    """Events appended straight to the log (a CRM, an import, another node): no door."""
    times = [
        datetime.max.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
        at,
    ]  # fmt: skip
    events: list[Event] = []
    for i, name in enumerate(EVENT_NAMES):
        for j, moment in enumerate(times):
            events.append(
                Event(
                    message_id=f"direct-{i}-{j}",
                    type=("track", "page", "identify", "sensor")[j],
                    source="website",
                    event=name,
                    name="\x00",
                    anonymous_id=f"direct-{i}",
                    user_id=f"direct-user-{i}" if j % 2 else None,
                    timestamp=moment,
                    received_at=moment,
                    properties=_properties(i + j),
                    traits=_properties(i),
                    context={"page": {"path": "\x00"}, "campaign": {"name": "lunch"}},
                    site="shop",
                    zone="a",
                    count=(2**63 - 1) if j % 2 else -(2**63),
                )
            )
    return events


async def _all_reach(system: System, offset: int, timeout: float = 120) -> None:
    for processor in system.runner.processors:
        await system.runner.wait_for(processor.name, offset, timeout=timeout)


def test_hostile_events_stall_no_processor(db_url: str) -> None:
    """Extreme timestamps, huge numbers, deep nesting, NUL characters and unknown types, sent
    by a client and appended straight to the log: every processor's checkpoint reaches the
    end of the log, what is set aside is a dead letter with its reason, and a good event
    after them is processed by all."""
    config = load_config(EXAMPLE)
    system = build_system(make_settings(db_url, config))
    system.runner.backoff_seconds = 0.0
    key = next(s.write_key for s in config.sources if s.name == "website")
    basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

    async def scenario() -> tuple[list[int], int, int, list[Any], set[int], list[Any]]:
        await system.start()
        try:
            statuses = []
            for message in _wire_messages():
                outcome = await system.ingestor.ingest(
                    json.dumps({"batch": [message]}).encode(),
                    endpoint="/v1/batch",
                    authorization=basic,
                    content_encoding=None,
                )
                statuses.append(outcome.status)
            wire_last = system.log.last_offset()
            direct = await system.committer.append(
                AppendJob(events=_log_events(system.clock.now()), source="website")
            )
            good = await system.committer.append(
                AppendJob(
                    events=[
                        Event(
                            message_id="good",
                            type="track",
                            source="website",
                            event="Order Completed",
                            anonymous_id="good",
                            timestamp=system.clock.now(),
                            received_at=system.clock.now(),
                            properties={"revenue": 10},
                        )
                    ],
                    source="website",
                )
            )
            last = system.log.last_offset()
            assert good.offsets == [last] and direct.accepted
            await _all_reach(system, last)
            system.runner.save_checkpoints()
            checkpoints = [system.log.checkpoint(p.name) for p in system.runner.processors]
            letters = system.dead_letters.list(limit=1000)
            alerts = system.alerts.list(rule="dead-letter")
            return checkpoints, last, wire_last, letters, set(statuses), alerts
        finally:
            await system.stop()

    checkpoints, last, wire_last, letters, statuses, alerts = asyncio.run(scenario())
    assert statuses <= {200, 400}
    assert checkpoints == [last + 1] * len(checkpoints)
    # What came through the door is safe for every processor; what did not, and failed one,
    # is set aside with its reason and raises the processor's alert.
    assert all(letter.offset > wire_last for letter in letters)
    for letter in letters:
        assert letter.error and letter.attempts and letter.event is not None
        assert letter.event.message_id.startswith("direct-")
    assert {a.labels["processor"] for a in alerts} == {letter.processor for letter in letters}
    assert all(a.status == "firing" for a in alerts)
