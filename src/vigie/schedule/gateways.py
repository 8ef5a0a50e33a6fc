"""The HTTP gateway of the `sms` and `push` channels: one JSON POST per message.

Vigie sends no text message itself; a company points `schedule.gateways.sms.url` at its
provider's relay (or a small adapter), which gets `{"to", "subject", "text", "person",
"urgent"}`. A refused or unreachable gateway is a failed delivery, retried later.
"""

from __future__ import annotations

import httpx

from vigie.schedule.schedules import Gateway


class DeliveryFailed(Exception):
    """A channel refused the message; it is held again and retried."""


def send_by_gateway(
    gateway: Gateway, *, to: str, person: str, subject: str, text: str, urgent: bool
) -> None:
    """POST one message to `gateway`; raise `DeliveryFailed` unless it answers 2xx."""
    headers = {"Authorization": f"Bearer {gateway.token}"} if gateway.token else {}
    body = {"to": to, "subject": subject, "text": text, "person": person, "urgent": urgent}
    try:
        answer = httpx.post(
            gateway.url, json=body, headers=headers, timeout=gateway.timeout_seconds
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"gateway {gateway.url} unreachable: {exc}") from exc
    if not answer.is_success:
        raise DeliveryFailed(f"gateway {gateway.url} answered {answer.status_code}")
