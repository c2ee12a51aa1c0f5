"""The staff statistics dashboard: its filters and one query per table, all over the rollup tables.

Each table of the page is one function returning plain rows (named tuples of numbers and names), so that an
export can call the same function. Every figure is added up by a ``SELECT ... GROUP BY`` over rollup tables; none
row by row in Python.

Without a partner chosen, the totals, time series and breakdowns read the area tables (a day's rows per category
or reason and district), and the top lists find their candidates from the running totals per week and count them
exactly (familienkarte.statistics.coarse); with a partner, the day tables. ``fine=True`` makes any table read the
day tables only: the same answer, for tests and comparisons.

A distinct count (``cards`` of a bucket, ``families`` of a month) is never summed across buckets: families reached
come from ``StatsFamilies`` (per month), and the active cards of a district are those of one month (the latest of
the range), not a sum over months. Issued, activated and revoked cards are events of their month and do add up.

Which filters apply where: redemptions take all four (the district is the location's); verifications take the
district and the partner (a verification has no benefit, so no category); cards take the district (the family's);
families reached are programme-wide per month and take none. The page says so next to each table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Any, Final, NamedTuple
from urllib.parse import urlencode

from babel.core import Locale
from babel.numbers import NumberPattern, parse_pattern
from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    FromClause,
    Integer,
    Select,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.benefits.models import Benefit
from familienkarte.benefits.rules import localized
from familienkarte.city import City
from familienkarte.credentials.fk1 import Reason
from familienkarte.db import is_postgresql
from familienkarte.errors import N_, FieldError, InvalidInput
from familienkarte.partners.models import Partner
from familienkarte.partners.vocabulary import CATEGORIES
from familienkarte.redemptions.services import UNKNOWN_CARD
from familienkarte.statistics import coarse
from familienkarte.statistics.models import (
    NO_DISTRICT_KEY,
    PROGRAMME,
    StatsCards,
    StatsFamilies,
    StatsRedemptions,
    StatsVerifications,
)

# The default range: the last 30 days, today included.
DEFAULT_DAYS: Final = 30
# The longest range one page shows (two years and a leap day).
MAX_DAYS: Final = 731
# Up to this many days the redemptions over time are shown per day, beyond it per week (Monday to Sunday).
MAX_DAILY_DAYS: Final = 62
TOP_LIMIT: Final = 10
FRAUD_LIMIT: Final = 20
# The reasons that hint at fraud when many gather at one partner: copied or forged codes, revoked cards.
FRAUD_REASONS: Final = coarse.FRAUD_MEASURES
NO_DISTRICT: Final = N_("No district")
# Dates outside these are refused (the programme's figures lie well within; the range arithmetic stays in bounds).
FIRST_DAY: Final = dt.date(2000, 1, 1)
LAST_DAY: Final = dt.date(2099, 12, 31)
# A refused value is repeated in its message up to this many characters.
SHOWN_MAX: Final = 60
# A partner name that matches several partners is refused naming this many of them at most.
PARTNERS_NAMED: Final = 5
# The escape character of the LIKE patterns a typed partner name becomes.
LIKE_ESCAPE: Final = "/"

REASON_LABELS: Final[dict[str, str]] = {
    Reason.OK.value: N_("Valid"),
    Reason.MALFORMED.value: N_("Not a family card code"),
    Reason.UNKNOWN_KEY.value: N_("Unknown signing key"),
    Reason.BAD_SIGNATURE.value: N_("Forged or damaged code"),
    Reason.EXPIRED.value: N_("Card expired"),
    Reason.NOT_YET_VALID.value: N_("Card not valid yet"),
    Reason.PRESENTATION_MISSING.value: N_("Phone code without its changing code"),
    Reason.BAD_PROOF.value: N_("Phone code not genuine"),
    Reason.STALE.value: N_("Phone code too old (screenshot?)"),
    Reason.REVOKED.value: N_("Card revoked"),
    Reason.SUSPENDED.value: N_("Card suspended"),
    UNKNOWN_CARD: N_("No card with this number"),
}


# --- the filters ---


@dataclass(frozen=True)
class Filters:
    """What the reader asked for, checked; build it with :func:`read_filters`. ``end`` is included."""

    start: dt.date
    end: dt.date
    category: str | None = None
    district: str | None = None
    partner_id: uuid.UUID | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def weekly(self) -> bool:
        return self.days > MAX_DAILY_DAYS

    @property
    def first_month(self) -> dt.date:
        return self.start.replace(day=1)

    @property
    def last_month(self) -> dt.date:
        return self.end.replace(day=1)


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _shown(raw: str) -> str:
    """A refused value as the message repeats it: not longer than a line."""
    return raw if len(raw) <= SHOWN_MAX else raw[: SHOWN_MAX - 1] + "…"


def _date(params: Mapping[str, Any], name: str, message: str, outside: str, errors: list[FieldError]) -> dt.date | None:
    """A date written YYYY-MM-DD (what a date field sends), within ``FIRST_DAY`` and ``LAST_DAY``."""
    raw = _text(params, name)
    if raw is None:
        return None
    try:
        if len(raw) != len("2026-07-01"):
            raise ValueError(raw)
        day = dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(name, message, {"value": _shown(raw)}))
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        errors.append(FieldError(name, outside, {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()}))
        return None
    return day


def _contains_pattern(text: str) -> str:
    """A LIKE pattern for names containing ``text``, its ``%`` and ``_`` taken literally (escaped with
    ``LIKE_ESCAPE``)."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def partners_named(session: Session, text: str) -> list[tuple[uuid.UUID, str]]:
    """The partners a typed name means, as (id, name) by name: those whose whole name it is, else those whose name
    contains it, case aside; ``PARTNERS_NAMED + 1`` at most (enough to tell whether there are more to name).

    Both sides are lowered by the database, so that a name is always found as it is written, even where the
    database lowers ASCII letters only (SQLite).
    """
    name = func.lower(Partner.name)
    conditions = (
        name == func.lower(text),
        name.like(func.lower(_contains_pattern(text)), escape=LIKE_ESCAPE),
    )
    for condition in conditions:
        query = (
            select(Partner.id, Partner.name)
            .where(condition)
            .order_by(Partner.name, Partner.id)
            .limit(PARTNERS_NAMED + 1)
        )
        found = [(row[0], row[1]) for row in session.execute(query)]
        if found:
            return found
    return []


