"""Segment's own Python library, unchanged but for its host, talking to a live Vigie."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from segment.analytics import Client

from tests.conftest import LiveServer
from vigie.store.schema import events

CALLS = 1000


def _send_mixed(client: Client, *, round_no: int) -> list[str]:
    """Send CALLS mixed track/identify/page calls with explicit message ids; return the ids."""
    ids: list[str] = []
    for i in range(CALLS):
        message_id = f"lib-{i}"
        ids.append(message_id)
        visitor = f"visitor-{i % 37}"
        kind = i % 3
        if kind == 0:
            client.track(
                anonymous_id=visitor,
                event="Product Added",
                properties={"sku": f"sku-{i % 5}", "round": round_no},
                message_id=message_id,
            )
        elif kind == 1:
            client.identify(
                user_id=f"user-{i}",
                anonymous_id=visitor,
                traits={"email": f"user-{i}@example.be"},
                message_id=message_id,
            )
        else:
            client.page(
                anonymous_id=visitor,
                name="Lunch deal",
                properties={"url": "https://shop.example.be/?utm_source=fb&utm_campaign=noon"},
                message_id=message_id,
            )
    client.flush()
    return ids


def _stored_ids(server: LiveServer) -> list[str]:
    with server.system.engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.select(events.c.message_id))]


def test_segment_library_batches_arrive_once(live_server: LiveServer) -> None:
    """1,000 mixed calls of analytics-python are all in the log once; re-sending appends nothing."""
    errors: list[Exception] = []
    client = Client(
        live_server.write_key,
        host=live_server.url,
        on_error=lambda error, _items: errors.append(error),
        max_retries=3,
        timeout=60,
        upload_size=100,
        gzip=True,
    )
    try:
        sent = _send_mixed(client, round_no=1)
        stored = _stored_ids(live_server)
        assert errors == []
        assert Counter(stored) == Counter(sent)
        kinds = Counter(e.type for e in live_server.system.log.read(1, CALLS))
        assert kinds == {"track": 334, "identify": 333, "page": 333}

        last = live_server.system.log.last_offset()
        _send_mixed(client, round_no=2)
        assert errors == []
        assert live_server.system.log.last_offset() == last
        assert sorted(_stored_ids(live_server)) == sorted(sent)
    finally:
        client.shutdown()
