"""statistics exports: export jobs and their files

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_export_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=False),
        sa.Column("table", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.SmallInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("format IN ('csv', 'xlsx')", name=op.f("ck_stats_export_jobs_format_known")),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_stats_export_jobs_progress_range")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_stats_export_jobs_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_stats_export_jobs_requested_by_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_export_jobs")),
    )
    with op.batch_alter_table("stats_export_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stats_export_jobs_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_stats_export_jobs_requested_by_id"), ["requested_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stats_export_jobs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stats_export_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stats_export_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_stats_export_jobs_requested_by_id"))
        batch_op.drop_index(batch_op.f("ix_stats_export_jobs_expires_at"))
    op.drop_table("stats_export_jobs")