def _partner(session: Session, raw: str | None, errors: list[FieldError]) -> uuid.UUID | None:
    """The partner of the ``partner`` field: its id (what links and exports send) or its name, whole or a part of
    it that only this partner's name contains. A name several partners share, or a part in several names, is
    refused naming some of them."""
    if raw is None:
        return None
    try:
        partner_id = uuid.UUID(raw)
    except ValueError:
        found = partners_named(session, raw)
    else:
        exists = session.scalar(select(Partner.id).where(Partner.id == partner_id)) is not None
        found = [(partner_id, raw)] if exists else []
    if len(found) == 1:
        return found[0][0]
    if not found:
        errors.append(FieldError("partner", N_("There is no partner %(value)s."), {"value": _shown(raw)}))
        return None
    names = [_shown(name) for _id, name in found[:PARTNERS_NAMED]]
    if len(found) > PARTNERS_NAMED:
        names.append("…")
    errors.append(
        FieldError(
            "partner",
            N_(
                "Several partners match %(value)s (%(names)s). Please write the whole name or, if several partners "
                "have that name, the partner's id."
            ),
            {"value": _shown(raw), "names": ", ".join(names)},
        )
    )
    return None


def read_filters(session: Session, params: Mapping[str, Any], *, districts: Sequence[str], today: dt.date) -> Filters:
    """The filters from URL parameters; every bad value is refused with a message naming its field.

    Empty values mean "any" (the form sends every field). Without dates the range is the last ``DEFAULT_DAYS`` days
    up to ``today`` (the city's); with only one date the other follows from it.
    """
    errors: list[FieldError] = []
    start = _date(
        params,
        "from",
        N_("The start date (from) must be a date like 2026-07-01, not %(value)s."),
        N_("The start date (from) must lie between %(first)s and %(last)s."),
        errors,
    )
    end = _date(
        params,
        "to",
        N_("The end date (to) must be a date like 2026-07-31, not %(value)s."),
        N_("The end date (to) must lie between %(first)s and %(last)s."),
        errors,
    )
    if end is None and start is not None:
        end = min(start + dt.timedelta(days=DEFAULT_DAYS - 1), max(today, start))
    end = end or today
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if not errors:
        if start > end:
            errors.append(FieldError("to", N_("The end date (to) must not be before the start date (from).")))
        elif (end - start).days + 1 > MAX_DAYS:
            errors.append(
                FieldError(
                    "from", N_("The range from start to end date may be at most %(max)s days."), {"max": MAX_DAYS}
                )
            )
    category = _text(params, "category")
    if category is not None and category not in CATEGORIES:
        errors.append(FieldError("category", N_("There is no category %(value)s."), {"value": _shown(category)}))
    district = _text(params, "district")
    if district is not None and district not in districts:
        errors.append(FieldError("district", N_("There is no district %(value)s."), {"value": _shown(district)}))
    partner_id = _partner(session, _text(params, "partner"), errors)
    if errors:
        raise InvalidInput(errors)
    return Filters(start=start, end=end, category=category, district=district, partner_id=partner_id)


