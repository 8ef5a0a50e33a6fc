"""Who is sending a notification, since when: recovery takes back only what a dead (or
long-stuck) process was sending, never what a live API node is sending at that moment.

Revision ID: notification_claims_0001
Revises: playbooks_outcomes_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "notification_claims_0001"
down_revision = "playbooks_outcomes_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("claimed_at_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("claimed_at_us")
        batch.drop_column("claimed_by")
