"""`/readyz`: ready when the store and the log answer and no processor lags too far."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.conftest import LiveServer, make_settings
from vigie.clock import ManualClock
from vigie.events import Event
from vigie.log.pressure import StoredPositions
from vigie.log.readiness import ReadinessProbe
from vigie.store import upgrade
from vigie.system import build_system

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_running_server_is_ready(live_server: LiveServer) -> None:
    """A started server answers 200 with each check and each processor's lag."""
    response = httpx.get(f"{live_server.url}/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True and body["reasons"] == []
    assert body["checks"]["store"]["ok"] and body["checks"]["log"]["ok"]
    assert set(body["checks"]["processors"]["lag"]) >= {"rules", "crm", "analytics"}


def test_a_lagging_processor_or_a_lost_store_is_not_ready(tmp_path: Path) -> None:
    """Events waiting longer than `max_lag` for a processor, or a store that fails, make
    the probe not ready, with one reason each."""
    clock = ManualClock(T0)
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"), clock=clock)
    upgrade(system.engine)
    event = Event(message_id="m1", type="track", event="X", source="web", timestamp=T0,
                  received_at=T0, anonymous_id="a")  # fmt: skip
    system.sql_log.append([event], source="web", received_at=T0)
    assert system.readiness.check().ready
    clock.advance(timedelta(minutes=10))
    found = system.readiness.check()
    assert not found.ready
    assert "processor rules: 1 events behind, the oldest waiting 600 s" in found.reasons[0]
    assert found.checks["processors"]["lag"]["rules"] == {"events": 1, "seconds": 600.0}

    def lost() -> None:
        raise ConnectionError("connection refused\nmore detail")

    broken = ReadinessProbe(
        ping_store=lost, runner=system.runner, clock=clock, max_lag_seconds=3600
    )
    assert broken.check().reasons == ["store: connection refused"]
    system.engine.dispose()


def test_processors_in_a_worker_process_are_judged_by_their_checkpoints(tmp_path: Path) -> None:
    """With the processors in a worker process, readiness reads each one's lag from its
    saved checkpoint: the server's own views being up to date does not make it ready."""
    clock = ManualClock(T0)
    system = build_system(make_settings(f"sqlite:///{tmp_path}/vigie.db"), clock=clock)
    upgrade(system.engine)
    event = Event(message_id="m1", type="track", event="X", source="web", timestamp=T0,
                  received_at=T0, anonymous_id="a")  # fmt: skip
    system.sql_log.append([event], source="web", received_at=T0)
    stored = StoredPositions(system.sql_log, ["rules", "crm"])
    probe = ReadinessProbe(
        ping_store=lambda: None, runner=system.runner, clock=clock, max_lag_seconds=60,
        stored=stored,
    )  # fmt: skip
    system.sql_log.save_checkpoint("rules", 2)
    stored.refresh()
    clock.advance(timedelta(minutes=10))
    found = probe.check()
    assert not found.ready
    assert found.reasons == [
        "processor crm: 1 events behind, the oldest waiting 600 s (more than 60 s)"
    ]
    system.sql_log.save_checkpoint("crm", 2)
    stored.refresh()
    assert probe.check().ready
    system.engine.dispose()
