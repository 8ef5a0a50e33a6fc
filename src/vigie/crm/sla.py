"""Support SLA targets per priority (the `crm.sla` section of `vigie.yaml`) and due times."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec


class Sla(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How fast a ticket of one priority must get a first answer and a resolution."""

    first_response_minutes: int
    """Minutes (calendar time) after a ticket opens by which it must get its first answer."""
    resolution_minutes: int
    """Minutes (calendar time) after a ticket opens by which it must be resolved."""


def _sla(first: int, resolution: int) -> Sla:
    return Sla(first_response_minutes=first, resolution_minutes=resolution)


class SlaTargets(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The targets of each ticket priority, in minutes of calendar time."""

    urgent: Sla = msgspec.field(default_factory=lambda: _sla(30, 4 * 60))
    """Targets of `urgent` tickets (by default: a first answer within 30 minutes, resolved within 4
    hours)."""
    high: Sla = msgspec.field(default_factory=lambda: _sla(2 * 60, 24 * 60))
    """Targets of `high` tickets (by default: a first answer within 2 hours, resolved within a
    day)."""
    normal: Sla = msgspec.field(default_factory=lambda: _sla(8 * 60, 3 * 24 * 60))
    """Targets of `normal` tickets, and of a ticket of unknown priority (by default: a first answer
    within 8 hours, resolved within 3 days)."""
    low: Sla = msgspec.field(default_factory=lambda: _sla(24 * 60, 7 * 24 * 60))
    """Targets of `low` tickets (by default: a first answer within a day, resolved within 7
    days)."""


class CrmConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `crm` section of `vigie.yaml`."""

    sla: SlaTargets = msgspec.field(default_factory=SlaTargets)

    def sla_for(self, priority: str) -> Sla:
        """The targets of `priority` (`normal` for an unknown one)."""
        found: Sla = getattr(self.sla, priority, self.sla.normal)
        return found


def due(opened_at: datetime, minutes: int) -> datetime:
    """The moment a target of `minutes` after `opened_at` falls due (calendar time)."""
    return opened_at + timedelta(minutes=minutes)
