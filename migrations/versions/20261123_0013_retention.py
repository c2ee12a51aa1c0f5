"""retention: what is kept of old redemptions once their raw facts are removed

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_retained_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("horizon", sa.Date(), nullable=False),
        sa.Column("started_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("verification_events", sa.Integer(), nullable=False),
        sa.Column("redemptions_kept", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_stats_retained_days")),
    )
    op.create_table(
        "stats_reached_cards",
        sa.Column("card_number", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("card_number", name=op.f("pk_stats_reached_cards")),
    )


def downgrade() -> None:
    op.drop_table("stats_reached_cards")
    op.drop_table("stats_retained_days")
