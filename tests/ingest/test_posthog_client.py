"""PostHog's own Python library, unchanged but for its host, talking to a live Vigie."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from posthog import Posthog

from tests.conftest import LiveServer
from tests.ingest.clients import eventually, rejected, stored_events, stored_ids

CALLS = 600
NAMESPACE = uuid.UUID("6f1c1d2e-3c4b-4a59-9e8f-0a1b2c3d4e5f")


def _send_mixed(client: Posthog) -> list[str]:
    """Send CALLS mixed captures, pageviews, $set, aliases and group identifies with known
    uuids; return the uuids."""
    ids: list[str] = []
    for i in range(CALLS):
        event_id = str(uuid.uuid5(NAMESPACE, str(i)))
        ids.append(event_id)
        user = f"user-{i % 41}"
        kind = i % 5
        if kind == 0:
            client.capture(
                "Product Added", distinct_id=user, properties={"sku": f"sku-{i}"}, uuid=event_id
            )
        elif kind == 1:
            url = "https://shop.example.be/deal?utm_source=fb&utm_campaign=noon"
            client.capture(
                "$pageview",
                distinct_id=user,
                properties={"$current_url": url, "$pathname": "/deal", "title": "Deal"},
                uuid=event_id,
            )
        elif kind == 2:
            client.set(distinct_id=user, properties={"plan": "pro", "n": i}, uuid=event_id)
        elif kind == 3:
            client.alias(previous_id=f"anon-{i}", distinct_id=user, uuid=event_id)
        else:
            client.group_identify(
                "company", f"acme-{i % 7}", {"name": "Acme"}, distinct_id=user, uuid=event_id
            )
    client.flush()
    return ids


def test_posthog_python_events_arrive_once_and_resends_are_deduplicated(
    live_server: LiveServer,
) -> None:
    """600 mixed calls of posthog-python (gzip) are all in the log once, mapped to page,
    identify, alias, group and track; sending them again appends nothing; flags say none."""
    errors: list[Any] = []
    client = Posthog(
        live_server.write_key,
        host=live_server.url,
        on_error=lambda error, _batch: errors.append(error),
        gzip=True,
        flush_at=50,
    )
    try:
        sent = _send_mixed(client)
        # flush() waits 10 s at most (posthog 7): on a loaded machine its uploads go on after.
        eventually(
            lambda: len(stored_ids(live_server.system)) >= len(sent) or None, "600 events stored"
        )
        assert errors == []
        assert Counter(stored_ids(live_server.system)) == Counter(sent)
        events = stored_events(live_server.system)
        kinds = Counter(e.type for e in events)
        assert kinds == {"track": 120, "page": 120, "identify": 120, "alias": 120, "group": 120}
        page = next(e for e in events if e.type == "page")
        assert page.user_id and page.context["campaign"] == {"source": "fb", "name": "noon"}
        assert page.properties["path"] == "/deal" and page.name == "Deal"
        person = next(e for e in events if e.type == "identify")
        assert person.user_id and person.traits["plan"] == "pro"
        alias = next(e for e in events if e.type == "alias")
        assert alias.previous_id == "anon-3" and alias.user_id == "user-3"
        group = next(e for e in events if e.type == "group")
        assert group.group_id == "acme-4" and group.traits == {"name": "Acme"}

        last = live_server.system.log.last_offset()
        _send_mixed(client)
        assert errors == []
        assert live_server.system.log.last_offset() == last
        assert rejected(live_server.system) == []

        flags = client.evaluate_flags("user-1")
        assert flags.get_flag("new-checkout", send_feature_flag_events=False) is None
        assert errors == []
    finally:
        client.shutdown()
