"""offline redemptions: offline, uploaded_at and flags

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offline", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("uploaded_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("flags", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_column("flags")
        batch_op.drop_column("uploaded_at")
        batch_op.drop_column("offline")
