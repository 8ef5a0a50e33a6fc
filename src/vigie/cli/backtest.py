"""`vigie backtest`: which alerts the rules would have fired on past events."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from vigie.cli.options import DbOption, console, err, load_settings


def backtest(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="vigie.yaml with the metrics and rules to test.")
    ],
    start: Annotated[
        str | None, typer.Option("--from", help="Event time to start at (ISO 8601).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Event time to stop at (ISO 8601).")
    ] = None,
    db: DbOption = None,
    series: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="Replay a CSV time series (timestamp,value) instead of the log."
        ),
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="The metric the CSV series gives values of.")
    ] = None,
    tick: Annotated[str, typer.Option(help="Simulated time between evaluations.")] = "1s",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the alerts as JSON lines.")
    ] = False,
    reference: Annotated[
        bool, typer.Option("--reference", help="Use the per-event reference KPI engine.")
    ] = False,
) -> None:
    """Replay stored events (or a CSV series) through the rules and print the alerts that
    would have fired, when, and why.

    Example: vigie backtest --config vigie.yaml --from 2026-11-28T12:00 --to 2026-11-28T13:00
    """
    from vigie.rules.backtest import SeriesError, log_events, replay, series_events
    from vigie.rules.report import print_alerts

    settings = load_settings(db, config)
    cfg = settings.config
    since = _moment(start, "--from")
    until = _moment(end, "--to")
    if series is not None:
        chosen = next((m for m in cfg.metrics if m.name == metric), None)
        if chosen is None:
            names = ", ".join(m.name for m in cfg.metrics) or "none"
            err.print(f"[red]--metric must name a metric of {config}[/red] (metrics: {names})")
            raise typer.Exit(2)
        try:
            replacement, events = series_events(series, chosen)
        except (OSError, SeriesError) as exc:
            err.print(f"[red]cannot read the series:[/red] {exc}")
            raise typer.Exit(2) from exc
        events = [
            e
            for e in events
            if (since is None or e.timestamp >= since) and (until is None or e.timestamp < until)
        ]
        rules = [r for r in cfg.rules if r.metric == chosen.name]
        changes = replay([replacement], rules, events, tick=tick, until=until, reference=reference)
    else:
        from vigie.log import SqlEventLog
        from vigie.store import connect, upgrade

        engine = connect(settings.db_url)
        upgrade(engine)
        try:
            events_iter = log_events(SqlEventLog(engine), start=since, end=until)
            changes = replay(
                cfg.metrics, cfg.rules, events_iter, tick=tick, until=until, reference=reference
            )
        finally:
            engine.dispose()
    print_alerts(changes, console=console, as_json=as_json)


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        err.print(f"[red]{option} {text!r} is not an ISO 8601 time[/red] (e.g. 2026-11-28T12:00)")
        raise typer.Exit(2) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
