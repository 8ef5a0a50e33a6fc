"""What is done to every event before it is stored: IP addresses truncated, visitor ids
pseudonymised (each as configured in `privacy:`).

`SafeguardedLog` is the one door: every append through the served log — ingestion, the
chat, the sensors, the CRM — is guarded on its way in, on copies, so that a sender that
reads its events afterwards (the chat folds them into the conversation it holds) still sees
them as it made them; an ingest request's events, converted for it alone and never read again
by it, are guarded themselves (`AppendJob.owned`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from vigie.events import Event
from vigie.log.eventlog import ServedLog, WrappedLog
from vigie.privacy.addresses import truncate_ip
from vigie.privacy.config import PrivacyConfig
from vigie.privacy.pseudonyms import Pseudonymiser

_IP_KEYS = ("ip",)
_PROPERTY_IP_KEYS = ("$ip",)
LINKED_IDS = "anonymous_ids"
"""The property listing the visitor ids a record is linked to (a CRM contact's)."""


class Safeguards:
    """Applies the configured safeguards to events before they are appended."""

    def __init__(self, config: PrivacyConfig, *, environment: str = "development") -> None:
        self.config = config
        key = config.pseudonym_key(environment)
        self.pseudonymise = Pseudonymiser(key) if key else None

    @property
    def active(self) -> bool:
        """Whether any safeguard changes events."""
        return self.config.ip.truncate or self.pseudonymise is not None

    def guarded(self, events: Sequence[Event], *, in_place: bool = False) -> Sequence[Event]:
        """`events` with their IP addresses truncated and their visitor ids pseudonymised
        (the event's own, and those a CRM contact lists in `anonymous_ids`): a guarded copy
        of each event that changes, the event itself otherwise; the given events are left as
        they are. With `in_place` (events nobody else holds: an ingest request's, just
        converted), the events and their `context` and `properties` are changed themselves,
        which spares a copy of each on the ingest path."""
        if not self.active:
            return events
        if in_place:
            for event in events:
                for name, value in self._changes(event, copy=False).items():
                    setattr(event, name, value)
            return events
        out: list[Event] = []
        for event in events:
            changes = self._changes(event)
            out.append(msgspec.structs.replace(event, **changes) if changes else event)
        return out

    def _changes(self, event: Event, *, copy: bool = True) -> dict[str, Any]:
        # Run for every event appended: plain loops, as a generator per check cost more than
        # the truncation it guards.
        changes: dict[str, Any] = {}
        if self.config.ip.truncate:
            for key in _IP_KEYS:
                if key in event.context:
                    changes["context"] = self._truncated(event.context, _IP_KEYS, copy=copy)
                    break
            for key in _PROPERTY_IP_KEYS:
                if key in event.properties:
                    changes["properties"] = self._truncated(
                        event.properties, _PROPERTY_IP_KEYS, copy=copy
                    )
                    break
        raw = event.anonymous_id
        if self.pseudonymise is not None and raw:
            stored = self.pseudonymise(raw)
            if stored != raw:
                changes["anonymous_id"] = stored
                # An alias from a visitor's own id: the id it merges is the same visitor.
                if event.previous_id == raw:
                    changes["previous_id"] = stored
        linked = event.properties.get(LINKED_IDS)
        if self.pseudonymise is not None and isinstance(linked, list) and linked:
            properties = changes.get("properties", event.properties)
            changes["properties"] = {
                **properties,
                LINKED_IDS: [self.visitor_id(i) if isinstance(i, str) else i for i in linked],
            }
        return changes

    def visitor_id(self, raw: str) -> str:
        """The id stored for the visitor a client knows as `raw` (to look it up again); a
        stored id is its own."""
        return self.pseudonymise(raw) if self.pseudonymise is not None else raw

    def _truncated(
        self, fields: dict[str, Any], keys: tuple[str, ...], *, copy: bool = True
    ) -> dict[str, Any]:
        out = dict(fields) if copy else fields
        for key in keys:
            value = out.get(key)
            if value is None:
                continue
            out[key] = (
                truncate_ip(
                    value,
                    ipv4_prefix=self.config.ip.ipv4_prefix,
                    ipv6_prefix=self.config.ip.ipv6_prefix,
                )
                if isinstance(value, str)
                else ""
            )
        return out


class SafeguardedLog(WrappedLog):
    """The event log as its writers see it: what is appended is guarded (`Safeguards.guarded`);
    a search by visitor id looks for the id stored for it."""

    def __init__(self, log: ServedLog, safeguards: Safeguards) -> None:
        super().__init__(log)
        self.safeguards = safeguards

    def stored_visitor(self, anonymous_id: str) -> str:
        return self.safeguards.visitor_id(anonymous_id)

    def stored(self, events: Sequence[Event], *, owned: bool = False) -> Sequence[Event]:
        return self.safeguards.guarded(events, in_place=owned)
