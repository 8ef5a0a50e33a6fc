"""`vigie import` and `vigie export`: CRM records to and from CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vigie.cli.options import (
    ConfigOption,
    DbOption,
    cli_actor,
    console,
    err,
    load_settings,
    migrated_engine,
)
from vigie.crm.entities import ENTITIES, Entity

EntityArgument = Annotated[str, typer.Argument(help=f"One of {', '.join(ENTITIES)}.")]


def _entity(name: str) -> Entity:
    if name not in ENTITIES:
        err.print(f"[red]unknown entity {name!r}[/red]; choose one of {', '.join(ENTITIES)}")
        raise typer.Exit(2)
    return ENTITIES[name]


def import_csv(
    entity: EntityArgument,
    file: Annotated[Path, typer.Argument(help="A CSV file with a header row.", exists=True)],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Import CRM records from CSV, all or nothing: any bad row imports nothing and every bad
    row is reported with its line number and reason. A row with an existing id updates it.
    The file is checked as one batch of the API is, appended to the event log in one
    transaction, and the second bar counts the rows the CRM projection has applied.

    Example: vigie import contacts contacts.csv
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vigie.clock import SystemClock
    from vigie.crm.csvfiles import import_csv as run_import

    the_entity = _entity(entity)
    settings = load_settings(db, config)
    engine = migrated_engine(db)
    text = file.read_text(encoding="utf-8-sig")
    rows = max(text.count("\n") - 1, 0)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        checked = progress.add_task(f"checking {file.name}", total=rows or None)
        applied = progress.add_task("applied / appliquées", total=rows or None)
        report = run_import(
            engine=engine,
            entity=the_entity,
            text=text,
            actor=cli_actor(),
            now=SystemClock().now(),
            config=settings.config.crm,
            progress=lambda n: progress.advance(checked, n),
            applied=lambda n: progress.advance(applied, n),
        )
        if not report.ok:
            progress.remove_task(applied)
    engine.dispose()
    if not report.ok:
        err.print(
            f"[red]{file}: {len(report.errors)} bad row(s); nothing was imported "
            "/ rien n'a été importé[/red]"
        )
        for error in report.errors:
            err.print(f"  {file}:{error.line}: {error.reason}", soft_wrap=True, markup=False)
        raise typer.Exit(1)
    console.print(
        f"{the_entity.name}: {report.created} created, {report.updated} updated "
        f"/ {report.created} créés, {report.updated} mis à jour"
    )


def export_csv(
    entity: EntityArgument,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    archived: Annotated[bool, typer.Option(help="Include archived records.")] = False,
    purpose: Annotated[
        str | None,
        typer.Option(
            help="Contacts only: what the file is for (marketing, profiling, analytics, "
            "third_parties); contacts without that consent are left out."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Export CRM records as CSV (recorded in the audit trail: it may be personal data).
    With --purpose, contacts who did not consent to it are left out and counted.

    Example: vigie export contacts --purpose marketing --out mailing.csv
    """
    from vigie.auth import audit
    from vigie.clock import SystemClock
    from vigie.crm import csvfiles, records
    from vigie.privacy.consent import PURPOSE_FIELDS, gives, skipped_reason

    the_entity = _entity(entity)
    engine = migrated_engine(db)
    if purpose is not None and purpose not in PURPOSE_FIELDS:
        err.print(f"--purpose {purpose!r}: use one of {', '.join(PURPOSE_FIELDS)}")
        raise typer.Exit(2)
    with engine.connect() as conn:
        rows = records.iter_records(conn, the_entity, archived=archived)
    skipped = 0
    if purpose is not None and the_entity.name == "contacts":
        kept = [r for r in rows if gives(getattr(r, "consent").model_dump(), purpose)]  # noqa: B009
        skipped, rows = len(rows) - len(kept), kept
        err.print(f"{skipped} contact(s) {skipped_reason(purpose)}")
    audit.record(
        engine=engine,
        actor=cli_actor(),
        action="export",
        entity=the_entity.name,
        at=SystemClock().now(),
        details={
            "rows": len(rows),
            "personal_data": the_entity.personal,
            "via": "cli",
            **({"purpose": purpose, "skipped": skipped} if purpose is not None else {}),
        },
    )
    engine.dispose()
    text = csvfiles.render(the_entity, rows)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"{len(rows)} {the_entity.name} written to {out}")
