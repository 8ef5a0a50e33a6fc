"""`vigie playbook …`: list the playbooks, run one by hand or see what it would do."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigie.cli.options import ConfigOption, DbOption, console, err, load_settings

playbook_app = typer.Typer(
    help="Playbooks: run one by hand, or see what it would do. / Exécuter un playbook.\n\n"
    "Example: vigie playbook run conversion-drop --dry-run",
    no_args_is_help=True,
)


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
    settings = load_settings(None, config)
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
    from vigie.system import build_system

    settings = load_settings(db, config)
    params = _params(param or [])
    system = build_system(settings)
    try:
        upgrade(system.engine)
        engine = system.playbooks
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
        system.engine.dispose()
    words = {"succeeded": "succeeded / réussi", "failed": "failed / échoué"}
    console.print(f"run {record.id}: {words.get(record.status, record.status)}")
    for s in record.steps:
        outcome = json.dumps(s.result, ensure_ascii=False) if s.result is not None else s.error
        tries = f"attempts/essais: {s.attempts}"
        console.print(f"  {s.index + 1}. {s.name} [{s.action}] {s.status} ({tries}): {outcome}")
    if record.status != "succeeded":
        raise typer.Exit(1)
