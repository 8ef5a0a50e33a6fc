"""The CRM entities as the API and the CRM events carry them (pydantic, for OpenAPI 3.1).

Each entity has a *Create* model written here; the *Update* (every field optional) and the
read model (with id and timestamps) are derived from it in `entities.py`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=5000)]
Short = Annotated[str, Field(max_length=200)]
Money = Annotated[float, Field(ge=0, le=1e12, description="Amount in `currency`, 2 decimals.")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code.")]
Nace = Annotated[
    str,
    Field(
        pattern=r"^[A-U](\d{2}(\.\d{1,2})?)?$|^\d{2}(\.\d{1,2})?$",
        description="NACE Rev. 2 code, e.g. `62.01` (computer programming) or section `J`.",
    ),
]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Language = Literal["fr", "nl", "en", "de"]

DealStage = Literal["qualification", "meeting", "proposal", "negotiation", "won", "lost"]
DEAL_STAGES: tuple[DealStage, ...] = (
    "qualification",
    "meeting",
    "proposal",
    "negotiation",
    "won",
    "lost",
)
InteractionKind = Literal[
    "call",
    "email",
    "chat",
    "meeting",
    "form",
    "invoice",
    "payment",
    "late_payment",
    "dispute",
    "delivery",
    "delivery_incident",
    "return",
    "social_mention",
    "review",
]
Priority = Literal["low", "normal", "high", "urgent"]


def _has_nul(value: Any) -> bool:
    # Run on every CRM record validated, the projection's included: plain loops over the
    # fields as they are, rather than generators over a dump of the whole model.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, dict):
        for key, item in value.items():
            if _has_nul(key) or _has_nul(item):
                return True
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            if _has_nul(item):
                return True
    return False


class Strict(BaseModel):
    """Unknown fields are refused: a typo in a request is an error, not a silent no-op.

    Text with NUL characters is refused too (PostgreSQL cannot store them).
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _refuse_nul(self) -> Strict:
        if _has_nul(self.__dict__):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return self


class Consent(Strict):
    """Consent per purpose (GDPR art. 6-7); absent means not given."""

    email_marketing: bool = False
    phone_marketing: bool = False
    analytics: bool = False
    profiling: bool = False
    third_parties: bool = False


class TimeSlot(Strict):
    """A recurring slot, e.g. lunch time on weekdays 12:00-13:00 Europe/Brussels."""

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: Clock
    end: Clock
    timezone: Short = "Europe/Brussels"


class ContactCreate(Strict):
    """A person: customer, prospect or a partner's employee."""

    first_name: Short | None = None
    last_name: Short | None = None
    email: Email | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    language: Language | None = None
    job_title: Short | None = None
    account_id: Id | None = None
    owner_id: Id | None = Field(default=None, description="The staff member who owns it.")
    external_id: Id | None = Field(
        default=None, description="The `userId` this person has in events."
    )
    anonymous_ids: list[Id] = Field(
        default=[], max_length=100, description="Anonymous visitor ids linked to this person."
    )
    consent: Consent = Consent()


class AccountCreate(Strict):
    """A company (customer, prospect, partner)."""

    name: Name
    vat_number: Annotated[str, Field(max_length=20)] | None = None
    nace: Nace | None = None
    size_band: Literal["micro", "small", "medium", "large"] | None = Field(
        default=None, description="EU size: micro <10, small <50, medium <250, large 250+."
    )
    region: Short | None = None
    country: Country | None = None
    website: Short | None = None
    owner_id: Id | None = None


