"""Read models of an API node: in-memory projections rebuilt from the shared log.

The KPI windows, the analytics (sessions, funnels, campaign slots), the shop and city
sensors' state, the experiments' exposures and the chat's KPIs live in memory. A worker
builds them to fire alerts and run playbooks; an API node (`vigie serve --role api`) builds
its own copies, without side effects, to serve the dashboard. Their positions are this process's
own (`ViewLog` keeps them in memory): saving them in the shared log would move the worker's
checkpoints. Every other name (the CRM projection's, for read-your-writes) reads the worker's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from vigie.events import Event, Rejection
from vigie.events.event import ShapeT
from vigie.log.eventlog import AppendResult, EventLog


class ViewLog:
    """`log` with the checkpoints of the `local` consumers kept in this process."""

    def __init__(self, log: EventLog, local: Sequence[str]) -> None:
        self.log = log
        self.positions: dict[str, int] = dict.fromkeys(local, 1)

    def append(
        self,
        events: Sequence[Event],
        rejections: Sequence[Rejection] = (),
        *,
        source: str | None = None,
        endpoint: str | None = None,
        received_at: datetime | None = None,
    ) -> AppendResult:
        return self.log.append(
            events, rejections, source=source, endpoint=endpoint, received_at=received_at
        )

    def read(self, from_offset: int, limit: int = 1000) -> list[Event]:
        return self.log.read(from_offset, limit)

    def read_as(self, shape: type[ShapeT], from_offset: int, limit: int = 1000) -> list[ShapeT]:
        return self.log.read_as(shape, from_offset, limit)

    def last_offset(self) -> int:
        return self.log.last_offset()

    def checkpoint(self, consumer: str) -> int:
        """A local consumer's position here, anyone else's as the shared log holds it."""
        local = self.positions.get(consumer)
        return local if local is not None else self.log.checkpoint(consumer)

    def save_checkpoint(self, consumer: str, next_offset: int) -> None:
        """Keep a local consumer's position here; the others' are not this process's to move."""
        if consumer in self.positions:
            self.positions[consumer] = next_offset

    def save_checkpoints(self, positions: Mapping[str, int]) -> None:
        """Keep the local consumers' positions here."""
        for consumer, next_offset in positions.items():
            self.save_checkpoint(consumer, next_offset)

    def start_at_end(self, consumer: str) -> None:
        """Place `consumer` after the newest event (its state is rebuilt up to there apart)."""
        self.positions[consumer] = self.log.last_offset() + 1
