"""redemptions and verification events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "verification_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("presentation", sa.String(length=10), nullable=True),
        sa.Column("at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "presentation IS NULL OR presentation IN ('phone', 'printed', 'manual')",
            name=op.f("ck_verification_events_presentation_known"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_verification_events_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_verification_events_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_events")),
    )
    with op.batch_alter_table("verification_events", schema=None) as batch_op:
        batch_op.create_index("ix_verification_events_partner_id_at", ["partner_id", "at"], unique=False)

    op.create_table(
        "redemptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("benefit_id", sa.Uuid(), nullable=False),
        sa.Column("card_number", sa.String(length=32), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("client_nonce", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("presentation", sa.String(length=10), nullable=False),
        sa.Column("recorded_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_by_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("voided_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("voided_by_api_key_id", sa.Uuid(), nullable=True),
        sa.Column("voided_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("occurred_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'voided') = (voided_at IS NOT NULL)", name=op.f("ck_redemptions_voided_at_with_status")
        ),
        sa.CheckConstraint(
            "presentation IN ('phone', 'printed', 'manual')", name=op.f("ck_redemptions_presentation_known")
        ),
        sa.CheckConstraint("status IN ('recorded', 'voided')", name=op.f("ck_redemptions_status_known")),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_redemptions_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["benefit_id"], ["benefits.id"], name=op.f("fk_redemptions_benefit_id_benefits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_redemptions_card_id_cards"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_redemptions_location_id_locations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_redemptions_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_redemptions_recorded_by_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"],
            ["users.id"],
            name=op.f("fk_redemptions_recorded_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["voided_by_api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_redemptions_voided_by_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["voided_by_user_id"],
            ["users.id"],
            name=op.f("fk_redemptions_voided_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
        sa.UniqueConstraint("partner_id", "client_nonce", name=op.f("uq_redemptions_partner_id_client_nonce")),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_redemptions_benefit_id_card_number_occurred_at",
            ["benefit_id", "card_number", "occurred_at"],
            unique=False,
        )
        batch_op.create_index("ix_redemptions_benefit_id_status", ["benefit_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_redemptions_card_id"), ["card_id"], unique=False)
        batch_op.create_index("ix_redemptions_partner_id_occurred_at", ["partner_id", "occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_redemptions_partner_id_occurred_at")
        batch_op.drop_index(batch_op.f("ix_redemptions_card_id"))
        batch_op.drop_index("ix_redemptions_benefit_id_status")
        batch_op.drop_index("ix_redemptions_benefit_id_card_number_occurred_at")

    op.drop_table("redemptions")
    with op.batch_alter_table("verification_events", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_events_partner_id_at")

    op.drop_table("verification_events")
