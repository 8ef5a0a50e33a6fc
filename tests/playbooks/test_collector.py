"""The playbook gauges on /metrics: a store that cannot be read leaves its families out,
and says so in the log rather than silently."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.playbooks.conftest import SECRET, Receiver, firing, make_engine, playbook
from vigie.playbooks.actions.base import ActionSettings, WebhookEndpoint
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
    # The collector's own records: the migration's are there too once a test before this one
    # has let alembic log at INFO.
    assert not [r for r in caplog.records if r.name == "vigie.playbooks.collector"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_webhook_steps_help_names_the_statuses_they_carry(
    engine: sa.Engine, receiver: Receiver
) -> None:
    """`vigie_playbook_webhook_steps` explains the statuses its samples carry: a delivered
    step is `succeeded` and one the receiver refused is `failed`, and the help names both
    (it spoke of a `done` status no step ever has)."""
    receiver.statuses = [(200, {}), (400, {})]
    book = playbook(
        {
            "name": "tell-the-crm",
            "triggers": [{"rule": "conversion-drop"}],
            "steps": [{"action": "webhook", "params": {"endpoint": "crm"}}],
        }
    )
    settings = ActionSettings(
        webhooks=[WebhookEndpoint(name="crm", url=receiver.url, secret=SECRET)],
        allow_private_networks=True,
    )
    make_engine(engine, [book], settings=settings).handle(firing(fingerprint="one"))
    make_engine(engine, [book], settings=settings).handle(firing(fingerprint="two"))
    registry = CollectorRegistry()
    registry.register(PlaybookCollector(engine))
    (family,) = (
        f
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        if f.name == "vigie_playbook_webhook_steps"
    )
    statuses = {sample.labels["status"]: sample.value for sample in family.samples}
    assert statuses == {"succeeded": 1.0, "failed": 1.0}
    for status in statuses:
        assert f"{status}:" in family.documentation, family.documentation
