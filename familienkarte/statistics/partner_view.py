"""The partner's statistics page: a month's redemptions of its own benefits, per benefit, location and week.

Privacy rule. Partners decide with these figures whether to stay in the programme, and families' privacy must hold:
no figure that describes fewer than the city's threshold of distinct cards (``City.suppression_threshold``) is
shown, and enough further figures are hidden that none can be worked out from the totals
(:mod:`familienkarte.statistics.suppression`). The rule needs the number of distinct cards of every shown figure.
The rollups cannot give it for a month (their ``cards`` are distinct within a day and hour; summed over a month they
overcount), so the lists are counted from the partner's raw redemptions of the month: per group the redemptions
(``COUNT(*)``), the quantity (``SUM(quantity)``) and the distinct cards (``COUNT(DISTINCT card_number)``), and the
same for the total, whose distinct cards are those of all the month's redemptions, not a sum. Voided redemptions do
not count. The distinct-card counts are the rule's input only; they are never shown.

Past months are counted once. The month's rebuild counts every partner's figures of a month once it is over
(``StatsPartnerMonths``, ``StatsPartnerMonthReasons``; :func:`familienkarte.statistics.rollups.partner_month_recount`)
with the same groups and distinct cards as below, and the page reads them (:func:`counted_month_counts`) while no day
of the month is marked for a rebuild: a late upload from an offline till or a void makes the page count the raw
facts again until the next ``rebuild_dirty`` (every minute) has counted the month anew. The current month, and a
past month not counted yet, are counted from the raw facts on every view. At 10 million redemptions the busiest
partner's month took 35 ms of the page from the raw facts.

How the raw facts are counted (:func:`month_counts`). On PostgreSQL the three lists and the total are one statement,
``GROUP BY GROUPING SETS ((benefit_id), (location_id), (week), ())`` (each set with the partner), ``GROUPING(...)``
telling the sets apart; SQLite has no grouping sets and runs one ``SELECT ... GROUP BY`` per list and one without for
the total, put together with ``UNION ALL``. These are the statements that count every partner's past months, for
one partner. Both give the same figures. One statement because the four read the same rows (the index
``ix_redemptions_partner_id_occurred_at`` covers them) and their time is per row: measured with 10 million
redemptions (PostgreSQL 15, ``work_mem`` 4 MB; the busiest partner's October 2026, 19,426 redemptions by 18,220
cards), the four took 21.6 ms on the server (about 6 ms per list, 4 for the total) and the one 18.1 ms; through
the session 27.4 against 20.9 ms, and all the page's queries 33.7 against 28.0 ms. The gain is modest because
PostgreSQL still sorts per set, by the set's key and the cards of each group for ``COUNT(DISTINCT)``: the sorts cost
more than reading the rows (1.5 ms). Slower, and so not used: first grouping by key and card in every set and
counting those rows (24 to 29 ms: 74,000 rows in between), first grouping by benefit, location, week and card
(27.7 ms: most cards come once a month, so hardly fewer rows), flagging a card's first row per group with window
functions (28.6 ms). A larger ``work_mem`` changes nothing: the sorts already fit in memory.

Each list shows redemptions and quantity side by side. Both describe the same cards, so their primary suppression
is the same; the rule is applied to the redemptions and the quantity of a row is hidden with them (a list is one
equation, protected when it hides no entry or at least two; the same pattern protects both columns, and a row is
never half shown). The total is the same figure under every list; it is hidden under all of them when the rule
hides it under one.

Scope. Only the signed-in owner's partner: its benefits, its locations, its redemptions. Nothing in the query
string chooses a partner, benefit or location. Cashiers do not see statistics (owners decide about the programme;
cashiers work the till). The month is a calendar month of the city (days in ``City.timezone``, ranges computed in
Python with :func:`familienkarte.statistics.rollups.month_range`), the current month up to now or one of the
``MAX_MONTHS_BACK`` months before. Weeks are the days 1-7, 8-14, 15-21, 22-28 and 29 to the end of the month, so
that every week lies inside its month (calendar weeks would cross into the neighbouring months and invite
differencing between two pages).

Verifications (card checks at the partner's tills) are shown per result without suppression: a verification event
records no card (``VerificationEvent`` has only partner, location, result and time), so there is no distinct-card
count to apply the rule to, and each of them was made by the partner's own staff or tills, who saw its result at
the counter. The counts tell the partner nothing about a family it did not see itself, and nothing about other
partners.

Limits. The current month to date grows every day: comparing today's page with yesterday's shows one day's
figures by difference (see the "Limits" of the suppression library); those are the partner's own redemptions,
which its tills recorded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.benefits.models import Benefit, BenefitStatus
from familienkarte.city import City
from familienkarte.db import is_postgresql
from familienkarte.errors import N_, FieldError, InvalidInput, NotFound, PermissionDenied
from familienkarte.events.models import StatsDirty
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import Redemption
from familienkarte.statistics.dashboard import benefit_title, month_label, reason_label
from familienkarte.statistics.models import StatsPartnerMonthBuild, StatsPartnerMonthReasons, StatsPartnerMonths
from familienkarte.statistics.rollups import (
    WEEK_FIRST_DAYS,
    card_counts,
    month_start,
    next_month,
    partner_month_reasons_recount,
    partner_month_recount,
)
from familienkarte.statistics.suppression import Figure, FigureList, Shown, Suppressed, suppress_list

# How many months before the current one can be chosen.
MAX_MONTHS_BACK: Final = 24
# A refused value is repeated in its message up to this many characters.
SHOWN_MAX: Final = 40
# Benefits listed even without redemptions in the month (with zeros): those families can use or could use.
LISTED_STATUSES: Final = (BenefitStatus.PUBLISHED.value, BenefitStatus.PAUSED.value)


# --- the month ---


def months_back(month: dt.date, count: int) -> dt.date:
    """The first day of the month ``count`` months before ``month``."""
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


def last_complete_month(today: dt.date) -> dt.date:
    return months_back(month_start(today), 1)


def read_month(params: Mapping[str, Any], today: dt.date, months_kept: int = MAX_MONTHS_BACK + 1) -> dt.date:
    """The month asked for (``?month=YYYY-MM``, its first day), or the last complete month without one.

    Refused with a message naming the field ``month``: anything not written YYYY-MM, a month after the current one,
    and a month more than ``MAX_MONTHS_BACK`` months before it, or whose raw facts the retention may already have
    deleted in part (``months_kept``: the city's ``retention_months``; the month that many months back is partly
    gone, so only the ones after it are offered).
    """
    raw = str(params.get("month") or "").strip()
    if not raw:
        return last_complete_month(today)
    try:
        if len(raw) != len("2026-07") or raw[4] != "-":
            raise ValueError(raw)
        month = dt.date(int(raw[:4]), int(raw[5:]), 1)
    except ValueError:
        shown = raw if len(raw) <= SHOWN_MAX else raw[: SHOWN_MAX - 1] + "…"
        raise InvalidInput(
            [FieldError("month", N_("The month must be written like 2026-07, not %(value)s."), {"value": shown})]
        ) from None
    current = month_start(today)
    first = months_back(current, min(MAX_MONTHS_BACK, months_kept - 1))
    if not first <= month <= current:
        raise InvalidInput(
            [
                FieldError(
                    "month",
                    N_("The month must lie between %(first)s and %(last)s."),
                    {"first": first.strftime("%Y-%m"), "last": current.strftime("%Y-%m")},
                )
            ]
        )
    return month


# --- the figures ---


@dataclass(frozen=True)
class Row:
    """One line of a list as shown: a label and two figures, each a number or the marker."""

    label: str
    redemptions: Shown
    quantity: Shown


@dataclass(frozen=True)
class Listing:
    """A list as shown: its rows and its total. ``hidden`` says whether anything was hidden (the note under it)."""

    key: str
    rows: list[Row]
    total: Row
    threshold: int

    @property
    def hidden(self) -> bool:
        shown = [self.total, *self.rows]
        return any(isinstance(value, Suppressed) for row in shown for value in (row.redemptions, row.quantity))


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    label: str
    count: int


@dataclass(frozen=True)
class PartnerStatistics:
    """The page's figures for one month of one partner."""

    partner_name: str
    month: dt.date
    # The last day with figures: the month's last day, or today in the current month.
    until: dt.date
    complete: bool
    by_benefit: Listing
    by_location: Listing
    by_week: Listing
    verifications: list[ReasonRow]
    threshold: int

    @property
    def verifications_total(self) -> int:
        return sum(row.count for row in self.verifications)


