"""Privacy: the erasures made, and their notices owed to the log, kept with the erasure itself.

Revision ID: privacy_0001
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "privacy_0001"
down_revision = "0001_foundation"
branch_labels = ("privacy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_erasure_notices",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "privacy_erasures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("privacy_erasures")
    op.drop_table("privacy_erasure_notices")
