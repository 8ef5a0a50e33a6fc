"""The CRM tables: a projection of the event log, written only by the CRM processor.

Every row carries `version`, the log offset of the last event applied to it, which is what
makes replaying the log harmless. References between entities are checked by the API
before it appends an event (there are no foreign keys: a projection must never refuse the
log's order of facts).
"""

from __future__ import annotations

import sqlalchemy as sa

from vigie.store.schema import metadata
from vigie.store.types import UtcDateTime

Money = sa.Numeric(14, 2, asdecimal=False)
Ref = sa.String(64)


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime),
    ]


accounts = sa.Table(
    "crm_accounts",
    metadata,
    *_common(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("vat_number", sa.String(20)),
    sa.Column("nace", sa.String(8)),
    sa.Column("size_band", sa.String(10)),
    sa.Column("region", sa.String(200)),
    sa.Column("country", sa.String(2)),
    sa.Column("website", sa.String(200)),
    sa.Column("owner_id", Ref, index=True),
)

contacts = sa.Table(
    "crm_contacts",
    metadata,
    *_common(),
    sa.Column("first_name", sa.String(200)),
    sa.Column("last_name", sa.String(200)),
    sa.Column("email", sa.String(254), index=True),
    sa.Column("phone", sa.String(40)),
    sa.Column("language", sa.String(2)),
    sa.Column("job_title", sa.String(200)),
    sa.Column("account_id", Ref, index=True),
    sa.Column("owner_id", Ref, index=True),
    sa.Column("external_id", sa.String(64), index=True),
    sa.Column("anonymous_ids", sa.JSON, nullable=False),
    sa.Column("consent", sa.JSON, nullable=False),
)

staff = sa.Table(
    "crm_staff",
    metadata,
    *_common(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("team", sa.String(200), index=True),
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("timezone", sa.String(200), nullable=False),
    sa.Column("schedule", sa.JSON, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)

deals = sa.Table(
    "crm_deals",
    metadata,
    *_common(),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("account_id", Ref, nullable=False, index=True),
    sa.Column("contact_id", Ref, index=True),
    sa.Column("owner_id", Ref, index=True),
    sa.Column("stage", sa.String(20), nullable=False, index=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("expected_close", sa.Date),
    sa.Column("lost_reason", sa.String(200)),
    sa.Column("closed_at", UtcDateTime),
    sa.Column("campaign_id", Ref, index=True),
)

tickets = sa.Table(
    "crm_tickets",
    metadata,
    *_common(),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("contact_id", Ref, index=True),
    sa.Column("account_id", Ref, index=True),
    sa.Column("queue", sa.String(200), nullable=False),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, index=True),
    sa.Column("assignee_id", Ref, index=True),
    sa.Column("channel", sa.String(200)),
    sa.Column("opened_at", UtcDateTime, nullable=False),
    sa.Column("sla_first_response_minutes", sa.Integer, nullable=False),
    sa.Column("sla_resolution_minutes", sa.Integer, nullable=False),
    sa.Column("first_response_due_at", UtcDateTime, nullable=False),
    sa.Column("resolution_due_at", UtcDateTime, nullable=False),
    sa.Column("first_response_at", UtcDateTime),
    sa.Column("resolved_at", UtcDateTime),
    sa.Column("sentiment", sa.Float),
)

campaigns = sa.Table(
    "crm_campaigns",
    metadata,
    *_common(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("utm_source", sa.String(200)),
    sa.Column("utm_medium", sa.String(200)),
    sa.Column("utm_campaign", sa.String(200), index=True),
    sa.Column("starts_at", UtcDateTime),
    sa.Column("ends_at", UtcDateTime),
    sa.Column("time_slots", sa.JSON, nullable=False),
    sa.Column("budget", Money),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
)

interactions = sa.Table(
    "crm_interactions",
    metadata,
    *_common(),
    sa.Column("kind", sa.String(20), nullable=False, index=True),
    sa.Column("occurred_at", UtcDateTime, nullable=False, index=True),
    sa.Column("contact_id", Ref, index=True),
    sa.Column("account_id", Ref, index=True),
    sa.Column("staff_id", Ref, index=True),
    sa.Column("deal_id", Ref),
    sa.Column("ticket_id", Ref),
    sa.Column("campaign_id", Ref),
    sa.Column("direction", sa.String(10)),
    sa.Column("subject", sa.String(200)),
    sa.Column("summary", sa.Text),
    sa.Column("amount", Money),
    sa.Column("currency", sa.String(3)),
    sa.Column("reference", sa.String(200)),
    sa.Column("due_at", UtcDateTime),
    sa.Column("sentiment", sa.Float),
    sa.Column("rating", sa.Integer),
    sa.Column("url", sa.String(2000)),
    sa.Column("properties", sa.JSON, nullable=False),
)

tasks = sa.Table(
    "crm_tasks",
    metadata,
    *_common(),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("due_at", UtcDateTime),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("owner_id", Ref, index=True),
    sa.Column("contact_id", Ref),
    sa.Column("account_id", Ref),
    sa.Column("deal_id", Ref),
    sa.Column("ticket_id", Ref),
    sa.Column("notes", sa.Text),
    sa.Column("playbook_run_id", Ref, index=True),
    sa.Column("action_id", sa.BigInteger),
)

offers = sa.Table(
    "crm_offers",
    metadata,
    *_common(),
    sa.Column("deal_id", Ref, nullable=False, index=True),
    sa.Column("number", sa.String(200)),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("valid_until", sa.Date),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("owner_id", Ref, index=True),
)

leads = sa.Table(
    "crm_leads",
    metadata,
    *_common(),
    sa.Column("company_id", sa.BigInteger, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("nace", sa.String(8)),
    sa.Column("size_band", sa.String(10)),
    sa.Column("region", sa.String(200)),
    sa.Column("country", sa.String(2)),
    sa.Column("score", sa.Integer),
    sa.Column("probability", sa.Float),
    sa.Column("expected", sa.Float),
    sa.Column("rep_rate", sa.Float),
    sa.Column("owner_id", Ref, index=True),
    sa.Column("due_at", UtcDateTime),
    sa.Column("status", sa.String(10), nullable=False, index=True),
    sa.Column("reject_reason", sa.String(200)),
    sa.Column("account_id", Ref, index=True),
    sa.Column("deal_id", Ref, index=True),
    sa.Column("model", sa.String(200)),
    sa.Column("reason_en", sa.Text),
    sa.Column("reason_fr", sa.Text),
    sa.Column("factors", sa.JSON, nullable=False),
)
