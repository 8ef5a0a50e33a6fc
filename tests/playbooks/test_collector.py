"""The playbook gauges on /metrics: a store that cannot be read leaves its families out,
and says so in the log rather than silently."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest

from vigie.playbooks.collector import PlaybookCollector
from vigie.store import upgrade


def test_an_unreadable_store_is_logged_not_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/empty.db")  # no schema: every read fails
    registry = CollectorRegistry()
    registry.register(PlaybookCollector(engine))
    with caplog.at_level(logging.WARNING, logger="vigie.playbooks.collector"):
        text = generate_latest(registry).decode()
    assert 'vigie_notifications{status="' not in text
    logged = " ".join(r.getMessage() for r in caplog.records)
    for family in ("vigie_playbook_runs", "vigie_notifications", "vigie_playbook_webhook_steps"):
        assert f"{family} left out of /metrics" in logged


def test_a_readable_store_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/vigie.db")
    upgrade(engine)
    registry = CollectorRegistry()
    registry.register(PlaybookCollector(engine))
    with caplog.at_level(logging.WARNING, logger="vigie.playbooks.collector"):
        text = generate_latest(registry).decode()
    assert "# TYPE vigie_notifications gauge" in text
    assert not caplog.records
