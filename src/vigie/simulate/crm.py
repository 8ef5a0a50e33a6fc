"""A realistic small-business CRM: Belgian and French companies (NACE sectors), a sales team,
a pipeline with offers, invoices and (late) payments, deliveries, reviews and support tickets.

Messages are CRM events in the Segment wire format (`Account Created`, `Deal Updated` …), in
event-time order, so that posting them to `/v1/batch` builds the CRM through the same CRM
processor as the API does. The same seed gives the same stream.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

TRADES: list[tuple[str, str, str]] = [
    ("Boulangerie", "10.71", "micro"),
    ("Brasserie", "56.30", "micro"),
    ("Restaurant", "56.10", "small"),
    ("Garage", "45.20", "small"),
    ("Cabinet comptable", "69.20", "small"),
    ("Imprimerie", "18.12", "small"),
    ("Transports", "49.41", "medium"),
    ("Menuiserie", "43.32", "micro"),
    ("Pharmacie", "47.73", "micro"),
    ("Clinique vétérinaire", "75.00", "small"),
    ("Bureau d'études", "71.12", "medium"),
    ("Agence web", "62.01", "small"),
    ("Hôtel", "55.10", "medium"),
    ("Fromagerie", "47.29", "micro"),
    ("Logistique", "52.10", "large"),
]
SURNAMES = [
    "Dupont",
    "Lambert",
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Dubois",
    "Martin",
    "Bernard",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Leroy",
    "Renard",
    "Fontaine",
    "Lemaire",
    "Goossens",
    "Wouters",
    "Girard",
]
FIRST_NAMES = [
    "Marie",
    "Sophie",
    "Julie",
    "Camille",
    "Emma",
    "Lucas",
    "Thomas",
    "Nicolas",
    "Louis",
    "Elise",
    "Hugo",
    "Sarah",
    "Pierre",
    "Anne",
    "Luc",
    "Inès",
    "Manon",
    "Arthur",
    "Lotte",
    "Jan",
]
PLACES: list[tuple[str, str, str, str]] = [
    ("Bruxelles", "Bruxelles-Capitale", "BE", "fr"),
    ("Liège", "Wallonie", "BE", "fr"),
    ("Namur", "Wallonie", "BE", "fr"),
    ("Charleroi", "Wallonie", "BE", "fr"),
    ("Mons", "Wallonie", "BE", "fr"),
    ("Gent", "Vlaanderen", "BE", "nl"),
    ("Antwerpen", "Vlaanderen", "BE", "nl"),
    ("Leuven", "Vlaanderen", "BE", "nl"),
    ("Lille", "Hauts-de-France", "FR", "fr"),
    ("Paris", "Île-de-France", "FR", "fr"),
    ("Lyon", "Auvergne-Rhône-Alpes", "FR", "fr"),
    ("Bordeaux", "Nouvelle-Aquitaine", "FR", "fr"),
    ("Nantes", "Pays de la Loire", "FR", "fr"),
    ("Strasbourg", "Grand Est", "FR", "fr"),
]
PRODUCTS = [
    ("Caisse enregistreuse connectée", 1490.0),
    ("Abonnement logiciel de gestion (12 mois)", 1188.0),
    ("Terminal de paiement", 399.0),
    ("Pack site web et réservation", 2450.0),
    ("Maintenance annuelle", 690.0),
]
WORKWEEK = {d: ["09:00-12:30", "13:30-17:30"] for d in ("mon", "tue", "wed", "thu", "fri")}
STAGES = ["qualification", "meeting", "proposal", "negotiation"]


def _phone(rng: random.Random, country: str) -> str:
    pairs = " ".join(str(rng.randrange(10, 99)) for _ in range(3))
    return f"+32 4{rng.randrange(70, 99)} {pairs}" if country == "BE" else f"+33 6 {pairs}"


@dataclass(frozen=True)
class CrmScenario:
    """The CRM of a company selling to small businesses, over the `days` before `day`."""

    day: date
    accounts: int = 40
    days: int = 90
    seed: int = 7

    def messages(self) -> Iterator[dict[str, Any]]:
        """Every message of the scenario, ordered by timestamp."""
        builder = _Builder(self, random.Random(self.seed))
        builder.build()
        builder.out.sort(key=lambda m: (m["timestamp"], m["_n"]))
        for message in builder.out:
            del message["_n"]
            yield message


class _Builder:
    def __init__(self, scenario: CrmScenario, rng: random.Random) -> None:
        self.s = scenario
        self.rng = rng
        self.out: list[dict[str, Any]] = []
        self.start = datetime.combine(scenario.day, time(8, 0), tzinfo=UTC) - timedelta(
            days=scenario.days
        )
        self.end = datetime.combine(scenario.day, time(8, 0), tzinfo=UTC)
        self.tag = f"s{scenario.seed}"

    def id(self, prefix: str, n: int) -> str:
        return f"{prefix}_{self.tag}_{n:04d}"

    def emit(
        self, at: datetime, event: str, properties: dict[str, Any], user_id: str | None = None
    ) -> None:
        if at > self.end:
            return
        n = len(self.out)
        message: dict[str, Any] = {
            "type": "track",
            "event": event,
            "messageId": f"crm-{self.tag}-{n:06d}",
            "timestamp": at.isoformat(),
            "properties": properties,
            "_n": n,
        }
        if user_id:
            message["userId"] = user_id
        else:
            message["anonymousId"] = "vigie-backoffice"
        self.out.append(message)

    def working_time(self, at: datetime) -> datetime:
        """The next weekday working moment at or after `at` (09:00-17:00 UTC-ish)."""
        while at.weekday() >= 5:
            at = datetime.combine(at.date() + timedelta(days=1), time(9), tzinfo=UTC)
        if at.hour < 9:
            at = at.replace(hour=9, minute=self.rng.randrange(60))
        if at.hour >= 17:
            at = datetime.combine(at.date() + timedelta(days=1), time(9), tzinfo=UTC)
            return self.working_time(at)
        return at

    def later(self, at: datetime, *, hours: float = 0, days: float = 0) -> datetime:
        spread = timedelta(
            hours=hours * self.rng.uniform(0.5, 1.5), days=days * self.rng.uniform(0.5, 1.5)
        )
        return self.working_time(at + spread)

    def build(self) -> None:
        rng = self.rng
        sales = self.staff()
        support = [s for s, role, _ in sales if role == "support"]
        sellers = [(s, team) for s, role, team in sales if role == "sales"]
        campaigns = self.campaigns()
        for n in range(self.s.accounts):
            owner, _team = rng.choice(sellers)
            at = self.working_time(self.start + timedelta(days=rng.uniform(0, self.s.days * 0.6)))
            self.account(n, owner, at, support, campaigns)

    def staff(self) -> list[tuple[str, str, str]]:
        people = [
            ("Sophie Lambert", "manager", "Wallonie-Bruxelles", ["management"]),
            ("Thomas Peeters", "sales", "Wallonie-Bruxelles", ["horeca", "retail"]),
            ("Julie Dubois", "sales", "Wallonie-Bruxelles", ["services", "nl"]),
            ("Pierre Moreau", "manager", "France", ["management"]),
            ("Camille Girard", "sales", "France", ["horeca", "industry"]),
            ("Hugo Laurent", "sales", "France", ["retail", "services"]),
            ("Inès Renard", "support", "Support", ["fr", "nl", "payments"]),
            ("Jan Wouters", "support", "Support", ["nl", "en", "hardware"]),
            ("Anne Fontaine", "finance", "Finance", ["collections"]),
        ]
        out = []
        for n, (name, role, team, skills) in enumerate(people):
            staff_id = self.id("st", n)
            first, last = name.split(" ", 1)
            self.emit(
                self.start - timedelta(days=1),
                "Staff Member Created",
                {
                    "id": staff_id,
                    "name": name,
                    "email": f"{first.lower()}.{last.lower()}@vigie-demo.be",
                    "role": role,
                    "team": team,
                    "skills": skills,
                    "timezone": "Europe/Paris" if team == "France" else "Europe/Brussels",
                    "schedule": WORKWEEK,
                },
            )
            out.append((staff_id, role, team))
        return out

    def campaigns(self) -> list[str]:
        specs = [
            ("Salon Horeca Expo", "event", "horeca-expo", None),
            ("Newsletter printemps", "email", "newsletter", "email"),
            ("Midi connecté", "social", "facebook", "paid_social"),
        ]
        ids = []
        for n, (name, channel, source, medium) in enumerate(specs):
            campaign_id = self.id("cmp", n)
            starts = self.start + timedelta(days=10 * n)
            self.emit(
                starts - timedelta(days=2),
                "Campaign Created",
                {
                    "id": campaign_id,
                    "name": name,
                    "channel": channel,
                    "utm_source": source,
                    "utm_medium": medium,
                    "utm_campaign": name.lower().replace(" ", "-"),
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(days=30)).isoformat(),
                    "time_slots": [
                        {
                            "days": ["mon", "tue", "wed", "thu", "fri"],
                            "start": "12:00",
                            "end": "13:00",
                        }
                    ]
                    if channel == "social"
                    else [],
                    "budget": float(self.rng.choice([1500, 3000, 5000])),
                    "status": "running",
                },
            )
            ids.append(campaign_id)
        return ids

    def account(
        self, n: int, owner: str, at: datetime, support: list[str], campaigns: list[str]
    ) -> None:
        rng = self.rng
        trade, nace, size = rng.choice(TRADES)
        city, region, country, language = rng.choice(PLACES)
        surname = rng.choice(SURNAMES)
        account_id = self.id("acc", n)
        vat = (
            f"BE0{rng.randrange(10**8, 10**9)}"
            if country == "BE"
            else f"FR{rng.randrange(10, 99)}{rng.randrange(10**8, 10**9)}"
        )
        self.emit(
            at,
            "Account Created",
            {
                "id": account_id,
                "name": f"{trade} {surname}" + (f" ({city})" if rng.random() < 0.3 else ""),
                "vat_number": vat,
                "nace": nace,
                "size_band": size,
                "region": region,
                "country": country,
                "website": f"https://www.{trade.split()[0].lower()}-{surname.lower()}.{country.lower()}",
                "owner_id": owner,
            },
        )
        contacts = []
        for c in range(rng.choice([1, 1, 2, 3])):
            contact_id = f"{account_id.replace('acc', 'ct')}_{c}"
            first = rng.choice(FIRST_NAMES)
            external = f"user-{self.tag}-{n:04d}-{c}"
            self.emit(
                at + timedelta(minutes=5 + c),
                "Contact Created",
                {
                    "id": contact_id,
                    "first_name": first,
                    "last_name": surname if c == 0 else rng.choice(SURNAMES),
                    "email": f"{first.lower()}.{surname.lower()}{c}@example.{country.lower()}",
                    "phone": _phone(rng, country),
                    "language": language,
                    "job_title": "gérant·e"
                    if c == 0
                    else rng.choice(["comptable", "responsable achats", "chef de salle"]),
                    "account_id": account_id,
                    "owner_id": owner,
                    "external_id": external,
                    "anonymous_ids": [f"anon-{self.tag}-{n:04d}-{c}"],
                    "consent": {
                        "email_marketing": rng.random() < 0.6,
                        "analytics": rng.random() < 0.7,
                        "profiling": rng.random() < 0.3,
                    },
                },
                user_id=external,
            )
            contacts.append((contact_id, external))
        main, main_user = contacts[0]
        if rng.random() < 0.35:
            self.interaction(
                at - timedelta(days=1),
                "form",
                main,
                account_id,
                main_user,
                subject="Demande de démo",
                campaign_id=rng.choice(campaigns),
            )
        if rng.random() < 0.75:
            self.deal(n, account_id, main, main_user, owner, at)
        for t in range(rng.choice([0, 0, 1, 1, 2])):
            self.ticket(n, t, account_id, main, main_user, rng.choice(support), at)

    def interaction(
        self,
        at: datetime,
        kind: str,
        contact_id: str,
        account_id: str,
        user_id: str,
        **fields: Any,
    ) -> None:
        self.counter = getattr(self, "counter", 0) + 1
        self.emit(
            at,
            "Interaction Created",
            {
                "id": f"int_{self.tag}_{self.counter:05d}",
                "kind": kind,
                "occurred_at": at.isoformat(),
                "contact_id": contact_id,
                "account_id": account_id,
                **{k: v for k, v in fields.items() if v is not None},
            },
            user_id=user_id,
        )

    def deal(
        self, n: int, account_id: str, contact_id: str, user_id: str, owner: str, at: datetime
    ) -> None:
        rng = self.rng
        deal_id = self.id("deal", n)
        product, price = rng.choice(PRODUCTS)
        quantity = rng.choice([1, 1, 2, 3])
        amount = round(price * quantity, 2)
        at = self.later(at, hours=3)
        self.emit(
            at,
            "Deal Created",
            {
                "id": deal_id,
                "title": f"{product} x{quantity}",
                "account_id": account_id,
                "contact_id": contact_id,
                "owner_id": owner,
                "amount": amount,
                "expected_close": (at + timedelta(days=30)).date().isoformat(),
            },
            user_id=user_id,
        )
        self.interaction(
            at,
            "call",
            contact_id,
            account_id,
            user_id,
            staff_id=owner,
            direction="outbound",
            subject="Premier appel de qualification",
        )
        reached = 0
        for stage in STAGES[1:]:
            if rng.random() > 0.72:
                break
            at = self.later(at, days=4)
            reached += 1
            self.emit(at, "Deal Updated", {"id": deal_id, "stage": stage}, user_id=user_id)
            if stage == "meeting":
                self.interaction(
                    at,
                    "meeting",
                    contact_id,
                    account_id,
                    user_id,
                    staff_id=owner,
                    subject="Rendez-vous sur place",
                )
            if stage == "proposal":
                self.emit(
                    at,
                    "Offer Created",
                    {
                        "id": self.id("off", n),
                        "deal_id": deal_id,
                        "number": f"OF-{self.s.day.year}-{n:04d}",
                        "amount": amount,
                        "status": "sent",
                        "valid_until": (at + timedelta(days=30)).date().isoformat(),
                        "sent_at": at.isoformat(),
                        "owner_id": owner,
                    },
                    user_id=user_id,
                )
                self.interaction(
                    at,
                    "email",
                    contact_id,
                    account_id,
                    user_id,
                    staff_id=owner,
                    direction="outbound",
                    subject="Votre offre",
                )
        if reached < len(STAGES) - 1 and rng.random() < 0.5:
            at = self.later(at, days=6)
            self.emit(
                at,
                "Deal Updated",
                {
                    "id": deal_id,
                    "stage": "lost",
                    "lost_reason": rng.choice(["prix", "concurrent", "pas de budget"]),
                },
                user_id=user_id,
            )
            return
        if reached < len(STAGES) - 1:
            return
        at = self.later(at, days=5)
        won = rng.random() < 0.6
        self.emit(
            at, "Deal Updated", {"id": deal_id, "stage": "won" if won else "lost"}, user_id=user_id
        )
        if not won:
            return
        self.emit(
            at, "Offer Updated", {"id": self.id("off", n), "status": "accepted"}, user_id=user_id
        )
        invoice = f"FA-{self.s.day.year}-{n:04d}"
        due = at + timedelta(days=30)
        self.interaction(
            at,
            "invoice",
            contact_id,
            account_id,
            user_id,
            amount=amount,
            currency="EUR",
            reference=invoice,
            due_at=due.isoformat(),
            deal_id=deal_id,
        )
        delivered = self.later(at, days=3)
        self.interaction(
            delivered,
            "delivery",
            contact_id,
            account_id,
            user_id,
            reference=f"COLIS-{n:05d}",
            deal_id=deal_id,
        )
        if rng.random() < 0.12:
            self.interaction(
                delivered,
                "delivery_incident",
                contact_id,
                account_id,
                user_id,
                subject="Colis endommagé",
                sentiment=-0.6,
                deal_id=deal_id,
            )
        if rng.random() < 0.05:
            self.interaction(
                self.later(delivered, days=5),
                "return",
                contact_id,
                account_id,
                user_id,
                subject="Retour d'un terminal",
                deal_id=deal_id,
            )
        if rng.random() < 0.22:
            late = due + timedelta(days=1)
            self.interaction(
                late,
                "late_payment",
                contact_id,
                account_id,
                user_id,
                amount=amount,
                currency="EUR",
                reference=invoice,
                subject="Rappel de paiement",
            )
            if rng.random() < 0.3:
                self.interaction(
                    self.later(late, days=3),
                    "dispute",
                    contact_id,
                    account_id,
                    user_id,
                    reference=invoice,
                    subject="Contestation de facture",
                )
            paid = self.later(late, days=12)
        else:
            paid = self.later(at, days=18)
        self.interaction(
            paid,
            "payment",
            contact_id,
            account_id,
            user_id,
            amount=amount,
            currency="EUR",
            reference=invoice,
            direction="inbound",
        )
        if rng.random() < 0.3:
            rating = rng.choice([3, 4, 4, 5, 5, 2])
            self.interaction(
                self.later(delivered, days=7),
                "review",
                contact_id,
                account_id,
                user_id,
                rating=rating,
                sentiment=(rating - 3) / 2,
                url="https://www.google.com/maps",
            )
        if rng.random() < 0.1:
            self.interaction(
                self.later(delivered, days=2),
                "social_mention",
                contact_id,
                account_id,
                user_id,
                subject="Mention sur Facebook",
                sentiment=0.4,
            )

    def ticket(
        self,
        n: int,
        t: int,
        account_id: str,
        contact_id: str,
        user_id: str,
        assignee: str,
        at: datetime,
    ) -> None:
        rng = self.rng
        ticket_id = f"{self.id('tk', n)}_{t}"
        opened = self.working_time(at + timedelta(days=rng.uniform(5, self.s.days * 0.5)))
        priority = rng.choice(["low", "normal", "normal", "high", "urgent"])
        subject = rng.choice(
            [
                "Le terminal ne se connecte plus",
                "Question sur la facture",
                "Mot de passe oublié",
                "Imprimante de tickets en panne",
                "Demande de formation",
            ]
        )
        self.emit(
            opened,
            "Ticket Created",
            {
                "id": ticket_id,
                "subject": subject,
                "contact_id": contact_id,
                "account_id": account_id,
                "queue": "billing" if "facture" in subject else "technical",
                "priority": priority,
                "assignee_id": assignee,
                "channel": rng.choice(["email", "phone", "chat"]),
                "opened_at": opened.isoformat(),
                "sentiment": round(rng.uniform(-0.8, 0.2), 2),
            },
            user_id=user_id,
        )
        first = opened + timedelta(minutes=rng.expovariate(1 / 90))
        self.emit(
            first,
            "Ticket Updated",
            {"id": ticket_id, "status": "pending", "first_response_at": first.isoformat()},
            user_id=user_id,
        )
        if rng.random() < 0.85:
            solved = first + timedelta(hours=rng.expovariate(1 / 20))
            self.emit(
                solved,
                "Ticket Updated",
                {
                    "id": ticket_id,
                    "status": "solved",
                    "resolved_at": solved.isoformat(),
                    "sentiment": round(rng.uniform(-0.2, 0.9), 2),
                },
                user_id=user_id,
            )
