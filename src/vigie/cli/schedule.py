"""`vigie schedule …`: why a person may or may not be reached at a given time, and the
monthly right-to-disconnect record per person and team (audited when exported)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from vigie.cli.options import ConfigOption, DbOption, cli_actor, console, err, load_settings

schedule_app = typer.Typer(
    help="Working hours and the right to disconnect. / Horaires et droit à la déconnexion.\n\n"
    "Example: vigie schedule explain --person marie --at 2026-11-28T10:00+01:00",
    no_args_is_help=True,
)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@schedule_app.command()
def explain(
    person: Annotated[str, typer.Option(help="A person of schedule:.")],
    at: Annotated[
        str | None,
        typer.Option(help="An ISO 8601 instant with its offset (default: now)."),
    ] = None,
    urgent: Annotated[bool, typer.Option(help="Explain for an urgent message.")] = False,
    config: ConfigOption = None,
) -> None:
    """Say which policy governs PERSON, whether they are working or on call at AT, and
    what would happen to a notification for them then.

    Example: vigie schedule explain --person julie --at 2026-11-28T10:00+01:00 --urgent
    """
    from vigie.schedule.routing import explain as explain_decision

    settings = load_settings(None, config)
    when = datetime.now(UTC)
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError as exc:
            err.print(f"--at {at!r}: write an ISO 8601 instant, e.g. 2026-11-28T10:00+01:00")
            raise typer.Exit(2) from exc
        if when.tzinfo is None:
            err.print(f"--at {at!r}: give the offset or zone (e.g. +01:00 or Z)")
            raise typer.Exit(2)
    try:
        found = explain_decision(settings.config.schedule, person=person, at=when, urgent=urgent)
    except KeyError as exc:
        err.print(f"--person {person!r} is not a person of schedule:")
        raise typer.Exit(2) from exc
    d = found.decision
    local = ZoneInfo(found.location)

    def shown(instant: datetime | None) -> str:
        return instant.astimezone(local).isoformat() if instant else "never"

    _say(f"{found.person} at {shown(found.at)} ({found.location})")
    _say(f"  policy: {found.policy} ({found.policy_reason})")
    hours = ", ".join(found.working_hours) or "none"
    _say(f"  working hours: {hours} ({found.working_hours_from})")
    if found.on_holiday:
        _say("  on holiday")
    yes_no = {True: "yes", False: "no"}
    _say(f"  working: {yes_no[found.working]}; on call: {yes_no[found.on_call]}")
    if found.next_working is not None:
        _say(f"  back at work: {shown(found.next_working)}")
    kind = "an urgent" if urgent else "a"
    _say(f"  {kind} notification: {d.outcome} -> {d.recipient or '-'} at {shown(d.deliver_at)}")
    _say(f"  because: {d.reason}")
    channels = ", ".join(f"{c.type}{':' + c.address if c.address else ''}" for c in d.channels)
    _say(f"  channels: {channels or 'none'}")


@schedule_app.command()
def report(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    csv_out: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the record as CSV to this file ('-' for stdout)."),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """The right-to-disconnect record of MONTH: per person and team, notifications held,
    rerouted and delivered in working time, and those delivered outside it (0 unless on
    call for an urgent message). Exporting it is audited.

    Example: vigie schedule report --month 2026-11 --csv record-2026-11.csv
    """
    from vigie.auth import audit
    from vigie.schedule.record import to_csv
    from vigie.store import upgrade
    from vigie.system import build_system

    system = build_system(load_settings(db, config))
    try:
        upgrade(system.engine)
        try:
            people, teams = system.dispatcher.record(month)
        except ValueError as exc:
            err.print(f"--month: {exc}")
            raise typer.Exit(2) from exc
        audit.record(
            engine=system.engine,
            actor=cli_actor(),
            action="export",
            entity="disconnect_record",
            entity_id=month,
            at=system.clock.now(),
            details={"rows": len(people) + len(teams), "via": "cli"},
        )
    finally:
        system.engine.dispose()
    if csv_out is not None:
        text = to_csv([*people, *teams])
        if str(csv_out) == "-":
            sys.stdout.write(text)
        else:
            csv_out.write_text(text, encoding="utf-8")
            _say(f"wrote {csv_out}")
        return
    broken = [r.name for r in people if not r.holds]
    for row in [*people, *teams]:
        _say(
            f"{row.kind:6} {row.name:20} held {row.held:4}  rerouted away {row.rerouted_away:4}  "
            f"in working time {row.delivered_in_working_time:4}  on call (urgent) "
            f"{row.delivered_on_call_urgent:4}  outside working time "
            f"{row.delivered_outside_working_time:4}"
        )
    if broken:
        _say(f"the policy did NOT hold for: {', '.join(broken)}")
        raise typer.Exit(1)
    _say("the policy held: nothing reached anyone outside working time (on call aside)")
