"""statistics at a big city's size: rollup tables without foreign keys, an index for families reached, the
partner page's indexes covering what it counts

The rollup tables are rebuilt from the raw facts, whose foreign keys already hold: a check of three foreign keys
per inserted row (a key-share lock on the partner, location and benefit rows) took most of a rebuild's time.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referenced table) of every foreign key the rollup tables had.
FOREIGN_KEYS: tuple[tuple[str, str, str], ...] = (
    ("stats_redemptions", "partner_id", "partners"),
    ("stats_redemptions", "location_id", "locations"),
    ("stats_redemptions", "benefit_id", "benefits"),
    ("stats_verifications", "partner_id", "partners"),
    ("stats_verifications", "location_id", "locations"),
    ("stats_benefit_weeks", "benefit_id", "benefits"),
    ("stats_benefit_weeks", "partner_id", "partners"),
    ("stats_partner_fraud_weeks", "partner_id", "partners"),
)
RECORDED = sa.text("status = 'recorded'")


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


# Indexes of the raw facts that the partner's statistics page reads alone on PostgreSQL (INCLUDE columns; SQLite
# keeps the plain index): (table, index, key columns, included columns).
COVERING: tuple[tuple[str, str, list[str], list[str]], ...] = (
    (
        "redemptions",
        "ix_redemptions_partner_id_occurred_at",
        ["partner_id", "occurred_at"],
        ["status", "benefit_id", "location_id", "quantity", "card_number"],
    ),
    ("verification_events", "ix_verification_events_partner_id_at", ["partner_id", "at"], ["reason"]),
)


def _recreate(include: bool) -> None:
    for table, name, columns, included in COVERING:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False, postgresql_include=included if include else [])


def upgrade() -> None:
    for table in dict.fromkeys(table for table, _column, _referred in FOREIGN_KEYS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _table, column, referred in (key for key in FOREIGN_KEYS if key[0] == table):
                batch_op.drop_constraint(_name(table, column, referred), type_="foreignkey")
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_redemptions_recorded_card_number",
            ["card_number"],
            unique=False,
            postgresql_where=RECORDED,
            sqlite_where=RECORDED,
        )
    _recreate(include=True)


def downgrade() -> None:
    _recreate(include=False)
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_redemptions_recorded_card_number", postgresql_where=RECORDED, sqlite_where=RECORDED)
    for table in dict.fromkeys(table for table, _column, _referred in FOREIGN_KEYS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _table, column, referred in (key for key in FOREIGN_KEYS if key[0] == table):
                batch_op.create_foreign_key(
                    _name(table, column, referred), referred, [column], ["id"], ondelete="CASCADE"
                )
