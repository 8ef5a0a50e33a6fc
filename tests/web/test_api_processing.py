"""`GET /api/processing`: which process runs each share of the processors (issue 16)."""

from __future__ import annotations

import os

import httpx

from tests.conftest import LiveServer
from vigie.system import PROCESSORS_LEASE, PROJECTIONS_SHARE


def test_one_server_runs_both_shares_and_says_so(live_server: LiveServer) -> None:
    """A single `vigie serve` holds the rules' and the projections' shares; the answer names
    it (host:pid:…) for both, lists each share's processors, and counts one worker."""
    assert httpx.get(f"{live_server.url}/api/processing").status_code == 401
    with httpx.Client(base_url=live_server.url, headers=live_server.admin, timeout=30) as client:
        data = client.get("/api/processing").json()
    shares = {share["name"]: share for share in data["shares"]}
    assert set(shares) == {PROCESSORS_LEASE, PROJECTIONS_SHARE}
    assert "rules" in shares[PROCESSORS_LEASE]["processors"]
    assert set(shares[PROJECTIONS_SHARE]["processors"]) == {"crm", "chat"}
    assert shares[PROJECTIONS_SHARE]["movable"] and not shares[PROCESSORS_LEASE]["movable"]
    holders = {share["holder"] for share in shares.values()}
    assert len(holders) == 1
    holder = holders.pop()
    assert holder is not None and holder.split(":")[1] == str(os.getpid())
    assert data["workers"] == [holder]
