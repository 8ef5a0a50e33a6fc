"""The one door every action comes through, Vigie's own and a third party's alike.

An action is a class registered under the `vigie.actions` entry-point group (see
pyproject.toml). It names its parameters as a msgspec Struct (`params_type`) and does its
work in `run`, given an `ActionContext`. After a crash a step may be run again with the
same `context.key`, and must not act twice: an action acts only through `context.port`
(an `ActionPort`, see port.py), which is bound to that key and does each thing once —
`once(record)` stores a task, an offer, a page flag… and hands back the first attempt's id
on a re-run; `notify` goes through the schedule's dispatcher (working hours, the right to
disconnect); `send_event` delivers a signed webhook; `visitors_on` and `queues` read what
the built-in actions need. No action is given the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

import msgspec

from vigie.clock import Clock
from vigie.playbooks.actions.port import ActionPort
from vigie.playbooks.trigger import PlaybookTrigger
from vigie.schedule import ScheduleConfig
from vigie.schedule.mailer import SmtpSettings


class WebhookEndpoint(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A receiver of signed CloudEvents (Standard Webhooks signature)."""

    name: str
    """The endpoint's unique name, as `webhook` steps (`endpoint:`), zones and screens refer to
    it."""
    url: str
    """Where the signed CloudEvents are POSTed."""
    secret: str
    """The signing secret, `whsec_` followed by base64 (Standard Webhooks); the receiver checks
    signatures with it."""
    timeout_seconds: float = 15.0
    """Seconds to wait for an answer before the attempt fails."""
    max_attempts: int = 5
    """Attempts before the delivery fails for good."""
    backoff_seconds: float = 1.0
    """Seconds before the second attempt, doubled at each next one (with jitter)."""
    max_backoff_seconds: float = 60.0
    """The longest wait between two attempts, in seconds."""


class Zone(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A place with loudspeakers: a shop's aisle, a street, a shopping centre."""

    name: str
    """The zone's unique name, as `broadcast` steps (`zone:`) name it; the same as its
    `sensors.zones` entry, if any."""
    language: str = "fr"
    """The default language (`fr` or `en`) the zone's messages are spoken in."""
    public_address: str | None = None
    """Name of the webhook endpoint of the zone's public-address system, if any."""
    quiet_hours: list[str] = []
    """Local `HH:MM-HH:MM` ranges (`22:00-08:00` spans midnight) when nothing is broadcast."""
    timezone: str = "UTC"
    """The IANA time zone the quiet hours are in (e.g. Europe/Brussels)."""


class Screen(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A shop's screens (at the door, in an aisle), driven through a webhook endpoint, with
    their own quiet hours: screens of a closed shop stay dark."""

    name: str
    """The screens' unique name, as `screen` steps (`screen:`) name them."""
    endpoint: str
    """Name of the webhook endpoint that shows a message on the screens."""
    language: str = "fr"
    """The default language (`fr` or `en`) of the messages shown."""
    quiet_hours: list[str] = []
    """Local `HH:MM-HH:MM` ranges (`20:00-09:00` spans midnight) when nothing is shown."""
    timezone: str = "UTC"
    """The IANA time zone the quiet hours are in (e.g. `Europe/Brussels`)."""


OutsideHours = Literal["drop", "hold"]
"""What a message for a place in its quiet hours does: `drop` it (recorded as skipped) or
`hold` it until the quiet hours end (the run waits, then the message goes out)."""


class ActionSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `actions:` section of vigie.yaml: where actions send things."""

    source: str = "urn:vigie"
    smtp: SmtpSettings | None = None
    webhooks: list[WebhookEndpoint] = []
    zones: list[Zone] = []
    """Places with loudspeakers that `broadcast` steps speak in, with their quiet hours."""
    screens: list[Screen] = []
    """Shop screens that `screen` steps show messages on, dark in their quiet hours."""
    queues: dict[str, list[str]] = {}
    """Each queue's agents at the start of the day (queue name to a list of people); `reassign`
    steps move agents between queues."""
    allow_private_networks: bool = False
    """Whether webhook endpoints may be on private, loopback or link-local addresses (refused by
    default, so that a URL cannot reach the server's own network unless meant to)."""
    broadcast_dir: str = "./vigie-data/broadcasts"
    """The directory where `broadcast` writes its spoken messages as WAV files."""
    espeak: str = "/usr/bin/espeak-ng"
    """The path of the espeak-ng program that speaks broadcasts; when absent, no WAV file is
    made."""

    def webhook(self, name: str) -> WebhookEndpoint | None:
        """The endpoint called `name`, if any."""
        return next((w for w in self.webhooks if w.name == name), None)

    def zone(self, name: str) -> Zone | None:
        """The zone called `name`, if any."""
        return next((z for z in self.zones if z.name == name), None)

    def screen(self, name: str) -> Screen | None:
        """The screens called `name`, if any."""
        return next((s for s in self.screens if s.name == name), None)


class ActionError(Exception):
    """An action failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ActionHeld(Exception):
    """The action may not act before `until` (a place's quiet hours): the engine records the
    step as held and runs it again then, without counting a failed attempt."""

    def __init__(self, reason: str, *, until: datetime) -> None:
        super().__init__(reason)
        self.until = until


class ActionContext(msgspec.Struct, kw_only=True):
    """What an action may use: the idempotency key of this step of this run, the alert that
    started it, the port bound to that key, the clock, the people and where to send."""

    key: str
    run_id: str
    trigger: PlaybookTrigger
    port: ActionPort
    clock: Clock
    schedule: ScheduleConfig
    settings: ActionSettings


class Action(Protocol):
    """A kind of step: `chat.invite`, `webhook`, `notify`, … or a plugin's."""

    name: ClassVar[str]
    params_type: ClassVar[type[msgspec.Struct]]

    def run(self, params: Any, context: ActionContext) -> dict[str, Any]:
        """Do the work once for `context.key`; return a JSON-able summary of what was done."""
        ...


class Describable(Protocol):
    """Optionally, an action may also say what it would do without acting (`--dry-run`)."""

    def describe(self, params: Any, context: ActionContext) -> str:
        """One sentence on what `run` would do now; reads, never writes."""
        ...
