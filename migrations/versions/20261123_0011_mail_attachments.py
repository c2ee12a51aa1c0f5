"""e-mail attachments: files sent with an e-mail (the partners' monthly report), and the language of each e-mail

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))

    op.create_table(
        "email_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name=op.f("fk_email_attachments_email_id_emails"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_attachments")),
        sa.UniqueConstraint("email_id", "position", name=op.f("uq_email_attachments_email_id_position")),
    )


def downgrade() -> None:
    op.drop_table("email_attachments")

    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_column("locale")
