"""card credentials

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "card_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=False),
        sa.Column("adult_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("device_key", sa.String(length=44), nullable=True),
        sa.Column("device_name", sa.String(length=60), nullable=True),
        sa.Column("status_list_id", sa.Integer(), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=8), nullable=False),
        sa.Column("exp", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("revoked_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('phone', 'printed')", name=op.f("ck_card_credentials_kind_known")),
        sa.CheckConstraint(
            "status IN ('active', 'revoked', 'suspended')", name=op.f("ck_card_credentials_status_known")
        ),
        sa.CheckConstraint(
            "(kind = 'phone') = (device_key IS NOT NULL)", name=op.f("ck_card_credentials_device_key_iff_phone")
        ),
        sa.ForeignKeyConstraint(
            ["adult_id"],
            ["household_adults.id"],
            name=op.f("fk_card_credentials_adult_id_household_adults"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_credentials_card_id_cards"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"], ["users.id"], name=op.f("fk_card_credentials_revoked_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_credentials")),
        sa.UniqueConstraint(
            "status_list_id", "status_index", name=op.f("uq_card_credentials_status_list_id_status_index")
        ),
    )
    with op.batch_alter_table("card_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_credentials_card_id"), ["card_id"], unique=False)
        batch_op.create_index("ix_card_credentials_adult_id_status", ["adult_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("card_credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_card_credentials_adult_id_status")
        batch_op.drop_index(batch_op.f("ix_card_credentials_card_id"))

    op.drop_table("card_credentials")
