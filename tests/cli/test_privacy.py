"""`vigie privacy export|erase|purge` on a store, as an operator runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from vigie.auth.audit import Actor, list_audit, record
from vigie.cli import app
from vigie.privacy.pseudonyms import Pseudonymiser
from vigie.store import connect, upgrade

CONTACT = {
    "id": "ct_cli_1",
    "version": 1,
    "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    "first_name": "Amélie",
    "last_name": "Vandersmissen",
    "email": "amelie.v@example.net",
    "anonymous_ids": ["anon-cli-1"],
    "consent": {},
}


def _store(tmp_path: Path) -> tuple[str, sa.Engine]:
    url = f"sqlite:///{tmp_path}/vigie.db"
    engine = connect(url)
    upgrade(engine)
    from vigie.crm.tables import contacts

    with engine.begin() as conn:
        conn.execute(contacts.insert(), CONTACT)
    return url, engine


def test_export_then_erase_from_the_command_line(tmp_path: Path) -> None:
    """export writes the person's JSON; erase --yes removes their e-mail and name."""
    url, engine = _store(tmp_path)
    runner = CliRunner()
    out = tmp_path / "person.json"
    result = runner.invoke(app, ["privacy", "export", "--contact", "ct_cli_1", "--db", url,
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["contact"]["email"] == CONTACT["email"]
    result = runner.invoke(app, ["privacy", "erase", "--contact", "ct_cli_1", "--yes", "--db", url])
    assert result.exit_code == 0, result.output
    assert b"Vandersmissen" not in (tmp_path / "vigie.db").read_bytes()
    assert b"amelie.v@example.net" not in (tmp_path / "vigie.db").read_bytes()
    actions = [line.action for line in list_audit(engine=engine, entity_id="ct_cli_1")]
    assert actions == ["erase", "export"]
    missing = runner.invoke(app, ["privacy", "erase", "--contact", "nobody", "--yes", "--db", url])
    assert missing.exit_code == 1
    engine.dispose()


def test_purge_deletes_what_is_past_retention_and_audits(tmp_path: Path) -> None:
    """With `rejected: 30d` and `audit: 365d`, older rows go, newer stay, and the purge
    leaves one audit line with the counts."""
    url, engine = _store(tmp_path)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for days in (40, 1):
            conn.exec_driver_sql(
                "INSERT INTO rejected_events (received_at_us, reason, payload, payload_truncated)"
                " VALUES (?, 'bad', x'7b7d', 0)",
                (int((now - timedelta(days=days)).timestamp() * 1e6),),
            )
    for days in (400, 2):
        record(engine=engine, actor=Actor(name="x"), action="login", entity="users",
               at=now - timedelta(days=days))  # fmt: skip
    config = tmp_path / "vigie.yaml"
    config.write_text("privacy:\n  retention:\n    rejected: 30d\n    audit: 365d\n")
    result = CliRunner().invoke(app, ["privacy", "purge", "--db", url, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "rejected: 1 row(s)" in result.output and "audit: 1 row(s)" in result.output
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM rejected_events").scalar() == 1
    trail = list_audit(engine=engine)
    assert [line.action for line in trail] == ["purge", "login"]
    assert trail[0].details["deleted"] == {"rejected": 1, "audit": 1}
    engine.dispose()


def test_export_for_a_purpose_leaves_out_who_did_not_consent(tmp_path: Path) -> None:
    """`vigie export contacts --purpose marketing` writes only the contacts who agreed, says
    how many it skipped and why; an unknown purpose is refused."""
    url, engine = _store(tmp_path)
    from vigie.crm.tables import contacts

    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            {**CONTACT, "id": "ct_cli_2", "email": "agreed@example.net",
             "consent": {"email_marketing": True}},
        )  # fmt: skip
    out = tmp_path / "mailing.csv"
    result = CliRunner().invoke(app, ["export", "contacts", "--purpose", "marketing", "--db", url,
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 contact(s) skipped: no marketing consent" in result.output
    text = out.read_text()
    assert "agreed@example.net" in text and "amelie.v@example.net" not in text
    refused = CliRunner().invoke(app, ["export", "contacts", "--purpose", "spam", "--db", url])
    assert refused.exit_code == 2
    engine.dispose()


def test_erase_destroys_the_persons_shredding_keys(tmp_path: Path) -> None:
    """With `privacy.shredding.keys` in vigie.yaml, export opens the person's sealed traits
    and erase destroys their key: the sealed traits in the log open to nothing afterwards."""
    from vigie.events import Event
    from vigie.log.sql import SqlEventLog
    from vigie.privacy.shredding import Shredder, SubjectKeys

    url, engine = _store(tmp_path)
    keys_url = f"sqlite:///{tmp_path}/keys.db"
    config = tmp_path / "vigie.yaml"
    config.write_text(f'privacy:\n  shredding: {{keys: "{keys_url}"}}\n')
    shredder = Shredder(SubjectKeys(connect(keys_url)))
    at = datetime(2026, 1, 2, tzinfo=UTC)
    identify = Event(message_id="i1", type="identify", source="web", anonymous_id="anon-cli-1",
                     timestamp=at, received_at=at, traits={"email": CONTACT["email"]})  # fmt: skip
    log = SqlEventLog(engine)
    log.append(shredder.sealed([identify]), source="web")
    runner = CliRunner()
    common = ["--contact", "ct_cli_1", "--db", url, "--config", str(config)]
    out = tmp_path / "person.json"
    result = runner.invoke(app, ["privacy", "export", *common, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["events"][0]["traits"] == {"email": CONTACT["email"]}
    result = runner.invoke(app, ["privacy", "erase", *common, "--yes"])
    assert result.exit_code == 0, result.output
    fresh = Shredder(SubjectKeys(connect(keys_url)))
    assert fresh.keys.key_for("anon-cli-1", create=False) is None
    logged = fresh.open(log.read(0, 10))
    assert [e.traits for e in logged if e.type == "identify"] == [{}]
    # The running processes' notice, naming nobody.
    assert [(e.event, e.properties, e.traits) for e in logged if e.type == "notice"] == [
        ("Subject Erased", {}, {})
    ]
    engine.dispose()


def test_an_imported_contacts_visitor_ids_are_pseudonymised(tmp_path: Path) -> None:
    """`vigie import contacts` appends beside the server's writer: with pseudonymised visitor
    ids, the contact's linked ids reach the log and the CRM as their pseudonyms, as when the
    contact is created through the API."""
    url = f"sqlite:///{tmp_path}/vigie.db"
    config = tmp_path / "vigie.yaml"
    config.write_text("privacy:\n  visitor_ids:\n    pseudonymise: true\n    key: k-0123456789\n")
    sheet = tmp_path / "contacts.csv"
    sheet.write_text('last_name,anonymous_ids\nPeeters,"[""browser-cli-7""]"\n')
    result = CliRunner().invoke(
        app, ["import", "contacts", str(sheet), "--db", url, "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    engine = connect(url)
    with engine.connect() as conn:
        bodies = [bytes(b) for b in conn.exec_driver_sql("SELECT body FROM events").scalars()]
        linked = conn.exec_driver_sql("SELECT anonymous_ids FROM crm_contacts").scalar_one()
    engine.dispose()
    assert len(bodies) == 1 and all(b"browser-cli-7" not in body for body in bodies)
    assert json.loads(linked) == [Pseudonymiser("k-0123456789")("browser-cli-7")]


def test_erase_sends_each_notice_once_and_leaves_none_owed(tmp_path: Path) -> None:
    """`vigie privacy erase` of a person with a loyalty ring sends one rings' notice and one
    erasure notice to the log, and clears both debts in the store: a server's timer has no
    second notice left to send."""
    from vigie.events import NOTICE_TYPE
    from vigie.log.sql import SqlEventLog
    from vigie.privacy.tables import erasure_notices
    from vigie.sensors.tables import ring_links, ring_notices

    url, engine = _store(tmp_path)
    with engine.begin() as conn:
        conn.execute(ring_links.insert().values(ring="urn:epc:id:sgtin:1.2.3",
                                                contact_id="ct_cli_1", starts_us=1,
                                                linked_by="ana"))  # fmt: skip
    result = CliRunner().invoke(
        app, ["privacy", "erase", "--contact", "ct_cli_1", "--yes", "--db", url]
    )
    assert result.exit_code == 0, result.output
    notices = [e.event for e in SqlEventLog(engine).read(1, 100) if e.type == NOTICE_TYPE]
    assert sorted(notices) == ["Ring Links Changed", "Subject Erased"]
    with engine.connect() as conn:
        for table in (ring_notices, erasure_notices):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    engine.dispose()
