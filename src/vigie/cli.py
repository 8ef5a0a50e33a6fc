"""The `vigie` command."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import sqlalchemy as sa
import typer
from rich.console import Console

from vigie.ai.cli import leads_app, prospects_app
from vigie.config import ConfigError
from vigie.settings import Settings, build_settings

if TYPE_CHECKING:
    from vigie.auth.audit import Actor
    from vigie.crm.entities import Entity

app = typer.Typer(
    name="vigie",
    help="Vigie: a CRM that works as a real-time internal audit of a company.\n\n"
    "Example: vigie demo",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(
    help="The SQL store.\n\nExample: vigie db upgrade --db sqlite:///vigie-data/vigie.db",
    no_args_is_help=True,
)
bench_app = typer.Typer(
    help="Benchmarks; each finishes within a minute by default.\n\n"
    "Example: vigie bench ingest --seconds 10 --json",
    no_args_is_help=True,
)
users_app = typer.Typer(
    help="Users, roles and API tokens.\n\n"
    "Example: vigie users create --username alice --role sales",
    no_args_is_help=True,
)
playbook_app = typer.Typer(
    help="Playbooks: run one by hand, or see what it would do. / Exécuter un playbook.\n\n"
    "Example: vigie playbook run conversion-drop --dry-run",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(playbook_app, name="playbook")
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
LogOption = Annotated[
    str | None,
    typer.Option(
        "--log",
        help="Event log: the SQL store by default, or NATS JetStream with nats://HOST:PORT "
        "(optional ?stream=NAME&prefix=SUBJECT&window=SECONDS). Also VIGIE_LOG.",
    ),
]
JsonFigures = Annotated[
    bool, typer.Option("--json", help="Print the figures as JSON on the last line.")
]
BenchDb = Annotated[
    str | None, typer.Option("--db", help="Database URL (a temporary SQLite file by default).")
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to vigie.yaml (see vigie.example.yaml).")
]


def _settings(db: str | None, config: Path | None, log: str | None = None) -> Settings:
    try:
        return build_settings(db_url=db, config_path=config, log_url=log)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    db: DbOption = None,
    config: ConfigOption = None,
    log: LogOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the Vigie server: ingestion, REST API, dashboard and /metrics.

    Example: vigie serve --db postgresql://vigie@localhost/vigie --config vigie.yaml

    Example: vigie serve --log nats://127.0.0.1:4222
    """
    from vigie.web import create_app
    from vigie.web.server import Server, uvicorn_config
    from vigie.web.tuning import ProcessTuning

    settings = _settings(db, config, log)
    _announce_key(settings)
    try:
        application = create_app(settings)
    except (ValueError, OSError) as exc:
        err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"Vigie on http://{host}:{port}  (API docs: /docs, metrics: /metrics)")
    Server(uvicorn_config(application, host=host, port=port), tuning=ProcessTuning()).run()


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
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="vigie.yaml to run (default: the shipped vigie.example.yaml)."
        ),
    ] = None,
) -> None:
    """Start Vigie on the embedded store and replay a lunch-time (12:00-13:00) campaign into it,
    with the shipped example configuration: its KPIs, rules, playbooks, people and schedules.

    Example: vigie demo --once
    """
    from vigie.catalogue import with_catalogue
    from vigie.demo import EXAMPLE, run_demo

    settings = _settings(db, config or Path(str(EXAMPLE)))
    settings.config = with_catalogue(settings.config)
    # The demo has no mail server: notifications stay in the app (GET /api/notifications).
    settings.config.actions.smtp = None
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
    scenario: Annotated[str, typer.Argument(help="Scenario: lunch, crm or deals.")] = "lunch",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    visitors: Annotated[int, typer.Option(help="Visitors to simulate.")] = 2000,
    day: Annotated[str | None, typer.Option(help="Day of the scenario, YYYY-MM-DD.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    accounts: Annotated[int, typer.Option(help="Companies in the crm scenario.")] = 40,
    deals: Annotated[int, typer.Option(help="Closed deals (scenario deals).")] = 5000,
) -> None:
    """Write a simulated scenario: `lunch` (a lunch-time campaign) or `crm` (Belgian and French
    companies, pipeline, tickets, invoices) as Segment messages, one JSON object per line;
    `deals` as a CRM deal history with outcomes (CSV, or Parquet when --out ends in .parquet).

    Example: vigie simulate crm --accounts 60 --seed 3 --out crm.jsonl
    """
    from collections.abc import Iterator
    from typing import Any

    from vigie.simulate import CrmScenario, LunchCampaign

    if scenario == "deals":
        from vigie.ai.cli import simulate_deals

        simulate_deals(out, deals=deals, seed=seed, day=date.fromisoformat(day) if day else None)
        return
    the_day = date.fromisoformat(day) if day else date.today()
    stream: Iterator[dict[str, Any]]
    if scenario == "lunch":
        stream = LunchCampaign(day=the_day, visitors=visitors, seed=seed).messages()
    elif scenario == "crm":
        stream = CrmScenario(day=the_day, accounts=accounts, seed=seed).messages()
    else:
        err.print(f"[red]unknown scenario {scenario!r}[/red]; available: lunch, crm, deals")
        raise typer.Exit(2)
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


def _migrated_engine(db: str | None) -> sa.Engine:
    from vigie.store import connect, upgrade

    engine = connect(_settings(db, None).db_url)
    upgrade(engine)
    return engine


def _cli_actor() -> Actor:
    import getpass

    from vigie.auth.audit import Actor

    return Actor(name=f"cli:{getpass.getuser()}", role="admin")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[
        str,
        typer.Option(help="admin, manager, marketing, sales, support, finance or read-only."),
    ],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password."),
    ],
    staff_id: Annotated[
        str | None, typer.Option(help="The staff member this user is (sales and managers).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the interface.")] = None,
    db: DbOption = None,
) -> None:
    """Create a user with a role; the password is asked for when not given.

    Example: vigie users create --username alice --role sales --staff-id st_alice
    """
    from vigie.auth import audit
    from vigie.auth.users import UserError, create_user
    from vigie.clock import SystemClock

    engine = _migrated_engine(db)
    now = SystemClock().now()
    try:
        user = create_user(
            engine=engine,
            username=username,
            password=password,
            role=role,
            staff_id=staff_id,
            display_name=display_name,
            now=now,
        )
    except UserError as exc:
        err.print(f"[red]cannot create the user:[/red] {exc}")
        raise typer.Exit(2) from exc
    audit.record(
        engine=engine,
        actor=_cli_actor(),
        action="user.create",
        entity="users",
        entity_id=str(user.id),
        at=now,
        details={"username": user.username, "role": user.role.value},
    )
    engine.dispose()
    console.print(f"user [bold]{user.username}[/bold] created with role {user.role.value}")


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    db: DbOption = None,
) -> None:
    """Issue an API token for a user and print it once (send it as `Authorization: Bearer`).

    Example: vigie users token alice --name reporting-script
    """
    from vigie.auth import audit
    from vigie.auth.tokens import issue_token
    from vigie.auth.users import users
    from vigie.clock import SystemClock

    engine = _migrated_engine(db)
    with engine.connect() as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(users.c.username == username, users.c.disabled_at.is_(None))
        ).scalar()
    if user_id is None:
        err.print(f"[red]no active user named {username!r}[/red] (vigie users create …)")
        raise typer.Exit(2)
    now = SystemClock().now()
    issued = issue_token(engine=engine, user_id=int(user_id), name=name, now=now)
    audit.record(
        engine=engine,
        actor=_cli_actor(),
        action="token.issue",
        entity="users",
        entity_id=str(user_id),
        at=now,
        details={"token_id": issued.id, "name": name},
    )
    engine.dispose()
    print(issued.token)


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            err.print(f"[red]--param {pair!r}[/red]: write KEY=VALUE / écrivez CLÉ=VALEUR")
            raise typer.Exit(2)
        params[key] = value
    return params


