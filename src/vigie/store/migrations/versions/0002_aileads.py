"""Leads in the CRM: the companies lead scoring proposes to each salesperson, and their fate.

Revision ID: aileads_0002
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

from vigie.store.types import UtcDateTime

revision = "aileads_0002"
down_revision = "0001_foundation"
branch_labels = ("aileads",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_leads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("archived_at", UtcDateTime, nullable=True),
        sa.Column("company_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("nace", sa.String(length=8), nullable=True),
        sa.Column("size_band", sa.String(length=10), nullable=True),
        sa.Column("region", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("rep_rate", sa.Float(), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("due_at", UtcDateTime, nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reject_reason", sa.String(length=200), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("deal_id", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("reason_en", sa.Text(), nullable=True),
        sa.Column("reason_fr", sa.Text(), nullable=True),
        sa.Column("factors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("company_id", "owner_id", "status", "account_id", "deal_id"):
        op.create_index(op.f(f"ix_crm_leads_{column}"), "crm_leads", [column], unique=False)


def downgrade() -> None:
    for column in ("company_id", "owner_id", "status", "account_id", "deal_id"):
        op.drop_index(op.f(f"ix_crm_leads_{column}"), table_name="crm_leads")
    op.drop_table("crm_leads")
