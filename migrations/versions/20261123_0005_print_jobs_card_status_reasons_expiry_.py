"""print jobs, card status reasons, expiry, erasure

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "print_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("by_staff", sa.Boolean(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'ready', 'failed')", name=op.f("ck_print_jobs_status_known")),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_print_jobs_card_id_cards"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["card_credentials.id"],
            name=op.f("fk_print_jobs_credential_id_card_credentials"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_print_jobs_requested_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_jobs")),
    )
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_jobs_card_id"), ["card_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_print_jobs_credential_id"), ["credential_id"], unique=False)

    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_changed_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reminder_sent_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier_approved", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("confirmed_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("erased_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_object_type_object_id", ["object_type", "object_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_object_type_object_id")

    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("tier_approved")

    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_column("reminder_sent_at")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("status_changed_at")

    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_jobs_credential_id"))
        batch_op.drop_index(batch_op.f("ix_print_jobs_card_id"))

    op.drop_table("print_jobs")
