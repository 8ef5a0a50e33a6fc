"""The `privacy:` section of `vigie.yaml`: what is stored of a visitor, and for how long."""

from __future__ import annotations

from typing import Literal

import msgspec

from vigie.kpi.durations import parse_duration

DataClass = Literal["events", "sensors", "rejected", "interactions", "notifications", "audit"]
DATA_CLASSES: tuple[DataClass, ...] = (
    "events",
    "sensors",
    "rejected",
    "interactions",
    "notifications",
    "audit",
)
DEVELOPMENT_PSEUDONYM_KEY = "vigie-development-only-pseudonym-key"


class IpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """IP addresses in events (`context.ip`, PostHog's `$ip`) are truncated before storage."""

    truncate: bool = True
    """Whether IP addresses are truncated to `ipv4_prefix` / `ipv6_prefix` bits before storage."""
    ipv4_prefix: int = 24
    """Bits of an IPv4 address kept (24: `203.0.113.42` is stored as `203.0.113.0`)."""
    ipv6_prefix: int = 48
    """Bits of an IPv6 address kept."""


class VisitorIdSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Anonymous visitor ids replaced by a keyed hash (HMAC-SHA256) before storage.

    Whoever appends (ingestion, the chat, the sensors, the CRM, `vigie import`), the log holds
    the pseudonym, and so do a contact's linked visitor ids; the chat, journeys, profiles and
    `/api/events` still find a visitor by the id the browser holds. Off by default: the key
    must be chosen (and kept: a new key starts every visitor afresh), and a store that holds
    ids as sent would see each returning visitor split between their old id and its pseudonym.
    """

    pseudonymise: bool = False
    """Whether anonymous visitor ids are replaced by their keyed hash before storage."""
    key: str | None = None
    """The hash key; required (and no placeholder) outside development when pseudonymising."""


class Retention(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How long each class of data is kept (a duration such as `90d`, `730d`); absent: forever.

    The scheduled purge deletes older rows every `purge_every` and records each purge in the
    audit trail (how many rows of which class, never which).
    """

    events: str | None = None
    """Events of the log (by event time); the KPIs already computed are not changed."""
    sensors: str | None = None
    """Sensor readings in the log (RFID reads, door counts, people counts, the counts taken
    from camera footage), by event time: they may go sooner than the other events."""
    rejected: str | None = "90d"
    """Rejected input (bad payloads, unknown write keys), by reception time."""
    interactions: str | None = None
    """CRM interactions (calls, e-mails …) by when they occurred, and the website chat's
    conversations (their transcripts) by when they started."""
    notifications: str | None = None
    """Notifications to staff (with the decisions taken about them and their read marks), by
    when they were created; one still held for its recipient's working hours is kept."""
    audit: str | None = None
    """Lines of the audit trail, by their time."""
    purge_every: str = "1h"
    """A duration: how often the purge of data older than its retention runs."""


PERSONAL_PROPERTIES = (
    "email", "phone", "first_name", "last_name", "firstName", "lastName", "address", "text"
)  # fmt: skip
"""The event properties that hold personal data by default."""


class ShreddingSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Crypto-shredding: events' personal data written to the log encrypted with a key per
    person, which erasure deletes, so that copies the erasure cannot rewrite (a NATS
    JetStream stream, backups of the store) no longer yield it."""

    keys: str | None = None
    """Database URL of the key store, kept apart from the store and its backups (e.g.
    `sqlite:///./vigie-keys/keys.db`); absent: personal data is written in clear."""
    properties: list[str] = msgspec.field(default_factory=lambda: list(PERSONAL_PROPERTIES))
    """Event properties sealed with the traits (traits are sealed whole): the personal ones,
    including a chat message's `text`; the others stay in clear."""
    context: list[str] = msgspec.field(default_factory=lambda: ["traits", "ip"])
    """Context keys sealed with the traits: the traits a client repeats in the context and
    the (truncated) IP address."""

    def seals(self, field: str) -> bool:
        """Whether the event field at path `field` (e.g. `properties.email`) goes into the
        log sealed: traits are sealed whole, the listed properties and context keys too."""
        if self.keys is None:
            return False
        part, _, rest = field.partition(".")
        personal = {"properties": self.properties, "context": self.context}.get(part)
        if part == "traits":
            return True
        if personal is None:
            return False
        return bool(personal) if not rest else rest.split(".")[0] in personal


class PrivacyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Privacy by design: IP truncation, pseudonymised visitor ids, retention per data class,
    crypto-shredding of traits."""

    ip: IpSettings = msgspec.field(default_factory=IpSettings)
    visitor_ids: VisitorIdSettings = msgspec.field(default_factory=VisitorIdSettings)
    retention: Retention = msgspec.field(default_factory=Retention)
    shredding: ShreddingSettings = msgspec.field(default_factory=ShreddingSettings)

    def pseudonym_key(self, environment: str) -> str | None:
        """The key visitor ids are hashed with, or None when they are kept as sent."""
        if not self.visitor_ids.pseudonymise:
            return None
        if self.visitor_ids.key:
            return self.visitor_ids.key
        if environment != "development":
            raise ValueError("privacy.visitor_ids.key is required outside development")
        return DEVELOPMENT_PSEUDONYM_KEY


def problems(config: PrivacyConfig) -> list[tuple[list[str], str]]:
    """What is wrong with `config`, as (key path under `privacy`, reason) pairs."""
    found: list[tuple[list[str], str]] = []
    if not 0 <= config.ip.ipv4_prefix <= 32:
        found.append((["ip", "ipv4_prefix"], "must be between 0 and 32"))
    if not 0 <= config.ip.ipv6_prefix <= 128:
        found.append((["ip", "ipv6_prefix"], "must be between 0 and 128"))
    for name in (*DATA_CLASSES, "purge_every"):
        value = getattr(config.retention, name)
        if value is None:
            continue
        try:
            if parse_duration(value) <= 0:
                found.append((["retention", name], "must be a positive duration"))
        except ValueError as exc:
            found.append((["retention", name], str(exc)))
    return found