@dataclass(frozen=True)
class CardGroup:
    """A group of redemptions as counted: the rule's input."""

    redemptions: int
    quantity: int
    cards: int

    @property
    def figure(self) -> Figure:
        """The redemptions with their distinct cards: what the rule decides on (the quantity follows its row)."""
        return Figure(self.redemptions, self.cards)


NO_CARDS: Final = CardGroup(0, 0, 0)


def _counts(session: Session) -> tuple[Any, Any, Any]:
    return card_counts(session, Redemption.card_number, Redemption.quantity)


def grouped_counts(session: Session, key: Any, conditions: list[ColumnElement[bool]]) -> dict[Any, CardGroup]:
    """One ``SELECT key, COUNT(*), SUM(quantity), COUNT(DISTINCT card_number) ... GROUP BY key``."""
    rows = session.execute(select(key.label("key"), *_counts(session)).where(*conditions).group_by(key)).all()
    return {row[0]: CardGroup(int(row[1]), int(row[2]), int(row[3])) for row in rows}


def group_total(session: Session, conditions: list[ColumnElement[bool]]) -> CardGroup:
    row = session.execute(select(*_counts(session)).where(*conditions)).one()
    return CardGroup(int(row[0]), int(row[1]), int(row[2]))


@dataclass(frozen=True)
class MonthCounts:
    """The rule's input for a partner's month: its redemptions per benefit, location and week (1-5), and in total."""

    by_benefit: dict[uuid.UUID, CardGroup]
    by_location: dict[uuid.UUID, CardGroup]
    by_week: dict[int, CardGroup]
    total: CardGroup


