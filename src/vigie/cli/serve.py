"""`vigie serve`, `vigie worker` and `vigie demo`: run the server, the processors apart from
it, or the server replaying a scenario."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigie.cli.options import ConfigOption, DbOption, LogOption, console, err, load_settings
from vigie.settings import Settings

if TYPE_CHECKING:
    from vigie.system import System

LEVELS = ("debug", "info", "warning", "error")
LogFormatOption = Annotated[
    str, typer.Option(help="Log lines as console text or as JSON objects (one a line).")
]
LogLevelOption = Annotated[str, typer.Option(help="debug, info, warning or error.")]


def _configure_logging(log_format: str, log_level: str) -> None:
    """Structured logs on stderr (`vigie.logs`), or exit 2 naming the choices."""
    from vigie.logs import LOG_FORMATS, configure_logging

    if log_format not in LOG_FORMATS or log_level.lower() not in LEVELS:
        err.print(
            f"[red]--log-format is one of {', '.join(LOG_FORMATS)}; --log-level one of "
            f"{', '.join(LEVELS)}[/red]"
        )
        raise typer.Exit(2)
    configure_logging(log_format, level=log_level)


def serve(
    db: DbOption = None,
    config: ConfigOption = None,
    log: LogOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    log_format: LogFormatOption = "console",
    log_level: LogLevelOption = "info",
    role: Annotated[
        str,
        typer.Option(
            help="What this node runs: all (ingestion, API and the processors), or ingest / "
            "api (no processors: run `vigie worker` for them, on the same --db and --log)."
        ),
    ] = "all",
    processors: Annotated[
        str,
        typer.Option(
            help="Where --role all runs the processors (rules, alerts, playbooks, analytics, "
            "CRM projection, chat, sensors): server (in this process) or worker (in a "
            "`vigie worker` process this server starts, restarts if it dies, and stops; "
            "ingestion then has its own interpreter)."
        ),
    ] = "server",
) -> None:
    """Run the Vigie server: ingestion, REST API, dashboard and /metrics. Logs go to stderr
    with a timestamp, level, logger and the request id (`X-Request-ID`) of the request they
    belong to; `--log-level debug` adds a line per request.

    Example: vigie serve --db postgresql://vigie@localhost/vigie --config vigie.yaml

    Example: vigie serve --log nats://127.0.0.1:4222 --log-format json

    Example: vigie serve --role ingest --db postgresql://vigie@db/vigie --log nats://nats:4222

    Example: vigie serve --processors worker
    """
    from vigie.system import build_system
    from vigie.web import create_app
    from vigie.web.server import Server, uvicorn_config, warm_up
    from vigie.web.tuning import ProcessTuning

    _configure_logging(log_format, log_level)
    if role not in ("all", "ingest", "api"):
        err.print(f"[red]--role {role!r}:[/red] choose all, ingest or api (or run vigie worker)")
        raise typer.Exit(2)
    if processors not in ("server", "worker"):
        err.print(f"[red]--processors {processors!r}:[/red] choose server or worker")
        raise typer.Exit(2)
    if processors == "worker" and role != "all":
        err.print(f"[red]--processors worker:[/red] --role {role} runs no processors")
        raise typer.Exit(2)
    settings = load_settings(db, config, log)
    _announce_key(settings)
    try:
        if processors == "worker":
            system = _with_worker_process(settings, config, log_format, log_level)
        else:
            system = build_system(settings, role=role)  # type: ignore[arg-type]
        application = create_app(system)
    except (ValueError, OSError) as exc:
        err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(2) from exc
    warm_up(application)
    console.print(f"Vigie on http://{host}:{port}  (API docs: /docs, metrics: /metrics)")
    Server(
        uvicorn_config(
            application, host=host, port=port, log_level=log_level.lower(), own_logging=True
        ),
        tuning=ProcessTuning(),
    ).run()


def _with_worker_process(
    settings: Settings, config: Path | None, log_format: str, log_level: str
) -> System:
    """The server's system with its processors left to a supervised `vigie worker` child on
    the same store and log (`vigie.cli.worker_process`)."""
    from vigie.cli.worker_process import WorkerProcess
    from vigie.log.wakeups import Wakeups
    from vigie.system import build_system

    link, theirs = Wakeups.pair()
    system = build_system(settings, link=link)
    args = ["--log-format", log_format, "--log-level", log_level]
    if config is not None:
        args += ["--config", str(config)]
    # The store's and the log's URLs may hold passwords: the child reads them from its
    # environment, which other users cannot list as they can a command line (`ps`).
    env = {"VIGIE_DB": settings.db_url}
    if settings.log_url:
        env["VIGIE_LOG"] = settings.log_url
    system.services.add(WorkerProcess(args, env=env, link=link, theirs=theirs))
    return system


def worker(
    db: DbOption = None,
    config: ConfigOption = None,
    log: LogOption = None,
    log_format: LogFormatOption = "console",
    log_level: LogLevelOption = "info",
    wake_fd: Annotated[
        int | None,
        typer.Option(
            hidden=True,
            help="A socket from `vigie serve --processors worker`: woken by its commits, "
            "nudging it when alerts are stored; exits when the server is gone.",
        ),
    ] = None,
) -> None:
    """Run the processors (rules and alerts, playbooks, analytics, CRM projection, columnar
    copy) against the shared log, without HTTP, next to `vigie serve --role ingest|api`.

    Two workers share the processors: one runs the rules' share (rules, playbooks, analytics,
    sensors), the other the projections' share (CRM, chat); a third stands by. When one stops
    or dies, another takes its shares over from the saved checkpoints within seconds. Exits 75
    if it loses a lease (restart it). Stop with Ctrl-C or SIGTERM.

    Example: vigie worker --db postgresql://vigie@db/vigie --log nats://nats:4222

    Example: vigie worker --log-format json --log-level warning
    """
    _configure_logging(log_format, log_level)
    settings = load_settings(db, config, log)
    try:
        code = asyncio.run(_work(settings, wake_fd))
    except (ValueError, OSError) as exc:
        err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(2) from exc
    raise typer.Exit(code)


async def _work(settings: Settings, wake_fd: int | None = None) -> int:
    """Run a worker until a signal (0), until it loses the processors' lease (75) or, as a
    server's child (`wake_fd`), until that server is gone (0)."""
    import socket

    from vigie.log.wakeups import STARTED, Wakeups
    from vigie.system import build_system
    from vigie.web.tuning import ProcessTuning

    done = asyncio.Event()
    lost = False

    def lease_lost() -> None:
        nonlocal lost
        lost = True
        done.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    link = None
    if wake_fd is not None:
        link = Wakeups(socket.socket(fileno=wake_fd))
        link.on_closed(lambda: loop.call_soon_threadsafe(done.set))
    system = build_system(settings, role="worker", on_lease_lost=lease_lost, link=link)
    await system.start()
    # The worker holds the KPI windows: full collections on a timer, as in the server.
    tuning = ProcessTuning()
    tuning.start()
    if link is not None:
        link.send(STARTED)
    console.print("Vigie worker started: processing, or standing by while another one does")
    try:
        await done.wait()
    finally:
        tuning.stop()
        await system.stop()
    return 75 if lost else 0


