"""The registry of CRM entities: table, models, event names, and what the API may filter on.

The API routes, the processor, CSV import/export and the timeline all read this one table
of facts, so adding a field means touching the model, the table and the migration only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, create_model

from vigie.crm import models, tables


class ReadBase(BaseModel):
    """Fields every stored entity has."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(description="Stable identifier, e.g. `acc_3f1c…`.")
    version: int = Field(description="Log offset of the last event applied to it.")
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = Field(description="Set when archived (DELETE).")


@dataclass(frozen=True)
class Entity:
    """Everything Vigie knows about one kind of CRM record."""

    name: str
    label: str
    prefix: str
    table: sa.Table
    create: type[BaseModel]
    update: type[BaseModel]
    read: type[ReadBase]
    search: tuple[str, ...]
    filters: tuple[str, ...]
    sorts: tuple[str, ...]
    owner: str | None = None
    personal: bool = False
    refs: dict[str, str] = field(default_factory=dict)
    via: tuple[str, ...] = ()
    """References (`contact_id` …) through which an owned parent lets its owner see a record
    owned by somebody else: the calls of a salesperson's own customer."""
    shared: str | None = None
    """Why an entity without `owner` is seen whole by every role that may read it. Each
    entity has an owner or a reason (tests/web/test_authorization.py checks it), so a new
    one cannot ship unscoped by mistake."""

    @property
    def events(self) -> dict[str, str]:
        """Event name -> operation, e.g. `Deal Created` -> `create`."""
        return {
            f"{self.label} Created": "create",
            f"{self.label} Updated": "update",
            f"{self.label} Archived": "archive",
        }

    def event_name(self, operation: str) -> str:
        """The event name of `operation` (create, update, archive) on this entity."""
        return {v: k for k, v in self.events.items()}[operation]

    def columns(self) -> list[str]:
        """The fields a client sends (the create model's), in declaration order."""
        return list(self.create.model_fields)


def _constrained(annotation: Any, metadata: list[Any]) -> Any:
    # A field's top-level constraints (ge, pattern …) live in its metadata, not its annotation.
    return Annotated[(annotation, *metadata)] if metadata else annotation


def _update_model(create: type[BaseModel]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (
            _constrained(info.annotation, info.metadata) | None,
            Field(default=None, description=info.description),
        )
        for name, info in create.model_fields.items()
    }
    model: type[BaseModel] = create_model(
        create.__name__.removesuffix("Create") + "Update",
        __base__=models.Strict,
        __doc__=f"A partial change: only the fields sent are changed. {create.__doc__}",
        **fields,
    )
    return model


def _read_model(create: type[BaseModel], extra: dict[str, Any]) -> type[ReadBase]:
    fields: dict[str, Any] = {
        name: (info.annotation, Field(description=info.description))
        for name, info in create.model_fields.items()
    }
    fields.update(extra)
    model: type[ReadBase] = create_model(
        create.__name__.removesuffix("Create"),
        __base__=ReadBase,
        __doc__=create.__doc__,
        **fields,
    )
    return model


def _entity(
    *,
    name: str,
    label: str,
    prefix: str,
    table: sa.Table,
    create: type[BaseModel],
    search: tuple[str, ...],
    filters: tuple[str, ...],
    sorts: tuple[str, ...],
    extra: dict[str, Any] | None = None,
    owner: str | None = None,
    personal: bool = False,
    refs: dict[str, str] | None = None,
    via: tuple[str, ...] = (),
    shared: str | None = None,
) -> Entity:
    return Entity(
        name=name,
        label=label,
        prefix=prefix,
        table=table,
        create=create,
        update=_update_model(create),
        read=_read_model(create, extra or {}),
        search=search,
        filters=filters,
        sorts=("created_at", "updated_at", *sorts),
        owner=owner,
        personal=personal,
        refs=refs or {},
        via=via,
        shared=shared,
    )


