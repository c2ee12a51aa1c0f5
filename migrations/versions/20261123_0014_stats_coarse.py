"""statistics coarse rollups: day tables per area, running totals per week, indexes for the top lists

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_redemptions_area",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("redemptions", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "category", "district", name=op.f("pk_stats_redemptions_area")),
    )
    op.create_table(
        "stats_verifications_area",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("verifications", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "reason", "district", name=op.f("pk_stats_verifications_area")),
    )
    op.create_table(
        "stats_benefit_weeks",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("cum_redemptions", sa.BigInteger(), nullable=False),
        sa.Column("cum_quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["benefit_id"], ["benefits.id"], name=op.f("fk_stats_benefit_weeks_benefit_id_benefits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_stats_benefit_weeks_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "week", "benefit_id", "partner_id", "category", "district", name=op.f("pk_stats_benefit_weeks")
        ),
    )
    op.create_table(
        "stats_partner_fraud_weeks",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("cum_verifications", sa.BigInteger(), nullable=False),
        sa.Column("cum_stale", sa.BigInteger(), nullable=False),
        sa.Column("cum_revoked", sa.BigInteger(), nullable=False),
        sa.Column("cum_bad_signature", sa.BigInteger(), nullable=False),
        sa.Column("cum_bad_proof", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_stats_partner_fraud_weeks_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("week", "partner_id", "district", name=op.f("pk_stats_partner_fraud_weeks")),
    )
    with op.batch_alter_table("stats_redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_stats_redemptions_benefit_id_day", ["benefit_id", "day"], unique=False)
        batch_op.create_index("ix_stats_redemptions_partner_id_day", ["partner_id", "day"], unique=False)
    with op.batch_alter_table("stats_verifications", schema=None) as batch_op:
        batch_op.create_index("ix_stats_verifications_partner_id_day", ["partner_id", "day"], unique=False)
    # The coarse rows of the day rows built so far.
    from familienkarte.statistics.coarse import rebuild_all

    session = Session(bind=op.get_bind())
    # The tables of later revisions (the kept largest week totals: 0018; the area weeks: 0019) are filled there.
    rebuild_all(session, newer=False)
    session.flush()


def downgrade() -> None:
    with op.batch_alter_table("stats_verifications", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_verifications_partner_id_day")
    with op.batch_alter_table("stats_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_redemptions_partner_id_day")
        batch_op.drop_index("ix_stats_redemptions_benefit_id_day")
    op.drop_table("stats_partner_fraud_weeks")
    op.drop_table("stats_benefit_weeks")
    op.drop_table("stats_verifications_area")
    op.drop_table("stats_redemptions_area")
