"""credentials: issuer keys and status lists

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issuer_keys",
        sa.Column("kid", sa.String(length=8), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_exp", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("active IS NULL OR active", name=op.f("ck_issuer_keys_active_true_or_null")),
        sa.CheckConstraint(
            "(active IS NULL) = (retired_at IS NOT NULL)", name=op.f("ck_issuer_keys_retired_iff_not_active")
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_issuer_keys")),
        sa.UniqueConstraint("active", name=op.f("uq_issuer_keys_active")),
    )
    op.create_table(
        "status_lists",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("index_key", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=True),
        sa.Column("token_iat", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("token_exp", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id >= 1", name=op.f("ck_status_lists_id_positive")),
        sa.CheckConstraint("allocated >= 0 AND allocated <= size", name=op.f("ck_status_lists_allocated_within_size")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_lists")),
    )


def downgrade() -> None:
    op.drop_table("status_lists")
    op.drop_table("issuer_keys")
