"""catalogue at a big city's size: the newest published benefits first, read from an index

The catalogue and GET /api/v1/benefits list the published benefits newest first by default, the finder a category's
benefits; with the first two indexes a page is read from the top of an index instead of sorting every published
benefit. The other two hold all that the catalogue's count and the finder's tally (how many a family may use, per
category) read, so that these come from an index alone, not from the table with its texts.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLISHED = sa.text("status = 'published'")


def upgrade() -> None:
    with op.batch_alter_table("benefits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_benefits_published_newest",
            [sa.text("coalesce(published_at, created_at) DESC"), "id"],
            unique=False,
            postgresql_where=PUBLISHED,
            sqlite_where=PUBLISHED,
        )
        batch_op.create_index(
            "ix_benefits_published_category_newest",
            ["category", sa.text("coalesce(published_at, created_at) DESC"), "id"],
            unique=False,
            postgresql_where=PUBLISHED,
            sqlite_where=PUBLISHED,
        )
        batch_op.create_index(
            "ix_benefits_published_partner_id",
            ["partner_id", "valid_until"],
            unique=False,
            postgresql_where=PUBLISHED,
            sqlite_where=PUBLISHED,
        )
        batch_op.create_index(
            "ix_benefits_published_conditions",
            [
                "category",
                "min_children",
                "child_age_min",
                "child_age_max",
                "requires_entitlement",
                "valid_until",
                "partner_id",
            ],
            unique=False,
            postgresql_where=PUBLISHED,
            sqlite_where=PUBLISHED,
        )


def downgrade() -> None:
    with op.batch_alter_table("benefits", schema=None) as batch_op:
        batch_op.drop_index("ix_benefits_published_conditions")
        batch_op.drop_index("ix_benefits_published_partner_id")
        batch_op.drop_index("ix_benefits_published_category_newest")
        batch_op.drop_index("ix_benefits_published_newest")
