"""Sensors: the notices owed for changes of the rings' links, kept with the change itself.

Revision ID: sensors_0003
Revises: sensors_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "sensors_0003"
down_revision = "sensors_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensor_ring_notices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sensor_ring_notices")
