"""`vigie rules …`: what the rules of vigie.yaml will do, before they do it, and their
tuned versions (list, restore)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from vigie.cli.options import ConfigOption, DbOption, cli_actor, console, err, load_settings

if TYPE_CHECKING:
    from vigie.system import System

rules_app = typer.Typer(
    help="Understand the rules of vigie.yaml, list and restore their tuned versions.\n\n"
    "Example: vigie rules explain checkout -c vigie.yaml",
    no_args_is_help=True,
)

RATES = (0.01, 0.05, 0.2, 1.0, 5.0, 20.0, 200.0)


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "never"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@rules_app.command("explain")
def explain(
    rule_name: Annotated[str, typer.Argument(metavar="RULE", help="The rule's name.")],
    config: ConfigOption = None,
    rates: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated traffic levels in events per second (default: the rule's "
            "expected_rate among a few levels from 0.01 to 200)."
        ),
    ] = None,
) -> None:
    """Print a sequential (or rate-aware absence) rule, its thresholds, and the expected time
    to detect a drop to 0 and a drop by its min_effect at several traffic levels, beside the
    theoretical minimum at its false-alarm rate (computed by the rule's own code).

    Example: vigie rules explain checkout_orders -c vigie.yaml --rates 0.05,1,20
    """
    from vigie.kpi.durations import parse_rate
    from vigie.rules.sequential import Design, conversion_table, detection_table, tests_of

    settings = load_settings(None, config)
    found = [r for r in settings.config.rules if r.name == rule_name]
    if not found:
        names = ", ".join(r.name for r in settings.config.rules) or "none defined"
        err.print(f"[red]no rule named {rule_name!r}[/red] (rules: {names})")
        raise typer.Exit(2)
    rule = found[0]
    if rule.kind not in ("sequential", "absence"):
        err.print(
            f"[red]{rule_name!r} is a {rule.kind} rule:[/red] explain covers the tests of "
            "sequential and absence rules"
        )
        raise typer.Exit(2)
    tests = tests_of(rule) if rule.kind == "sequential" else ("silence",)
    per_false_alarm = 1 / parse_rate(rule.declared_false_alarms())
    levels = sorted({*RATES, *([rule.expected_rate] if rule.expected_rate else [])})
    if rates:
        try:
            levels = [float(v) for v in rates.split(",") if v.strip()]
        except ValueError as exc:
            err.print(f"[red]--rates:[/red] {exc}")
            raise typer.Exit(2) from exc
    console.print(
        f"[bold]{rule.name}[/bold] ({rule.kind}): events where {rule.where or 'any'}, "
        f"tests {', '.join(tests)}, min_effect {rule.min_effect:g}, "
        f"false_alarms {rule.declared_false_alarms()} (one per {_duration(per_false_alarm)})"
    )
    if rule.expected_rate and not rule.then:
        design = Design.rates(
            effect=rule.min_effect,
            tests=tests,
            events_per_false_alarm=rule.expected_rate * per_false_alarm,
        )
        parts = [f"silence of {design.silence_u:.1f} expected events"] + [
            f"{test} CUSUM h = {h:.2f}" for test, h in design.cusum_h.items()
        ]
        console.print(f"At the expected {rule.expected_rate:g} events/s: " + "; ".join(parts))
    if rule.kind == "absence" and rule.silence:
        console.print(f"Fixed upper bound: silence {rule.silence}")
    table = Table(title="Expected time to detect")
    for column in ("events/s", "drop to 0", "minimum", f"drop by {rule.min_effect:.0%}", "minimum"):
        table.add_column(column, justify="right")
    if rule.then and rule.expected_conversion is not None:
        console.print(
            f"A conversion from {rule.where} to {rule.then}, expected "
            f"{rule.expected_conversion:g}: events/s below counts `where` events"
        )
        rows = conversion_table(
            p=rule.expected_conversion,
            effect=rule.min_effect,
            per_false_alarm_s=per_false_alarm,
            rates=levels,
        )
    else:
        rows = detection_table(
            effect=rule.min_effect, per_false_alarm_s=per_false_alarm, tests=tests, rates=levels
        )
    for row in rows:
        table.add_row(
            f"{row.rate_per_s:g}",
            _duration(row.to_zero_s),
            _duration(row.to_zero_min_s),
            _duration(row.by_effect_s),
            _duration(row.by_effect_min_s),
        )
    console.print(table)
    console.print(
        "Times are from the break, with the rate steady and known; add up to one "
        "alerting.tick. A slack learned from the traffic's own wander lengthens them a little."
    )


@contextmanager
def _versions_system(db: str | None, config: ConfigOption) -> Iterator[System]:
    """The system of the options, its store migrated; an unknown rule exits 1, a refused
    version (one the rules could not put in place) 2, with the reason."""
    from vigie.rules.triage import Invalid
    from vigie.rules.versions import RuleNotFound
    from vigie.store import upgrade
    from vigie.system import build_system

    system = build_system(load_settings(db, config))
    try:
        upgrade(system.engine)
        yield system
    except RuleNotFound as exc:
        err.print(str(exc.args[0]), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    except Invalid as exc:
        err.print(f"{exc.field}: {exc.reason}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    finally:
        system.engine.dispose()


RuleArg = Annotated[str, typer.Argument(metavar="RULE", help="The rule's name.")]


@rules_app.command("versions")
def versions(rule_name: RuleArg, db: DbOption = None, config: ConfigOption = None) -> None:
    """List a rule's versions, oldest first: 0 is vigie.yaml's, each later one who changed
    what, when and why.

    Example: vigie rules versions checkout-conversion-drop -c vigie.yaml
    """
    with _versions_system(db, config) as system:
        for version in system.rule_versions.history(rule_name):
            changed = ", ".join(f"{c.field} {c.before!r} -> {c.after!r}" for c in version.changes)
            at = version.at.isoformat() if version.at else "-"
            line = f"{version.version}  {at}  {version.actor}  {changed or '-'}"
            if version.reason:
                line += f"  ({version.reason})"
            console.print(line, highlight=False, markup=False, soft_wrap=True)


@rules_app.command("restore")
def restore(
    rule_name: RuleArg,
    version: Annotated[
        int, typer.Argument(min=0, help="The version to bring back (0: vigie.yaml's).")
    ],
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why, for the audit.")] = "",
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Bring back an earlier version of a rule as a new version, live in the running server
    within its next sync; a version the rules could not put in place (vigie.yaml has since
    changed its kind or metric, or a same_slot one asks for more days or another time zone
    than learned) is refused, naming the rule and why, with exit code 2.

    Example: vigie rules restore checkout-conversion-drop 0 -m "back to vigie.yaml's"
    """
    with _versions_system(db, config) as system:
        made = system.rule_versions.restore(rule_name, version, actor=cli_actor(), reason=reason)
        console.print(
            f"{made.rule}: version {made.version} (= version {version}) is live",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
