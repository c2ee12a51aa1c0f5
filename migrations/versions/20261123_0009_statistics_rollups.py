"""statistics rollups: the rollup tables, their builds, and indexes of the raw facts for rebuilding

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_builds",
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("built_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_stats_builds")),
    )
    op.create_table(
        "stats_cards",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("activated", sa.Integer(), nullable=False),
        sa.Column("revoked", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "district", name=op.f("pk_stats_cards")),
    )
    op.create_table(
        "stats_families",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_stats_families")),
    )
    op.create_table(
        "stats_scans",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("scanned_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verification_id", sa.BigInteger(), nullable=True),
        sa.Column("verification_id_before", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_stats_scans_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_scans")),
    )
    op.create_table(
        "stats_verifications",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=True),
        sa.Column("verifications", sa.Integer(), nullable=False),
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name=op.f("ck_stats_verifications_hour_range")),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_stats_verifications_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_stats_verifications_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "day", "hour", "partner_id", "location_id", "reason", name=op.f("pk_stats_verifications")
        ),
    )
    op.create_table(
        "stats_redemptions",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=True),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name=op.f("ck_stats_redemptions_hour_range")),
        sa.ForeignKeyConstraint(
            ["benefit_id"], ["benefits.id"], name=op.f("fk_stats_redemptions_benefit_id_benefits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_stats_redemptions_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_stats_redemptions_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "day", "hour", "partner_id", "location_id", "benefit_id", name=op.f("pk_stats_redemptions")
        ),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_redemptions_occurred_at", ["occurred_at"], unique=False)
        batch_op.create_index("ix_redemptions_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_redemptions_voided_at", ["voided_at"], unique=False)
    with op.batch_alter_table("verification_events", schema=None) as batch_op:
        batch_op.create_index("ix_verification_events_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("verification_events", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_events_at")
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_redemptions_voided_at")
        batch_op.drop_index("ix_redemptions_created_at")
        batch_op.drop_index("ix_redemptions_occurred_at")
    op.drop_table("stats_redemptions")
    op.drop_table("stats_verifications")
    op.drop_table("stats_scans")
    op.drop_table("stats_families")
    op.drop_table("stats_cards")
    op.drop_table("stats_builds")
