"""A support rush at lunch time: tickets on two queues, first responses, and a queue that
falls behind its SLA once the checkout breaks (customers write in about failed orders).

Messages come out in the Segment wire format, ordered by timestamp, like `LunchCampaign`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

COMPLAINTS = [
    ("fr", "Ma commande a échoué au paiement, je suis très déçu"),
    ("fr", "Le paiement ne passe pas, c'est nul"),
    ("en", "Checkout keeps failing, this is terrible"),
    ("en", "I was charged but got no order confirmation, awful"),
]
QUESTIONS = [
    ("fr", "Bonjour, le menu midi est-il disponible en livraison ? Merci"),
    ("fr", "Super service, merci pour la livraison rapide"),
    ("en", "Do you have vegan options? Thanks"),
    ("en", "Great lunch deal, love it"),
]


@dataclass(frozen=True)
class SupportRush:
    """Tickets between 12:00 and 13:00; after `backlog_from` the `orders` queue waits."""

    day: date
    tickets: int = 120
    seed: int = 11
    timezone: str = "Europe/Brussels"
    backlog_from: time | None = time(12, 25)

    def messages(self) -> Iterator[dict[str, Any]]:
        """Every message of the scenario, ordered by timestamp."""
        rng = random.Random(self.seed)
        start = datetime.combine(self.day, time(12, 0), tzinfo=ZoneInfo(self.timezone))
        end = start + timedelta(hours=1)
        backlog = (
            datetime.combine(self.day, self.backlog_from, tzinfo=ZoneInfo(self.timezone))
            if self.backlog_from
            else None
        )
        out: list[tuple[datetime, int, dict[str, Any]]] = []
        run = f"{rng.getrandbits(32):08x}"
        for n in range(self.tickets):
            opened = start + timedelta(seconds=rng.uniform(0, 3600))
            late = backlog is not None and opened >= backlog
            queue = "orders" if late or rng.random() < 0.5 else "questions"
            language, text = rng.choice(COMPLAINTS if queue == "orders" else QUESTIONS)
            ticket = f"t-{run}-{n:05d}"
            customer = f"cust-support-{n:05d}"
            common = {"ticket_id": ticket, "queue": queue, "channel": "email"}
            out.append(
                (
                    opened,
                    len(out),
                    {
                        "type": "track",
                        "messageId": f"{ticket}-created",
                        "userId": customer,
                        "event": "Ticket Created",
                        # `id`, `subject` and `opened_at` make it a CRM ticket too.
                        "properties": {
                            **common,
                            "id": ticket,
                            "subject": text[:120],
                            "opened_at": opened.isoformat(),
                            "text": text,
                            "language": language,
                        },
                    },
                )
            )
            wait = (
                rng.uniform(30 * 60, 60 * 60)
                if late and queue == "orders"
                else rng.uniform(60, 600)
            )
            replied = opened + timedelta(seconds=wait)
            if replied < end:
                out.append(
                    (
                        replied,
                        len(out),
                        {
                            "type": "track",
                            "messageId": f"{ticket}-replied",
                            "userId": customer,
                            "event": "Ticket First Response",
                            "properties": {**common, "first_response_s": round(wait, 1)},
                        },
                    )
                )
        out.sort(key=lambda item: (item[0], item[1]))
        for at, _, message in out:
            message["timestamp"] = at.isoformat()
            yield message
