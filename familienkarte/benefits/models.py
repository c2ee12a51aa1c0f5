"""Benefits: what a partner offers card holders, structured (DESIGN.md), moderated before families see it."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Date, ForeignKey, Index, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, TimestampMixin, new_uuid, utcnow


class BenefitStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    PUBLISHED = "published"
    REJECTED = "rejected"
    # Published once, held back by the partner at once (no moderation needed to pause or to resume).
    PAUSED = "paused"
    ARCHIVED = "archived"


class BenefitKind(StrEnum):
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    FREE_ENTRY = "free_entry"
    SPECIAL_PRICE = "special_price"
    TWO_FOR_ONE = "two_for_one"
    VOUCHER = "voucher"
    OTHER = "other"


class LimitPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    EVER = "ever"


ALL_WEEKDAYS = 0b1111111  # bit 0 Monday ... bit 6 Sunday


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


benefit_locations = Table(
    "benefit_locations",
    Base.metadata,
    Column("benefit_id", ForeignKey("benefits.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Benefit(TimestampMixin, Base):
    """One benefit of a partner.

    The columns hold what families see once it is published. Texts (``title``, ``description``,
    ``conditions``) are JSON objects from language code to text, German always present. A change to a published
    benefit is kept in ``pending`` (the same fields as a JSON object) until staff approve it; the published
    version stays visible meanwhile. ``value`` is the percentage for ``percent_off`` and an amount in cents for
    ``amount_off`` and ``special_price``; other kinds have none.
    """

    __tablename__ = "benefits"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(BenefitStatus)})", name="status_known"),
        CheckConstraint(f"kind IN ({_in(BenefitKind)})", name="kind_known"),
        CheckConstraint(f"limit_period IS NULL OR limit_period IN ({_in(LimitPeriod)})", name="limit_period_known"),
        CheckConstraint("(limit_count IS NULL) = (limit_period IS NULL)", name="limit_count_with_period"),
        CheckConstraint("limit_count IS NULL OR limit_count >= 1", name="limit_count_positive"),
        CheckConstraint("total_quota IS NULL OR total_quota >= 1", name="total_quota_positive"),
        CheckConstraint("value IS NULL OR value >= 0", name="value_not_negative"),
        CheckConstraint("min_children >= 0", name="min_children_not_negative"),
        CheckConstraint("max_quantity >= 1", name="max_quantity_positive"),
        CheckConstraint("weekdays BETWEEN 1 AND 127", name="weekdays_mask"),
        CheckConstraint(
            "child_age_min IS NULL OR child_age_max IS NULL OR child_age_min <= child_age_max", name="child_age_order"
        ),
        CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until", name="validity_order"
        ),
        Index("ix_benefits_status_category", "status", "category"),
        Index("ix_benefits_partner_id_status", "partner_id", "status"),
        # The catalogue's default order (newest first), overall and in a category (the finder): a page is read
        # from the top of an index instead of sorting every benefit.
        Index(
            "ix_benefits_published_newest",
            text("coalesce(published_at, created_at) DESC"),
            "id",
            postgresql_where=text("status = 'published'"),
            sqlite_where=text("status = 'published'"),
        ),
        Index(
            "ix_benefits_published_category_newest",
            "category",
            text("coalesce(published_at, created_at) DESC"),
            "id",
            postgresql_where=text("status = 'published'"),
            sqlite_where=text("status = 'published'"),
        ),
        # All that the catalogue's count and the finder's tally read: counted from the index alone.
        Index(
            "ix_benefits_published_partner_id",
            "partner_id",
            "valid_until",
            postgresql_where=text("status = 'published'"),
            sqlite_where=text("status = 'published'"),
        ),
        Index(
            "ix_benefits_published_conditions",
            "category",
            "min_children",
            "child_age_min",
            "child_age_max",
            "requires_entitlement",
            "valid_until",
            "partner_id",
            postgresql_where=text("status = 'published'"),
            sqlite_where=text("status = 'published'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=BenefitStatus.DRAFT.value)
    # A code of familienkarte.partners.vocabulary.CATEGORIES.
    category: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[int | None]
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    conditions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    weekdays: Mapped[int] = mapped_column(default=ALL_WEEKDAYS)
    # Who may use it: at least this many children on the card, at least one child in the age range (inclusive),
    # and the city's tier (bit 0 of the credential's e) when required.
    min_children: Mapped[int] = mapped_column(default=0)
    child_age_min: Mapped[int | None]
    child_age_max: Mapped[int | None]
    requires_entitlement: Mapped[bool] = mapped_column(default=False)
    # How often one card may use it (limit_count per limit_period), the total for all cards, and how many at once
    # (tickets).
    limit_count: Mapped[int | None]
    limit_period: Mapped[str | None] = mapped_column(String(10))
    total_quota: Mapped[int | None]
    max_quantity: Mapped[int] = mapped_column(default=1)
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    submitted_at: Mapped[dt.datetime | None]
    published_at: Mapped[dt.datetime | None]
    moderated_at: Mapped[dt.datetime | None]
    moderated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
