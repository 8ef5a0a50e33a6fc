"""Sensors: loyalty rings linked to a customer with their consent, with the link's history.

Revision ID: sensors_0002
Revises: sensors_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "sensors_0002"
down_revision = "sensors_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensor_ring_links",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("ring", sa.String(200), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("starts_us", sa.BigInteger, nullable=False),
        sa.Column("ends_us", sa.BigInteger),
        sa.Column("linked_by", sa.String(200), nullable=False),
        sa.Column("ended_by", sa.String(200)),
    )
    op.create_index("ix_sensor_ring_links_ring", "sensor_ring_links", ["ring"])
    op.create_index("ix_sensor_ring_links_contact_id", "sensor_ring_links", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_sensor_ring_links_contact_id", "sensor_ring_links")
    op.drop_index("ix_sensor_ring_links_ring", "sensor_ring_links")
    op.drop_table("sensor_ring_links")
