"""a partner's past months counted once: the statistics page's and monthly report's figures

A past month's figures per partner (per benefit, location and week, in total, and the verifications per reason)
are counted by the month's rebuild once the month is over, instead of from the raw facts on every view. Months
without a count (those before this revision until `familienkarte stats rebuild` reaches them) are still counted from
the raw facts when asked for; the month before the current one is counted by the next `rebuild_dirty`.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_partner_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("grouping", sa.String(length=8), nullable=False),
        sa.Column("item", sa.String(length=36), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "partner_id", "grouping", "item", name=op.f("pk_stats_partner_months")),
    )
    op.create_table(
        "stats_partner_month_reasons",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("verifications", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "partner_id", "reason", name=op.f("pk_stats_partner_month_reasons")),
    )
    op.create_table(
        "stats_partner_month_builds",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("built_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_stats_partner_month_builds")),
    )


def downgrade() -> None:
    op.drop_table("stats_partner_month_builds")
    op.drop_table("stats_partner_month_reasons")
    op.drop_table("stats_partner_months")
