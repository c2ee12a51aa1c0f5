"""statistics: the day tables' indexes for the top lists' edge days hold the columns those queries read

The dashboard's exact top lists read the edge days of a range from the hourly day tables, for a few benefits or
partners: a few thousand rows, each fetched from the table after the index found it. On PostgreSQL the indexes now
include the columns read when no category or district is chosen (the common view), so that these rows come from
the index alone; the filter columns are left out, since they would make the indexes half as large again. SQLite
has no included columns; its indexes stay as they are.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-25 00:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (table, key columns, included columns)
INDEXES: dict[str, tuple[str, list[str], list[str]]] = {
    "ix_stats_redemptions_benefit_id_day": (
        "stats_redemptions",
        ["benefit_id", "day"],
        ["partner_id", "redemptions", "quantity"],
    ),
    "ix_stats_redemptions_partner_id_day": (
        "stats_redemptions",
        ["partner_id", "day"],
        ["benefit_id", "redemptions", "quantity"],
    ),
    "ix_stats_verifications_partner_id_day": (
        "stats_verifications",
        ["partner_id", "day"],
        ["reason", "verifications"],
    ),
}


def _recreate(include: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, columns, included) in INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_include=included if include else [])


def upgrade() -> None:
    _recreate(include=True)


def downgrade() -> None:
    _recreate(include=False)
