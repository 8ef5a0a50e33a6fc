"""Sensors: the placements of promotional displays (a move ends one and starts the next).

Revision ID: sensors_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "sensors_0001"
down_revision = "0001_foundation"
branch_labels = ("sensors",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensor_display_placements",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("display", sa.String(200), nullable=False),
        sa.Column("site", sa.String(200), nullable=False),
        sa.Column("aisle", sa.String(200), nullable=False),
        sa.Column("starts_us", sa.BigInteger, nullable=False),
        sa.Column("ends_us", sa.BigInteger),
        sa.Column("moved_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    op.create_index(
        "ix_sensor_display_placements_display", "sensor_display_placements", ["display"]
    )


def downgrade() -> None:
    op.drop_index("ix_sensor_display_placements_display", "sensor_display_placements")
    op.drop_table("sensor_display_placements")
