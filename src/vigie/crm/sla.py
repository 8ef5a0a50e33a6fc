"""Support SLA targets per priority (the `crm.sla` section of `vigie.yaml`) and due times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, cast

import msgspec

PriorityName = Literal["low", "normal", "high", "urgent"]


class Sla(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How fast a ticket of one priority must get a first answer and a resolution."""

    first_response_minutes: int
    resolution_minutes: int


def _default_sla() -> dict[PriorityName, Sla]:
    return {
        "urgent": Sla(first_response_minutes=30, resolution_minutes=4 * 60),
        "high": Sla(first_response_minutes=2 * 60, resolution_minutes=24 * 60),
        "normal": Sla(first_response_minutes=8 * 60, resolution_minutes=3 * 24 * 60),
        "low": Sla(first_response_minutes=24 * 60, resolution_minutes=7 * 24 * 60),
    }


class CrmConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `crm` section of `vigie.yaml`."""

    sla: dict[PriorityName, Sla] = msgspec.field(default_factory=_default_sla)

    def sla_for(self, priority: str) -> Sla:
        """The targets of `priority`, falling back to the built-in ones."""
        key = cast(PriorityName, priority)
        defaults = _default_sla()
        return self.sla.get(key) or defaults.get(key) or defaults["normal"]


def due(opened_at: datetime, minutes: int) -> datetime:
    """The moment a target of `minutes` after `opened_at` falls due (calendar time)."""
    return opened_at + timedelta(minutes=minutes)
