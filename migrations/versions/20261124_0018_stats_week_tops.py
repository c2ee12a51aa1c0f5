"""statistics: the largest week totals per list and scope, where the dashboard's top lists find their candidates

The dashboard's top benefits, top partners and fraud signals read the running totals of every key of the range's
weeks to bound each group's total. The kept largest week totals (``coarse.TOPS_KEPT`` per week, list and scope)
settle most ranges with a few hundred rows; the table is filled here from the week tables as they stand.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_week_tops",
        sa.Column("board", sa.String(length=16), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("board", "week", "category", "district", "group_id", name=op.f("pk_stats_week_tops")),
    )
    from familienkarte.statistics.coarse import build_tops

    session = Session(bind=op.get_bind())
    build_tops(session)
    session.flush()


def downgrade() -> None:
    op.drop_table("stats_week_tops")
