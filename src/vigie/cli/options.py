"""The options and helpers several `vigie` command groups share: consoles, `--db`, `--log`,
`--config`, `--data`, and the settings, store and actor a command works with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vigie.config import ConfigError
from vigie.settings import Settings, build_settings

if TYPE_CHECKING:
    from vigie.ai.config import AiConfig
    from vigie.auth.audit import Actor

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
        "(optional ?stream=NAME&prefix=SUBJECT&window=SECONDS; &partitions=N&key=FIELD "
        "shares the rules between workers by key). Also VIGIE_LOG.",
    ),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to vigie.yaml (see vigie.example.yaml).")
]
AiConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Path to vigie.yaml (its `ai:` section).")
]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="AI data directory (default: ai.data_dir, vigie-data/ai)."),
]


def load_settings(db: str | None, config: Path | None, log: str | None = None) -> Settings:
    """The settings from the options, or exit 2 naming what is wrong in the configuration."""
    try:
        return build_settings(db_url=db, config_path=config, log_url=log)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def migrated_engine(db: str | None) -> sa.Engine:
    """The store's engine, its schema migrated to the newest version."""
    from vigie.store import connect, upgrade

    engine = connect(load_settings(db, None).db_url)
    upgrade(engine)
    return engine


def cli_actor() -> Actor:
    """Who the audit trail records for a command: the operating-system user, as an admin."""
    import getpass

    from vigie.auth.audit import Actor

    return Actor(name=f"cli:{getpass.getuser()}", role="admin")


def ai_config(config: Path | None, data: Path | None) -> AiConfig:
    """The `ai:` section of the configuration, with `--data` overriding its directory."""
    from vigie.ai.config import AiConfig
    from vigie.config import load_config

    try:
        section = load_config(config).ai if config else AiConfig()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if data is not None:
        section.data_dir = str(data)
    return section


def fail(message: str) -> typer.Exit:
    """Print the error and return the exit (code 1) for the caller to raise."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def progress_bar() -> Progress:
    """A progress bar on stderr, so that stdout stays the command's output."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
