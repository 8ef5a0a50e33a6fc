"""`vigie bench …`: the benchmarks, each within a minute by default."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigie.cli.options import console

bench_app = typer.Typer(
    help="Benchmarks; each finishes within a minute by default.\n\n"
    "Example: vigie bench ingest --seconds 10 --json",
    no_args_is_help=True,
)


JsonFigures = Annotated[
    bool, typer.Option("--json", help="Print the figures as JSON on the last line.")
]
BenchDb = Annotated[
    str | None, typer.Option("--db", help="Database URL (a temporary SQLite file by default).")
]


@bench_app.command("ingest")
def bench_ingest(
    seconds: Annotated[float, typer.Option(help="How long the clients send.")] = 10.0,
    clients: Annotated[int, typer.Option(help="Client processes.")] = 2,
    connections: Annotated[int, typer.Option(help="Connections per client process.")] = 4,
    batch: Annotated[int, typer.Option(help="Events per batch.")] = 500,
    db: BenchDb = None,
    as_json: JsonFigures = False,
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


@bench_app.command("live")
def bench_live(
    events: Annotated[int, typer.Option(help="Events posted, one at a time.")] = 200,
    db: BenchDb = None,
    as_json: JsonFigures = False,
) -> None:
    """Time an event from the API to an open dashboard's live stream, beside its ingest ack.

    Example: vigie bench live --events 200 --json
    """
    from vigie.bench.live import run_live_bench

    figures = run_live_bench(events=events, db_url=db, console=console)
    if as_json:
        print(json.dumps(figures))


@bench_app.command("funnel")
def bench_funnel(
    events: Annotated[int, typer.Option(help="Generated events in the log.")] = 150_000,
    stores: Annotated[
        str, typer.Option(help="Comma-separated stores to run on: sqlite, postgres.")
    ] = "sqlite,postgres",
    pg: Annotated[
        str,
        typer.Option(
            "--pg", help="PostgreSQL server (a temporary database is created there and dropped)."
        ),
    ] = "postgresql://postgres@127.0.0.1:5432/test",
    as_json: JsonFigures = False,
) -> None:
    """Measure a 3-step funnel kept live by the processor against its from-scratch
    recomputation with Polars, on SQLite and PostgreSQL.

    Example: vigie bench funnel --events 10000000 --json
    """
    from vigie.bench.funnel import run_funnel_bench

    figures = run_funnel_bench(
        events=events,
        stores=[s.strip() for s in stores.split(",") if s.strip()],
        pg_url=pg,
        console=console,
    )
    if as_json:
        print(json.dumps(figures))


@bench_app.command("playbooks")
def bench_playbooks(
    seconds: Annotated[float, typer.Option(help="Total time of the measurements.")] = 20.0,
    db: BenchDb = None,
    as_json: JsonFigures = False,
) -> None:
    """Measure schedule decisions and recorded playbook runs against their baselines.

    Example: vigie bench playbooks --seconds 20 --json
    """
    from vigie.bench.playbooks import run_playbooks_bench

    figures = run_playbooks_bench(seconds=seconds, db_url=db, console=console)
    if as_json:
        print(json.dumps(figures))


@bench_app.command("crm")
def bench_crm(
    writes: Annotated[int, typer.Option(help="Sequential writes through the API.")] = 300,
    port: Annotated[int, typer.Option(help="Port of the temporary server.")] = 8765,
    db: BenchDb = None,
    as_json: JsonFigures = False,
) -> None:
    """Measure CRM writes through the API (log, projection, read-back) against direct inserts.

    Example: vigie bench crm --writes 300 --json
    """
    from vigie.bench.crm import run_crm_bench

    figures = run_crm_bench(writes=writes, db_url=db, port=port, console=console)
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
    as_json: JsonFigures = False,
) -> None:
    """Generate prospects, score them all, rank, explain the top and assign them to reps,
    beside the same job written plainly with pandas and scikit-learn.

    Example: vigie bench scoring --rows 12000000 --json
    """
    from vigie.bench.scoring import run_scoring_bench

    figures = run_scoring_bench(rows=rows, top=top, reps=reps, baseline=baseline, console=console)
    if as_json:
        print(json.dumps(figures))


@bench_app.command("kpi")
def bench_kpi(
    events: Annotated[int, typer.Option(help="Events fed to the engine.")] = 400_000,
    groups: Annotated[int, typer.Option(help="Distinct campaigns (groups).")] = 1000,
    batch: Annotated[
        int, typer.Option(help="Events per batch, as the log hands them over.")
    ] = 1000,
    as_json: JsonFigures = False,
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
    interval: Annotated[float, typer.Option(help="Seconds between probes.")] = 0.05,
    clients: Annotated[int, typer.Option(help="Load processes sharing the rate.")] = 2,
    connections: Annotated[int, typer.Option(help="Keep-alive connections per load process.")] = 4,
    synchronous: Annotated[
        str, typer.Option(help="SQLite synchronous mode of the server: NORMAL or FULL.")
    ] = "NORMAL",
    db: BenchDb = None,
    as_json: JsonFigures = False,
) -> None:
    """Measure the latency from an HTTP request carrying a triggering event to its alert
    firing on the SSE stream, under background load.

    Example: vigie bench alerts --seconds 20 --json
    """
    from vigie.bench.alerts import run_alerts_bench

    figures = run_alerts_bench(
        seconds=seconds,
        rate=rate,
        interval=interval,
        clients=clients,
        connections=connections,
        synchronous=synchronous.upper(),
        db_url=db,
        console=console,
    )
    if as_json:
        print(json.dumps(figures))
