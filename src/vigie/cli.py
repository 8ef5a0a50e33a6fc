"""The `vigie` command."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vigie.config import ConfigError
from vigie.settings import Settings, build_settings

app = typer.Typer(
    name="vigie",
    help="Vigie: a CRM that works as a real-time internal audit of a company.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The SQL store.", no_args_is_help=True)
bench_app = typer.Typer(
    help="Benchmarks; each finishes within a minute by default.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")

console = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL: sqlite:///PATH (default ./vigie-data/vigie.db) or postgresql://…",
    ),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to vigie.yaml (see vigie.example.yaml).")
]


def _settings(db: str | None, config: Path | None) -> Settings:
    try:
        return build_settings(db_url=db, config_path=config)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    db: DbOption = None,
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the Vigie server: ingestion, REST API, dashboard and /metrics.

    Example: vigie serve --db postgresql://vigie@localhost/vigie --config vigie.yaml
    """
    import uvicorn

    from vigie.web import create_app
    from vigie.web.server import uvicorn_config

    settings = _settings(db, config)
    _announce_key(settings)
    application = create_app(settings)
    console.print(f"Vigie on http://{host}:{port}  (API docs: /docs, metrics: /metrics)")
    uvicorn.Server(uvicorn_config(application, host=host, port=port)).run()


def _announce_key(settings: Settings) -> None:
    if settings.generated_write_key:
        key = settings.config.sources[0].write_key
        console.print(
            f"No vigie.yaml and no VIGIE_WRITE_KEY: source 'default' uses the generated write key "
            f"[bold]{key}[/bold]"
        )


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Play the scenario fast-forwarded, then exit 0.")
    ] = False,
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    visitors: Annotated[int, typer.Option(help="Visitors in the lunch-time campaign.")] = 2000,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per real second (ignored with --once).")
    ] = 120.0,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the scenario (random by default).")
    ] = None,
) -> None:
    """Start Vigie on the embedded store and replay a lunch-time (12:00-13:00) campaign into it.

    Example: vigie demo --once
    """
    from vigie.demo import run_demo
    from vigie.kpi.catalogue import with_catalogue

    settings = _settings(db, None)
    settings.config = with_catalogue(settings.config)
    raise typer.Exit(
        run_demo(
            settings,
            console=console,
            once=once,
            host=host,
            port=port,
            visitors=visitors,
            speed=speed,
            seed=seed,
        )
    )


@app.command()
def simulate(
    scenario: Annotated[str, typer.Argument(help="Scenario: lunch.")] = "lunch",
    out: Annotated[
        Path | None, typer.Option(help="Write JSON lines here instead of stdout.")
    ] = None,
    visitors: Annotated[int, typer.Option(help="Visitors to simulate.")] = 2000,
    day: Annotated[str | None, typer.Option(help="Day of the scenario, YYYY-MM-DD.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Write a simulated scenario as Segment messages, one JSON object per line.

    Example: vigie simulate lunch --visitors 500 --out lunch.jsonl
    """
    from vigie.simulate import LunchCampaign

    if scenario != "lunch":
        err.print(f"[red]unknown scenario {scenario!r}[/red]; available: lunch")
        raise typer.Exit(2)
    the_day = date.fromisoformat(day) if day else date.today()
    stream = LunchCampaign(day=the_day, visitors=visitors, seed=seed).messages()
    handle = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        for message in stream:
            handle.write(json.dumps(message, ensure_ascii=False) + "\n")
    finally:
        if out:
            handle.close()


@app.command()
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
) -> None:
    """Replay stored events (or a CSV series) through the rules and print the alerts that
    would have fired, when, and why.

    Example: vigie backtest --config vigie.yaml --from 2026-11-28T12:00 --to 2026-11-28T13:00
    """
    from vigie.rules.backtest import SeriesError, log_events, replay, series_events
    from vigie.rules.report import print_alerts

    settings = _settings(db, config)
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
        changes = replay([replacement], rules, events, tick=tick, until=until)
    else:
        from vigie.log import SqlEventLog
        from vigie.store import connect, upgrade

        engine = connect(settings.db_url)
        upgrade(engine)
        try:
            events_iter = log_events(SqlEventLog(engine), start=since, end=until)
            changes = replay(cfg.metrics, cfg.rules, events_iter, tick=tick, until=until)
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


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the database schema to the newest version.

    Example: vigie db upgrade --db postgresql://vigie@localhost/vigie
    """
    from vigie.store import connect, upgrade

    settings = _settings(db, None)
    engine = connect(settings.db_url)
    upgrade(engine)
    engine.dispose()
    console.print(f"database is up to date: {engine.url.render_as_string(hide_password=True)}")


@bench_app.command("ingest")
def bench_ingest(
    seconds: Annotated[float, typer.Option(help="How long the clients send.")] = 10.0,
    clients: Annotated[int, typer.Option(help="Client processes.")] = 2,
    connections: Annotated[int, typer.Option(help="Connections per client process.")] = 4,
    batch: Annotated[int, typer.Option(help="Events per batch.")] = 500,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (a temporary SQLite file by default).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON on the last line.")
    ] = False,
) -> None:
    """Measure HTTP ingestion into the log against the raw insert rate of the same rows.

    Example: vigie bench ingest --seconds 10 --json
    """
    from vigie.bench.ingest import run_ingest_bench

    figures = run_ingest_bench(
        seconds=seconds,
        clients=clients,
        connections=connections,
        batch=batch,
        db_url=db,
        console=console,
    )
    if as_json:
        print(json.dumps(figures))


def main() -> None:
    """Entry point for `python -m vigie`."""
    app()


@bench_app.command("kpi")
def bench_kpi(
    events: Annotated[int, typer.Option(help="Events fed to the engine.")] = 400_000,
    groups: Annotated[int, typer.Option(help="Distinct campaigns (groups).")] = 1000,
    batch: Annotated[
        int, typer.Option(help="Events per batch, as the log hands them over.")
    ] = 1000,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON on the last line.")
    ] = False,
) -> None:
    """Measure events per second through the KPI engine alone (20 metrics, sliding windows).

    Example: vigie bench kpi --json
    """
    from vigie.bench.kpi import run_kpi_bench

    figures = run_kpi_bench(events=events, groups=groups, batch=batch, console=console)
    if as_json:
        print(json.dumps(figures))


@bench_app.command("alerts")
def bench_alerts(
    seconds: Annotated[float, typer.Option(help="How long the load runs.")] = 20.0,
    rate: Annotated[int, typer.Option(help="Background events per second.")] = 10_000,
    interval: Annotated[float, typer.Option(help="Seconds between probes.")] = 0.1,
    clients: Annotated[int, typer.Option(help="Load processes sharing the rate.")] = 2,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (a temporary SQLite file by default).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON on the last line.")
    ] = False,
) -> None:
    """Measure the latency from an HTTP request carrying a triggering event to its alert
    firing on the SSE stream, under background load.

    Example: vigie bench alerts --seconds 20 --json
    """
    from vigie.bench.alerts import run_alerts_bench

    figures = run_alerts_bench(
        seconds=seconds, rate=rate, interval=interval, clients=clients, db_url=db, console=console
    )
    if as_json:
        print(json.dumps(figures))
