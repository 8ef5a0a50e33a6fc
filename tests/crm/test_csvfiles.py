"""CSV import is all or nothing with per-row errors; export round-trips."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.log.test_nats import nats_url  # noqa: F401 (a fixture)
from tests.test_worker import _Running
from vigie.auth.audit import Actor
from vigie.crm import csvfiles, records
from vigie.crm.entities import ENTITIES
from vigie.store import connect, upgrade
from vigie.system import build_system, command_log

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = Actor(name="cli:test", role="admin")
ACCOUNTS = ENTITIES["accounts"]
CONTACTS = ENTITIES["contacts"]


def _import(engine: sa.Engine, entity_name: str, text: str) -> csvfiles.ImportReport:
    return csvfiles.import_csv(
        engine=engine, entity=ENTITIES[entity_name], text=text, actor=ACTOR, now=NOW
    )


def _count(engine: sa.Engine, entity_name: str) -> int:
    with engine.connect() as conn:
        return len(records.iter_records(conn, ENTITIES[entity_name]))


def test_bad_rows_import_nothing_and_are_all_reported(engine: sa.Engine) -> None:
    """Every bad row is reported with its line number and reason; no row is imported."""
    text = (
        "name,nace,country,size_band\n"
        "Boulangerie Lemaire,10.71,BE,micro\n"  # line 2: good
        ",62.01,BE,small\n"  # line 3: no name
        "Garage Martin,45.20,France,small\n"  # line 4: bad country
        '"Imprimerie\nDubois",18.12,BE,huge\n'  # lines 5-6: bad size band
        "Hôtel Renard,55.10,FR,medium\n"  # line 7: good
    )
    report = _import(engine, "accounts", text)
    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [
        (3, "name"),
        (4, "country"),
        (5, "size_band"),
    ]
    assert _count(engine, "accounts") == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar() == 0


def test_references_are_checked_against_the_store_and_the_file(engine: sa.Engine) -> None:
    """A contact may point to an account of the file or the store, not to a missing one."""
    assert _import(engine, "accounts", "id,name\nacc_1,Pharmacie Claes\n").ok
    report = _import(
        engine,
        "contacts",
        'last_name,account_id,consent\nClaes,acc_1,{"analytics": true}\nMaes,acc_2,\n'
        'Janssens,,{"analytics": maybe}\n',
    )
    assert [(e.line, e.reason[:14]) for e in report.errors] == [
        (3, "account_id: no"),
        (4, "consent: not v"),
    ]
    assert _count(engine, "contacts") == 0


def test_good_file_imports_and_export_round_trips(engine: sa.Engine) -> None:
    """A good file creates its rows through the log; re-importing the export updates them."""
    text = (
        "last_name,email,anonymous_ids,consent\n"
        'Peeters,p@example.be,"[""anon-1""]","{""email_marketing"": true}"\n'
        "Dubois,d@example.fr,,\n"
    )
    report = _import(engine, "contacts", text)
    assert (report.ok, report.created, report.updated) == (True, 2, 0)
    with engine.connect() as conn:
        rows = records.iter_records(conn, CONTACTS)
        logged = conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar()
    assert logged == 2
    peeters = next(r for r in rows if r.model_dump()["last_name"] == "Peeters")
    assert peeters.model_dump()["anonymous_ids"] == ["anon-1"]
    assert peeters.model_dump()["consent"]["email_marketing"] is True
    exported = csvfiles.render(CONTACTS, rows)
    again = _import(engine, "contacts", exported)
    assert (again.ok, again.created, again.updated) == (True, 0, 2), again.errors
    assert _count(engine, "contacts") == 2


def test_import_progress_counts_rows_the_projection_applied(engine: sa.Engine) -> None:
    """Issue 25: `applied` grows as the CRM projection applies rows, not as they are checked,
    and ends at the number of rows."""
    rows = csvfiles.IMPORT_BATCH + 250
    text = "name,country\n" + "".join(f"Account {n},BE\n" for n in range(rows))
    checked: list[int] = []
    applied: list[tuple[int, int]] = []

    def on_applied(n: int) -> None:
        applied.append((n, _count(engine, "accounts")))

    report = csvfiles.import_csv(
        engine=engine,
        entity=ACCOUNTS,
        text=text,
        actor=ACTOR,
        now=NOW,
        progress=checked.append,
        applied=on_applied,
    )
    assert report.ok and report.created == rows
    assert sum(checked) == rows
    assert [n for n, _ in applied] == [csvfiles.IMPORT_BATCH, 250]
    assert [seen for _, seen in applied] == [csvfiles.IMPORT_BATCH, rows]


def test_export_neutralises_formulas_and_imports_them_back(engine: sa.Engine) -> None:
    """Issue 17: a cell starting with = + - @ TAB or CR is exported behind a `'`, so a
    spreadsheet shows it as text; numbers stay numbers and re-importing restores the text."""
    hostile = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    source = io.StringIO()
    writer = csv.writer(source, lineterminator="\r\n")
    writer.writerows(
        [["last_name", "email"]] + [[name, f"n{i}@example.be"] for i, name in enumerate(hostile)]
    )
    report = _import(engine, "contacts", source.getvalue())
    assert report.ok, report.errors
    with engine.connect() as conn:
        rows = records.iter_records(conn, CONTACTS)
    exported = csvfiles.render(CONTACTS, rows)
    cells = [
        row[csvfiles.header(CONTACTS).index("last_name")]
        for row in csv.reader(io.StringIO(exported, newline=""))
    ][1:]
    assert sorted(cells) == sorted("'" + name for name in hostile)
    assert csvfiles.neutralise("-12.5") == "-12.5"
    again = _import(engine, "contacts", exported)
    assert (again.ok, again.updated) == (True, len(hostile)), again.errors
    with engine.connect() as conn:
        names = {r.model_dump()["last_name"] for r in records.iter_records(conn, CONTACTS)}
    assert names == set(hostile)


def test_an_import_on_nats_is_left_to_the_workers_durable_consumer(
    tmp_path: Path,
    nats_url: str,  # noqa: F811 (the fixture)
) -> None:
    """On a NATS JetStream log an import appends its rows and leaves applying them to the
    workers' durable consumer instead of taking it over: with no worker it says so and
    applies nothing itself; a worker that starts applies them, and the next import returns
    once a worker has applied it."""
    db_url = f"sqlite:///{tmp_path}/vigie.db"
    engine = connect(db_url)
    upgrade(engine)
    settings = msgspec.structs.replace(make_settings(db_url), log_url=nats_url)
    log = command_log(settings, engine)
    accounts = ENTITIES["accounts"]
    try:
        with pytest.raises(TimeoutError, match="vigie worker"):
            csvfiles.import_csv(
                engine=engine,
                entity=accounts,
                text="name,country\nAcme,BE\nGlobex,FR\n",
                actor=ACTOR,
                now=NOW,
                log=log,
                workers_wait=1.0,
            )
        assert _count(engine, "accounts") == 0
        worker = build_system(settings, role="worker")
        with _Running(worker):
            deadline = time.monotonic() + 60
            while _count(engine, "accounts") < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _count(engine, "accounts") == 2
            applied: list[int] = []
            report = csvfiles.import_csv(
                engine=engine,
                entity=accounts,
                text="name,country\nInitech,NL\n",
                actor=ACTOR,
                now=NOW,
                log=log,
                applied=applied.append,
                workers_wait=60.0,
            )
            assert report.ok and applied == [1]
            assert _count(engine, "accounts") == 3
    finally:
        log.delete_stream()
        log.close()
        engine.dispose()
