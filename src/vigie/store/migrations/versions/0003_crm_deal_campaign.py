"""A deal names the CRM campaign that brought it (one campaign notion: see `utm_campaign`).

Revision ID: crm_0002
Revises: crm_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "crm_0002"
down_revision = "crm_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_deals") as batch:
        batch.add_column(sa.Column("campaign_id", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_crm_deals_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("crm_deals") as batch:
        batch.drop_index(batch.f("ix_crm_deals_campaign_id"))
        batch.drop_column("campaign_id")