def _redemption_source(session: Session, filters: Filters, fine: bool, *, by_day: bool = False) -> FromClause:
    """Rows (day, category, district, redemptions, quantity) that add up to the range's figures: the day table's
    with a partner chosen (or ``fine``); else the area weeks rows for its whole weeks and the area rows for its other
    days, or, for figures ``by_day`` in a range shown by days (not ``Filters.weekly``), the area rows of every day.
    A week's row has its Monday as ``day``; a location without a district has None in the day table's rows and
    ``NO_DISTRICT_KEY`` in the area tables' rows."""
    if fine or filters.partner_id is not None:
        table = StatsRedemptions
        columns = (table.day, table.category, table.district, table.redemptions, table.quantity)
        return select(*columns).where(*redemption_filters(filters)).subquery("counted_rows")
    spec, weeks = coarse.REDEMPTIONS_AREA, filters.weekly or not by_day
    return coarse.area_rows(session, spec, filters.start, filters.end, filters.category, filters.district, weeks=weeks)


def _verification_source(session: Session, filters: Filters, fine: bool) -> FromClause:
    """Rows (day, reason, district, verifications), as ``_redemption_source``."""
    if fine or filters.partner_id is not None:
        table = StatsVerifications
        columns = (table.day, table.reason, table.district, table.verifications)
        return select(*columns).where(*verification_filters(filters)).subquery("counted_rows")
    # A verification has no benefit, so no category.
    return coarse.area_rows(session, coarse.VERIFICATIONS_AREA, filters.start, filters.end, None, filters.district)


def redemption_filters(filters: Filters) -> list[ColumnElement[bool]]:
    """The conditions of the filters on the day table of redemptions."""
    table = StatsRedemptions
    conditions = [table.day >= filters.start, table.day <= filters.end]
    if filters.category is not None:
        conditions.append(table.category == filters.category)
    if filters.district is not None:
        conditions.append(table.district == filters.district)
    if filters.partner_id is not None:
        conditions.append(table.partner_id == filters.partner_id)
    return conditions


def verification_filters(filters: Filters) -> list[ColumnElement[bool]]:
    """The conditions of the filters on the day table of verifications."""
    table = StatsVerifications
    conditions = [table.day >= filters.start, table.day <= filters.end]
    if filters.district is not None:
        conditions.append(table.district == filters.district)
    if filters.partner_id is not None:
        conditions.append(table.partner_id == filters.partner_id)
    return conditions


def _card_filters(filters: Filters) -> list[ColumnElement[bool]]:
    conditions = [StatsCards.month >= filters.first_month, StatsCards.month <= filters.last_month]
    if filters.district is not None:
        conditions.append(StatsCards.district == filters.district)
    return conditions


# --- the tables: one function each, plain rows ---


class Totals(NamedTuple):
    redemptions: int
    quantity: int
    verifications: int
    failed: int
    cards_active: int
    # The month ``cards_active`` belongs to: the latest of the range with card figures (None: none yet).
    cards_month: dt.date | None


class TimeRow(NamedTuple):
    # The day, or the Monday of the week (``Filters.weekly``).
    period: dt.date
    redemptions: int
    quantity: int


class CategoryRow(NamedTuple):
    category: str
    redemptions: int
    quantity: int


class DistrictRow(NamedTuple):
    district: str | None
    redemptions: int
    quantity: int


class BenefitRow(NamedTuple):
    benefit_id: uuid.UUID
    title: dict[str, str]
    partner_name: str
    redemptions: int
    quantity: int


class PartnerRow(NamedTuple):
    partner_id: uuid.UUID
    name: str
    redemptions: int
    quantity: int


class CardRow(NamedTuple):
    district: str
    issued: int
    activated: int
    revoked: int
    # Active in the latest month of the range with card figures.
    active: int


class FamilyRow(NamedTuple):
    period: str  # "2026-07", or PROGRAMME for the whole programme
    families: int


class ReasonRow(NamedTuple):
    reason: str
    verifications: int


class FraudRow(NamedTuple):
    partner_id: uuid.UUID
    name: str
    stale: int
    revoked: int
    bad_signature: int
    bad_proof: int
    # The four above together, all verifications of the partner in the range, and their share (0 to 1).
    flagged: int
    verifications: int
    share: float


