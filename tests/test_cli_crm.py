"""The CRM and users commands: `vigie users create`, `vigie import`, `vigie export`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vigie.auth.audit import list_audit
from vigie.cli import app
from vigie.store import connect


def test_import_export_and_users_from_the_command_line(tmp_path: Path) -> None:
    """A bad file is refused with its lines; a good one imports; export and users are audited."""
    db = f"sqlite:///{tmp_path}/v.db"
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text("name,country\nBrasserie Dupont,BE\n,FR\nGarage,France\n", encoding="utf-8")
    result = runner.invoke(app, ["import", "accounts", str(bad), "--db", db])
    assert result.exit_code == 1
    assert "bad.csv:3: name" in result.output and "bad.csv:4: country" in result.output
    good = tmp_path / "good.csv"
    good.write_text("name,country\nBrasserie Dupont,BE\nGarage Martin,FR\n", encoding="utf-8")
    result = runner.invoke(app, ["import", "accounts", str(good), "--db", db])
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output
    result = runner.invoke(app, ["export", "accounts", "--db", db])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and "Garage Martin" in result.stdout
    result = runner.invoke(
        app,
        ["users", "create", "--username", "alice", "--role", "sales", "--db", db],
        input="long-enough-password\nlong-enough-password\n",
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["users", "create", "--username", "bob", "--role", "wizard", "--password-stdin",
         "--db", db],
        input="x" * 12 + "\n",
    )  # fmt: skip
    assert result.exit_code == 2 and "role" in result.output
    engine = connect(db)
    actions = [(a.action, a.entity) for a in list_audit(engine=engine)]
    engine.dispose()
    assert actions[:2] == [("user.create", "users"), ("export", "accounts")]
    assert actions.count(("create", "accounts")) == 2


def test_users_passwords_never_come_from_the_command_line(tmp_path: Path) -> None:
    """Issue 17: `--password` is refused with what to do instead; `--password-stdin` reads the
    first line; `vigie users password` and `vigie users disable` close sessions (audited)."""
    from vigie.auth.users import authenticate

    db = f"sqlite:///{tmp_path}/v.db"
    runner = CliRunner()
    argv = ["users", "create", "--username", "eve", "--role", "sales", "--db", db]
    refused = runner.invoke(app, [*argv, "--password", "long-enough-password"])
    assert refused.exit_code == 2
    assert "--password-stdin" in refused.output and "shell history" in refused.output
    created = runner.invoke(app, [*argv, "--password-stdin"], input="long-enough-password\n")
    assert created.exit_code == 0, created.output
    changed = runner.invoke(
        app, ["users", "password", "eve", "--password-stdin", "--db", db], input="a-new-password\n"
    )
    assert changed.exit_code == 0, changed.output
    engine = connect(db)
    assert authenticate(engine=engine, username="eve", password="a-new-password") is not None
    disabled = runner.invoke(app, ["users", "disable", "eve", "--db", db])
    assert disabled.exit_code == 0, disabled.output
    assert authenticate(engine=engine, username="eve", password="a-new-password") is None
    assert runner.invoke(app, ["users", "disable", "eve", "--db", db]).exit_code == 2
    actions = [a.action for a in list_audit(engine=engine)]
    engine.dispose()
    assert actions[:3] == ["user.disable", "user.password", "user.create"]


def test_import_ads_reports_stores_each_hour_once(tmp_path: Path) -> None:
    """`vigie import ads FILE --platform meta` stores a report's hours; a second import of
    the same file stores nothing new; a missing platform or a bad row imports nothing."""
    from tests.sources.helpers import FIXTURES
    from vigie.log import SqlEventLog

    db = f"sqlite:///{tmp_path}/v.db"
    report = str(FIXTURES / "meta_ads_hourly.csv")
    runner = CliRunner()
    result = runner.invoke(app, ["import", "ads", report, "--platform", "meta", "--db", db])
    assert result.exit_code == 0, result.output
    assert "3 stored, 0 already there" in result.output
    result = runner.invoke(app, ["import", "ads", report, "--platform", "meta", "--db", db])
    assert "0 stored, 3 already there" in result.output
    result = runner.invoke(app, ["import", "ads", report, "--db", db])
    assert result.exit_code == 2 and "--platform" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(Path(report).read_text().replace("3120", "many"), encoding="utf-8")
    result = runner.invoke(app, ["import", "ads", str(bad), "--platform", "meta", "--db", db])
    assert result.exit_code == 1 and "bad.csv:2: impressions 'many'" in result.output
    events = SqlEventLog(connect(db)).read(1)
    assert (events[0].event, events[0].properties["campaign"]) == (
        "Ad Spend",
        "Lunch deal - Instagram",
    )
    assert len(events) == 3
