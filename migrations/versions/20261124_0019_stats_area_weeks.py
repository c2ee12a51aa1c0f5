"""statistics: the area tables added up per week, where the dashboard reads a range's whole weeks

The dashboard's totals, breakdowns and weekly time series read a row per day, category (or reason) and district
of the range; a year is 33,000 rows of each area table. The area weeks tables hold the same per week, so that a
range's whole weeks are a seventh of that; its edge days still come from the area tables. They are filled here
from the area tables as they stand.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-24 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_redemptions_area_weeks",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("redemptions", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("week", "category", "district", name=op.f("pk_stats_redemptions_area_weeks")),
    )
    op.create_table(
        "stats_verifications_area_weeks",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("verifications", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("week", "reason", "district", name=op.f("pk_stats_verifications_area_weeks")),
    )
    from familienkarte.statistics.coarse import build_area_weeks

    session = Session(bind=op.get_bind())
    build_area_weeks(session)
    session.flush()


def downgrade() -> None:
    op.drop_table("stats_verifications_area_weeks")
    op.drop_table("stats_redemptions_area_weeks")
