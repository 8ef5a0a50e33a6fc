"""`vigie dead-letters list` and `replay`: what was set aside, and handing it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from vigie.cli import app
from vigie.events import Event
from vigie.log import SqlEventLog
from vigie.log.deadletters import SqlDeadLetters
from vigie.store import connect, upgrade

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _event(message_id: str, at: datetime) -> Event:
    return Event(message_id=message_id, type="page", source="web", anonymous_id="a",
                 timestamp=at, received_at=at, context={"page": {"path": "/"}})  # fmt: skip


def test_replay_resolves_what_passes_and_reports_what_fails_again(tmp_path: Path) -> None:
    """A letter whose event now passes is resolved; one that fails again stays open with its
    error, and the command exits 1; `list --open` then shows only that one."""
    url = f"sqlite:///{tmp_path}/vigie.db"
    engine = connect(url)
    upgrade(engine)
    log = SqlEventLog(engine)
    log.append([_event("fine", AT), _event("poison", datetime.max.replace(tzinfo=UTC))])
    letters = SqlDeadLetters(engine)
    error = "OverflowError: date value out of range"
    for offset in (1, 2):
        event = log.read(offset, 1)[0]
        letters.record(
            processor="analytics", offset=offset, event=event, error=error, detail="", attempts=4
        )
    engine.dispose()
    runner = CliRunner()

    listed = runner.invoke(app, ["dead-letters", "list", "--db", url, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [json.loads(line)["offset"] for line in listed.output.splitlines()] == [2, 1]

    replayed = runner.invoke(
        app, ["dead-letters", "replay", "--processor", "analytics", "--db", url]
    )
    assert replayed.exit_code == 1, replayed.output
    assert "offset 1: replayed, resolved" in replayed.output
    assert "offset 2: failed again" in replayed.output and "OverflowError" in replayed.output

    still = runner.invoke(app, ["dead-letters", "list", "--open", "--db", url])
    assert still.exit_code == 0, still.output
    assert "offset 2" in still.output and "offset 1 " not in still.output
    engine = connect(url)
    assert [d.attempts for d in SqlDeadLetters(engine).list(status="open")] == [5]
    engine.dispose()
