"""Checks of the `playbooks:` and `actions:` sections that msgspec's types cannot express:
unique names, installed actions, parseable templates, known people, zones and endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.playbooks.actions.base import ActionSettings, Screen, Zone
from vigie.playbooks.holdouts import check as check_holdout
from vigie.playbooks.playbooks import Playbook
from vigie.playbooks.templates import check_syntax
from vigie.schedule import ScheduleConfig
from vigie.sensors.places import CLOCK_RANGE

Problem = tuple[list[str | int], str]


def check(
    playbooks: Sequence[Playbook],
    settings: ActionSettings,
    schedule: ScheduleConfig,
    *,
    actions: Sequence[str],
) -> list[Problem]:
    """Problems as (key path, message) pairs; `actions` are the installed action names."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, playbook in enumerate(playbooks):
        if playbook.name in seen:
            problems.append(
                (["playbooks", i, "name"], f"playbook {playbook.name!r} is defined twice")
            )
        seen.add(playbook.name)
        for j, step in enumerate(playbook.steps):
            path: list[str | int] = ["playbooks", i, "steps", j]
            if step.action not in actions:
                problems.append(
                    (
                        [*path, "action"],
                        f"no action {step.action!r}; installed: {', '.join(actions)}",
                    )
                )
            if step.holdout is not None:
                problems += [([*path, *key], why) for key, why in check_holdout(step.holdout)]
            if step.when and (error := check_syntax("{{ " + step.when + " }}")):
                problems.append(([*path, "when"], f"condition does not parse: {error}"))
            for key, value in step.params.items():
                if isinstance(value, str) and (error := check_syntax(value)):
                    problems.append(([*path, "params", key], f"template does not parse: {error}"))
            target = step.params.get("to") if step.action == "notify" else None
            if (
                isinstance(target, str)
                and "{" not in target
                and not (
                    schedule.person(target) or schedule.members(target) or schedule.team(target)
                )
            ):
                problems.append(
                    ([*path, "params", "to"], f"{target!r} is not a person or team of schedule:")
                )
            for ref in ("endpoint", "announce"):
                name = step.params.get(ref)
                if isinstance(name, str) and "{" not in name and settings.webhook(name) is None:
                    problems.append(
                        ([*path, "params", ref], f"{name!r} is not an endpoint of actions.webhooks")
                    )
            zone = step.params.get("zone") if step.action == "broadcast" else None
            if isinstance(zone, str) and "{" not in zone and settings.zone(zone) is None:
                problems.append(
                    ([*path, "params", "zone"], f"{zone!r} is not a zone of actions.zones")
                )
            screen = step.params.get("screen") if step.action == "screen" else None
            if isinstance(screen, str) and "{" not in screen and settings.screen(screen) is None:
                problems.append(
                    ([*path, "params", "screen"], f"{screen!r} is not a screen of actions.screens")
                )
    placed: tuple[tuple[str, Sequence[Zone | Screen]], ...] = (
        ("zones", settings.zones),
        ("screens", settings.screens),
    )
    for kind, defs in placed:
        for i, place in enumerate(defs):
            problems += [
                (
                    ["actions", kind, i, "quiet_hours", j],
                    f"{text!r} is not a local HH:MM-HH:MM range",
                )
                for j, text in enumerate(place.quiet_hours)
                if CLOCK_RANGE.fullmatch(text) is None
            ]
            try:
                ZoneInfo(place.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(
                    (
                        ["actions", kind, i, "timezone"],
                        f"{place.timezone!r} is not an IANA time zone",
                    )
                )
    for i, screen_def in enumerate(settings.screens):
        if settings.webhook(screen_def.endpoint) is None:
            problems.append(
                (
                    ["actions", "screens", i, "endpoint"],
                    f"{screen_def.endpoint!r} is not an endpoint of actions.webhooks",
                )
            )
    for i, zone_def in enumerate(settings.zones):
        if zone_def.public_address and settings.webhook(zone_def.public_address) is None:
            problems.append(
                (
                    ["actions", "zones", i, "public_address"],
                    f"{zone_def.public_address!r} is not an endpoint of actions.webhooks",
                )
            )
    for i, endpoint in enumerate(settings.webhooks):
        if not endpoint.secret.startswith("whsec_"):
            problems.append(
                (
                    ["actions", "webhooks", i, "secret"],
                    "a webhook secret reads 'whsec_' + base64 of at least 24 random bytes, "
                    'e.g. python -c "import base64,os; '
                    "print('whsec_'+base64.b64encode(os.urandom(32)).decode())\"",
                )
            )
    return problems
