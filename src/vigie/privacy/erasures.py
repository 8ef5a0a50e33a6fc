"""Telling every process of an erasure, through the log.

An erasure rewrites the store, but the processes running beside it keep copies in memory:
the bodies of the events each committed last (read back from memory, not the store), the
live feed's newest events, the crypto-shredding keys read in the last seconds. Whoever
erases (the API, `vigie privacy erase`) appends an `Subject Erased` notice to the log; each
process follows the log, as every node of a split deployment does, and drops those copies
when the notice comes. The notice names nobody: that an erasure happened is all it says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from vigie.events import Event, notice_event

ERASED = "Subject Erased"
"""The event that tells every process to drop what it keeps in memory of the log. It is a
notice (`NOTICE_TYPE`), not a tracked event that KPIs of `track` events would count; older
ones were `track` events, and are honoured alike (`ErasureNotices` reads name and source)."""
SOURCE = "privacy"


def erased_event(*, at: datetime) -> Event:
    """The log's notice that a person was erased (nothing personal)."""
    return notice_event(source=SOURCE, name=ERASED, at=at)


class ErasureNotices:
    """A processor that calls `forget` at each erasure notice it reads in the log."""

    name = "privacy-erasures"

    def __init__(self, forget: Callable[[], None]) -> None:
        self.forget = forget

    def process(self, events: Sequence[Event]) -> None:
        """Drop the process's copies once per batch that holds a notice."""
        if any(e.event == ERASED and e.source == SOURCE for e in events):
            self.forget()
