"""`vigie playbook run NAME --param k=v [--dry-run]`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from vigie.cli import app

CONFIG = """
playbooks:
  - name: flag
    steps:
      - action: page.flag
        params: {page: "{{ params.page }}", reason: "checked by hand"}
"""


def _write(tmp_path: Path) -> tuple[Path, str]:
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config, f"sqlite:///{tmp_path}/vigie.db"


def test_dry_run_prints_the_plan_and_records_nothing(tmp_path: Path) -> None:
    """--dry-run prints each step with its rendered parameters and writes no run."""
    config, db = _write(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "playbook",
            "run",
            "flag",
            "--param",
            "page=/lunch",
            "--dry-run",
            "-c",
            str(config),
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "/lunch" in result.output and "run" in result.output
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM playbook_runs").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM page_flags").scalar() == 0
    engine.dispose()


def test_a_run_by_hand_acts_and_reports(tmp_path: Path) -> None:
    """A run by hand flags the page and prints the run's outcome."""
    config, db = _write(tmp_path)
    result = CliRunner().invoke(
        app, ["playbook", "run", "flag", "-p", "page=/menu", "-c", str(config), "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT page FROM page_flags").scalar() == "/menu"
    engine.dispose()


def test_unknown_playbook_and_bad_params_exit_2(tmp_path: Path) -> None:
    """An unknown playbook or a --param without '=' exits with status 2 and says why."""
    config, db = _write(tmp_path)
    runner = CliRunner()
    unknown = runner.invoke(app, ["playbook", "run", "nope", "-c", str(config), "--db", db])
    assert unknown.exit_code == 2 and "flag" in unknown.output
    bad = runner.invoke(
        app, ["playbook", "run", "flag", "-p", "page", "-c", str(config), "--db", db]
    )
    assert bad.exit_code == 2


def test_list_shows_playbooks_and_their_steps(tmp_path: Path) -> None:
    """`vigie playbook list` names each playbook, what starts it, and its steps."""
    config, _db = _write(tmp_path)
    result = CliRunner().invoke(app, ["playbook", "list", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "flag" in result.output and "page.flag" in result.output
    assert "by hand" in result.output
