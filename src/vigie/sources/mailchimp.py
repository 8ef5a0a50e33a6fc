"""Mailchimp: newsletter sign-ups and unsubscriptions, from an audience's webhook.

Mailchimp does not sign its webhooks; its documentation has the receiver put a secret in
the webhook's URL. Vigie's is the `key` query parameter: `POST /hooks/{name}?key=SECRET`.
The body is a form: `type`, `fired_at` (UTC) and `data[…]` fields. Mailchimp checks the URL
with a GET when the webhook is created; Vigie answers it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vigie.events import Event
from vigie.sources.base import InboundSource, Invalid, Refused, WebhookRequest, event, same

EVENTS = {"subscribe": "Newsletter Signed Up", "unsubscribe": "Newsletter Unsubscribed"}
"""Mailchimp types -> Vigie events (the catalogue's `newsletter_signups` counts sign-ups)."""


class Mailchimp:
    """Mailchimp's `subscribe` and `unsubscribe` as `Newsletter Signed Up` and
    `Newsletter Unsubscribed` (the other types are kept as `Mailchimp Event`)."""

    name = "mailchimp"

    def verify(self, request: WebhookRequest, settings: InboundSource, now: datetime) -> None:
        given = request.query.get("key")
        if not given:
            raise Refused("key", "missing; put ?key=SECRET in the webhook URL given to Mailchimp")
        if not same(settings.secret, given):
            raise Refused("key", "does not match this source's secret")

    def events(
        self, request: WebhookRequest, settings: InboundSource, received_at: datetime
    ) -> list[Event]:
        fields = dict(request.form())
        kind = fields.get("type")
        if not kind:
            raise Invalid("type", "a Mailchimp webhook has a type")
        data = {k[5:-1].replace("][", "."): v for k, v in fields.items() if k.startswith("data[")}
        email = data.get("email") or data.get("new_email")
        properties: dict[str, Any] = {
            "email": email,
            "list_id": data.get("list_id"),
            "subscriber_id": data.get("id"),
            "first_name": data.get("merges.FNAME"),
            "last_name": data.get("merges.LNAME"),
            "reason": data.get("reason"),
            "action": data.get("action"),
            "campaign_id": data.get("campaign_id"),
        }
        if kind not in EVENTS:
            properties["type"] = kind
        at = _time(fields.get("fired_at")) or received_at
        return [
            event(
                kind=self.name,
                ids=(kind, data.get("list_id"), data.get("id") or email, fields.get("fired_at")),
                name=EVENTS.get(kind, "Mailchimp Event"),
                settings=settings,
                at=at,
                received_at=received_at,
                anonymous_id=f"email:{email}" if email else f"mailchimp:{data.get('id')}",
                properties={k: v for k, v in properties.items() if v},
            )
        ]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
