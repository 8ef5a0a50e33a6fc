"""`vigie bench alerts`: the load generator's pre-built requests, and a short run."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from vigie.bench.alerts import LoadRequests, load_bodies, run_alerts_bench
from vigie.events.segment import convert_messages, decode_envelope


def _split(request: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/batch HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return headers, body


def test_load_requests_are_valid_batches_with_fresh_ids() -> None:
    """Every pre-built request is a well-formed HTTP request whose body is a valid Segment
    batch stamped with the current time, and no message id repeats across requests."""
    requests = LoadRequests(load_bodies(10, 3), prefix="L1-")
    seen: set[str] = set()
    before = datetime.now(UTC)
    for _ in range(7):
        headers, body = _split(requests.next())
        assert int(headers["Content-Length"]) == len(body)
        events, rejections = convert_messages(
            decode_envelope(body), source="bench", received_at=datetime.now(UTC)
        )
        assert not rejections and len(events) == 10
        assert all(e.timestamp >= before.replace(microsecond=0) for e in events)
        ids = {e.message_id for e in events}
        assert len(ids) == 10 and not ids & seen
        seen |= ids


def test_load_bodies_spread_visitors_and_campaigns_like_the_live_load() -> None:
    """Message n has visitor v{n % 50000} and campaign c{n % 1000}, across bodies."""
    requests = LoadRequests(load_bodies(100, 20), prefix="L1-")
    events = [
        e
        for _ in range(20)
        for e in convert_messages(
            decode_envelope(_split(requests.next())[1]),
            source="bench",
            received_at=datetime.now(UTC),
        )[0]
    ]
    assert [e.anonymous_id for e in events[:3]] == ["v0", "v1", "v2"]
    assert len({e.properties["campaign"] for e in events}) == 1000
    assert len({e.anonymous_id for e in events}) == 2000


def test_a_short_run_sees_every_probe_fire() -> None:
    """At a low rate every probe's alert arrives on the stream, and the figures say whether
    the load reached its target."""
    figures = run_alerts_bench(
        seconds=3, rate=500, interval=0.2, clients=1, connections=2, db_url=None,
        console=Console(quiet=True),
    )  # fmt: skip
    assert figures["probes"] > 0 and figures["missing"] == 0
    assert figures["load_errors"] == 0 and figures["load_events_per_s"] > 0
    assert figures["target_events_per_s"] == 500
    assert isinstance(figures["target_reached"], bool)
    assert figures["baseline_ack_p50_ms"] > 0 and 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert figures["store"] == "sqlite synchronous=NORMAL"
