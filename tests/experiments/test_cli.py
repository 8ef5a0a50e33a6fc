"""`vigie experiments list|show` read the design from vigie.yaml and the counts from the
event log (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tests.conftest import make_settings
from vigie.cli import app
from vigie.config import parse_config
from vigie.events import Event
from vigie.experiments import assign
from vigie.store import upgrade
from vigie.system import build_system

EXPERIMENT = {"name": "banner", "metric": "Signed Up", "baseline": 0.2, "mde": 0.4}


def _event(message_id: str, name: str, unit: str, at: datetime, props: dict[str, str]) -> Event:
    return Event(message_id=message_id, type="track", source="web", event=name,
                 anonymous_id=unit, timestamp=at, received_at=at, properties=props)  # fmt: skip


def test_show_counts_the_log_and_refuses_an_unknown_name(tmp_path: Path) -> None:
    """Exposures and conversions written to the log are counted by `show`; conversions after
    the horizon are not; an unknown experiment exits 2 naming it."""
    config_file = tmp_path / "vigie.yaml"
    config_file.write_text(yaml.safe_dump({"experiments": [EXPERIMENT]}))
    db = f"sqlite:///{tmp_path}/vigie.db"
    config = parse_config(config_file.read_text(), origin=str(config_file))
    system = build_system(make_settings(db, config))
    upgrade(system.engine)
    at = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    events = []
    for i in range(40):
        unit = f"u{i}"
        variant = assign(config.experiments[0], unit)
        seen = {"experiment_name": "banner", "variation_name": variant}
        events.append(_event(f"v{i}", "Experiment Viewed", unit, at, seen))
        late = timedelta(days=2) if i % 2 else timedelta(minutes=5)
        events.append(_event(f"s{i}", "Signed Up", unit, at + late, {}))
    system.sql_log.append(events)
    system.engine.dispose()
    runner = CliRunner()
    listed = runner.invoke(app, ["experiments", "list", "--config", str(config_file)])
    assert listed.exit_code == 0 and "banner: control (1), treatment (1)" in listed.output
    shown = runner.invoke(
        app, ["experiments", "show", "banner", "--db", db, "--config", str(config_file)]
    )
    assert shown.exit_code == 0, shown.output
    counts = [line.split() for line in shown.output.splitlines() if "exposed" in line]
    assert sum(int(words[2]) for words in counts) == 40
    assert sum(int(words[4]) for words in counts) == 20
    missing = runner.invoke(
        app, ["experiments", "show", "nope", "--db", db, "--config", str(config_file)]
    )
    assert missing.exit_code == 2 and "nope" in missing.output
