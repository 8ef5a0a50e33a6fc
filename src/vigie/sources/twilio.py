"""Twilio: phone calls, from Voice status callbacks.

Twilio signs each callback in `X-Twilio-Signature`: the base64 HMAC-SHA1, keyed with the
account's auth token, of the full URL it called followed by every POST parameter, sorted by
name, as name then value. Behind a proxy the URL Vigie sees is not the one Twilio called:
give that one as the source's `url`. The agent is the staff id the source's `agents` maps
the company's number to, or the `agent` query parameter of the callback URL (Twilio signs it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vigie.events import Event
from vigie.sources.base import InboundSource, Invalid, Refused, WebhookRequest, event, same

HEADER = "X-Twilio-Signature"
STATUS = {
    "completed": "answered",
    "busy": "missed",
    "no-answer": "missed",
    "canceled": "missed",
    "failed": "failed",
}
"""Twilio's final call statuses -> the catalogue's (`calls`, `missed_calls` and
`call_handling_time` count `answered` and `missed` calls)."""


def sign(url: str, params: Sequence[tuple[str, str]], *, token: str) -> str:
    """The `X-Twilio-Signature` Twilio sends for a POST of `params` to `url`."""
    text = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """`url`, and the same with the default port written out or left out: Twilio's own
    validators accept either, since proxies differ on it."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if default is None or not host:
        return [url]
    bare = urlunsplit(parts._replace(netloc=host))
    ported = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    if parts.port not in (None, default):
        return [url]
    return [url, bare, ported]


class Twilio:
    """Twilio call status callbacks: a call that ended is a `Call Ended` event (and a call
    interaction in the CRM with its duration, direction and agent); the other statuses are
    kept as `Call Status Changed`."""

    name = "twilio"

    def verify(self, request: WebhookRequest, settings: InboundSource, now: datetime) -> None:
        given = request.headers.get(HEADER.lower())
        if not given:
            raise Refused(HEADER, "missing; Twilio signs every callback")
        params = request.form()
        url = settings.url or request.url
        if not any(
            same(sign(candidate, params, token=settings.secret), given.strip())
            for candidate in _url_variants(url)
        ):
            raise Refused(
                HEADER,
                f"does not match {url} and the parameters signed with this auth token "
                "(behind a proxy, set the source's url to the one Twilio calls)",
            )

    def events(
        self, request: WebhookRequest, settings: InboundSource, received_at: datetime
    ) -> list[Event]:
        params = dict(request.form())
        call = params.get("CallSid")
        status = params.get("CallStatus")
        if not call or not status:
            raise Invalid("CallSid", "a Twilio status callback has CallSid and CallStatus")
        at = _time(params.get("Timestamp")) or received_at
        inbound = params.get("Direction", "inbound") == "inbound"
        # The customer's number, and the company's line the call came in on or left from.
        customer = params.get("From") if inbound else params.get("To")
        line = params.get("To") if inbound else params.get("From")
        staff = request.query.get("agent") or settings.agents.get(line or "")
        properties: dict[str, Any] = {
            "call_sid": call,
            "status": STATUS.get(status, status),
            "twilio_status": status,
            "direction": "inbound" if inbound else "outbound",
            "phone": customer,
            "queue": line,
            "agent": staff or line,
            "staff_id": staff,
        }
        if status in STATUS:
            duration = params.get("CallDuration", "0")
            sane = duration.isdigit() and len(duration) <= 9
            properties["duration_s"] = int(duration) if sane else 0
            properties["subject"] = f"Call {STATUS[status]}"
            name = "Call Ended"
        else:
            name = "Call Status Changed"
        return [
            event(
                kind=self.name,
                ids=(call, status, params.get("SequenceNumber", "")),
                name=name,
                settings=settings,
                at=at,
                received_at=received_at,
                anonymous_id=f"phone:{customer}" if customer else f"twilio:{call}",
                properties={k: v for k, v in properties.items() if v is not None},
            )
        ]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None
