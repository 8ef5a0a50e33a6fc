"""`vigie report`: the weekly review as HTML and PDF, for a manager's inbox or a meeting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer

from vigie.cli.options import ConfigOption, DbOption, console, err, load_settings

report_app = typer.Typer(
    help="Reports: the weekly review. / Rapports : la revue hebdomadaire.\n\n"
    "Example: vigie report weekly --week 2026-W48 --language fr",
    no_args_is_help=True,
)


@report_app.command()
def weekly(
    week: Annotated[
        str | None,
        typer.Option(
            help="The ISO week, YYYY-Www (e.g. 2026-W48), Monday to Monday in the site's time "
            "zone (analytics.timezone); default: last week."
        ),
    ] = None,
    language: Annotated[
        Literal["en", "fr"], typer.Option("--language", "-l", help="The report's language.")
    ] = "en",
    timezone: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="The IANA time zone times are shown in; default: the site's (analytics.timezone).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder the report is written to.")] = Path(
        "./vigie-data/reports"
    ),
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write the PDF.")] = True,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """The weekly review of WEEK: each KPI against its target and the weeks before, every
    alert with its time to acknowledge and the playbooks it ran, each rule's precision and
    noise, the measured effects and experiments, the right-to-disconnect record and the
    silent or flapping sensors. Writes weekly-WEEK-LANG.html (and .pdf) and prints the paths.

    Example: vigie report weekly --week 2026-W48 --language fr
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from vigie.review import ReviewError
    from vigie.review.render import render_html, write_pdf
    from vigie.store import upgrade
    from vigie.system import build_system

    settings = load_settings(db, config)
    shown = timezone or settings.config.analytics.timezone
    try:
        ZoneInfo(shown)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        err.print(f"--tz: {shown!r} is not an IANA time zone (e.g. Europe/Brussels)")
        raise typer.Exit(2) from exc
    system = build_system(settings)
    try:
        upgrade(system.engine)
        offset = 1  # the experiments' verdicts live in their processor: fold the log in
        while batch := system.log.read(offset, 5000):
            system.experiments.process(batch)
            offset = (batch[-1].offset or offset) + 1
        chosen = week or system.reviews.week_of(system.clock.now() - timedelta(weeks=1))
        try:
            review = system.reviews.build(chosen)
        except ReviewError as exc:
            err.print(f"--week: {exc}")
            raise typer.Exit(2) from exc
    finally:
        system.engine.dispose()
    html = render_html(review, language=language, timezone=shown)
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"weekly-{review.week}-{language}.html"
    page.write_text(html, encoding="utf-8")
    console.print(f"HTML: {page}")
    if pdf:
        document = write_pdf(html, out / f"weekly-{review.week}-{language}.pdf")
        console.print(f"PDF: {document}")
