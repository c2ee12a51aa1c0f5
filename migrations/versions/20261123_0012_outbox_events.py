"""outbox events: domain events written with the change, published by the relay

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_events_done_at_created_at", ["done_at", "created_at"], unique=False)
    op.create_table(
        "outbox_consumed",
        sa.Column("consumer", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("consumed_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name=op.f("fk_outbox_consumed_event_id_outbox_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_outbox_consumed")),
    )
    with op.batch_alter_table("outbox_consumed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_consumed_event_id"), ["event_id"], unique=False)
    op.create_table(
        "stats_dirty",
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("marked_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_stats_dirty")),
    )


def downgrade() -> None:
    op.drop_table("stats_dirty")
    with op.batch_alter_table("outbox_consumed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_consumed_event_id"))
    op.drop_table("outbox_consumed")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_events_done_at_created_at")
    op.drop_table("outbox_events")
