"""`vigie alerts …`: list alerts, acknowledge, assign, annotate and judge one, and silence
alerts (matchers in amtool's syntax: `name=value`, `name!=value`, `name=~regex`,
`name!~regex`). Every change is audited as the operating-system user."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from vigie.cli.options import ConfigOption, DbOption, cli_actor, console, err, load_settings

if TYPE_CHECKING:
    from vigie.rules.silences import Matcher
    from vigie.system import System

alerts_app = typer.Typer(
    help="Alerts: acknowledge, assign, annotate, judge, silence. / Agir sur les alertes.\n\n"
    "Example: vigie alerts silence alertname=checkout-conversion-drop --for 2h -m 'deploy'",
    no_args_is_help=True,
)
_MATCHER = re.compile(r"^(?P<name>[^=!~]+)(?P<op>=~|!~|!=|=)(?P<value>.*)$", re.DOTALL)


@contextmanager
def _system(db: str | None, config: ConfigOption) -> Iterator[System]:
    """The system of the options, its store migrated; domain errors exit 2 with the reason."""
    from vigie.rules.silences import SilenceNotFound
    from vigie.rules.triage import AlertNotFound, Invalid
    from vigie.store import upgrade
    from vigie.system import build_system

    system = build_system(load_settings(db, config))
    try:
        upgrade(system.engine)
        yield system
    except Invalid as exc:
        err.print(f"{exc.field}: {exc.reason}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except (AlertNotFound, SilenceNotFound) as exc:
        err.print(str(exc.args[0]), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    finally:
        system.engine.dispose()


def parse_matcher(text: str) -> Matcher:
    """`name=value`, `name!=value`, `name=~regex` or `name!~regex` as a silence matcher."""
    from vigie.rules.silences import Matcher

    found = _MATCHER.match(text)
    if found is None:
        raise typer.BadParameter(
            f"{text!r}: write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"
        )
    op = found["op"]
    return Matcher(
        name=found["name"].strip(),
        value=found["value"],
        is_regex="~" in op,
        is_equal=op.startswith("="),
    )


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _print(system: System, alert_id: str, done: str) -> None:
    handling = system.triage.handling([alert_id]).get(alert_id)
    _say(f"{done}: {alert_id}")
    if handling is not None:
        if handling.acknowledged_by:
            _say(f"  acknowledged by {handling.acknowledged_by}")
        if handling.assignee:
            _say(f"  assigned to {handling.assignee}")
        if handling.feedback:
            _say(f"  verdict: {handling.feedback}")
        for note in handling.notes:
            _say(f"  note by {note.by}: {note.text}")


@alerts_app.command("list")
def alerts_list(
    status: Annotated[
        str | None, typer.Option(help="pending, firing or resolved / état des alertes")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule's alerts.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List alerts, newest first, with who handles them and the silences muting them.

    Example: vigie alerts list --status firing
    """
    with _system(db, config) as system:
        found = system.alerts.list(status=status, rule=rule, limit=limit)
        handling = system.triage.handling([a.id for a in found])
        for alert in found:
            h = handling.get(alert.id)
            parts = [alert.id, alert.status, alert.severity, alert.rule]
            parts += [f"{k}={v}" for k, v in sorted(alert.labels.items())]
            if h is not None and h.acknowledged_by:
                parts.append(f"ack:{h.acknowledged_by}")
            if h is not None and h.assignee:
                parts.append(f"assignee:{h.assignee}")
            if alert.active and system.silences.silencing(alert):
                parts.append("silenced")
            console.print("  ".join(parts), highlight=False, markup=False, soft_wrap=True)


def _act(
    db: str | None, config: ConfigOption, alert_id: str, done: str, do: Callable[[System], object]
) -> None:
    with _system(db, config) as system:
        do(system)
        _print(system, alert_id, done)


AlertArg = Annotated[str, typer.Argument(help="The alert's id (vigie alerts list).")]


@alerts_app.command("ack")
def alerts_ack(alert_id: AlertArg, db: DbOption = None, config: ConfigOption = None) -> None:
    """Acknowledge an alert: you have seen it and are on it.

    Example: vigie alerts ack 3f2a9c01d4e5b6a7-1764244800000000
    """
    _act(db, config, alert_id, "acknowledged / pris en charge",
         lambda s: s.triage.acknowledge(alert_id, actor=cli_actor()))  # fmt: skip