@playbook_app.command("list")
def playbook_list(config: ConfigOption = None) -> None:
    """List the playbooks of vigie.yaml, what starts them and their steps.

    Example: vigie playbook list -c vigie.yaml
    """
    settings = _settings(None, config)
    if not settings.config.playbooks:
        console.print("no playbooks configured / aucun playbook configuré")
        return
    for book in settings.config.playbooks:
        starts = (
            ", ".join(f"{t.rule} ({'/'.join(t.status)})" for t in book.triggers)
            or "by hand / à la main"
        )
        state = "" if book.enabled else " [disabled / désactivé]"
        console.print(f"[bold]{book.name}[/bold]{state}: {starts}")
        for index, step in enumerate(book.steps):
            when = f" when {step.when}" if step.when else ""
            console.print(f"  {index + 1}. {step.label(index)} [{step.action}]{when}", markup=False)


@playbook_app.command("run")
def playbook_run(
    name: Annotated[str, typer.Argument(help="The playbook's name in vigie.yaml.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="KEY=VALUE for the templates; repeat as needed."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; act on nothing.")
    ] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Run a playbook now, by hand, and print each step's result (or its plan with --dry-run).

    Example: vigie playbook run conversion-drop --param page=/lunch --dry-run -c vigie.yaml
    """
    from vigie.playbooks import PlaybookNotFound
    from vigie.store import upgrade
    from vigie.web.runtime import Runtime

    settings = _settings(db, config)
    params = _params(param or [])
    runtime = Runtime(settings)
    try:
        upgrade(runtime.engine)
        engine = runtime.playbooks
        if dry_run:
            plan = engine.plan(name, engine.manual_trigger(name, params), params)
            console.print(f"[bold]{name}[/bold] — dry run / simulation")
            for step in plan.steps:
                shown = json.dumps(step.params, ensure_ascii=False) if step.params else ""
                console.print(
                    f"  {step.index + 1}. {step.name} [{step.action}] {step.outcome}: {shown}",
                    markup=False,
                )
                if step.reason:
                    console.print(f"     -> {step.reason}", markup=False)
            return
        record = engine.run(name, params)
    except PlaybookNotFound as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from exc
    finally:
        runtime.engine.dispose()
    words = {"succeeded": "succeeded / réussi", "failed": "failed / échoué"}
    console.print(f"run {record.id}: {words.get(record.status, record.status)}")
    for s in record.steps:
        outcome = json.dumps(s.result, ensure_ascii=False) if s.result is not None else s.error
        tries = f"attempts/essais: {s.attempts}"
        console.print(f"  {s.index + 1}. {s.name} [{s.action}] {s.status} ({tries}): {outcome}")
    if record.status != "succeeded":
        raise typer.Exit(1)


EntityArgument = Annotated[
    str,
    typer.Argument(
        help="accounts, contacts, staff, deals, tickets, campaigns, interactions, tasks or offers."
    ),
]


def _entity(name: str) -> Entity:
    from vigie.crm.entities import ENTITIES

    if name not in ENTITIES:
        err.print(f"[red]unknown entity {name!r}[/red]; choose one of {', '.join(ENTITIES)}")
        raise typer.Exit(2)
    return ENTITIES[name]


@app.command("import")
def import_csv(
    entity: EntityArgument,
    file: Annotated[Path, typer.Argument(help="A CSV file with a header row.", exists=True)],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Import CRM records from CSV, all or nothing: any bad row imports nothing and every bad
    row is reported with its line number and reason. A row with an existing id updates it.

    Example: vigie import contacts contacts.csv
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vigie.clock import SystemClock
    from vigie.crm.csvfiles import import_csv as run_import

    the_entity = _entity(entity)
    settings = _settings(db, config)
    engine = _migrated_engine(db)
    text = file.read_text(encoding="utf-8-sig")
    rows = max(text.count("\n") - 1, 0)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task(f"checking {file.name}", total=rows or None)
        report = run_import(
            engine=engine,
            entity=the_entity,
            text=text,
            actor=_cli_actor(),
            now=SystemClock().now(),
            config=settings.config.crm,
            progress=lambda n: progress.advance(task, n),
        )
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


@app.command("export")
def export_csv(
    entity: EntityArgument,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    archived: Annotated[bool, typer.Option(help="Include archived records.")] = False,
    db: DbOption = None,
) -> None:
    """Export CRM records as CSV (recorded in the audit trail: it may be personal data).

    Example: vigie export contacts --out contacts.csv
    """
    from vigie.auth import audit
    from vigie.clock import SystemClock
    from vigie.crm import csvfiles, records

    the_entity = _entity(entity)
    engine = _migrated_engine(db)
    with engine.connect() as conn:
        rows = records.iter_records(conn, the_entity, archived=archived)
    audit.record(
        engine=engine,
        actor=_cli_actor(),
        action="export",
        entity=the_entity.name,
        at=SystemClock().now(),
        details={"rows": len(rows), "personal_data": the_entity.personal, "via": "cli"},
    )
    engine.dispose()
    text = csvfiles.render(the_entity, rows)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"{len(rows)} {the_entity.name} written to {out}")


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
