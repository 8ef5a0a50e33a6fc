"""What is done to every event before it is stored: IP addresses truncated, visitor ids
pseudonymised (each as configured in `privacy:`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vigie.events import Event
from vigie.privacy.addresses import truncate_ip
from vigie.privacy.config import PrivacyConfig
from vigie.privacy.pseudonyms import Pseudonymiser

_IP_KEYS = ("ip",)
_PROPERTY_IP_KEYS = ("$ip",)


class Safeguards:
    """Applies the configured safeguards to events, in place, before they are appended."""

    def __init__(self, config: PrivacyConfig, *, environment: str = "development") -> None:
        self.config = config
        key = config.pseudonym_key(environment)
        self.pseudonymise = Pseudonymiser(key) if key else None

    @property
    def active(self) -> bool:
        """Whether any safeguard changes events."""
        return self.config.ip.truncate or self.pseudonymise is not None

    def apply(self, events: Iterable[Event]) -> None:
        """Truncate the IP addresses and pseudonymise the visitor ids of `events`."""
        if not self.active:
            return
        for event in events:
            if self.config.ip.truncate:
                if any(k in event.context for k in _IP_KEYS):
                    event.context = self._truncated(event.context, _IP_KEYS)
                if any(k in event.properties for k in _PROPERTY_IP_KEYS):
                    event.properties = self._truncated(event.properties, _PROPERTY_IP_KEYS)
            if self.pseudonymise is not None:
                raw = event.anonymous_id
                if raw:
                    event.anonymous_id = self.pseudonymise(raw)
                    # An alias from a visitor's own id: the id it merges is the same visitor.
                    if event.previous_id == raw:
                        event.previous_id = event.anonymous_id

    def visitor_id(self, raw: str) -> str:
        """The id stored for the visitor a client knows as `raw` (to look it up again)."""
        return self.pseudonymise(raw) if self.pseudonymise is not None else raw

    def _truncated(self, fields: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        copy = dict(fields)
        for key in keys:
            value = copy.get(key)
            if value is None:
                continue
            copy[key] = (
                truncate_ip(
                    value,
                    ipv4_prefix=self.config.ip.ipv4_prefix,
                    ipv6_prefix=self.config.ip.ipv6_prefix,
                )
                if isinstance(value, str)
                else ""
            )
        return copy
