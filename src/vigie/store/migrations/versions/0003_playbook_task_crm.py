"""A playbook's task names its CRM task (issue 21: a playbook's task is a CRM task).

Revision ID: playbooks_outcomes_0001
Revises: playbooks_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "playbooks_outcomes_0001"
down_revision = "playbooks_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("playbook_tasks") as batch:
        batch.add_column(sa.Column("crm_task_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("playbook_tasks") as batch:
        batch.drop_column("crm_task_id")
