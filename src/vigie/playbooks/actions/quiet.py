"""Quiet hours of public places (loudspeaker zones, shop screens): a message due in them is
dropped or held until they end, as the playbook's step chooses, and the step records which."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vigie.playbooks.actions.base import ActionHeld, OutsideHours
from vigie.sensors.places import quiet_until


def outside_quiet_hours(
    *, place: str, quiet_hours: list[str], timezone: str, choice: OutsideHours, now: datetime
) -> dict[str, Any] | None:
    """None when the place may be addressed now. In its quiet hours: with `drop`, the step's
    result saying nothing was sent and why; with `hold`, `ActionHeld` until they end."""
    until = quiet_until(quiet_hours, timezone, now)
    if until is None:
        return None
    hours = ", ".join(quiet_hours)
    if choice == "hold":
        raise ActionHeld(
            f"{place}: quiet hours ({hours}), held until {until.isoformat()}", until=until
        )
    return {"place": place, "skipped": f"quiet hours ({hours})", "dropped": True}