def month_counts(session: Session, partner_id: uuid.UUID, month: dt.date, zone: ZoneInfo) -> MonthCounts:
    """The partner's recorded redemptions of ``month`` (the city's days) counted per list and in total.

    PostgreSQL counts the four in one statement (:func:`month_counts_in_one`); SQLite has no ``GROUPING SETS`` and
    runs one statement per list (:func:`month_counts_per_list`). Both give the same figures.
    """
    if is_postgresql(session):
        return month_counts_in_one(session, partner_id, month, zone)
    return month_counts_per_list(session, partner_id, month, zone)


def month_counts_per_list(session: Session, partner_id: uuid.UUID, month: dt.date, zone: ZoneInfo) -> MonthCounts:
    """One ``GROUP BY`` per list and one without for the total, put together with ``UNION ALL`` (any database)."""
    return _month_counts_of(session, partner_month_recount(session, zone, month, partner_id, grouping_sets=False))


def month_counts_in_one(session: Session, partner_id: uuid.UUID, month: dt.date, zone: ZoneInfo) -> MonthCounts:
    """One ``GROUP BY GROUPING SETS`` over the month's rows (PostgreSQL): each set is counted as its own ``GROUP BY``
    would be, the distinct cards of a group too, so the figures are those of :func:`month_counts_per_list`, from one
    scan. The statement is the one that counts every partner's past months
    (:func:`familienkarte.statistics.rollups.partner_month_recount`), for this partner only."""
    return _month_counts_of(session, partner_month_recount(session, zone, month, partner_id, grouping_sets=True))


def counted_month(session: Session, month: dt.date) -> bool:
    """Whether the partners' figures of ``month`` were counted after it ended (``StatsPartnerMonths``) and none of
    its facts is known to have changed since (no day or month of it marked for a rebuild)."""
    if session.get(StatsPartnerMonthBuild, month) is None:
        return False
    key = month.strftime("%Y-%m")
    marked = select(StatsDirty.period).where(StatsDirty.period >= key, StatsDirty.period <= f"{key}-99").limit(1)
    return session.scalar(marked) is None