_DT = datetime | None

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        _entity(
            name="accounts",
            label="Account",
            prefix="acc",
            table=tables.accounts,
            create=models.AccountCreate,
            search=("name", "vat_number", "website"),
            filters=("owner_id", "nace", "size_band", "region", "country"),
            sorts=("name", "country"),
            owner="owner_id",
            refs={"owner_id": "staff"},
        ),
        _entity(
            name="contacts",
            label="Contact",
            prefix="ct",
            table=tables.contacts,
            create=models.ContactCreate,
            search=("first_name", "last_name", "email", "phone"),
            filters=("account_id", "owner_id", "external_id", "email", "language"),
            sorts=("last_name", "email"),
            owner="owner_id",
            personal=True,
            refs={"account_id": "accounts", "owner_id": "staff"},
        ),
        _entity(
            name="staff",
            label="Staff Member",
            prefix="st",
            table=tables.staff,
            create=models.StaffCreate,
            search=("name", "email"),
            filters=("role", "team"),
            sorts=("name", "team"),
            personal=True,
            shared="the directory of colleagues: who to assign to and who to call",
        ),
        _entity(
            name="deals",
            label="Deal",
            prefix="deal",
            table=tables.deals,
            create=models.DealCreate,
            search=("title",),
            filters=("account_id", "contact_id", "owner_id", "stage", "currency", "campaign_id"),
            sorts=("amount", "stage", "expected_close", "title"),
            extra={"closed_at": (_DT, Field(description="When it was won or lost."))},
            owner="owner_id",
            refs={
                "account_id": "accounts",
                "contact_id": "contacts",
                "owner_id": "staff",
                "campaign_id": "campaigns",
            },
        ),
        _entity(
            name="tickets",
            label="Ticket",
            prefix="tk",
            table=tables.tickets,
            create=models.TicketCreate,
            search=("subject",),
            filters=("contact_id", "account_id", "assignee_id", "queue", "priority", "status"),
            sorts=("opened_at", "priority", "status"),
            extra={
                "first_response_due_at": (datetime, Field(description="SLA target.")),
                "resolution_due_at": (datetime, Field(description="SLA target.")),
            },
            refs={"contact_id": "contacts", "account_id": "accounts", "assignee_id": "staff"},
            shared="the support queue, worked by every role granted tickets (not sales)",
        ),
        _entity(
            name="campaigns",
            label="Campaign",
            prefix="cmp",
            table=tables.campaigns,
            create=models.CampaignCreate,
            search=("name", "utm_campaign"),
            filters=("channel", "status", "utm_source", "utm_medium", "utm_campaign"),
            sorts=("name", "starts_at", "budget"),
            shared="campaigns are the whole company's, as their KPIs are",
        ),
        _entity(
            name="interactions",
            label="Interaction",
            prefix="int",
            table=tables.interactions,
            create=models.InteractionCreate,
            search=("subject", "summary", "reference"),
            filters=(
                "kind",
                "contact_id",
                "account_id",
                "staff_id",
                "deal_id",
                "ticket_id",
                "campaign_id",
            ),
            sorts=("occurred_at", "amount", "kind"),
            personal=True,
            # Issue 17: who logged it owns it; the owner of its contact, account or deal
            # sees it too. A colleague's notes about somebody else's customer stay theirs.
            owner="staff_id",
            via=("contact_id", "account_id", "deal_id"),
            refs={
                "contact_id": "contacts",
                "account_id": "accounts",
                "staff_id": "staff",
                "deal_id": "deals",
                "ticket_id": "tickets",
                "campaign_id": "campaigns",
            },
        ),
        _entity(
            name="tasks",
            label="Task",
            prefix="task",
            table=tables.tasks,
            create=models.TaskCreate,
            search=("title",),
            filters=(
                "owner_id",
                "status",
                "contact_id",
                "account_id",
                "deal_id",
                "ticket_id",
                "playbook_run_id",
            ),
            sorts=("due_at", "status", "title"),
            owner="owner_id",
            refs={
                "owner_id": "staff",
                "contact_id": "contacts",
                "account_id": "accounts",
                "deal_id": "deals",
                "ticket_id": "tickets",
            },
        ),
        _entity(
            name="offers",
            label="Offer",
            prefix="off",
            table=tables.offers,
            create=models.OfferCreate,
            search=("number",),
            filters=("deal_id", "status", "owner_id"),
            sorts=("amount", "valid_until", "status"),
            owner="owner_id",
            refs={"deal_id": "deals", "owner_id": "staff"},
        ),
        _entity(
            name="leads",
            label="Lead",
            prefix="lead",
            table=tables.leads,
            create=models.LeadCreate,
            search=("name",),
            filters=("owner_id", "status", "nace", "region", "country", "account_id", "model"),
            sorts=("due_at", "score", "expected", "status", "name"),
            owner="owner_id",
            refs={"owner_id": "staff", "account_id": "accounts", "deal_id": "deals"},
        ),
    )
}

# The name of an entity as a type, from `ENTITIES`: a parameter typed with it accepts and
# documents exactly these names. mypy cannot read a Literal built at runtime: it sees a str.
if TYPE_CHECKING:
    EntityName: TypeAlias = str
else:
    EntityName = Literal[tuple(ENTITIES)]

CONTACT_IDENTIFIERS = (
    "first_name", "last_name", "email", "phone", "job_title", "external_id", "anonymous_ids"
)  # fmt: skip
"""A contact's fields that say who the person is: with crypto-shredding, a contact's own
events carry them sealed under the contact's key, which the contact's erasure deletes."""

INTERACTION_NOTES = ("subject", "summary", "properties")
"""What an interaction says of its contact (a call's notes, free properties): with
crypto-shredding, an interaction's own events carry them sealed under its contact's key."""

TASK_NOTES = ("notes",)
"""What a task says of its contact (its notes): sealed like an interaction's. Its title is
not: a task, like a ticket (its subject), cannot be rebuilt from the log without its label,
which stays in clear and is scrubbed of the person's identifiers at their erasure."""

CONTACT_NOTES: dict[str, tuple[str, ...]] = {"interactions": INTERACTION_NOTES, "tasks": TASK_NOTES}
"""The free text each entity holds about its contact (`contact_id`): with crypto-shredding
its events carry it sealed under the contact's key, and the contact's erasure blanks it in
the store (`vigie.crm.notes`), as a replay of the log rebuilds it once the key is gone."""

BY_EVENT: dict[str, tuple[Entity, str]] = {
    event: (entity, operation)
    for entity in ENTITIES.values()
    for event, operation in entity.events.items()
}
