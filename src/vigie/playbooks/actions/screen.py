"""The `screen` action: a message on a shop's screens (at the door, in an aisle), sent as a
signed CloudEvent to the screens' endpoint, never in their quiet hours: dropped or held
until they end, as the step chooses."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from vigie.playbooks.actions.base import ActionContext, ActionError, OutsideHours
from vigie.playbooks.actions.quiet import outside_quiet_hours


class ScreenParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What to show on which screens, for how long; the language defaults to the screens'."""

    screen: str
    text: str
    language: Literal["fr", "en"] | None = None
    minutes: float = 30.0
    outside_quiet_hours: OutsideHours = "drop"


class ShowOnScreen:
    """`screen`: post the message to the screens' endpoint once per step."""

    name: ClassVar[str] = "screen"
    params_type: ClassVar[type[msgspec.Struct]] = ScreenParams

    def run(self, params: ScreenParams, context: ActionContext) -> dict[str, Any]:
        screen = context.settings.screen(params.screen)
        if screen is None:
            known = ", ".join(s.name for s in context.settings.screens) or "none configured"
            raise ActionError(
                f"no screens {params.screen!r} (actions.screens: {known})", retryable=False
            )
        if params.minutes <= 0:
            raise ActionError(f"minutes must be positive, got {params.minutes}", retryable=False)
        quiet = outside_quiet_hours(
            place=screen.name,
            quiet_hours=screen.quiet_hours,
            timezone=screen.timezone,
            choice=params.outside_quiet_hours,
            now=context.clock.now(),
        )
        if quiet is not None:
            return {"screen": screen.name, **quiet}
        language = params.language or screen.language
        delivered = context.port.send_event(
            endpoint=screen.endpoint,
            type="be.vigie.screen.message",
            subject=screen.name,
            data={
                "screen": screen.name,
                "language": language,
                "text": params.text,
                "minutes": params.minutes,
            },
        )
        return {"screen": screen.name, "language": language, "delivered": delivered}