def counted_month_counts(session: Session, partner_id: uuid.UUID, month: dt.date) -> MonthCounts:
    """The partner's figures of a counted month (:func:`counted_month`), as :func:`month_counts` counts them."""
    table = StatsPartnerMonths
    return _month_counts_of(session, select(table).where(table.month == month, table.partner_id == partner_id))


def _month_counts_of(session: Session, rows: Any) -> MonthCounts:
    """The lists and the total from rows of ``StatsPartnerMonths``' shape, stored or counted."""
    found = rows.subquery("partner_month")
    by_benefit: dict[uuid.UUID, CardGroup] = {}
    by_location: dict[uuid.UUID, CardGroup] = {}
    by_week: dict[int, CardGroup] = {}
    total = NO_CARDS
    for grouping, item, redemptions, quantity, cards in session.execute(
        select(found.c.grouping, found.c.item, found.c.redemptions, found.c.quantity, found.c.cards)
    ):
        group = CardGroup(int(redemptions), int(quantity), int(cards))
        if grouping == "benefit":
            by_benefit[uuid.UUID(item)] = group
        elif grouping == "location":
            by_location[uuid.UUID(item)] = group
        elif grouping == "week":
            by_week[int(item)] = group
        else:
            total = group
    return MonthCounts(by_benefit, by_location, by_week, total)


def _reasons(session: Session, partner_id: uuid.UUID, month: dt.date, zone: ZoneInfo, counted: bool) -> list[Any]:
    """The partner's verifications of the month per reason, most first: counted, or from the raw events."""
    table = StatsPartnerMonthReasons
    rows = (
        select(table).where(table.month == month, table.partner_id == partner_id)
        if counted
        else partner_month_reasons_recount(zone, month, partner_id)
    ).subquery("reasons")
    return list(
        session.execute(
            select(rows.c.reason, rows.c.verifications).order_by(rows.c.verifications.desc(), rows.c.reason)
        ).all()
    )


def hidden_rows(groups: Sequence[CardGroup], total: CardGroup, threshold: int) -> tuple[set[int], bool]:
    """The rows to hide (indexes) and whether to hide the total, decided on the redemptions of each row."""
    decided = suppress_list(FigureList([group.figure for group in groups], total.figure), threshold)
    hidden = {index for index, shown in enumerate(decided.items) if isinstance(shown, Suppressed)}
    return hidden, isinstance(decided.total, Suppressed)


def marker(threshold: int) -> str:
    """The text shown for a hidden figure, e.g. "< 5", in the reader's language (plain text: the page escapes it)."""
    return i18n.gettext("< %(n)s", n=threshold)


def _row(label: str, group: CardGroup, hidden: bool, threshold: int) -> Row:
    if hidden:
        return Row(label, Suppressed(threshold), Suppressed(threshold))
    return Row(label, group.redemptions, group.quantity)


def _listings(
    parts: Sequence[tuple[str, Sequence[tuple[str, CardGroup]]]], total: CardGroup, threshold: int
) -> list[Listing]:
    """The lists with the rule applied; the total (the same figure under each) hidden under all if under one."""
    decided = [(key, labelled, *hidden_rows([g for _l, g in labelled], total, threshold)) for key, labelled in parts]
    total_hidden = any(hide_total for _key, _labelled, _rows, hide_total in decided)
    label = i18n.gettext("Total")
    return [
        Listing(
            key,
            [_row(name, group, index in rows, threshold) for index, (name, group) in enumerate(labelled)],
            _row(label, total, total_hidden, threshold),
            threshold,
        )
        for key, labelled, rows, _hide in decided
    ]


def _owner_partner(session: Session, principal: Principal) -> Partner:
    """The signed-in owner's partner; anyone else is refused."""
    if principal.is_api_key or principal.role != Role.PARTNER_OWNER or principal.partner_id is None:
        raise PermissionDenied(N_("Only the owner of the partner account can see its statistics."))
    partner = session.get(Partner, principal.partner_id)
    if partner is None:
        raise NotFound()
    return partner


def week_label(week: int, month: dt.date) -> str:
    first = month.replace(day=WEEK_FIRST_DAYS[week - 1])
    last = (
        month.replace(day=WEEK_FIRST_DAYS[week] - 1)
        if week < len(WEEK_FIRST_DAYS)
        else next_month(month) - dt.timedelta(days=1)
    )
    return i18n.gettext(
        "%(first)s to %(last)s", first=i18n.format_date(first, "d MMM"), last=i18n.format_date(last, "d MMM")
    )


