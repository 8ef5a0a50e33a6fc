"""Control groups of playbook steps: which unit a step treated and which it held out.

Revision ID: holdouts_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "holdouts_0001"
down_revision = "0001_foundation"
branch_labels = ("holdouts",)
depends_on = None

Offset = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "holdout_units",
        sa.Column("id", Offset, primary_key=True, autoincrement=True),
        sa.Column("playbook", sa.String(200), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(200), nullable=False),
        sa.Column("grp", sa.String(20), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.UniqueConstraint("playbook", "step", "unit", name="uq_holdout_units_unit"),
    )


def downgrade() -> None:
    op.drop_table("holdout_units")
