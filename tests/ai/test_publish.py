"""`vigie leads publish` appends through the log the server's writer appends to (its privacy
layers, and NATS JetStream when the settings name it), not straight into the SQL store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from tests.log.test_nats import nats_url  # noqa: F401 (a fixture)
from vigie.cli import app
from vigie.log.nats import NatsEventLog
from vigie.log.sql import SqlEventLog
from vigie.store import connect


def _run(data: Path) -> None:
    """A lead run of two companies, as `vigie leads score` leaves it."""
    run = data / "leads"
    run.mkdir(parents=True)
    due = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    pl.DataFrame(
        {
            "company_id": [41, 42],
            "name": ["Boulangerie Lemaire", "Garage Martin"],
            "rep": ["Alice Dubois", None],
            "score": [91, 77],
            "due_at": [due, due],
            "reason_en": ["bakeries buy", "garages buy"],
            "reason_fr": ["les boulangeries achètent", "les garages achètent"],
        }
    ).write_parquet(run / "leads.parquet")
    (run / "summary.json").write_text(json.dumps({"model": "v0001"}))


def test_published_leads_go_to_the_servers_log(tmp_path: Path, nats_url: str) -> None:  # noqa: F811
    """With pseudonymised visitor ids, crypto-shredding and a NATS log configured, the leads'
    events land in the JetStream stream (the SQL log table holds none) and the CRM
    projection, reading them back through the layers, makes the lead records."""
    url = f"sqlite:///{tmp_path}/vigie.db"
    config = tmp_path / "vigie.yaml"
    config.write_text(
        "privacy:\n  visitor_ids: {pseudonymise: true, key: k-0123456789}\n"
        f'  shredding: {{keys: "sqlite:///{tmp_path}/keys.db"}}\n'
    )
    _run(tmp_path / "ai")
    result = CliRunner().invoke(
        app,
        ["leads", "publish", "--db", url, "--config", str(config), "--data", str(tmp_path / "ai")],
        env={"VIGIE_LOG": nats_url},
    )
    assert result.exit_code == 0, result.output
    assert "2 lead(s) published" in result.output
    engine = connect(url)
    stream = NatsEventLog.from_url(nats_url, rejects=SqlEventLog(engine))
    try:
        stored = stream.read(0, 100)
        with engine.connect() as conn:
            leads = sorted(conn.exec_driver_sql("SELECT id FROM crm_leads").scalars())
    finally:
        stream.delete_stream()
        stream.close()
    assert SqlEventLog(engine).count() == 0
    engine.dispose()
    assert sorted(e.properties["id"] for e in stored if e.event == "Lead Created") == [
        "lead_41",
        "lead_42",
    ]
    assert leads == ["lead_41", "lead_42"]