def _latest_card_month(filters: Filters) -> Any:
    return (
        select(func.max(StatsCards.month))
        .where(StatsCards.month >= filters.first_month, StatsCards.month <= filters.last_month)
        .scalar_subquery()
    )


def totals(session: Session, filters: Filters, *, fine: bool = False) -> Totals:
    """The key figures but families reached (see :func:`families_by_month`).

    ``fine``: from the day tables only (as with a partner chosen), not from the area tables; the same figures."""
    redeemed_rows = _redemption_source(session, filters, fine)
    verified_rows = _verification_source(session, filters, fine)
    redeemed = select(
        func.coalesce(func.sum(redeemed_rows.c.redemptions), 0),
        func.coalesce(func.sum(redeemed_rows.c.quantity), 0),
    )
    verified = select(
        func.coalesce(func.sum(verified_rows.c.verifications), 0),
        func.coalesce(
            func.sum(case((verified_rows.c.reason != Reason.OK.value, verified_rows.c.verifications), else_=0)),
            0,
        ),
    )
    latest = _latest_card_month(filters)
    active_conditions = [StatsCards.month == latest]
    if filters.district is not None:
        active_conditions.append(StatsCards.district == filters.district)
    active = select(func.coalesce(func.sum(StatsCards.active), 0)).where(*active_conditions)
    redemptions, quantity = session.execute(redeemed).one()
    verifications, failed = session.execute(verified).one()
    cards_active, cards_month = session.execute(select(active.scalar_subquery(), latest)).one()
    return Totals(
        int(redemptions), int(quantity), int(verifications), int(failed), int(cards_active or 0), _as_date(cards_month)
    )


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _day(value: Any) -> dt.date:
    day = _as_date(value)
    assert day is not None
    return day


def _week_start(session: Session, day: Any) -> ColumnElement[Any]:
    """The Monday of ``day``'s week, as a date."""
    if is_postgresql(session):
        return cast(func.date_trunc("week", day), Date)
    return type_coerce(func.date(day, "-6 days", "weekday 1"), Date)


def redemptions_over_time(session: Session, filters: Filters, *, fine: bool = False) -> list[TimeRow]:
    """Redemptions and quantity per day, or per week (weeks begin on Monday) for ranges over ``MAX_DAILY_DAYS``;
    periods without redemptions have no row."""
    rows = _redemption_source(session, filters, fine, by_day=True)
    period = (_week_start(session, rows.c.day) if filters.weekly else rows.c.day).label("period")
    query = select(period, func.sum(rows.c.redemptions), func.sum(rows.c.quantity)).group_by(period).order_by(period)
    return [TimeRow(_day(row[0]), int(row[1]), int(row[2])) for row in session.execute(query)]


def redemptions_by_category(session: Session, filters: Filters, *, fine: bool = False) -> list[CategoryRow]:
    rows = _redemption_source(session, filters, fine)
    total = func.sum(rows.c.redemptions)
    query = (
        select(rows.c.category, total, func.sum(rows.c.quantity))
        .group_by(rows.c.category)
        .order_by(total.desc(), rows.c.category)
    )
    return [CategoryRow(row[0], int(row[1]), int(row[2])) for row in session.execute(query)]


def redemptions_by_district(session: Session, filters: Filters, *, fine: bool = False) -> list[DistrictRow]:
    """Per district of the partner's location (None: locations without one)."""
    rows = _redemption_source(session, filters, fine)
    total = func.sum(rows.c.redemptions)
    # The area tables key locations without a district as NO_DISTRICT_KEY, the day table as None.
    district = func.nullif(rows.c.district, NO_DISTRICT_KEY)
    query = (
        select(district, total, func.sum(rows.c.quantity))
        .group_by(rows.c.district)
        # Locations without a district after those with one, on both databases.
        .order_by(total.desc(), district.is_(None), district)
    )
    return [DistrictRow(row[0], int(row[1]), int(row[2])) for row in session.execute(query)]


def _redemption_rows(
    session: Session, filters: Filters, by: str, limit: int, fine: bool
) -> tuple[FromClause, dict[str, Any]]:
    """Rows (benefit_id, partner_id, redemptions, quantity) whose sums per ``by`` (benefit_id or partner_id) are
    the range's figures of at least every group that can be among the ``limit`` largest, and the values of their
    bound parameters.

    Without a partner chosen and with a whole week in the range: the whole weeks from the running totals and the
    edge days from the day table, for the candidates only (``coarse.redemption_rows``); else the day table's rows.
    """
    if not fine and filters.partner_id is None:
        found = coarse.redemption_rows(
            session, filters.start, filters.end, filters.category, filters.district, by, limit
        )
        if found is not None:
            return found
    table = StatsRedemptions
    rows = (
        select(table.benefit_id, table.partner_id, table.redemptions, table.quantity)
        .where(*redemption_filters(filters))
        .subquery("counted_rows")
    )
    return rows, {}


