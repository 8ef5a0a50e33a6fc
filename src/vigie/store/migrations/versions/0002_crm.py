"""The CRM: accounts, contacts, staff, deals, tickets, campaigns, interactions, tasks, offers.

Revision ID: crm_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from vigie.store.types import UtcDateTime

revision = "crm_0001"
down_revision = "0001_foundation"
branch_labels = ("crm",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vat_number", sa.String(length=20), nullable=True),
        sa.Column("nace", sa.String(length=8), nullable=True),
        sa.Column("size_band", sa.String(length=10), nullable=True),
        sa.Column("region", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("website", sa.String(length=200), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_crm_accounts_owner_id"), "crm_accounts", ["owner_id"], unique=False)
    op.create_table(
        "crm_campaigns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("starts_at", UtcDateTime, nullable=True),
        sa.Column("ends_at", UtcDateTime, nullable=True),
        sa.Column("time_slots", sa.JSON(), nullable=False),
        sa.Column("budget", sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_crm_campaigns_utm_campaign"), "crm_campaigns", ["utm_campaign"], unique=False
    )
    op.create_table(
        "crm_contacts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("anonymous_ids", sa.JSON(), nullable=False),
        sa.Column("consent", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_crm_contacts_account_id"), "crm_contacts", ["account_id"], unique=False
    )
    op.create_index(op.f("ix_crm_contacts_email"), "crm_contacts", ["email"], unique=False)
    op.create_index(
        op.f("ix_crm_contacts_external_id"), "crm_contacts", ["external_id"], unique=False
    )
    op.create_index(op.f("ix_crm_contacts_owner_id"), "crm_contacts", ["owner_id"], unique=False)
    op.create_table(
        "crm_deals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_close", sa.Date(), nullable=True),
        sa.Column("lost_reason", sa.String(length=200), nullable=True),
        sa.Column("closed_at", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_crm_deals_account_id"), "crm_deals", ["account_id"], unique=False)
    op.create_index(op.f("ix_crm_deals_contact_id"), "crm_deals", ["contact_id"], unique=False)
    op.create_index(op.f("ix_crm_deals_owner_id"), "crm_deals", ["owner_id"], unique=False)
    op.create_index(op.f("ix_crm_deals_stage"), "crm_deals", ["stage"], unique=False)
    op.create_table(
        "crm_interactions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("staff_id", sa.String(length=64), nullable=True),
        sa.Column("deal_id", sa.String(length=64), nullable=True),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("due_at", UtcDateTime, nullable=True),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_crm_interactions_account_id"), "crm_interactions", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_crm_interactions_contact_id"), "crm_interactions", ["contact_id"], unique=False
    )
    op.create_index(op.f("ix_crm_interactions_kind"), "crm_interactions", ["kind"], unique=False)
    op.create_index(
        op.f("ix_crm_interactions_occurred_at"), "crm_interactions", ["occurred_at"], unique=False
    )
    op.create_index(
        op.f("ix_crm_interactions_staff_id"), "crm_interactions", ["staff_id"], unique=False
    )
    op.create_table(
        "crm_offers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=200), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_crm_offers_deal_id"), "crm_offers", ["deal_id"], unique=False)
    op.create_index(op.f("ix_crm_offers_owner_id"), "crm_offers", ["owner_id"], unique=False)
    op.create_table(
        "crm_staff",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=200), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_crm_staff_team"), "crm_staff", ["team"], unique=False)
    op.create_table(
        "crm_tasks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("deal_id", sa.String(length=64), nullable=True),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_crm_tasks_owner_id"), "crm_tasks", ["owner_id"], unique=False)
    op.create_table(
        "crm_tickets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("assignee_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=200), nullable=True),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("sla_first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("sla_resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("first_response_due_at", UtcDateTime, nullable=False),
        sa.Column("resolution_due_at", UtcDateTime, nullable=False),
        sa.Column("first_response_at", UtcDateTime, nullable=True),
        sa.Column("resolved_at", UtcDateTime, nullable=True),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_crm_tickets_account_id"), "crm_tickets", ["account_id"], unique=False)
    op.create_index(
        op.f("ix_crm_tickets_assignee_id"), "crm_tickets", ["assignee_id"], unique=False
    )
    op.create_index(op.f("ix_crm_tickets_contact_id"), "crm_tickets", ["contact_id"], unique=False)
    op.create_index(op.f("ix_crm_tickets_status"), "crm_tickets", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_crm_accounts_owner_id", "crm_accounts")
    op.drop_index("ix_crm_campaigns_utm_campaign", "crm_campaigns")
    op.drop_index("ix_crm_contacts_account_id", "crm_contacts")
    op.drop_index("ix_crm_contacts_email", "crm_contacts")
    op.drop_index("ix_crm_contacts_external_id", "crm_contacts")
    op.drop_index("ix_crm_contacts_owner_id", "crm_contacts")
    op.drop_index("ix_crm_deals_account_id", "crm_deals")
    op.drop_index("ix_crm_deals_contact_id", "crm_deals")
    op.drop_index("ix_crm_deals_owner_id", "crm_deals")
    op.drop_index("ix_crm_deals_stage", "crm_deals")
    op.drop_index("ix_crm_interactions_account_id", "crm_interactions")
    op.drop_index("ix_crm_interactions_contact_id", "crm_interactions")
    op.drop_index("ix_crm_interactions_kind", "crm_interactions")
    op.drop_index("ix_crm_interactions_occurred_at", "crm_interactions")
    op.drop_index("ix_crm_interactions_staff_id", "crm_interactions")
    op.drop_index("ix_crm_offers_deal_id", "crm_offers")
    op.drop_index("ix_crm_offers_owner_id", "crm_offers")
    op.drop_index("ix_crm_staff_team", "crm_staff")
    op.drop_index("ix_crm_tasks_owner_id", "crm_tasks")
    op.drop_index("ix_crm_tickets_account_id", "crm_tickets")
    op.drop_index("ix_crm_tickets_assignee_id", "crm_tickets")
    op.drop_index("ix_crm_tickets_contact_id", "crm_tickets")
    op.drop_index("ix_crm_tickets_status", "crm_tickets")
    op.drop_table("crm_tickets")
    op.drop_table("crm_tasks")
    op.drop_table("crm_staff")
    op.drop_table("crm_offers")
    op.drop_table("crm_interactions")
    op.drop_table("crm_deals")
    op.drop_table("crm_contacts")
    op.drop_table("crm_campaigns")
    op.drop_table("crm_accounts")
