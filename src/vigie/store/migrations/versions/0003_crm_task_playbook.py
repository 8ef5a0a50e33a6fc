"""A CRM task names the playbook run and the action-ledger entry that created it (issue 21:
a playbook's task is a CRM task).

Revision ID: crm_outcomes_0001
Revises: crm_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "crm_outcomes_0001"
down_revision = "crm_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_tasks") as batch:
        batch.add_column(sa.Column("playbook_run_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("action_id", sa.BigInteger(), nullable=True))
        batch.create_index(batch.f("ix_crm_tasks_playbook_run_id"), ["playbook_run_id"])


def downgrade() -> None:
    with op.batch_alter_table("crm_tasks") as batch:
        batch.drop_index(batch.f("ix_crm_tasks_playbook_run_id"))
        batch.drop_column("action_id")
        batch.drop_column("playbook_run_id")
