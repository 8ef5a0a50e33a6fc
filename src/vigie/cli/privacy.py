"""`vigie privacy …`: a data subject's export and erasure, and the retention purge."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigie.cli.options import ConfigOption, DbOption, LogOption, console, err, load_settings

if TYPE_CHECKING:
    from vigie.auth.audit import Actor
    from vigie.privacy import DataSubjects, RetentionPurge

privacy_app = typer.Typer(
    help="A person's data: export everything held about them, erase them everywhere; the "
    "retention purge. / Données personnelles : export, effacement, purge.\n\n"
    "Example: vigie privacy export --contact ct_1f3a… --out zoe.json",
    no_args_is_help=True,
)
ContactOption = Annotated[str, typer.Option("--contact", help="The contact's id (ct_…).")]


@contextmanager
def _parts(
    db: str | None, config: Path | None, log: str | None = None
) -> Iterator[tuple[DataSubjects, RetentionPurge]]:
    from vigie.chat.processor import SAID, forget_transcripts
    from vigie.clock import SystemClock
    from vigie.crm.notes import forget_notes, note_events
    from vigie.log.columnar import ColumnarCopy
    from vigie.log.nats import NatsEventLog
    from vigie.log.sql import SqlEventLog
    from vigie.privacy import DataSubjects, RetentionPurge
    from vigie.privacy.consent import ConsentBook
    from vigie.privacy.erasures import SOURCE as ERASURES
    from vigie.privacy.erasures import ErasureAnnouncements, erased_event
    from vigie.sensors.rings import NOTICE_SOURCE, PURPOSE, RingBook, changed_event
    from vigie.store import connect, upgrade
    from vigie.system import command_log, shredder_of

    settings = load_settings(db, config, log)
    engine = connect(settings.db_url)
    # The events are on NATS JetStream: the export reads the person's there, as stored.
    stream = (
        NatsEventLog.from_url(settings.log_url, rejects=SqlEventLog(engine))
        if settings.log_url
        else None
    )
    try:
        upgrade(engine)
        clock = SystemClock()
        columns = None if settings.log_url else ColumnarCopy.for_store(engine, settings.columns_dir)
        shredder = shredder_of(settings.config.privacy.shredding)

        def announce_rings() -> None:
            # The running processes re-read the rings' links, the erased person's gone.
            log = command_log(settings, engine)
            try:
                log.append([changed_event(at=clock.now())], source=NOTICE_SOURCE)
            finally:
                log.close()

        # The rings' notice the erasure owes is sent, and cleared, as a server sends it: one
        # notice, not a second one from the server's timer for the debt left behind.
        consents = ConsentBook(engine)
        rings = RingBook(
            engine=engine,
            clock=clock,
            consent=lambda contact: consents.contact_gives(contact, PURPOSE),
            announce=announce_rings,
        )

        def announce() -> None:
            # The running processes drop their copies of what the erasure rewrote.
            log = command_log(settings, engine)
            try:
                log.append([erased_event(at=clock.now())], source=ERASURES)
            finally:
                log.close()

        yield (
            DataSubjects(
                engine=engine,
                clock=clock,
                columns=columns,
                forget_keys=shredder.keys.forget if shredder is not None else None,
                open_record=shredder.open_record if shredder is not None else None,
                log=stream,
                forget_person=lambda contact_id: rings.changed(),
                forget_notes=forget_notes,
                notes=note_events(),
                said=SAID,
                forget_said=forget_transcripts,
                announcements=ErasureAnnouncements(engine=engine, announce=announce),
            ),
            RetentionPurge(engine=engine, clock=clock, retention=settings.config.privacy.retention),
        )
    finally:
        if stream is not None:
            stream.close()
        engine.dispose()


def _cli_actor() -> Actor:
    import getpass

    from vigie.auth.audit import Actor

    return Actor(name=f"cli:{getpass.getuser()}", role="admin")


@privacy_app.command("export")
def privacy_export(
    contact: ContactOption,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    log: LogOption = None,
) -> None:
    """Everything held about one person as JSON: the contact, their events, and every row of
    every table that names them (interactions, chats, identity links, notifications …).
    The export is recorded in the audit trail.

    Example: vigie privacy export --contact ct_1f3a2b --out person.json
    """
    import msgspec

    from vigie.privacy import SubjectNotFound

    actor = _cli_actor()
    with _parts(db, config, log) as (subjects, _):
        try:
            data = subjects.export(contact, actor=actor)
        except SubjectNotFound as exc:
            err.print(f"{exc} / contact introuvable")
            raise typer.Exit(1) from exc
    text = msgspec.json.format(msgspec.json.encode(data), indent=2)
    if out is None:
        sys.stdout.buffer.write(text + b"\n")
    else:
        out.write_bytes(text + b"\n")
        console.print(f"exported to {out} / exporté dans {out}")


@privacy_app.command("erase")
def privacy_erase(
    contact: ContactOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
    log: LogOption = None,
) -> None:
    """Erase one person everywhere: their identifiers are replaced by random tokens in every
    table, the event log and its columnar copy, and the store's files are compacted. KPIs do
    not change. Irreversible; audited (that it happened, not what). A running server hears
    of it through the log and drops what it kept in memory (recent events, the live feed).
    A log on NATS JetStream cannot be rewritten: without crypto-shredding, what stays there in
    clear is named and the command exits with status 2. A JetStream log that cannot be read
    stops the command before anything is erased (status 3): run it again once it is back.

    Example: vigie privacy erase --contact ct_1f3a2b --yes
    """
    from vigie.privacy import PrivacyError, SubjectNotFound

    if not yes and not typer.confirm(
        f"Erase contact {contact} everywhere? This cannot be undone / Effacer définitivement ?"
    ):
        raise typer.Exit(1)
    actor = _cli_actor()
    with _parts(db, config, log) as (subjects, _):
        try:
            erasure = subjects.erase(contact, actor=actor)
        except SubjectNotFound as exc:
            err.print(f"{exc} / contact introuvable")
            raise typer.Exit(1) from exc
        except PrivacyError as exc:
            err.print(f"NOT ERASED / NON EFFACÉ: {exc}", markup=False)
            raise typer.Exit(3) from exc
    console.print(
        f"erased {contact}: {sum(erasure.rows.values())} row(s) in {len(erasure.rows)} "
        f"table(s), {erasure.segments_rewritten} columnar segment(s) rewritten; "
        f"{erasure.storage} / effacé",
        markup=False,
    )
    if erasure.log_messages_deleted:
        console.print(
            f"{erasure.log_messages_deleted} message(s) holding their free text in clear "
            "deleted from the NATS JetStream log / message(s) supprimé(s) du journal",
            markup=False,
        )
    for left in erasure.not_erased:
        err.print(f"NOT ERASED / NON EFFACÉ: {left}", markup=False)
    if erasure.not_erased:
        raise typer.Exit(2)


@privacy_app.command("purge")
def privacy_purge(db: DbOption = None, config: ConfigOption = None) -> None:
    """Delete now what is older than each data class's retention (`privacy.retention` in
    vigie.yaml: events, rejected, interactions, audit); the purge is audited. The server
    runs the same purge every `privacy.retention.purge_every`.

    Example: vigie privacy purge --config vigie.yaml
    """
    with _parts(db, config) as (_, retention):
        deleted = retention.run()
    if not deleted:
        console.print("no retention configured / aucune durée de conservation configurée")
        return
    for name, count in deleted.items():
        console.print(f"{name}: {count} row(s) deleted / supprimée(s)")