# The top lists' statements over their rows: built once for each statement of rows (``coarse`` builds those once
# per shape), with the list's length as the bound parameter ``:top_limit``.
TOPS_BUILT: Final = 64


def _top_limit() -> Any:
    return bindparam("top_limit", type_=Integer)


@lru_cache(maxsize=TOPS_BUILT)
def _top_benefits_query(rows: FromClause) -> Select[Any]:
    total = func.sum(rows.c.redemptions)
    counted = (
        select(
            rows.c.benefit_id.label("benefit_id"),
            total.label("redemptions"),
            func.sum(rows.c.quantity).label("quantity"),
        )
        .group_by(rows.c.benefit_id)
        .having(total > 0)
        .order_by(total.desc(), rows.c.benefit_id)
        .limit(_top_limit())
        .subquery()
    )
    return (
        select(counted.c.benefit_id, Benefit.title, Partner.name, counted.c.redemptions, counted.c.quantity)
        .join(Benefit, Benefit.id == counted.c.benefit_id)
        .join(Partner, Partner.id == Benefit.partner_id)
        .order_by(counted.c.redemptions.desc(), Partner.name, counted.c.benefit_id)
    )


def top_benefits(session: Session, filters: Filters, limit: int = TOP_LIMIT, *, fine: bool = False) -> list[BenefitRow]:
    rows, params = _redemption_rows(session, filters, "benefit_id", limit, fine)
    found = session.execute(_top_benefits_query(rows), {**params, "top_limit": limit})
    return [BenefitRow(row[0], row[1] or {}, row[2], int(row[3]), int(row[4])) for row in found]


@lru_cache(maxsize=TOPS_BUILT)
def _top_partners_query(rows: FromClause) -> Select[Any]:
    total = func.sum(rows.c.redemptions)
    # Added up first, the partners' names then looked up for those counted only.
    counted = (
        select(rows.c.partner_id, total.label("redemptions"), func.sum(rows.c.quantity).label("quantity"))
        .group_by(rows.c.partner_id)
        .having(total > 0)
        .subquery("counted")
    )
    name = _partner_name(counted.c.partner_id)
    return (
        select(counted.c.partner_id, name, counted.c.redemptions, counted.c.quantity)
        .where(name.is_not(None))
        .order_by(counted.c.redemptions.desc(), name, counted.c.partner_id)
        .limit(_top_limit())
    )


def top_partners(session: Session, filters: Filters, limit: int = TOP_LIMIT, *, fine: bool = False) -> list[PartnerRow]:
    rows, params = _redemption_rows(session, filters, "partner_id", limit, fine)
    found = session.execute(_top_partners_query(rows), {**params, "top_limit": limit})
    return [PartnerRow(row[0], row[1], int(row[2]), int(row[3])) for row in found]


def _partner_name(partner_id: Any) -> Any:
    """The partner's name, looked up by its key for each row counted (a join read every partner)."""
    return select(Partner.name).where(Partner.id == partner_id).scalar_subquery().label("partner_name")