def _announce_key(settings: Settings) -> None:
    if settings.generated_write_key:
        key = settings.config.sources[0].write_key
        console.print(
            f"No vigie.yaml and no VIGIE_WRITE_KEY: source 'default' uses the generated write key "
            f"[bold]{key}[/bold]"
        )


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
    """Start Vigie on the embedded store and tell a proactive day into it on the demo's clock,
    with the shipped example configuration (its KPIs, rules, playbooks, people and schedules):
    the lunch-time (12:00-13:00) campaign and its broken checkout, the proactive chat, the
    support rush and the agent reallocation, the shop's display moved to aisle 21, the jammed
    street's decongestion broadcast, the leads handed to each rep, the 17:30 alert held until
    morning, then the weekly review.

    The demo plays into a store of its own, ./vigie-data/demo, emptied at each start: every
    run tells the same story, and your ./vigie-data/vigie.db is not touched. With --db (or
    VIGIE_DB) it plays into that store, keeping what earlier runs left there (its shop day
    starts again with the display in its aisle and nobody inside).

    It speaks the terminal's language (French or English, from LC_ALL, LC_MESSAGES or LANG)
    and gives times in the terminal's time zone (TZ, else the system's).

    Example: vigie demo --once
    """
    import os

    from vigie.catalogue import with_catalogue
    from vigie.demo import EXAMPLE, DemoStoreError, fresh_demo_store, run_demo
    from vigie.web.i18n import Translator, terminal_language

    if db is None and not os.environ.get("VIGIE_DB"):
        try:
            db = fresh_demo_store()
        except DemoStoreError as exc:
            say = Translator(terminal_language(os.environ))
            err.print(f"[red]{say('demo.store_not_ours', folder=exc.folder)}[/red]")
            raise typer.Exit(2) from exc
    settings = load_settings(db, config or Path(str(EXAMPLE)))
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
