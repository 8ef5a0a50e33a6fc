"""Alerts in the SQL store (SQLite and PostgreSQL): saved, updated, listed, restored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import sqlalchemy as sa

from vigie.rules.alerts import Alert
from vigie.rules.store import AlertStore

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_save_update_and_list(engine: sa.Engine) -> None:
    """An alert saved firing then resolved is one row; active() only returns live ones."""
    store = AlertStore(engine)
    alert = Alert(
        id="fp1-1",
        fingerprint="fp1",
        rule="drop",
        status="firing",
        labels={"campaign": "c"},
        starts_at=T0,
        fired_at=T0,
        values={"value": 0.1, "events": [1, 2]},
    )
    other = msgspec.structs.replace(alert, id="fp2-1", fingerprint="fp2", rule="sla")
    store.save([alert, other])
    assert {a.id for a in store.active()} == {"fp1-1", "fp2-1"}
    resolved = msgspec.structs.replace(alert, status="resolved", ends_at=T0 + timedelta(minutes=3))
    store.save([resolved])
    assert [a.id for a in store.active()] == ["fp2-1"]
    assert store.list(status="resolved") == [resolved]
    assert [a.rule for a in store.list(rule="sla")] == ["sla"]
    assert len(store.list()) == 2
