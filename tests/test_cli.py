"""The `vigie` command: every command documented with an example; the demo runs and exits."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import free_port
from vigie.cli import app
from vigie.demo import DEMO_MARK, WORKING_DAYS, DemoStoreError, fresh_demo_store
from vigie.web.i18n import Translator, format_number, weekday_name


def _commands(group: Any, prefix: str = "vigie") -> list[tuple[str, Any]]:
    """Every command of the tree (Typer ships its own click, so walk by duck typing)."""
    found = [(prefix, group)]
    for name, command in getattr(group, "commands", {}).items():
        found.extend(_commands(command, f"{prefix} {name}"))
    return found


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path: str, command: Any) -> None:
    """Every command and sub-command (groups included) has help text with an `Example:`."""
    assert command.help, f"{path} has no help text"
    assert "Example:" in command.help, f"{path} has no 'Example:' in its help"
    result = CliRunner().invoke(app, [*path.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def test_the_command_tree_holds_the_foundation_commands() -> None:
    """serve, demo, simulate, db upgrade and bench ingest are all there."""
    paths = {path for path, _ in COMMANDS}
    assert {"vigie serve", "vigie demo", "vigie simulate", "vigie db upgrade"} <= paths
    assert "vigie bench ingest" in paths


# What the demo's output says in each language, chapter by chapter (the day and the names
# are filled in by the test).
SAYS = {
    "fr": {
        "played": r"Rejeu de la campagne de midi du (\w+) (\d{4}-\d{2}-\d{2})",
        "in_log": "{count} événements dans le journal",
        "held": r"marie : retenue jusqu'à \w+ \d\d:\d\d{zone} \(hors service\)",
        "review": "Revue hebdomadaire {week} : ",
        "chat": ["Widget sur /checkout", "visiteur : Le paiement plante à la dernière étape",
                 "Étiqueté bug au paiement, issue « bug signalé » : dans l'historique de "
                 "Camille Lambert"],
        "support": ["le rush du support", "support-sla-breach / 1-reassign : déplacés : "
                    "julie sales → support, karim sales → support"],
        "shop": ["Il est déplacé. Les prises en main suivent le présentoir",
                 "(en baisse, fin de la saturation)", "{weekday} à shop-brussels : "],
        "leads": ["les leads de chaque commercial", "{name} : {count} leads",
                  "{name} convertit"],
    },
    "en": {
        "played": r"Replaying the lunch-time campaign of (\w+) (\d{4}-\d{2}-\d{2})",
        "in_log": "{count} events in the log",
        "held": r"marie: held until \w+ \d\d:\d\d{zone} \(off duty\)",
        "review": "Weekly review {week}: ",
        "chat": ["Widget on /checkout", "visitor: Payment fails at the last step",
                 "Tagged bug at checkout, outcome bug reported: on Camille Lambert's timeline"],
        "support": ["the support rush", "support-sla-breach / 1-reassign: moved: "
                    "julie sales → support, karim sales → support"],
        "shop": ["Moving it. Pick-ups follow the display", "(fell, congestion over)",
                 "{weekday} in shop-brussels: "],
        "leads": ["the leads handed to each rep", "{name}: {count} leads", "{name} converts"],
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("language", "locale", "zone", "label"),
    [("fr", "fr_BE.UTF-8", "Europe/Brussels", ""), ("en", "en_GB.UTF-8", "UTC", " UTC")],
)
def test_demo_once_exits_zero_and_fills_the_embedded_store(
    tmp_path: Path, language: str, locale: str, zone: str, label: str
) -> None:
    """`vigie demo --once` exits 0 and leaves the events of this run only in its own store,
    ./vigie-data/demo (what an earlier demo left there is cleared first); it tells the whole
    day in the terminal's language, with times in the terminal's time zone (named when it is
    not the story's, Brussels), and writes the weekly review in that language."""
    env = dict(os.environ, VIGIE_WRITE_KEY="demo-write-key-123456", LANG=locale, TZ=zone)
    for name in ("VIGIE_DB", "VIGIE_CONFIG", "LC_ALL", "LC_MESSAGES"):
        env.pop(name, None)
    earlier = tmp_path / "vigie-data" / "demo"
    earlier.mkdir(parents=True)
    (earlier / DEMO_MARK).write_text("vigie demo\n")
    (earlier / "vigie.db").write_bytes(b"what an earlier run left, not a store")
    result = subprocess.run(
        [sys.executable, "-m", "vigie", "demo", "--once", "--port", str(free_port()),
         "--visitors", "150", "--seed", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    says = SAYS[language]
    database = earlier / "vigie.db"
    with sqlite3.connect(database) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        kinds = {row[0] for row in conn.execute("SELECT DISTINCT type FROM events")}
    out = " ".join(result.stdout.split())
    assert stored > 150
    # The output's spaces are flattened, the narrow no-break space in "1 487" too.
    in_log = says["in_log"].format(count=format_number(language, stored))
    assert " ".join(in_log.split()) in out, out
    assert {"page", "track"} <= kinds
    # Issue 23: at 17:30 the manager's message waits for her next working period.
    assert re.search(says["held"].format(zone=label), out), out
    reports = list((tmp_path / "vigie-data" / "reports").glob(f"weekly-*-{language}.pdf"))
    assert len(reports) == 1 and reports[0].read_bytes().startswith(b"%PDF")
    assert says["review"].format(week=reports[0].stem[7:15]) in out, out
    # The demo plays a day when everybody in the example works (Tuesday to Friday): today,
    # or the Friday before on a Saturday, a Sunday or a Monday; it says which.
    played = re.search(says["played"], out)
    assert played is not None, out
    day = date.fromisoformat(played[2])
    assert played[1] == weekday_name(language, day), out
    today = datetime.now(ZoneInfo("Europe/Brussels")).date()
    assert day.weekday() in WORKING_DAYS and timedelta(0) <= today - day <= timedelta(days=4), out
    # Issue 19: at the 12:20 break the conversion-drop playbook invites the visitor on the
    # checkout page, who talks with an agent; the conversation lands on their timeline, tagged.
    # The support rush: the SLA alert's playbook moves the two sales agents, at work at 12:40.
    # The shop's display follows the advice to aisle 21; the jammed street empties.
    weekday = weekday_name(language, day)
    for line in says["chat"] + says["support"] + says["shop"]:
        assert line.format(weekday=weekday[:1].upper() + weekday[1:]) in out, (line, out)
    _assert_leads_handed_to_each_rep(database, out, says["leads"])
    _assert_no_line_of_the_other_language(language, out)


def _assert_no_line_of_the_other_language(language: str, out: str) -> None:
    """No fixed wording of the demo's messages in the other language shows in `out` (phrases
    of two words or more: a single word may be a name, or in a text of the configuration)."""
    other = Translator("en" if language == "fr" else "fr").subset("demo.")
    mine = " ".join(Translator(language).subset("demo.").values())
    for key, message in other.items():
        for words in re.split(r"\{[^}]*\}", message):
            words = " ".join(words.split())
            if len(words) >= 8 and " " in words.strip(" :;,.") and words not in mine:
                assert words not in out, (key, words, out)


def _assert_leads_handed_to_each_rep(database: Path, out: str, says: list[str]) -> None:
    """Each salesperson of the demo's CRM owns lead records, due in their working hours
    (09:00-17:30 on weekdays, in their time zone), and the terminal names their best lead."""
    with sqlite3.connect(database) as conn:
        sellers = conn.execute("SELECT id, name, timezone FROM crm_staff WHERE role = 'sales'")
        owned = {
            (name, zone): [
                datetime.fromisoformat(row[0]).replace(tzinfo=ZoneInfo("UTC"))
                for row in conn.execute("SELECT due_at FROM crm_leads WHERE owner_id = ?", (sid,))
            ]
            for sid, name, zone in sellers.fetchall()
        }
    assert len(owned) == 4 and says[0] in out, out
    for (name, zone), due in owned.items():
        assert due, f"{name} got no lead"
        local = [d.astimezone(ZoneInfo(zone)) for d in due]
        assert all(t.weekday() < 5 and clock_time(9) <= t.time() < clock_time(17, 30)
                   for t in local), (name, local)  # fmt: skip
        for line in says[1:]:
            assert line.format(name=name, count=len(due)) in out, (line, out)


def test_simulate_writes_json_lines(tmp_path: Path) -> None:
    """`vigie simulate lunch` writes one Segment message per line, reproducibly for a seed."""
    out1, out2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (out1, out2):
        args = ["simulate", "lunch", "--visitors", "20", "--day", "2026-03-02", "--out", str(out)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    lines = out1.read_text().splitlines()
    assert len(lines) > 20
    assert out1.read_text() == out2.read_text()


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    """`vigie db upgrade --db sqlite:///…` creates the event log tables."""
    database = tmp_path / "up.db"
    result = CliRunner().invoke(app, ["db", "upgrade", "--db", f"sqlite:///{database}"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"events", "checkpoints", "rejected_events"} <= tables


def test_a_bad_config_exits_2_with_the_key_path(tmp_path: Path) -> None:
    """`vigie serve --config` with an invalid file exits 2 and names the key and line."""
    bad = tmp_path / "vigie.yaml"
    bad.write_text("sources:\n  - name: web\n    wirte_key: x\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", "--config", str(bad)])
    assert result.exit_code == 2
    assert "sources.0.wirte_key" in result.output and "line 3" in result.output


def test_vigie_worker_processes_beside_an_ingest_node_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """`vigie worker` takes the processors' lease, processes, and exits 0 on SIGTERM."""
    import signal
    import time

    from vigie.log.leases import Lease
    from vigie.store import connect
    from vigie.system import PROCESSORS_LEASE

    db = f"sqlite:///{tmp_path}/vigie.db"
    env = {**os.environ, "VIGIE_WRITE_KEY": "k" * 24, "PYTHONUNBUFFERED": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "vigie", "worker", "--db", db],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    engine = connect(db)
    try:
        holder = None
        deadline = time.monotonic() + 120
        while holder is None and time.monotonic() < deadline and worker.poll() is None:
            try:
                holder = Lease(engine, PROCESSORS_LEASE).current_holder()
            except Exception:
                holder = None
            time.sleep(0.2)
        assert holder is not None and holder.split(":")[1] == str(worker.pid)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output.decode()
        assert b"Vigie worker started" in output
        assert Lease(engine, PROCESSORS_LEASE).current_holder() is None
    finally:
        if worker.poll() is None:
            worker.kill()
        engine.dispose()


def test_serve_refuses_an_unknown_role() -> None:
    """`vigie serve --role` names the roles it knows instead of starting something else."""
    result = CliRunner().invoke(app, ["serve", "--role", "processors"])
    assert result.exit_code == 2
    assert "all, ingest or api" in result.output


@pytest.mark.parametrize(
    ("language", "says"), [("en", "the demo leaves them alone"), ("fr", "la démo n'y touche pas")]
)
def test_demo_leaves_an_ai_folder_of_your_own_alone(
    tmp_path: Path, language: str, says: str
) -> None:
    """The leads chapter writes into `ai.data_dir` only when a demo made it: a folder with
    lead runs of your own is left as it was, and the terminal says so in its language."""
    from types import SimpleNamespace

    from rich.console import Console

    from vigie.ai.config import AiConfig
    from vigie.demo import Narrator, _leads_for_each_rep

    own = tmp_path / "ai" / "leads" / "leads.parquet"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"mine")
    ai = AiConfig(data_dir=str(tmp_path / "ai"))
    system = SimpleNamespace(settings=SimpleNamespace(config=SimpleNamespace(ai=ai)))
    console = Console(record=True, width=200)
    _leads_for_each_rep(system, "http://127.0.0.1:9", console, Narrator(language))
    assert says in console.export_text()
    assert [p.name for p in (tmp_path / "ai").rglob("*")] == ["leads", "leads.parquet"]
    assert own.read_bytes() == b"mine"


def test_the_demo_store_is_emptied_only_when_the_demo_made_it(tmp_path: Path) -> None:
    """Each demo starts on an empty store of its own (so a second run tells the same story);
    a folder it did not make is refused, its files left as they were."""
    folder = tmp_path / "demo"
    url = fresh_demo_store(folder)
    assert url == f"sqlite:///{folder / 'vigie.db'}" and (folder / DEMO_MARK).exists()
    (folder / "vigie.db").write_bytes(b"first run")
    assert fresh_demo_store(folder) == url
    assert sorted(p.name for p in folder.iterdir()) == [DEMO_MARK]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "vigie.db").write_bytes(b"my data")
    with pytest.raises(DemoStoreError, match="not made by vigie demo"):
        fresh_demo_store(mine)
    assert (mine / "vigie.db").read_bytes() == b"my data"


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("en_US.UTF-8", "cannot start the demo: vigie-data/demo was not made by vigie demo"),
        ("fr_BE.UTF-8", "impossible de lancer la démo : vigie-data/demo n'a pas été créé par"),
    ],
)
def test_vigie_demo_refuses_a_folder_it_did_not_make_in_the_terminals_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locale: str, says: str
) -> None:
    """`vigie demo` in a folder whose vigie-data/demo holds files of yours exits 2 and says
    why in the terminal's language, before starting anything."""
    monkeypatch.chdir(tmp_path)
    for name in ("VIGIE_DB", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", locale)
    (tmp_path / "vigie-data" / "demo").mkdir(parents=True)
    (tmp_path / "vigie-data" / "demo" / "vigie.db").write_bytes(b"my data")
    result = CliRunner().invoke(app, ["demo", "--once"])
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split()), result.output
