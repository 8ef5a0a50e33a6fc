"""`vigie config …`: the configuration file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigie.cli.options import console, err

config_app = typer.Typer(
    help="The configuration file.\n\nExample: vigie config check vigie.yaml",
    no_args_is_help=True,
)


@config_app.command("check")
def config_check(
    path: Annotated[Path, typer.Argument(help="The vigie.yaml to check.")] = Path("vigie.yaml"),
) -> None:
    """Check a vigie.yaml as the server would at start: types, durations, and every name that
    points at something (a playbook trigger's rule, a rule's playbook, zones, sites, aisles,
    devices); exit 2 naming the key path and line of the first problem.

    Example: vigie config check vigie.yaml
    """
    from vigie.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(
        f"{path}: ok ({len(config.metrics)} metrics, {len(config.rules)} rules, "
        f"{len(config.playbooks)} playbooks, {len(config.sensors.sites)} shops, "
        f"{len(config.sensors.zones)} zones, {len(config.sensors.devices)} devices)"
    )


@config_app.command("reference")
def config_reference() -> None:
    """Print the configuration reference: every key of vigie.yaml with its type, default and
    description, as Markdown read from the schema the server validates the file with (the
    guide's docs/configuration.md is this output).

    Example: vigie config reference > docs/configuration.md
    """
    from vigie.cli.reference import render

    typer.echo(render(), nl=False)
