"""The simulated CRM is deterministic and builds a consistent CRM through the processor."""

from __future__ import annotations

import time
from datetime import date

import httpx

from tests.conftest import LiveServer
from vigie.simulate import CrmScenario

DAY = date(2026, 3, 2)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    """A seed fixes the stream, in time order; another seed gives other companies."""
    first = list(CrmScenario(day=DAY, accounts=8, seed=1).messages())
    assert first == list(CrmScenario(day=DAY, accounts=8, seed=1).messages())
    assert first != list(CrmScenario(day=DAY, accounts=8, seed=2).messages())
    stamps = [m["timestamp"] for m in first]
    assert stamps == sorted(stamps)


def test_posting_the_scenario_builds_the_crm(live_server: LiveServer) -> None:
    """Every simulated event is accepted and applied: no rejection, all companies present."""
    messages = list(CrmScenario(day=DAY, accounts=8, seed=3).messages())
    sent = httpx.post(
        live_server.url + "/v1/batch",
        json={"batch": messages},
        auth=(live_server.write_key, ""),
        timeout=60,
    )
    assert sent.status_code == 200, sent.text
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=30) as client:
        deadline = time.monotonic() + 30
        while client.get("/api/accounts").json()["total"] < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        live_server.system.runner.run_once()
        assert client.get("/api/rejected").json()["rejected"] == []
        accounts = client.get("/api/accounts", params={"limit": 100}).json()["items"]
        assert len(accounts) == 8
        assert {a["country"] for a in accounts} <= {"BE", "FR"}
        assert all(a["nace"] and a["owner_id"] for a in accounts)
        assert client.get("/api/staff").json()["total"] == 9
        interactions = client.get("/api/interactions", params={"limit": 500}).json()["items"]
        owners = {a["id"] for a in accounts}
        assert all(i["account_id"] in owners for i in interactions)