class StaffCreate(Strict):
    """A member of staff: who sells, supports or bills, in which team, when."""

    name: Name
    email: Email | None = None
    role: Literal["sales", "support", "marketing", "finance", "manager", "operations"]
    team: Short | None = None
    skills: list[Short] = Field(default=[], max_length=50)
    timezone: Short = "Europe/Brussels"
    schedule: dict[Weekday, list[Annotated[str, Field(pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")]]] = (
        Field(
            default={}, description='Working hours, e.g. {"mon": ["09:00-12:30", "13:30-17:00"]}.'
        )
    )
    active: bool = True


class DealCreate(Strict):
    """A sales opportunity moving through the pipeline."""

    title: Name
    account_id: Id
    contact_id: Id | None = None
    owner_id: Id | None = None
    stage: DealStage = "qualification"
    amount: Money = 0
    currency: Currency = "EUR"
    expected_close: date | None = None
    lost_reason: Short | None = None
    campaign_id: Id | None = Field(
        default=None,
        description="The CRM campaign that brought it: its `Deal Won` counts for the "
        "campaign's UTM name (`utm_campaign`) in the KPIs grouped by campaign.",
    )


class TicketCreate(Strict):
    """A support request with its SLA targets (defaults per priority from `vigie.yaml`)."""

    subject: Name
    contact_id: Id | None = None
    account_id: Id | None = None
    queue: Short = "general"
    priority: Priority = "normal"
    status: Literal["open", "pending", "solved", "closed"] = "open"
    assignee_id: Id | None = None
    channel: Short | None = None
    opened_at: AwareDatetime | None = None
    sla_first_response_minutes: Annotated[int, Field(ge=1, le=525600)] | None = None
    sla_resolution_minutes: Annotated[int, Field(ge=1, le=525600)] | None = None
    first_response_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    sentiment: Annotated[float, Field(ge=-1, le=1)] | None = None


class CampaignCreate(Strict):
    """A marketing campaign: channel, UTM tags, schedule and budget."""

    name: Name
    channel: Literal[
        "email", "social", "search", "display", "sms", "print", "radio", "event", "web", "affiliate"
    ]
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    time_slots: list[TimeSlot] = Field(default=[], max_length=50)
    budget: Money | None = None
    currency: Currency = "EUR"
    status: Literal["draft", "scheduled", "running", "ended"] = "draft"


class InteractionCreate(Strict):
    """Something that happened with a customer, from any department."""

    kind: InteractionKind
    occurred_at: AwareDatetime | None = None
    contact_id: Id | None = None
    account_id: Id | None = None
    staff_id: Id | None = None
    deal_id: Id | None = None
    ticket_id: Id | None = None
    campaign_id: Id | None = None
    direction: Literal["inbound", "outbound"] | None = None
    subject: Short | None = None
    summary: Text | None = None
    amount: Money | None = None
    currency: Currency | None = None
    reference: Short | None = Field(default=None, description="Invoice, order or parcel number.")
    due_at: AwareDatetime | None = None
    sentiment: Annotated[float, Field(ge=-1, le=1)] | None = None
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None
    properties: dict[str, Any] = Field(default={}, description="Anything else, kept as given.")


class TaskCreate(Strict):
    """Something a member of staff has to do."""

    title: Name
    due_at: AwareDatetime | None = None
    status: Literal["open", "done", "cancelled"] = "open"
    owner_id: Id | None = None
    contact_id: Id | None = None
    account_id: Id | None = None
    deal_id: Id | None = None
    ticket_id: Id | None = None
    notes: Text | None = None
    playbook_run_id: Id | None = Field(
        default=None,
        description="The playbook run that created it (`GET /api/playbook-runs/{id}`); set "
        "by the playbook, never by hand.",
    )
    action_id: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Its entry in the action ledger (`GET /api/actions/task/{action_id}`): "
        "closing the task closes the action, and the other way round.",
    )


PLAYBOOK_LINKS = ("playbook_run_id", "action_id")
"""A task's fields that only the playbook that created it sets."""


class OfferCreate(Strict):
    """A quote sent for a deal."""

    deal_id: Id
    number: Short | None = None
    amount: Money = 0
    currency: Currency = "EUR"
    status: Literal["draft", "sent", "accepted", "rejected", "expired"] = "draft"
    valid_until: date | None = None
    sent_at: AwareDatetime | None = None
    owner_id: Id | None = None


LeadStatus = Literal["new", "accepted", "rejected", "converted"]
LEAD_STATUSES: tuple[LeadStatus, ...] = ("new", "accepted", "rejected", "converted")


class LeadCreate(Strict):
    """A company proposed to a salesperson by lead scoring: its score, the expected
    conversion with that rep, when it is due, and what the rep decided (accept, reject with
    a reason, convert into an account and a deal)."""

    company_id: Annotated[int, Field(ge=0, le=2**62)] | None = Field(
        default=None, description="The prospect's company number (BCE/KBO or SIREN digits)."
    )
    name: Name
    nace: Nace | None = None
    size_band: Short | None = None
    region: Short | None = None
    country: Country | None = None
    score: Annotated[int, Field(ge=0, le=100)] | None = None
    probability: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="The model's calibrated probability of conversion."
    )
    expected: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="Expected conversion with this rep: the probability moved towards the "
        "rep's measured rate in the segment by the weight of the rep's deals there.",
    )
    rep_rate: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="The rep's smoothed win rate in the lead's segment."
    )
    owner_id: Id | None = Field(default=None, description="The salesperson it is assigned to.")
    due_at: AwareDatetime | None = Field(
        default=None, description="When the rep should act: within their working hours."
    )
    status: LeadStatus = "new"
    reject_reason: Short | None = None
    account_id: Id | None = None
    deal_id: Id | None = None
    model: Short | None = Field(default=None, description="The model version that scored it.")
    reason_en: Text | None = None
    reason_fr: Text | None = None
    factors: list[dict[str, Any]] = Field(
        default=[], max_length=20, description="The score's strongest reasons."
    )

    @model_validator(mode="after")
    def _rejected_has_reason(self) -> LeadCreate:
        if self.status == "rejected" and not (self.reject_reason or "").strip():
            raise ValueError("reject_reason: a rejected lead needs a reason / motif requis")
        return self