@alerts_app.command("assign")
def alerts_assign(
    alert_id: AlertArg,
    assignee: Annotated[str, typer.Argument(help="A person or team of schedule:.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Assign an alert to a person or a team of the schedule.

    Example: vigie alerts assign 3f2a9c01d4e5b6a7-1764244800000000 marie
    """
    _act(db, config, alert_id, "assigned / attribuée",
         lambda s: s.triage.assign(alert_id, assignee, actor=cli_actor()))  # fmt: skip


@alerts_app.command("note")
def alerts_note(
    alert_id: AlertArg,
    text: Annotated[str, typer.Argument(help="The note.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Add a note to an alert.

    Example: vigie alerts note 3f2a9c01d4e5b6a7-1764244800000000 "payment provider down"
    """
    _act(db, config, alert_id, "noted / annotée",
         lambda s: s.triage.note(alert_id, text, actor=cli_actor()))  # fmt: skip


@alerts_app.command("feedback")
def alerts_feedback(
    alert_id: AlertArg,
    verdict: Annotated[
        Literal["useful", "false-alarm"], typer.Argument(help="useful or false-alarm.")
    ],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Say whether an alert was useful or a false alarm (counted in the rule's precision).

    Example: vigie alerts feedback 3f2a9c01d4e5b6a7-1764244800000000 false-alarm
    """
    value = verdict.replace("-", "_")
    _act(db, config, alert_id, "judged / jugée",
         lambda s: s.triage.feedback(alert_id, value, actor=cli_actor()))  # fmt: skip


@alerts_app.command("silence")
def alerts_silence(
    matchers: Annotated[
        list[str], typer.Argument(help="NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX.")
    ],
    duration: Annotated[
        str, typer.Option("--for", help="How long: 30m, 2h, 1d, 1w (ignored with --until).")
    ] = "1h",
    until: Annotated[
        str | None, typer.Option(help="When it ends, e.g. 2030-01-01T08:00:00+01:00.")
    ] = None,
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why.")] = "",
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Silence the alerts the matchers select: still recorded and shown, they notify nobody,
    run no playbook and post no webhook until the silence ends.

    Example: vigie alerts silence alertname=checkout-conversion-drop campaign=~lunch.* --for 2h
    """
    from vigie.kpi.durations import parse_duration
    from vigie.rules.silences import SilenceDraft

    parsed = [parse_matcher(m) for m in matchers]
    with _system(db, config) as system:
        now = system.clock.now()
        if until is not None:
            try:
                ends = datetime.fromisoformat(until)
            except ValueError as exc:
                raise typer.BadParameter(f"{until!r}: {exc}", param_hint="--until") from exc
            ends = ends if ends.tzinfo else ends.astimezone()
        else:
            try:
                ends = now + timedelta(microseconds=parse_duration(duration))
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--for") from exc
        draft = SilenceDraft(matchers=parsed, ends_at=ends, comment=comment)
        silence = system.silences.create(draft, actor=cli_actor())
    _say(f"silence {silence.id} until {silence.ends_at.isoformat()}")


@alerts_app.command("silences")
def alerts_silences(
    state: Annotated[
        str | None, typer.Option(help="pending, active or expired / état des silences")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List silences, those ending last first.

    Example: vigie alerts silences --state active
    """
    if state not in (None, "pending", "active", "expired"):
        raise typer.BadParameter("pending, active or expired", param_hint="--state")
    with _system(db, config) as system:
        for s in system.silences.list(state=state):  # type: ignore[arg-type]
            shown = ", ".join(
                f"{m.name}{'' if m.is_equal else '!'}{'=~' if m.is_regex else '='}{m.value}"
                for m in s.matchers
            )
            console.print(
                f"{s.id}  {s.status.state}  {shown}  until {s.ends_at.isoformat()}"
                f"  by {s.created_by}  {s.comment}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )


@alerts_app.command("expire")
def alerts_expire(
    silence_id: Annotated[str, typer.Argument(help="The silence's id (vigie alerts silences).")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """End a silence now.

    Example: vigie alerts expire 0b6c2d4e-8f10-4a2b-9c3d-5e6f7a8b9c0d
    """
    with _system(db, config) as system:
        silence = system.silences.expire(silence_id, actor=cli_actor())
    _say(f"silence {silence.id}: {silence.status.state}")
