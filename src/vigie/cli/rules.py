"""`vigie rules …`: what the rules of vigie.yaml will do, before they do it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from vigie.cli.options import ConfigOption, console, err, load_settings

rules_app = typer.Typer(
    help="Understand the rules of vigie.yaml.\n\n"
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
