"""`vigie import` and `vigie export`: CRM records to and from CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from vigie.settings import Settings

EntityArgument = Annotated[
    str,
    typer.Argument(help=f"One of {', '.join(ENTITIES)}, or ads (an ad platform's report)."),
]


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
    platform: Annotated[
        str | None, typer.Option(help="For ads: google or meta (whose export the file is).")
    ] = None,
    timezone: Annotated[str, typer.Option(help="For ads: the ad account's time zone.")] = "UTC",
    currency: Annotated[
        str, typer.Option(help="For ads: the currency when the file names none.")
    ] = "EUR",
) -> None:
    """Import CRM records from CSV, all or nothing: any bad row imports nothing and every bad
    row is reported with its line number and reason. A row with an existing id updates it.
    The file is checked as one batch of the API is, appended to the event log in one
    transaction, and the second bar counts the rows the CRM projection has applied.

    `vigie import ads FILE --platform google|meta` imports an ad platform's cost and
    impression report (Google Ads or Meta Ads Manager CSV export, per campaign and hour) as
    `Ad Spend` events; an hour imported before is stored once.

    Example: vigie import contacts contacts.csv
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vigie.clock import SystemClock
    from vigie.crm.csvfiles import import_csv as run_import
    from vigie.system import command_log

    if entity == "ads":
        _import_ads(
            file,
            db=db,
            settings=load_settings(db, config),
            platform=platform,
            timezone=timezone,
            currency=currency,
        )
        return
    the_entity = _entity(entity)
    settings = load_settings(db, config)
    engine = migrated_engine(db)
    log = command_log(settings, engine)
    text = file.read_text(encoding="utf-8-sig")
    rows = max(text.count("\n") - 1, 0)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        checked = progress.add_task(f"checking {file.name}", total=rows or None)
        applied = progress.add_task("applied / appliquées", total=rows or None)
        try:
            report = run_import(
                engine=engine,
                entity=the_entity,
                text=text,
                actor=cli_actor(),
                now=SystemClock().now(),
                config=settings.config.crm,
                log=log,
                progress=lambda n: progress.advance(checked, n),
                applied=lambda n: progress.advance(applied, n),
            )
        except TimeoutError as exc:
            log.close()
            err.print(f"[yellow]{file}: {exc}[/yellow]", soft_wrap=True)
            raise typer.Exit(1) from exc
        if not report.ok:
            progress.remove_task(applied)
    log.close()
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


def _import_ads(
    file: Path,
    *,
    db: str | None,
    settings: Settings,
    platform: str | None,
    timezone: str,
    currency: str,
) -> None:
    """`vigie import ads`: read the report, then append its events in one transaction."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vigie.clock import SystemClock
    from vigie.sources.ads import PLATFORMS, read_report
    from vigie.system import command_log

    if platform not in PLATFORMS:
        err.print(f"[red]--platform is required for ads: one of {', '.join(PLATFORMS)}[/red]")
        raise typer.Exit(2)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        err.print(f"[red]--timezone {timezone!r} is not a known time zone[/red]")
        raise typer.Exit(2) from None
    text = file.read_text(encoding="utf-8-sig")
    rows = max(text.count("\n") - 1, 0)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn())
    engine = migrated_engine(db)
    now = SystemClock().now()
    with Progress(*columns, console=console) as progress:
        read = progress.add_task(f"reading {file.name}", total=rows or None)
        report = read_report(
            text,
            platform=platform,
            received_at=now,
            timezone=timezone,
            currency=currency,
            progress=lambda n: progress.advance(read, n),
        )
        progress.update(read, total=len(report.events) + len(report.errors))
        if report.ok:
            stored = progress.add_task("stored / enregistrées", total=len(report.events))
            source = report.events[0].source
            log = command_log(settings, engine)
            try:
                result = log.append(
                    report.events, source=source, endpoint=f"import:{source}", received_at=now
                )
            finally:
                log.close()
            progress.advance(stored, len(report.events))
    engine.dispose()
    if not report.ok:
        err.print(f"[red]{file}: nothing was imported / rien n'a été importé[/red]")
        for error in report.errors:
            err.print(f"  {file}:{error.line}: {error.reason}", soft_wrap=True, markup=False)
        raise typer.Exit(1)
    console.print(
        f"{platform} ads: {len(report.events)} hours read, {result.accepted} stored, "
        f"{result.duplicates} already there / {result.accepted} enregistrées, "
        f"{result.duplicates} déjà présentes"
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
