"""What `/metrics` says of each family: every one explained, and each explanation true."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveServer
from vigie.telemetry import Telemetry


def _families(server: LiveServer) -> dict[str, tuple[str, dict[tuple[str, ...], float]]]:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    return {
        family.name: (
            family.documentation,
            {
                (sample.name, *sorted(sample.labels.values())): sample.value
                for sample in family.samples
            },
        )
        for family in text_string_to_metric_families(text)
    }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_family_on_metrics_says_what_it_counts(live_server: LiveServer) -> None:
    """Each `vigie_*` family on `/metrics` carries a non-empty help text, ingest, processors,
    playbooks and KPIs alike, so an operator reading Prometheus knows what a figure means."""
    families = _families(live_server)
    assert {
        "vigie_events_accepted",
        "vigie_events_rejected",
        "vigie_ingest_deferred",
        "vigie_processed_events",
        "vigie_processor_lag_events",
        "vigie_playbook_runs",
        "vigie_kpi_late_events",
        "vigie_rejected_dropped",
    } <= set(families)
    for name, (help_text, _) in families.items():
        assert name.startswith("vigie_"), name
        assert help_text.strip(), f"{name} has no help text"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_events_accepted_counts_the_ingestion_edges_and_says_so(live_server: LiveServer) -> None:
    """`vigie_events_accepted_total` counts what the ingestion edges accepted, not every event
    appended to the log: a CRM API write is appended without moving it, and its help names
    the edges it counts instead of claiming the whole log."""
    message = {"type": "track", "event": "Signed Up", "anonymousId": "a", "messageId": "t-1"}
    sent = httpx.post(
        live_server.url + "/v1/batch",
        json={"batch": [message]},
        auth=(live_server.write_key, ""),
        timeout=30,
    )
    assert sent.json()["accepted"] == 1
    created = httpx.post(
        live_server.url + "/api/accounts",
        json={"name": "Boulangerie Lemaire"},
        headers=live_server.admin,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    logged = httpx.get(
        live_server.url + "/api/events", headers=live_server.admin, timeout=30
    ).json()["events"]
    assert len(logged) == 2, "the CRM write is in the log too"
    help_text, samples = _families(live_server)["vigie_events_accepted"]
    assert samples == {("vigie_events_accepted_total", "web"): 1.0}
    assert help_text != "Events appended to the log."
    assert "/v1/" in help_text and "CRM API" in help_text, help_text


def test_deferred_requests_help_names_every_cause_it_counts() -> None:
    """`vigie_ingest_deferred` also counts the requests shed at the door past
    `ingest.max_in_flight` (`vigie.web.admission`), so its help names that cause beside the
    writer's and processors' lag and the sources' rate limits."""
    (documentation,) = (
        family.documentation
        for family in text_string_to_metric_families(Telemetry().render().decode())
        if family.name == "vigie_ingest_deferred"
    )
    for cause in ("ingest.max_in_flight", "processors", "rate limit"):
        assert cause in documentation, documentation
