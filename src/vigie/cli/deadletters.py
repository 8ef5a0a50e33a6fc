"""`vigie dead-letters …`: the events processors set aside, and replaying them after a fix."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigie.cli.options import ConfigOption, DbOption, console, err, load_settings

dead_letters_app = typer.Typer(
    help="Events a processor set aside after its retries: list them, replay them after a fix. "
    "/ Événements mis de côté par un processeur.\n\n"
    "Example: vigie dead-letters list --open",
    no_args_is_help=True,
)


@dead_letters_app.command("list")
def dead_letters_list(
    processor: Annotated[
        str | None, typer.Option("--processor", "-p", help="Only this processor's.")
    ] = None,
    only_open: Annotated[
        bool, typer.Option("--open", help="Only those not replayed successfully yet.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List the dead letters: id, processor, log offset, tries, error, and whether replayed.

    Example: vigie dead-letters list --processor analytics --open
    """
    import msgspec

    from vigie.log.deadletters import SqlDeadLetters
    from vigie.store import connect, upgrade

    settings = load_settings(db, config)
    engine = connect(settings.db_url)
    try:
        upgrade(engine)
        letters = SqlDeadLetters(engine).list(
            processor=processor, status="open" if only_open else None, limit=limit
        )
    finally:
        engine.dispose()
    if as_json:
        for letter in letters:
            print(json.dumps(msgspec.to_builtins(letter), ensure_ascii=False))
        return
    if not letters:
        console.print("no dead letters / aucun événement mis de côté")
        return
    for letter in letters:
        state = "open / ouvert" if letter.open else f"resolved {letter.resolved_at:%Y-%m-%d %H:%M}"
        console.print(
            f"#{letter.id} {letter.processor} offset {letter.offset} "
            f"({letter.attempts} tries, {state}): {letter.error}",
            markup=False,
        )


@dead_letters_app.command("replay")
def dead_letters_replay(
    processor: Annotated[
        str | None, typer.Option("--processor", "-p", help="Only this processor's.")
    ] = None,
    letter_id: Annotated[int | None, typer.Option("--id", help="Only this dead letter.")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Hand the open dead letters to their processors again (after fixing what failed); those
    that pass are marked resolved, and the dead-letter alert resolves when none is left.

    Projections kept in the store (the CRM) take the event now; those the server rebuilds
    from the log when it starts (analytics, the rules' windows) take it at that start. A
    replay raises no rule's alert. Exits with 1 when a letter failed again.

    Example: vigie dead-letters replay --processor analytics
    """
    from vigie.store import upgrade
    from vigie.system import build_system

    settings = load_settings(db, config)
    system = build_system(settings)
    # The rules' windows here are empty and this process serves nobody: a replay checks
    # their code on the event, it must not fire or resolve a rule's alert.
    system.alerting.listeners = []
    system.alerting.store = None
    try:
        upgrade(system.engine)
        outcomes = system.runner.replay(processor=processor, letter_id=letter_id)
    finally:
        system.engine.dispose()
    if not outcomes:
        console.print("nothing to replay / rien à rejouer")
        return
    failed = 0
    for outcome in outcomes:
        letter = outcome.letter
        where = f"#{letter.id} {letter.processor} offset {letter.offset}"
        if outcome.resolved:
            console.print(f"{where}: replayed, resolved / rejoué, résolu", markup=False)
        else:
            failed += 1
            err.print(f"{where}: failed again / échoue encore: {outcome.error}", markup=False)
    console.print(f"{len(outcomes) - failed} resolved, {failed} still open")
    if failed:
        raise typer.Exit(1)