def partner_statistics(
    session: Session, principal: Principal, city: City, month: dt.date, *, today: dt.date
) -> PartnerStatistics:
    """The owner's figures for ``month`` (its first day, checked by :func:`read_month`), with the rule applied."""
    partner = _owner_partner(session, principal)
    zone = city.timezone
    threshold = city.suppression_threshold

    counted = counted_month(session, month)
    counts = (
        counted_month_counts(session, partner.id, month) if counted else month_counts(session, partner.id, month, zone)
    )
    by_benefit, by_location, by_week = counts.by_benefit, counts.by_location, counts.by_week

    benefits = session.execute(
        select(Benefit.id, Benefit.title)
        .where(
            Benefit.partner_id == partner.id,
            Benefit.status.in_(LISTED_STATUSES) | Benefit.id.in_(list(by_benefit)),
        )
        .order_by(Benefit.created_at, Benefit.id)
    ).all()
    locations = session.execute(
        select(Location.id, Location.name)
        .where(Location.partner_id == partner.id, Location.is_active.is_(True) | Location.id.in_(list(by_location)))
        .order_by(Location.name, Location.id)
    ).all()
    benefit_rows = [(benefit_title(row.title), by_benefit.get(row.id, NO_CARDS)) for row in benefits]
    location_rows = [(row.name, by_location.get(row.id, NO_CARDS)) for row in locations]
    weeks = len(WEEK_FIRST_DAYS) if _days(month) >= WEEK_FIRST_DAYS[-1] else len(WEEK_FIRST_DAYS) - 1
    week_rows = [(week_label(week, month), by_week.get(week, NO_CARDS)) for week in range(1, weeks + 1)]
    listings = _listings(
        [("by-benefit", benefit_rows), ("by-location", location_rows), ("by-week", week_rows)], counts.total, threshold
    )

    reasons = _reasons(session, partner.id, month, zone, counted)
    current = month == month_start(today)
    return PartnerStatistics(
        partner_name=partner.name,
        month=month,
        until=today if current else next_month(month) - dt.timedelta(days=1),
        complete=not current,
        by_benefit=listings[0],
        by_location=listings[1],
        by_week=listings[2],
        verifications=[ReasonRow(row[0], reason_label(row[0]), int(row[1])) for row in reasons],
        threshold=threshold,
    )


def _days(month: dt.date) -> int:
    return (next_month(month) - month).days


@dataclass(frozen=True)
class MonthChoice:
    value: str
    label: str


@dataclass(frozen=True)
class StatisticsPage:
    """The page: the month form (the value given, any error) and, when the month was fine, the figures."""

    form: dict[str, str]
    errors: dict[str, str]
    # The two months offered as links: the last complete month and the current month to date.
    choices: list[MonthChoice]
    statistics: PartnerStatistics | None


def statistics_page(
    session: Session, principal: Principal, city: City, params: Mapping[str, Any], *, today: dt.date
) -> StatisticsPage:
    """The page for URL parameters; a bad month is shown at its field instead of figures."""
    _owner_partner(session, principal)
    current = month_start(today)
    previous = last_complete_month(today)
    choices = [
        MonthChoice(previous.strftime("%Y-%m"), month_label(previous)),
        MonthChoice(current.strftime("%Y-%m"), i18n.gettext("%(month)s up to today", month=month_label(current))),
    ]
    try:
        month = read_month(params, today, city.retention_months)
    except InvalidInput as exc:
        messages = i18n.field_messages(exc.errors)
        return StatisticsPage({"month": str(params.get("month") or "")}, messages, choices, None)
    figures = partner_statistics(session, principal, city, month, today=today)
    return StatisticsPage({"month": month.strftime("%Y-%m")}, {}, choices, figures)


__all__ = [
    "MAX_MONTHS_BACK",
    "Listing",
    "PartnerStatistics",
    "Row",
    "StatisticsPage",
    "last_complete_month",
    "partner_statistics",
    "read_month",
    "statistics_page",
]
