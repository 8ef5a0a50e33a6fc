"""A lunch-time (12:00-13:00) ad campaign: visitors arrive from the ad, browse, sign up, buy.

Messages come out in the Segment wire format, in event-time order, so that they can be
posted to `/v1/batch` like a real site's tracker would.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vigie.simulate.support import SupportRush

CAMPAIGN = {
    "name": "lunch-deal",
    "source": "facebook",
    "medium": "paid_social",
    "content": "noon-banner",
    "id": "cmp-lunch-2026",
}
SITE = "https://shop.example.be"
PRODUCTS = [
    ("sku-salad", "Salade niçoise", 9.5),
    ("sku-wrap", "Wrap poulet", 7.9),
    ("sku-bowl", "Poke bowl", 12.5),
    ("sku-soup", "Soupe du jour", 5.5),
    ("sku-menu", "Menu midi", 14.9),
]


@dataclass(frozen=True)
class LunchCampaign:
    """The scenario's knobs; `messages()` yields the same stream for the same seed."""

    day: date
    visitors: int = 2000
    seed: int = 7
    timezone: str = "Europe/Brussels"
    campaign_share: float = 0.7
    # From this local time on, the payment step fails: checkouts end in "Checkout Failed"
    # (None: it never breaks).
    checkout_breaks_at: time | None = time(12, 20)
    # Play a support rush (tickets, first responses) alongside the campaign.
    support: bool = True
    # Visitors who came before (the day before, or this morning on their phone) and the
    # share of customers who log in to their account before checking out.
    returning_share: float = 0.25
    login_share: float = 0.3

    def start(self) -> datetime:
        """12:00 local time on the scenario's day."""
        return datetime.combine(self.day, time(12, 0), tzinfo=ZoneInfo(self.timezone))

    def messages(self) -> Iterator[dict[str, Any]]:
        """Every message of the scenario, ordered by timestamp."""
        rng = random.Random(self.seed)
        out: list[tuple[datetime, int, dict[str, Any]]] = []
        start = self.start()
        run = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
        for n in range(self.visitors):
            # Arrivals peak around 12:20, when the banner runs on most placements.
            minute = min(59.9, max(0.0, rng.gauss(22, 14)))
            arrival = start + timedelta(minutes=minute, seconds=rng.random())
            for message in self._journey(rng, run, n, arrival):
                out.append((message["_at"], len(out), message))
        if self.support:
            rush = SupportRush(day=self.day, seed=self.seed, timezone=self.timezone)
            for message in rush.messages():
                at = datetime.fromisoformat(message.pop("timestamp"))
                out.append((at, len(out), message))
        out.sort(key=lambda item: (item[0], item[1]))
        for at, _, message in out:
            message.pop("_at", None)
            message["timestamp"] = at.isoformat()
            yield message

    def _journey(
        self, rng: random.Random, run: str, n: int, at: datetime
    ) -> Iterator[dict[str, Any]]:
        anonymous_id = f"v-{run}-{n:06d}"
        from_ad = rng.random() < self.campaign_share
        utm = (
            "?utm_source={source}&utm_medium={medium}&utm_campaign={name}"
            "&utm_content={content}&utm_id={id}".format(**CAMPAIGN)
            if from_ad
            else ""
        )
        seq = 0

        def msg(kind: str, moment: datetime, **fields: Any) -> dict[str, Any]:
            nonlocal seq
            seq += 1
            return {
                "type": kind,
                "messageId": f"{anonymous_id}-{seq}",
                "anonymousId": anonymous_id,
                "_at": moment,
                **fields,
            }

        def page(
            path: str, title: str, moment: datetime, query: str = "", **fields: Any
        ) -> dict[str, Any]:
            url = f"{SITE}{path}{query}"
            return msg(
                "page",
                moment,
                name=title,
                properties={"path": path, "url": url, "title": title},
                context={"page": {"path": path, "url": url, "title": title}},
                **fields,
            )

        # A second generator for the journeys' extras, so that the base stream stays the
        # same for a seed whatever these knobs say.
        extra = random.Random(f"{self.seed}-{n}")
        user_id = f"cust-{run}-{n:06d}"
        member = extra.random() < self.login_share
        if extra.random() < self.returning_share:
            yield from self._earlier_visit(extra, page, msg, at, user_id if member else None)
        logged_in = False

        if from_ad:
            yield msg(
                "track",
                at - timedelta(seconds=rng.uniform(2, 30)),
                event="Ad Clicked",
                properties={"campaign": CAMPAIGN["name"], "cost": round(rng.uniform(0.2, 0.6), 2)},
                context={"campaign": dict(CAMPAIGN)},
            )
        landing = "/lunch-deal" if from_ad else "/"
        yield page(landing, "Lunch deal" if from_ad else "Accueil", at, utm)
        t = at + timedelta(seconds=rng.uniform(5, 60))
        if rng.random() < 0.55:
            yield page("/menu", "Menu", t)
            t += timedelta(seconds=rng.uniform(10, 90))
        if rng.random() < 0.18:
            yield msg(
                "track",
                t,
                event="Newsletter Signed Up",
                properties={"list": "lunch-news", "form": "footer"},
            )
            t += timedelta(seconds=rng.uniform(3, 20))
        if rng.random() < 0.4:
            sku, label, price = rng.choice(PRODUCTS)
            yield msg(
                "track",
                t,
                event="Product Added",
                properties={"product_id": sku, "name": label, "price": price, "quantity": 1},
            )
            t += timedelta(seconds=rng.uniform(10, 60))
            if member:
                yield page("/login", "Connexion", t)
                yield msg(
                    "identify",
                    t + timedelta(seconds=8),
                    userId=user_id,
                    traits={"email": f"{user_id}@example.be", "language": "fr"},
                )
                logged_in = True
                t += timedelta(seconds=extra.uniform(10, 30))
            if rng.random() < 0.6:
                paid_by = {"campaign": CAMPAIGN["name"]} if from_ad else {}
                yield page("/checkout", "Checkout", t)
                yield msg(
                    "track", t, event="Checkout Started", properties={"value": price, **paid_by}
                )
                t += timedelta(seconds=rng.uniform(20, 120))
                paid = rng.random() < 0.7
                if paid and self._broken(t):
                    yield msg(
                        "track",
                        t,
                        event="Checkout Failed",
                        properties={"error": "payment_gateway_timeout", "value": price},
                    )
                    if extra.random() < 0.5:
                        # They try again a little later, and hit the same wall.
                        again = t + timedelta(minutes=extra.uniform(2, 10))
                        yield page("/checkout", "Checkout", again)
                        yield msg(
                            "track",
                            again + timedelta(seconds=5),
                            event="Checkout Failed",
                            properties={"error": "payment_gateway_timeout", "value": price},
                        )
                elif paid:
                    if not logged_in:
                        yield msg(
                            "identify",
                            t,
                            userId=user_id,
                            traits={"email": f"{user_id}@example.be", "language": "fr"},
                        )
                        logged_in = True
                    yield msg(
                        "track",
                        t + timedelta(seconds=1),
                        event="Order Completed",
                        userId=user_id,
                        properties={
                            "order_id": f"o-{run}-{n:06d}",
                            "revenue": price,
                            "currency": "EUR",
                            **paid_by,
                        },
                    )
        if not logged_in and extra.random() < 0.1:
            # Back in the afternoon to look at the menu again.
            later = at + timedelta(hours=extra.uniform(2.5, 4.5))
            yield page("/", "Accueil", later)
            yield page("/menu", "Menu", later + timedelta(seconds=extra.uniform(5, 40)))

    def _broken(self, at: datetime) -> bool:
        """True when the checkout is broken at `at` (local time past `checkout_breaks_at`)."""
        if self.checkout_breaks_at is None:
            return False
        local = at.astimezone(ZoneInfo(self.timezone)).time()
        return local >= self.checkout_breaks_at

    def _earlier_visit(
        self,
        extra: random.Random,
        page: Any,
        msg: Any,
        at: datetime,
        user_id: str | None,
    ) -> Iterator[dict[str, Any]]:
        """A visit before the campaign: yesterday on this device, or this morning on a phone
        (where a member logs in, so the two devices end up in one profile)."""
        if extra.random() < 0.5:
            when = at - timedelta(days=1, hours=extra.uniform(-3, 3))
            yield page("/", "Accueil", when)
            yield page("/menu", "Menu", when + timedelta(seconds=extra.uniform(10, 60)))
            return
        when = at - timedelta(hours=extra.uniform(1.5, 3.5))
        first = page("/", "Accueil", when)
        device = first["anonymousId"] + "-m"
        for message in (first, page("/menu", "Menu", when + timedelta(seconds=30))):
            message["anonymousId"] = device
            yield message
        if user_id is not None:
            yield msg(
                "identify",
                when + timedelta(seconds=50),
                anonymousId=device,
                userId=user_id,
                traits={"email": f"{user_id}@example.be", "language": "fr"},
            )
