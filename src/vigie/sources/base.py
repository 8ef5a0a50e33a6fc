"""The door every business source comes through: its settings in `vigie.yaml`, the request
it is handed, and the two things a kind of source does (verify, then convert)."""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

import msgspec

from vigie.events import Event

MAX_BODY_BYTES = 1_000_000


class InboundSource(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One configured sender of webhooks (`inbound:` in `vigie.yaml`), posting to
    `POST /hooks/{name}`."""

    name: str
    """Where it posts (`/hooks/{name}`), and the `source` of the events it sends."""
    kind: str
    """Which tool it is: `stripe`, `shopify`, `twilio`, `mailchimp`, or a plugin's kind."""
    secret: str
    """What it signs with: Stripe's endpoint secret (`whsec_…`), Shopify's app secret,
    Twilio's auth token, the key Mailchimp's webhook URL carries (`?key=…`)."""
    url: str | None = None
    """The public URL the sender calls, when a proxy changes it on the way (Twilio signs it)."""
    tolerance: str = "5m"
    """How old a signed timestamp may be (Stripe), against replays."""
    agents: dict[str, str] = {}
    """Phone number -> staff id: who took or made a call (Twilio)."""
    description: str | None = None
    """Free text saying what this sender is, returned with its delivery counts by
    `GET /api/sources`."""


class WebhookRequest(msgspec.Struct, kw_only=True):
    """What a source is handed: the URL as the sender called it, the headers (lower-case
    names), the raw body, and the form fields when the body is a form."""

    url: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = {}

    def form(self) -> list[tuple[str, str]]:
        """The body as `application/x-www-form-urlencoded` pairs, in order."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Invalid("body", f"not UTF-8: {exc}") from exc
        try:
            return parse_qsl(text, keep_blank_values=True, max_num_fields=1000)
        except ValueError as exc:
            raise Invalid("body", f"not a form of at most 1000 fields: {exc}") from exc

    def json(self) -> dict[str, Any]:
        """The body as a JSON object."""
        try:
            value = msgspec.json.decode(self.body)
        except msgspec.DecodeError as exc:
            raise Invalid("body", f"not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise Invalid("body", "nested too deeply") from exc
        if not isinstance(value, dict):
            raise Invalid("body", "must be a JSON object")
        return value


class Refused(Exception):
    """The request is not from the sender it claims to be (401): `field` is the header or
    parameter at fault, `reason` says what failed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Invalid(Exception):
    """The request is from the sender but cannot be read (400)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SourceKind(Protocol):
    """A kind of business source (a plugin under the `vigie.sources` entry points).

    `verify` raises `Refused` unless the request is signed by the sender `settings` names;
    `events` turns a verified request into events (raising `Invalid` when it cannot). The
    events' message ids come from the sender's own ids, so that a re-delivery is stored once.
    """

    name: str

    def verify(self, request: WebhookRequest, settings: InboundSource, now: datetime) -> None:
        """Raise `Refused` naming the header at fault unless the request is authentic."""
        ...

    def events(
        self, request: WebhookRequest, settings: InboundSource, received_at: datetime
    ) -> list[Event]:
        """The events the request means (none for a notification Vigie has no use for)."""
        ...


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of two signatures."""
    a = expected.encode() if isinstance(expected, str) else expected
    b = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(a, b)


def message_id(kind: str, *parts: object) -> str:
    """A stable message id for a sender's own ids: the same delivery, the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"vigie:{kind}:" + "\x1f".join(map(str, parts))))


def event(
    *,
    kind: str,
    ids: tuple[object, ...],
    name: str,
    settings: InboundSource,
    at: datetime,
    received_at: datetime,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    type: str = "track",
) -> Event:
    """One event from a business source: `track` `name` (or `identify`) by the person the
    sender names, at the time it says the thing happened."""
    return Event(
        message_id=message_id(kind, *ids),
        type=type,
        event=name if type == "track" else None,
        source=settings.name,
        timestamp=at,
        received_at=received_at,
        user_id=user_id,
        anonymous_id=anonymous_id if user_id is None else None,
        properties=properties or {},
        traits=traits or {},
        context={"integration": {"name": kind}},
    )