def cards_by_district(session: Session, filters: Filters) -> list[CardRow]:
    """Cards issued, activated and revoked in the range's months, and active in its latest month with figures,
    per family district."""
    latest = _latest_card_month(filters)
    query = (
        select(
            StatsCards.district,
            func.sum(StatsCards.issued),
            func.sum(StatsCards.activated),
            func.sum(StatsCards.revoked),
            func.sum(case((StatsCards.month == latest, StatsCards.active), else_=0)),
        )
        .where(*_card_filters(filters))
        .group_by(StatsCards.district)
        .order_by(StatsCards.district)
    )
    return [CardRow(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in session.execute(query)]


def families_by_month(session: Session, filters: Filters) -> list[FamilyRow]:
    """Families reached (distinct cards with a redemption) in each month of the range, and programme-wide.

    Programme-wide figures only: the month's distinct count cannot be narrowed by category, district or partner.
    """
    first, last = filters.first_month.strftime("%Y-%m"), filters.last_month.strftime("%Y-%m")
    query = (
        select(StatsFamilies.period, StatsFamilies.families)
        .where((StatsFamilies.period.between(first, last)) | (StatsFamilies.period == PROGRAMME))
        .order_by(StatsFamilies.period)
    )
    return [FamilyRow(row[0], int(row[1])) for row in session.execute(query)]


def verifications_by_reason(session: Session, filters: Filters, *, fine: bool = False) -> list[ReasonRow]:
    rows = _verification_source(session, filters, fine)
    total = func.sum(rows.c.verifications)
    query = select(rows.c.reason, total).group_by(rows.c.reason).order_by(total.desc(), rows.c.reason)
    return [ReasonRow(row[0], int(row[1])) for row in session.execute(query)]


# The columns of the rows fraud_signals adds up, in the order of FRAUD_REASONS.
FRAUD_COLUMNS: Final = coarse.FRAUD_COLUMNS


def _fraud_rows(session: Session, filters: Filters, limit: int, fine: bool) -> tuple[FromClause, dict[str, Any]]:
    """Rows (partner_id, verifications, stale, revoked, bad_signature, bad_proof) whose sums per partner are the
    range's figures of at least every partner that can be among the ``limit`` with the most flagged ones, and the
    values of their bound parameters."""
    if not fine and filters.partner_id is None:
        found = coarse.fraud_rows(session, filters.start, filters.end, filters.district, limit)
        if found is not None:
            return found
    table = StatsVerifications
    rows = (
        select(
            table.partner_id,
            table.verifications,
            *(
                case((table.reason == reason, table.verifications), else_=0).label(name)
                for reason, name in zip(FRAUD_REASONS, FRAUD_COLUMNS, strict=True)
            ),
        )
        .where(*verification_filters(filters))
        .subquery("counted_rows")
    )
    return rows, {}


@lru_cache(maxsize=TOPS_BUILT)
def _fraud_query(rows: FromClause) -> Select[Any]:
    flagged = func.sum(sum((rows.c[name] for name in FRAUD_COLUMNS[1:]), rows.c[FRAUD_COLUMNS[0]]))
    # Added up first, the partners' names then looked up for those counted only.
    counted = (
        select(
            rows.c.partner_id,
            *(func.sum(rows.c[name]).label(name) for name in FRAUD_COLUMNS),
            flagged.label("flagged"),
            func.sum(rows.c.verifications).label("verifications"),
        )
        .group_by(rows.c.partner_id)
        .having(flagged > literal(0))
        .subquery("counted")
    )
    share = cast(counted.c.flagged, Float) / cast(counted.c.verifications, Float)
    partner_name = _partner_name(counted.c.partner_id)
    return (
        select(
            counted.c.partner_id,
            partner_name,
            *(counted.c[name] for name in FRAUD_COLUMNS),
            counted.c.flagged,
            counted.c.verifications,
            share,
        )
        .where(partner_name.is_not(None))
        .order_by(counted.c.flagged.desc(), share.desc(), partner_name, counted.c.partner_id)
        .limit(_top_limit())
    )


def fraud_signals(
    session: Session, filters: Filters, limit: int = FRAUD_LIMIT, *, fine: bool = False
) -> list[FraudRow]:
    """The partners with the most stale, revoked, forged or not genuine codes in the range, with their share of
    the partner's verifications; partners without any are left out."""
    rows, params = _fraud_rows(session, filters, limit, fine)
    return [
        FraudRow(
            row[0], row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]), int(row[7]), float(row[8])
        )
        for row in session.execute(_fraud_query(rows), {**params, "top_limit": limit})
    ]


# --- the page ---


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Choices:
    categories: list[Choice]
    districts: list[Choice]


def choices(districts: Sequence[str]) -> Choices:
    return Choices(
        categories=[Choice(code, i18n.gettext(label)) for code, label in CATEGORIES.items()],
        districts=[Choice(name, name) for name in districts],
    )


def number(value: int) -> str:
    """A whole number as the reader's locale writes it: 12.345 in German, 12,345 in English."""
    return i18n.format_number(value)


@cache
def _percent_writing(locale: str) -> tuple[Locale, NumberPattern]:
    language = Locale.parse(i18n.base_locale(locale))
    pattern = parse_pattern(language.percent_formats[None].pattern)
    pattern.frac_prec = (1, 1)
    return language, pattern


def percent(share: float) -> str:
    """A share (0 to 1) as the reader's locale writes a percentage, with one decimal: 57.1% in English, 57,1 % in
    German."""
    language, pattern = _percent_writing(i18n.current_locale())
    return str(pattern.apply(share, language))


