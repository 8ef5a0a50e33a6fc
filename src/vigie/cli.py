"""The `vigie` command."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vigie.ai.cli import leads_app, prospects_app
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
app.add_typer(prospects_app, name="prospects")
app.add_typer(leads_app, name="leads")

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

    settings = _settings(db, None)
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
    scenario: Annotated[str, typer.Argument(help="Scenario: lunch or deals.")] = "lunch",
    out: Annotated[
        Path | None, typer.Option(help="Write JSON lines here instead of stdout.")
    ] = None,
    visitors: Annotated[int, typer.Option(help="Visitors to simulate.")] = 2000,
    day: Annotated[str | None, typer.Option(help="Day of the scenario, YYYY-MM-DD.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    deals: Annotated[int, typer.Option(help="Closed deals (scenario deals).")] = 5000,
) -> None:
    """Write a simulated scenario: lunch as Segment messages (JSON lines), deals as a CRM
    deal history with outcomes (CSV, or Parquet when --out ends in .parquet).

    Example: vigie simulate deals --deals 5000 --out deals.csv
    """
    from vigie.simulate import LunchCampaign

    if scenario == "deals":
        from vigie.ai.cli import simulate_deals

        simulate_deals(out, deals=deals, seed=seed, day=date.fromisoformat(day) if day else None)
        return
    if scenario != "lunch":
        err.print(f"[red]unknown scenario {scenario!r}[/red]; available: lunch, deals")
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


@bench_app.command("scoring")
def bench_scoring(
    rows: Annotated[int, typer.Option(help="Prospects to generate and score.")] = 1_000_000,
    top: Annotated[int, typer.Option(help="Leads to explain and assign.")] = 10_000,
    reps: Annotated[int, typer.Option(help="Salespeople to assign them to.")] = 20,
    baseline: Annotated[
        bool, typer.Option(help="Also time the pandas + scikit-learn baseline.")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON on the last line.")
    ] = False,
) -> None:
    """Generate prospects, score them all, rank, explain the top and assign them to reps,
    beside the same job written plainly with pandas and scikit-learn.

    Example: vigie bench scoring --rows 12000000 --json
    """
    from vigie.bench.scoring import run_scoring_bench

    figures = run_scoring_bench(rows=rows, top=top, reps=reps, baseline=baseline, console=console)
    if as_json:
        print(json.dumps(figures))


def main() -> None:
    """Entry point for `python -m vigie`."""
    app()
