"""`vigie alerts …`: acknowledge, assign, note, judge and silence from the command line,
audited as the operating-system user; bad input exits 2 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from tests.rules.test_silences import CONFIG
from vigie.auth.audit import list_audit
from vigie.cli import app
from vigie.rules.alerts import Alert
from vigie.rules.store import AlertStore
from vigie.store import connect, upgrade


def _store(tmp_path: Path) -> tuple[list[str], str]:
    config = tmp_path / "vigie.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    db = f"sqlite:///{tmp_path}/vigie.db"
    engine = connect(db)
    upgrade(engine)
    AlertStore(engine).save(
        [
            Alert(
                id="rush-1",
                fingerprint="f1",
                rule="order-rush",
                status="firing",
                labels={"campaign": "spring"},
                starts_at=datetime.now(UTC),
            )
        ]
    )
    engine.dispose()
    return ["--db", db, "-c", str(config)], db


def test_act_on_an_alert_and_silence_it(tmp_path: Path) -> None:
    """Each command changes the alert's handling or the silences and is in the audit trail;
    `list` then shows the alert acknowledged, assigned and silenced."""
    options, db = _store(tmp_path)
    runner = CliRunner()
    for args in (
        ["ack", "rush-1"],
        ["assign", "rush-1", "ana"],
        ["note", "rush-1", "a school trip"],
        ["feedback", "rush-1", "false-alarm"],
        ["silence", "alertname=order-rush", "campaign=~spr.*", "--for", "2h", "-m", "known"],
    ):
        result = runner.invoke(app, ["alerts", *args, *options])
        assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["alerts", "list", *options]).output
    assert "rush-1" in listed and "assignee:ana" in listed and "silenced" in listed
    silences = runner.invoke(app, ["alerts", "silences", "--state", "active", *options]).output
    assert "alertname=order-rush, campaign=~spr.*" in silences
    engine = connect(db)
    actions = sorted(line.action for line in list_audit(engine=engine))
    engine.dispose()
    assert actions == [
        "alert.ack",
        "alert.assign",
        "alert.feedback",
        "alert.note",
        "silence.create",
    ]


def test_refused_input_exits_2_naming_the_field(tmp_path: Path) -> None:
    """An unknown assignee or a bad regex is refused with the field and the reason."""
    options, _db = _store(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["alerts", "assign", "rush-1", "nobody", *options])
    assert result.exit_code == 2 and "assignee" in result.output
    result = runner.invoke(app, ["alerts", "silence", "a=~(", *options])
    assert result.exit_code == 2 and "matchers[0].value" in result.output
    result = runner.invoke(app, ["alerts", "ack", "missing", *options])
    assert result.exit_code == 1 and "no alert" in result.output