# The geometry of a bar chart, in SVG user units (the chart scales to its box).
CHART_WIDTH: Final = 640
LABEL_WIDTH: Final = 250
VALUE_SPACE: Final = 80
ROW_HEIGHT: Final = 26
BAR_HEIGHT: Final = 18
MAX_LABEL: Final = 32


@dataclass(frozen=True)
class Bar:
    label: str
    # The label as drawn (long ones shortened; the table has them whole).
    short_label: str
    value: int
    text: str
    y: int
    width: int

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT - 4

    @property
    def value_x(self) -> int:
        return LABEL_WIDTH + self.width + 6


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    bars: list[Bar]
    width: int = CHART_WIDTH
    label_width: int = LABEL_WIDTH

    @property
    def height(self) -> int:
        return max(1, len(self.bars)) * ROW_HEIGHT + 4


def bar_chart(key: str, title: str, description: str, items: Sequence[tuple[str, int]]) -> Chart:
    """A horizontal bar chart of (label, value) pairs; bar lengths relative to the largest value."""
    top = max((value for _label, value in items), default=0)
    area = CHART_WIDTH - LABEL_WIDTH - VALUE_SPACE
    bars = [
        Bar(
            label=label,
            short_label=label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…",
            value=value,
            text=number(value),
            y=index * ROW_HEIGHT + 4,
            width=round(area * value / top) if top else 0,
        )
        for index, (label, value) in enumerate(items)
    ]
    return Chart(key, title, description, bars)


def category_label(code: str) -> str:
    return i18n.gettext(CATEGORIES[code]) if code in CATEGORIES else code


def district_label(district: str | None) -> str:
    return district if district is not None else i18n.gettext(NO_DISTRICT)


def reason_label(reason: str) -> str:
    return i18n.gettext(REASON_LABELS[reason]) if reason in REASON_LABELS else reason


def month_label(month: dt.date | str) -> str:
    """A month ("2026-07" or its first day) as "July 2026" in the reader's language."""
    day = month if isinstance(month, dt.date) else dt.date.fromisoformat(f"{month}-01")
    return i18n.format_date(day, "MMMM yyyy")


def benefit_title(title: Mapping[str, str]) -> str:
    return localized(title, i18n.current_locale()).text or i18n.gettext("(no title)")


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    totals: Totals
    over_time: list[TimeRow]
    by_category: list[CategoryRow]
    by_district: list[DistrictRow]
    top_benefits: list[BenefitRow]
    top_partners: list[PartnerRow]
    cards: list[CardRow]
    families: list[FamilyRow]
    reasons: list[ReasonRow]
    fraud: list[FraudRow]
    charts: dict[str, Chart]

    @property
    def failed_share(self) -> float | None:
        return self.totals.failed / self.totals.verifications if self.totals.verifications else None

    @property
    def families_months(self) -> list[FamilyRow]:
        return [row for row in self.families if row.period != PROGRAMME]

    @property
    def families_programme(self) -> int | None:
        return next((row.families for row in self.families if row.period == PROGRAMME), None)

    @property
    def families_latest(self) -> FamilyRow | None:
        months = self.families_months
        return months[-1] if months else None


def _periods(filters: Filters) -> list[dt.date]:
    """Every day (or week's Monday) of the range, so that the chart shows periods without redemptions as 0."""
    step = dt.timedelta(days=7 if filters.weekly else 1)
    first = filters.start - dt.timedelta(days=filters.start.weekday()) if filters.weekly else filters.start
    count = (filters.end - first).days // step.days + 1
    return [first + step * index for index in range(count)]


def _over_time_chart(filters: Filters, rows: list[TimeRow], total: int) -> Chart:
    found = {row.period: row.redemptions for row in rows}
    if filters.weekly:
        title = i18n.gettext("Redemptions per week")
        items = [
            (i18n.gettext("Week of %(day)s", day=i18n.format_date(period, "short")), found.get(period, 0))
            for period in _periods(filters)
        ]
    else:
        title = i18n.gettext("Redemptions per day")
        items = [(i18n.format_date(period, "medium"), found.get(period, 0)) for period in _periods(filters)]
    description = i18n.gettext(
        "%(total)s redemptions from %(start)s to %(end)s. The table below the chart has the figures.",
        total=number(total),
        start=i18n.format_date(filters.start, "medium"),
        end=i18n.format_date(filters.end, "medium"),
    )
    return bar_chart("over-time", title, description, items)


