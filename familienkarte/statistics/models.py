"""The rollup tables and the record of what was built when.

The rollup tables refer to partners, locations and benefits without foreign keys: their rows are counted from the
raw facts, whose foreign keys hold, and a check of the keys of every inserted row (a key-share lock on each
referenced row) cost most of a rebuild's time. Partners, locations and benefits are never deleted (they are
suspended, closed or ended); a row of one deleted by hand stays until its day is rebuilt.

Only counts, never a card number or a name. Days and hours are the city's (``City.timezone``). A distinct count
(``cards``, ``families``) belongs to its own bucket and is never summed across buckets: families reached per month
and programme-wide have a table of their own.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base
from familienkarte.redemptions.models import Redemption, VerificationEvent

# Indexes of the raw facts for the statistics. A day's rebuild reads the day's range of ``occurred_at`` and ``at``
# (the other indexes lead with partner or benefit). The search for days to rebuild asks for the redemptions
# recorded or voided since its last run (an offline upload is recorded when it arrives: its ``created_at`` is its
# ``uploaded_at``).
Index("ix_redemptions_occurred_at", Redemption.occurred_at)
Index("ix_redemptions_created_at", Redemption.created_at)
Index("ix_redemptions_voided_at", Redemption.voided_at)
Index("ix_verification_events_at", VerificationEvent.at)
# Families reached programme-wide: the distinct card numbers of recorded redemptions, read by skipping from one
# number to the next (familienkarte.statistics.rollups.families_recount).
Index(
    "ix_redemptions_recorded_card_number",
    Redemption.card_number,
    postgresql_where=Redemption.status == "recorded",
    sqlite_where=Redemption.status == "recorded",
)

# The period of a programme-wide row in StatsFamilies.
PROGRAMME = "all"


class StatsRedemptions(Base):
    """Recorded (not voided) redemptions per local day and hour, partner, location and benefit.

    ``category`` is the benefit's, ``district`` the location's (None when the location has none): both follow from
    the key and are kept for grouping without joins. ``cards`` counts distinct card numbers in this bucket only.
    """

    __tablename__ = "stats_redemptions"
    __table_args__ = (CheckConstraint("hour BETWEEN 0 AND 23", name="hour_range"),)

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    benefit_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(100))
    redemptions: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    cards: Mapped[int] = mapped_column(Integer)


class StatsVerifications(Base):
    """Verifications per local day and hour, partner, location and reason code."""

    __tablename__ = "stats_verifications"
    __table_args__ = (CheckConstraint("hour BETWEEN 0 AND 23", name="hour_range"),)

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    district: Mapped[str | None] = mapped_column(String(100))
    verifications: Mapped[int] = mapped_column(Integer)


# Indexes of the day tables for the dashboard's exact top lists: the edge days of a range, for a few benefits or
# partners (familienkarte.statistics.coarse). On PostgreSQL they hold the columns those queries read without a
# category or district chosen as well, so that the rows come from the index alone (a few thousand hourly rows read
# from the table took most of a list's time). The filter columns are left out: they would add half as much again.
Index(
    "ix_stats_redemptions_benefit_id_day",
    StatsRedemptions.benefit_id,
    StatsRedemptions.day,
    postgresql_include=["partner_id", "redemptions", "quantity"],
)
Index(
    "ix_stats_redemptions_partner_id_day",
    StatsRedemptions.partner_id,
    StatsRedemptions.day,
    postgresql_include=["benefit_id", "redemptions", "quantity"],
)
Index(
    "ix_stats_verifications_partner_id_day",
    StatsVerifications.partner_id,
    StatsVerifications.day,
    postgresql_include=["reason", "verifications"],
)

# The district of a coarse table's key for locations without one (a key column cannot be NULL).
NO_DISTRICT_KEY = ""


class StatsRedemptionsArea(Base):
    """The day rows of ``StatsRedemptions`` added up per day, category and district (``NO_DISTRICT_KEY``: none).

    Rebuilt with the day, from its rows in ``StatsRedemptions``, in the same transaction."""

    __tablename__ = "stats_redemptions_area"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    redemptions: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)


class StatsVerificationsArea(Base):
    """The day rows of ``StatsVerifications`` added up per day, reason and district (``NO_DISTRICT_KEY``: none)."""

    __tablename__ = "stats_verifications_area"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    verifications: Mapped[int] = mapped_column(BigInteger)


class StatsRedemptionsAreaWeeks(Base):
    """``StatsRedemptionsArea`` added up per week (Monday to Sunday; ``week`` is its Monday), category and district.

    Rebuilt with the area rows of the week's days, in the same transaction; the dashboard reads the whole weeks of a
    range here and its edge days from the area table."""

    __tablename__ = "stats_redemptions_area_weeks"

    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    redemptions: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)


class StatsVerificationsAreaWeeks(Base):
    """``StatsVerificationsArea`` added up per week, reason and district, as ``StatsRedemptionsAreaWeeks``."""

    __tablename__ = "stats_verifications_area_weeks"

    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    verifications: Mapped[int] = mapped_column(BigInteger)


class StatsBenefitWeeks(Base):
    """Running totals of ``StatsRedemptions`` per benefit, partner, category and district (``NO_DISTRICT_KEY``:
    none) up to the end (Sunday) of each week (``week`` is its Monday).

    Dense: a key has a row for every week from the first with a redemption to the last week of the day table, so
    that the total of any run of whole weeks is the difference of two rows."""

    __tablename__ = "stats_benefit_weeks"

    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    benefit_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    cum_redemptions: Mapped[int] = mapped_column(BigInteger)
    cum_quantity: Mapped[int] = mapped_column(BigInteger)


class StatsPartnerFraudWeeks(Base):
    """Running totals of ``StatsVerifications`` per partner and district (``NO_DISTRICT_KEY``: none) up to the end
    of each week, dense as ``StatsBenefitWeeks``: all verifications and those of each reason hinting at fraud."""

    __tablename__ = "stats_partner_fraud_weeks"

    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    cum_verifications: Mapped[int] = mapped_column(BigInteger)
    cum_stale: Mapped[int] = mapped_column(BigInteger)
    cum_revoked: Mapped[int] = mapped_column(BigInteger)
    cum_bad_signature: Mapped[int] = mapped_column(BigInteger)
    cum_bad_proof: Mapped[int] = mapped_column(BigInteger)


# The scope of a ``StatsWeekTops`` list that is not narrowed to a category or to a district.
ANY_SCOPE = "*"


class StatsWeekTops(Base):
    """The largest week totals of a week: per list (``board``: ``benefits`` and ``partners`` by redemptions,
    ``fraud``: partners by flagged verifications) and scope (a category and a district, or ``ANY_SCOPE`` for
    either), the ``coarse.TOPS_KEPT`` groups (benefits or partners) with the most in the week, only those with more
    than 0.

    Built from the week tables in the transaction that changes them (``coarse.rebuild_tops``); the dashboard's
    top lists find their candidates here first (``coarse._top_candidates``)."""

    __tablename__ = "stats_week_tops"

    board: Mapped[str] = mapped_column(String(16), primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class StatsCards(Base):
    """Cards per family district and local month (``month`` is its first day).

    ``issued``: issued in the month. ``activated``: the card's first phone was activated in the month.
    ``revoked``: revoked in the month (the card's last status change). ``active``: issued by the month's end, valid
    on a day of the month, and not revoked or suspended before the month began.
    """

    __tablename__ = "stats_cards"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    district: Mapped[str] = mapped_column(String(100), primary_key=True)
    issued: Mapped[int] = mapped_column(Integer)
    activated: Mapped[int] = mapped_column(Integer)
    revoked: Mapped[int] = mapped_column(Integer)
    active: Mapped[int] = mapped_column(Integer)


class StatsFamilies(Base):
    """Families reached: distinct cards with at least one recorded redemption, per local month ("2026-07") and for
    the whole programme (``PROGRAMME``)."""

    __tablename__ = "stats_families"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    families: Mapped[int] = mapped_column(Integer)


class StatsBuild(Base):
    """When a day ("2026-07-01") or a month ("2026-07") of rollups was last built."""

    __tablename__ = "stats_builds"

    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    built_at: Mapped[dt.datetime]


class StatsScan(Base):
    """The single row of ``rebuild_dirty``: locations, benefits and households changed after ``scanned_at`` are
    looked at next (the outbox reports every other change). No row yet: the first run builds everything.

    ``verification_id`` and ``verification_id_before`` belonged to the search by id that the outbox replaced; they
    are no longer written.
    """

    __tablename__ = "stats_scans"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    scanned_at: Mapped[dt.datetime]
    verification_id: Mapped[int | None] = mapped_column(BigInteger)
    verification_id_before: Mapped[int | None] = mapped_column(BigInteger)


class StatsPartnerMonths(Base):
    """A partner's recorded redemptions of a past local month, per benefit, location and week of the month, and in
    total: the figures of the partner's statistics page and monthly report, counted once the month is over.

    ``grouping`` is "benefit", "location", "week" (of the month, 1-5) or "total"; ``item`` the benefit's or
    location's id, the week's number, or "" for the total. ``cards`` counts the distinct cards of the row's group
    over the whole month (the privacy rule's input; never shown, never summed). Only groups with redemptions have a
    row.
    """

    __tablename__ = "stats_partner_months"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    grouping: Mapped[str] = mapped_column(String(8), primary_key=True)
    item: Mapped[str] = mapped_column(String(36), primary_key=True)
    redemptions: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    cards: Mapped[int] = mapped_column(Integer)


class StatsPartnerMonthReasons(Base):
    """A partner's verifications of a past local month per reason code, counted with ``StatsPartnerMonths``."""

    __tablename__ = "stats_partner_month_reasons"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    verifications: Mapped[int] = mapped_column(Integer)


class StatsPartnerMonthBuild(Base):
    """When a past month's partner figures (``StatsPartnerMonths``, ``StatsPartnerMonthReasons``) were counted: a
    month without a row has none, and is counted from the raw facts when asked for."""

    __tablename__ = "stats_partner_month_builds"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[dt.datetime]
