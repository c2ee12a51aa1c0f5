"""partner profiles, locations, benefits, transit stops

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import familienkarte.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transit_stops",
        sa.Column("stop_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("imported_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stop_id", name=op.f("pk_transit_stops")),
    )
    with op.batch_alter_table("transit_stops", schema=None) as batch_op:
        batch_op.create_index("ix_transit_stops_latitude_longitude", ["latitude", "longitude"], unique=False)

    op.create_table(
        "benefits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("weekdays", sa.Integer(), nullable=False),
        sa.Column("min_children", sa.Integer(), nullable=False),
        sa.Column("child_age_min", sa.Integer(), nullable=True),
        sa.Column("child_age_max", sa.Integer(), nullable=True),
        sa.Column("requires_entitlement", sa.Boolean(), nullable=False),
        sa.Column("limit_count", sa.Integer(), nullable=True),
        sa.Column("limit_period", sa.String(length=10), nullable=True),
        sa.Column("total_quota", sa.Integer(), nullable=True),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=True),
        sa.Column("submitted_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("moderated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("moderated_by_id", sa.Uuid(), nullable=True),
        sa.Column("moderation_reason", sa.Text(), nullable=True),
        sa.Column("paused_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", familienkarte.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('percent_off', 'amount_off', 'free_entry', 'special_price', 'two_for_one', 'voucher', 'other')",
            name=op.f("ck_benefits_kind_known"),
        ),
        sa.CheckConstraint(
            "limit_period IS NULL OR limit_period IN ('day', 'week', 'month', 'year', 'ever')",
            name=op.f("ck_benefits_limit_period_known"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'changes_requested', 'published', 'rejected', 'paused', 'archived')",
            name=op.f("ck_benefits_status_known"),
        ),
        sa.CheckConstraint(
            "(limit_count IS NULL) = (limit_period IS NULL)", name=op.f("ck_benefits_limit_count_with_period")
        ),
        sa.CheckConstraint(
            "child_age_min IS NULL OR child_age_max IS NULL OR child_age_min <= child_age_max",
            name=op.f("ck_benefits_child_age_order"),
        ),
        sa.CheckConstraint("limit_count IS NULL OR limit_count >= 1", name=op.f("ck_benefits_limit_count_positive")),
        sa.CheckConstraint("max_quantity >= 1", name=op.f("ck_benefits_max_quantity_positive")),
        sa.CheckConstraint("min_children >= 0", name=op.f("ck_benefits_min_children_not_negative")),
        sa.CheckConstraint("total_quota IS NULL OR total_quota >= 1", name=op.f("ck_benefits_total_quota_positive")),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until",
            name=op.f("ck_benefits_validity_order"),
        ),
        sa.CheckConstraint("value IS NULL OR value >= 0", name=op.f("ck_benefits_value_not_negative")),
        sa.CheckConstraint("weekdays BETWEEN 1 AND 127", name=op.f("ck_benefits_weekdays_mask")),
        sa.ForeignKeyConstraint(
            ["moderated_by_id"], ["users.id"], name=op.f("fk_benefits_moderated_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_benefits_partner_id_partners"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefits")),
    )
    with op.batch_alter_table("benefits", schema=None) as batch_op:
        batch_op.create_index("ix_benefits_partner_id_status", ["partner_id", "status"], unique=False)
        batch_op.create_index("ix_benefits_status_category", ["status", "category"], unique=False)

    op.create_table(
        "benefit_locations",
        sa.Column("benefit_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["benefit_id"], ["benefits.id"], name=op.f("fk_benefit_locations_benefit_id_benefits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_benefit_locations_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("benefit_id", "location_id", name=op.f("pk_benefit_locations")),
    )
    with op.batch_alter_table("benefit_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_benefit_locations_location_id"), ["location_id"], unique=False)

    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("street", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("house_number", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("postal_code", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("district", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("opening_hours", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("hours_note", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("accessibility", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("accessibility_note", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("phone", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("updated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_locations_district", ["district"], unique=False)
    op.execute("UPDATE locations SET updated_at = created_at")
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=familienkarte.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_check_constraint("latitude_range", "latitude IS NULL OR (latitude BETWEEN -90 AND 90)")
        batch_op.create_check_constraint("longitude_range", "longitude IS NULL OR (longitude BETWEEN -180 AND 180)")
        batch_op.create_check_constraint("coordinates_both_or_none", "(latitude IS NULL) = (longitude IS NULL)")

    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_form", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("website", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("category", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("description", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("logo", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("logo_type", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("logo_updated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("terms_version", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("terms_accepted_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status_changed_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("status_changed_by_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", familienkarte.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE partners SET updated_at = created_at")
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=familienkarte.db.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_check_constraint(
            "status_known",
            "status IN ('unconfirmed', 'pending', 'changes_requested', 'approved', 'rejected', 'suspended')",
        )


def downgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_partners_status_known"), type_="check")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("status_changed_by_id")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("terms_accepted_at")
        batch_op.drop_column("terms_version")
        batch_op.drop_column("logo_updated_at")
        batch_op.drop_column("logo_type")
        batch_op.drop_column("logo")
        batch_op.drop_column("phone")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("description")
        batch_op.drop_column("category")
        batch_op.drop_column("website")
        batch_op.drop_column("legal_form")

    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_locations_coordinates_both_or_none"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_locations_longitude_range"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_locations_latitude_range"), type_="check")
        batch_op.drop_index("ix_locations_district")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("is_active")
        batch_op.drop_column("phone")
        batch_op.drop_column("accessibility_note")
        batch_op.drop_column("accessibility")
        batch_op.drop_column("hours_note")
        batch_op.drop_column("opening_hours")
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
        batch_op.drop_column("district")
        batch_op.drop_column("postal_code")
        batch_op.drop_column("house_number")
        batch_op.drop_column("street")

    with op.batch_alter_table("benefit_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_locations_location_id"))

    op.drop_table("benefit_locations")
    with op.batch_alter_table("benefits", schema=None) as batch_op:
        batch_op.drop_index("ix_benefits_status_category")
        batch_op.drop_index("ix_benefits_partner_id_status")

    op.drop_table("benefits")
    with op.batch_alter_table("transit_stops", schema=None) as batch_op:
        batch_op.drop_index("ix_transit_stops_latitude_longitude")

    op.drop_table("transit_stops")