def _charts(filters: Filters, board: dict[str, Any]) -> dict[str, Chart]:
    table_below = i18n.gettext("One bar per row of the table below the chart, which has the figures.")
    return {
        "over_time": _over_time_chart(filters, board["over_time"], board["totals"].redemptions),
        "by_category": bar_chart(
            "by-category",
            i18n.gettext("Redemptions by category"),
            table_below,
            [(category_label(row.category), row.redemptions) for row in board["by_category"]],
        ),
        "by_district": bar_chart(
            "by-district",
            i18n.gettext("Redemptions by district of the partner's location"),
            table_below,
            [(district_label(row.district), row.redemptions) for row in board["by_district"]],
        ),
        "top_partners": bar_chart(
            "top-partners",
            i18n.gettext("Partners with the most redemptions"),
            table_below,
            [(row.name, row.redemptions) for row in board["top_partners"]],
        ),
        "cards": bar_chart(
            "cards",
            i18n.gettext("Active cards by district of the family"),
            table_below,
            [(row.district, row.active) for row in board["cards"]],
        ),
        "reasons": bar_chart(
            "reasons",
            i18n.gettext("Verifications by result"),
            table_below,
            [(reason_label(row.reason), row.verifications) for row in board["reasons"]],
        ),
    }


def dashboard(session: Session, filters: Filters) -> Dashboard:
    board: dict[str, Any] = {
        "totals": totals(session, filters),
        "over_time": redemptions_over_time(session, filters),
        "by_category": redemptions_by_category(session, filters),
        "by_district": redemptions_by_district(session, filters),
        "top_benefits": top_benefits(session, filters),
        "top_partners": top_partners(session, filters),
        "cards": cards_by_district(session, filters),
        "families": families_by_month(session, filters),
        "reasons": verifications_by_reason(session, filters),
        "fraud": fraud_signals(session, filters),
    }
    return Dashboard(filters=filters, charts=_charts(filters, board), **board)


FORM_FIELDS: Final = ("from", "to", "category", "district", "partner")
PAGE_PATH: Final = "/staff/statistics"


@dataclass(frozen=True)
class StatisticsView:
    """The page: the filter form (with the values given and any errors) and, when they were fine, the figures.

    ``form`` is what the fields show (the partner by name where the name finds it again); ``params`` the filters as
    URL parameters with the partner's id, for the downloads."""

    form: dict[str, str]
    errors: dict[str, str]
    choices: Choices
    dashboard: Dashboard | None
    params: dict[str, str]

    def partner_url(self, partner_id: uuid.UUID) -> str:
        """This page with the same filters for one partner (the partner tables link their names to it: the field
        takes a name, and two partners may share one)."""
        return f"{self._other_filters}&{urlencode({'partner': str(partner_id)})}"

    @cached_property
    def _other_filters(self) -> str:
        # Encoded once: a page links some forty partners.
        return f"{PAGE_PATH}?{urlencode({k: v for k, v in self.params.items() if k != 'partner'})}"


def filter_params(filters: Filters) -> dict[str, str]:
    """The filters as URL parameters, the partner by its id."""
    return {
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
        "category": filters.category or "",
        "district": filters.district or "",
        "partner": str(filters.partner_id) if filters.partner_id else "",
    }


def partner_field(session: Session, partner_id: uuid.UUID) -> str:
    """The partner as its field shows it: by name, unless the name would find another partner (or several) when
    sent again; then by id."""
    name = (session.scalar(select(Partner.name).where(Partner.id == partner_id)) or "").strip()
    if name and [found for found, _name in partners_named(session, name)] == [partner_id]:
        return name
    return str(partner_id)


def statistics_view(session: Session, city: City, params: Mapping[str, Any], *, today: dt.date) -> StatisticsView:
    """The dashboard for URL parameters; bad parameters are shown at their fields instead of figures."""
    options = choices(city.districts)
    try:
        filters = read_filters(session, params, districts=city.districts, today=today)
    except InvalidInput as exc:
        form = {name: str(params.get(name) or "") for name in FORM_FIELDS}
        messages = i18n.field_messages(exc.errors)
        return StatisticsView(form, messages, options, None, form)
    given = filter_params(filters)
    form = {**given, "partner": partner_field(session, filters.partner_id) if filters.partner_id else ""}
    return StatisticsView(form, {}, options, dashboard(session, filters), given)


__all__ = [
    "Filters",
    "StatisticsView",
    "cards_by_district",
    "dashboard",
    "families_by_month",
    "filter_params",
    "fraud_signals",
    "partner_field",
    "partners_named",
    "read_filters",
    "redemptions_by_category",
    "redemptions_by_district",
    "redemptions_over_time",
    "statistics_view",
    "top_benefits",
    "top_partners",
    "totals",
    "verifications_by_reason",
]
