"""Exports of the staff statistics dashboard: every table as CSV or XLSX, with the dashboard's filters, the privacy
rule applied.

Privacy rule (the same as for partners, :mod:`familienkarte.statistics.suppression`). An export leaves the staff
area: it is mailed, printed, published. So no figure in it describes fewer than the city's threshold of distinct
cards (``City.suppression_threshold``), and complementary suppression hides enough further figures that no hidden
figure can be worked out from the totals or the other cells. Hidden figures read "< 5" (the threshold).

Where the distinct-card counts come from, per table:

- Redemptions (over time, by category, by district, by benefit, by partner): from the raw redemptions, never from
  the rollups (whose ``cards`` are distinct within a day and hour only; summed over a range they overcount). One
  ``SELECT key, COUNT(*), SUM(quantity), COUNT(DISTINCT card_number) ... GROUP BY key`` per table, as the partner
  page counts (:mod:`familienkarte.statistics.partner_view`, whose counting is reused), plus the same without
  ``GROUP BY`` for the total. The quantity of a row is hidden with its redemptions (both describe the same cards).
- Benefits and partners are one hierarchy: a partner's figure is the sum of its benefits' figures. Both exports are
  cut from one decision over the whole hierarchy (each partner an equation of its benefits, the partners an
  equation of the total), so a partner's figure shown in one export cannot uncover a benefit hidden in the other.
- The total of the redemptions is the same figure under all five: it is hidden exactly when it describes fewer
  cards than the threshold. (Complementary suppression never picks it while another non-zero figure can protect a
  small one, and when none can, every redemption lies in one small figure, which is the total itself.)
- Cards by district: issued, activated and revoked are events that happen to a card once, each in one month, so
  the months' rollup figures of a district count distinct cards and do add up; active cards are those of one
  month. Each column is a list with its total, suppressed on its own.
- Families reached: one distinct count per month and one for the programme, none the sum of others; each is hidden
  when it is below the threshold.
- Verifications by result and fraud signals are not suppressed. A verification is not a card count: the event
  records no card (``VerificationEvent`` has partner, location, result and time only), so it describes no family;
  the counts say how often tills checked codes and with what result, the figures the city needs to see fraud.

The limits of the suppression library apply: in particular, exports of overlapping periods or of different
breakdowns (a category's total against its benefits) can be compared with each other; exact figures stay in the
staff dashboard.

Small exports (up to ``SYNC_MAX_ROWS`` rows) are made in the request; larger ones by a worker (``stats.export``)
as an :class:`ExportJob` that the person who asked (or an administrator) downloads until it expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, CursorResult, case, delete, distinct, func, literal, select, update
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.audit import services as audit
from familienkarte.benefits.models import Benefit
from familienkarte.city import City
from familienkarte.db import utcnow
from familienkarte.errors import N_, FieldError, InvalidInput, NotFound
from familienkarte.outbox_wake import wake_after_commit
from familienkarte.partners.models import Location, Partner
from familienkarte.partners.vocabulary import CATEGORIES
from familienkarte.redemptions.models import Redemption, RedemptionStatus
from familienkarte.statistics import dashboard
from familienkarte.statistics.dashboard import Filters, filter_params
from familienkarte.statistics.export_models import ExportFormat, ExportJob, ExportStatus
from familienkarte.statistics.export_render import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    Cell,
    Hidden,
    Share,
    Sheet,
    render_csv,
    render_xlsx,
)
from familienkarte.statistics.models import PROGRAMME, StatsRedemptions, StatsVerifications
from familienkarte.statistics.partner_view import NO_CARDS, CardGroup, group_total, grouped_counts, hidden_rows, marker
from familienkarte.statistics.rollups import local_midnight
from familienkarte.statistics.suppression import Figure, is_small

log = logging.getLogger("familienkarte.exports")

# Up to this many rows an export is made while the person waits (a few hundred milliseconds); larger ones (all
# benefits or partners of a busy range) by a worker with a progress bar.
SYNC_MAX_ROWS: Final = 2000
# How long a worker's export can be downloaded; the beat task removes it afterwards.
EXPORT_TTL: Final = dt.timedelta(days=7)
# A job still queued this long after it was asked for lost its wake-up: the sweep queues it again.
SWEEP_AFTER: Final = dt.timedelta(minutes=2)
SWEEP_BATCH: Final = 100
# A job running this long lost its worker for good (the task's time limit is 5 minutes; a worker killed by SIGKILL
# gets its message back and claims the job again long before): it is given up, so its owner can ask again.
STALLED_AFTER: Final = dt.timedelta(minutes=15)
# The wake-up topic of queued export jobs (familienkarte.outbox_wake); the ids are export job ids.
EXPORT_TOPIC: Final = "statistics.exports"
# No export has more rows than this (fraud signals list every partner with any, not only the dashboard's top 20).
MAX_ROWS: Final = 1_000_000
# A refused value is repeated in its message up to this many characters.
SHOWN_MAX: Final = 40

TABLES: Final[dict[str, str]] = {
    "over_time": N_("Redemptions over time"),
    "by_category": N_("Redemptions by category"),
    "by_district": N_("Redemptions by district of the partner's location"),
    "benefits": N_("Redemptions by benefit"),
    "partners": N_("Redemptions by partner"),
    "cards": N_("Cards by district of the family"),
    "families": N_("Families reached per month"),
    "reasons": N_("Verifications by result"),
    "fraud": N_("Fraud signals by partner"),
}
# Which of the dashboard's filters a table takes (as on the page).
SCOPES: Final[dict[str, str]] = {
    "over_time": N_("Filtered by date, category, district of the location and partner."),
    "by_category": N_("Filtered by date, category, district of the location and partner."),
    "by_district": N_("Filtered by date, category, district of the location and partner."),
    "benefits": N_("Filtered by date, category, district of the location and partner."),
    "partners": N_("Filtered by date, category, district of the location and partner."),
    "cards": N_(
        "Filtered by the months of the range and the district of the family; category and partner do not apply. "
        "Active: in the latest month of the range with card figures."
    ),
    "families": N_("For the whole programme in the months of the range; the other filters do not apply."),
    "reasons": N_("Filtered by date, district of the location and partner; the category does not apply."),
    "fraud": N_("Filtered by date, district of the location and partner; the category does not apply."),
}
SUPPRESSED_NOTE: Final = N_(
    "Figures describing fewer than %(n)s families are hidden and shown as “< %(n)s”, and so are as many others "
    "as needed so that no hidden figure can be worked out from the totals."
)
NOT_SUPPRESSED_NOTE: Final = N_(
    "Verifications record no card, so they describe no family: these counts are shown in full."
)
FORMAT_LABELS: Final[dict[str, str]] = {ExportFormat.CSV.value: "CSV", ExportFormat.XLSX.value: "Excel (XLSX)"}


class ExportJobNotFound(NotFound):
    code = "export_not_found"
    message = N_("There is no such export, or it has expired, or it belongs to someone else.")


# --- the request: table, format and filters ---


@dataclass(frozen=True)
class ExportRequest:
    table: str
    format: str
    filters: Filters

    @property
    def params(self) -> dict[str, str]:
        """The filters as URL parameters (what a job stores and the worker reads again)."""
        return filter_params(self.filters)


def _shown(raw: str) -> str:
    return raw if len(raw) <= SHOWN_MAX else raw[: SHOWN_MAX - 1] + "…"


def read_export(session: Session, city: City, params: Mapping[str, Any], *, today: dt.date) -> ExportRequest:
    """The table, format and filters asked for; every bad value is refused with a message naming its field."""
    errors: list[FieldError] = []
    table = str(params.get("table") or "").strip()
    if table not in TABLES:
        errors.append(FieldError("table", N_("There is no table %(value)s to export."), {"value": _shown(table)}))
    format_ = str(params.get("format") or "").strip()
    if format_ not in FORMAT_LABELS:
        errors.append(
            FieldError("format", N_("The format must be csv or xlsx, not %(value)s."), {"value": _shown(format_)})
        )
    filters = None
    try:
        filters = dashboard.read_filters(session, params, districts=city.districts, today=today)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors or filters is None:
        raise InvalidInput(errors)
    return ExportRequest(table, format_, filters)


# --- counting ---


def _redemption_conditions(city: City, filters: Filters) -> list[ColumnElement[bool]]:
    """The recorded redemptions of the filters: the range's local days, and category, district and partner."""
    zone = city.timezone
    conditions = [
        Redemption.status == RedemptionStatus.RECORDED.value,
        Redemption.occurred_at >= local_midnight(filters.start, zone),
        Redemption.occurred_at < local_midnight(filters.end + dt.timedelta(days=1), zone),
    ]
    if filters.partner_id is not None:
        conditions.append(Redemption.partner_id == filters.partner_id)
    if filters.category is not None:
        conditions.append(Redemption.benefit_id.in_(select(Benefit.id).where(Benefit.category == filters.category)))
    if filters.district is not None:
        conditions.append(Redemption.location_id.in_(select(Location.id).where(Location.district == filters.district)))
    return conditions


def periods(filters: Filters) -> list[dt.date]:
    """Every day of the range, or every week's Monday (``Filters.weekly``), as the dashboard's chart."""
    step = dt.timedelta(days=7 if filters.weekly else 1)
    first = filters.start - dt.timedelta(days=filters.start.weekday()) if filters.weekly else filters.start
    count = (filters.end - first).days // step.days + 1
    return [first + step * index for index in range(count)]


def _period_key(city: City, starts: Sequence[dt.date]) -> Any:
    """The index of the period a redemption falls in, by the instants the periods begin in the city."""
    bounds = [local_midnight(day, city.timezone) for day in starts[1:]]
    whens = [(Redemption.occurred_at < bound, literal(index)) for index, bound in enumerate(bounds)]
    return case(*whens, else_=literal(len(starts) - 1)) if whens else literal(0)


@dataclass(frozen=True)
class Counted:
    """A redemptions table as counted from the raw facts: labelled groups and the total."""

    rows: list[tuple[str, CardGroup]]
    total: CardGroup


@dataclass(frozen=True)
class PartnerCounted:
    name: str
    group: CardGroup
    benefits: list[tuple[str, CardGroup]]


@dataclass(frozen=True)
class HierarchyCounted:
    partners: list[PartnerCounted]
    total: CardGroup


def count_over_time(session: Session, city: City, filters: Filters) -> Counted:
    conditions = _redemption_conditions(city, filters)
    starts = periods(filters)
    found = grouped_counts(session, _period_key(city, starts), conditions)
    rows = [(day.isoformat(), found.get(index, NO_CARDS)) for index, day in enumerate(starts)]
    return Counted(rows, group_total(session, conditions))


def count_by_category(session: Session, city: City, filters: Filters) -> Counted:
    conditions = [*_redemption_conditions(city, filters), Benefit.id == Redemption.benefit_id]
    found = grouped_counts(session, Benefit.category, conditions)
    rows = [(dashboard.category_label(code), group) for code, group in found.items()]
    return Counted(rows, group_total(session, _redemption_conditions(city, filters)))


def count_by_district(session: Session, city: City, filters: Filters) -> Counted:
    conditions = [*_redemption_conditions(city, filters), Location.id == Redemption.location_id]
    found = grouped_counts(session, Location.district, conditions)
    rows = [(dashboard.district_label(district), group) for district, group in found.items()]
    return Counted(rows, group_total(session, _redemption_conditions(city, filters)))


def count_hierarchy(session: Session, city: City, filters: Filters) -> HierarchyCounted:
    """Per partner and per benefit, each with its own distinct cards, and the total."""
    conditions = _redemption_conditions(city, filters)
    by_partner = grouped_counts(session, Redemption.partner_id, conditions)
    by_benefit = grouped_counts(session, Redemption.benefit_id, conditions)
    names = dict(session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(list(by_partner)))).all())
    benefits: dict[uuid.UUID, list[tuple[str, CardGroup]]] = {}
    for row in session.execute(
        select(Benefit.id, Benefit.partner_id, Benefit.title).where(Benefit.id.in_(list(by_benefit)))
    ):
        benefits.setdefault(row.partner_id, []).append((dashboard.benefit_title(row.title or {}), by_benefit[row.id]))
    partners = [
        PartnerCounted(names.get(partner_id, ""), group, benefits.get(partner_id, []))
        for partner_id, group in by_partner.items()
    ]
    return HierarchyCounted(partners, group_total(session, conditions))


# --- suppression ---


def _row(label: Sequence[str], group: CardGroup, hidden: bool, mark: Hidden) -> list[Cell]:
    if hidden:
        return [*label, mark, mark]
    return [*label, group.redemptions, group.quantity]


def _ordered(rows: list[tuple[list[Cell], bool, int, str]]) -> list[list[Cell]]:
    """Shown rows by redemptions (most first), then the hidden ones by label: the order says nothing about a hidden
    figure (placed among the shown ones, it would be bounded by its neighbours)."""
    shown = sorted((r for r in rows if not r[1]), key=lambda r: (-r[2], r[3]))
    hidden = sorted((r for r in rows if r[1]), key=lambda r: r[3])
    return [r[0] for r in [*shown, *hidden]]


def _total_hidden(total: CardGroup, threshold: int) -> bool:
    return is_small(total.figure, threshold)


def suppress_counted(counted: Counted, threshold: int, *, keep_order: bool) -> tuple[list[list[Cell]], list[Cell]]:
    """The rows and the total row of a redemptions list with the rule applied."""
    mark = Hidden(marker(threshold))
    hidden, total_hidden = hidden_rows([group for _label, group in counted.rows], counted.total, threshold)
    total_hidden = total_hidden or _total_hidden(counted.total, threshold)
    rows = [
        (_row([label], group, index in hidden, mark), index in hidden, group.redemptions, label)
        for index, (label, group) in enumerate(counted.rows)
    ]
    body = [r[0] for r in rows] if keep_order else _ordered(rows)
    return body, _row([i18n.gettext("Total")], counted.total, total_hidden, mark)


@dataclass(frozen=True)
class HierarchyShown:
    """Which figures of the hierarchy are hidden: partners by index, benefits by (partner, benefit) index."""

    partners: set[int]
    benefits: set[tuple[int, int]]
    total: bool


def suppress_hierarchy(counted: HierarchyCounted, threshold: int) -> HierarchyShown:
    """One decision over partners and their benefits.

    The equations: each partner's benefits add up to the partner's figure (one equation per partner), the partners
    to the total (the top equation). As in :mod:`~familienkarte.statistics.suppression`, a hidden figure can be
    computed exactly iff it lies on no cycle of hidden figures, where each figure joins the two equations it
    appears in (a benefit and the total appear in one only and join it to "outside"). Solving the whole graph at
    once costs a search over all figures per complement (minutes for thousands of partners), so the decision is
    made in two steps that give a pattern with the same guarantee:

    1. Each partner's list of benefits is suppressed with the partner's figure as its total. A small partner figure
       is hidden; all its non-zero benefits are then small too (none describes more cards than the partner) and
       hidden with it.
    2. In the top equation, a single hidden partner would follow from the total and the other partners, so one more
       partner is hidden: the one cheapest to hide, together with its smallest non-zero benefit unless some of its
       benefits are hidden already. The cycle partner - benefit - outside - benefit - other partner - top closes.
       The total is hidden only when it is small itself (then so is every partner, and everything is hidden).
    """
    benefits: set[tuple[int, int]] = set()
    partners: set[int] = set()
    for p, partner in enumerate(counted.partners):
        hidden, partner_hidden = hidden_rows([group for _title, group in partner.benefits], partner.group, threshold)
        benefits.update((p, b) for b in hidden)
        if partner_hidden or is_small(partner.group.figure, threshold):
            partners.add(p)
    total = _total_hidden(counted.total, threshold)
    if len(partners) == 1 and not total:
        complement = _complement_partner(counted, partners, benefits)
        if complement is None:
            total = True
        else:
            q, extra = complement
            partners.add(q)
            if extra is not None:
                benefits.add((q, extra))
    return HierarchyShown(partners=partners, benefits=benefits, total=total)


def _complement_partner(
    counted: HierarchyCounted, partners: set[int], benefits: set[tuple[int, int]]
) -> tuple[int, int | None] | None:
    """The partner (and the benefit of it, if one more must be hidden) cheapest to hide next to a hidden partner."""
    best: tuple[int, int, int | None] | None = None  # (cost, partner, benefit)
    for q, partner in enumerate(counted.partners):
        if q in partners or partner.group.redemptions == 0:
            continue
        extra: int | None = None
        cost = partner.group.redemptions
        if not any((q, b) in benefits for b in range(len(partner.benefits))):
            candidates = [(group.redemptions, b) for b, (_t, group) in enumerate(partner.benefits) if group.redemptions]
            if not candidates:
                continue
            value, extra = min(candidates)
            cost += value
        if best is None or cost < best[0]:
            best = (cost, q, extra)
    return None if best is None else (best[1], best[2])


# --- the tables ---


@dataclass(frozen=True)
class ExportTable:
    key: str
    header: list[str]
    rows: list[list[Cell]]
    suppressed: bool


def _redemption_header(first: str) -> list[str]:
    return [first, i18n.gettext("Redemptions"), i18n.gettext("Quantity")]


def _benefits_table(counted: HierarchyCounted, threshold: int) -> ExportTable:
    shown = suppress_hierarchy(counted, threshold)
    mark = Hidden(marker(threshold))
    all_benefits = i18n.gettext("All benefits of the partner")
    blocks: list[tuple[list[list[Cell]], bool, int, str]] = []
    for p, partner in enumerate(counted.partners):
        head = _row([partner.name, all_benefits], partner.group, p in shown.partners, mark)
        rows = [
            (
                _row([partner.name, title], group, (p, b) in shown.benefits, mark),
                (p, b) in shown.benefits,
                group.redemptions,
                title,
            )
            for b, (title, group) in enumerate(partner.benefits)
        ]
        blocks.append(([head, *_ordered(rows)], p in shown.partners, partner.group.redemptions, partner.name))
    body = [row for block in _ordered_blocks(blocks) for row in block]
    header = [i18n.gettext("Partner"), i18n.gettext("Benefit"), i18n.gettext("Redemptions"), i18n.gettext("Quantity")]
    total = _row([i18n.gettext("Total"), ""], counted.total, shown.total, mark)
    return ExportTable("benefits", header, [*body, total], True)


def _ordered_blocks(blocks: list[tuple[list[list[Cell]], bool, int, str]]) -> list[list[list[Cell]]]:
    shown = sorted((b for b in blocks if not b[1]), key=lambda b: (-b[2], b[3]))
    hidden = sorted((b for b in blocks if b[1]), key=lambda b: b[3])
    return [b[0] for b in [*shown, *hidden]]


def _partners_table(counted: HierarchyCounted, threshold: int) -> ExportTable:
    shown = suppress_hierarchy(counted, threshold)
    mark = Hidden(marker(threshold))
    rows = [
        (_row([partner.name], partner.group, p in shown.partners, mark), p in shown.partners, partner.group.redemptions)
        for p, partner in enumerate(counted.partners)
    ]
    body = _ordered([(r[0], r[1], r[2], counted.partners[i].name) for i, r in enumerate(rows)])
    total = _row([i18n.gettext("Total")], counted.total, shown.total, mark)
    return ExportTable("partners", _redemption_header(i18n.gettext("Partner")), [*body, total], True)


def _list_table(key: str, first: str, counted: Counted, threshold: int, *, keep_order: bool) -> ExportTable:
    body, total = suppress_counted(counted, threshold, keep_order=keep_order)
    return ExportTable(key, _redemption_header(first), [*body, total], True)


def _cards_table(rows: Sequence[dashboard.CardRow], threshold: int) -> ExportTable:
    """Each column (issued, activated, revoked, active) a list of districts with its total, suppressed on its own.

    The values count cards, each card once (see the module's notes), so a value is also its number of cards.
    """
    mark = Hidden(marker(threshold))
    columns = ("issued", "activated", "revoked", "active")
    shown: dict[str, tuple[list[Cell], Cell]] = {}
    for column in columns:
        values = [int(getattr(row, column)) for row in rows]
        items = [Figure(value, value) for value in values]
        total_value = sum(values)
        decided = _decide_list(items, Figure(total_value, total_value), threshold)
        cells: list[Cell] = [mark if hide else value for value, hide in zip(values, decided[0], strict=True)]
        shown[column] = (cells, mark if decided[1] else total_value)
    body: list[list[Cell]] = [
        [row.district, *(shown[column][0][index] for column in columns)] for index, row in enumerate(rows)
    ]
    total: list[Cell] = [i18n.gettext("Total"), *(shown[column][1] for column in columns)]
    header = [
        i18n.gettext("District"),
        i18n.gettext("Issued"),
        i18n.gettext("Activated on a phone"),
        i18n.gettext("Revoked"),
        i18n.gettext("Active"),
    ]
    return ExportTable("cards", header, [*body, total], True)


def _decide_list(items: Sequence[Figure], total: Figure, threshold: int) -> tuple[list[bool], bool]:
    groups = [CardGroup(item.value, item.value, item.cards) for item in items]
    hidden, total_hidden = hidden_rows(groups, CardGroup(total.value, total.value, total.cards), threshold)
    return [index in hidden for index in range(len(items))], total_hidden


def _families_table(rows: Sequence[dashboard.FamilyRow], threshold: int) -> ExportTable:
    """Each month's families and the programme's: distinct counts that add up to nothing, so each stands alone."""
    mark = Hidden(marker(threshold))

    def cell(families: int) -> Cell:
        return mark if is_small(Figure(families, families), threshold) else families

    months = [row for row in rows if row.period != PROGRAMME]
    body: list[list[Cell]] = [[row.period, cell(row.families)] for row in months]
    body.extend(
        [i18n.gettext("Since the programme began"), cell(row.families)] for row in rows if row.period == PROGRAMME
    )
    return ExportTable("families", [i18n.gettext("Month"), i18n.gettext("Families reached")], body, True)


def _reasons_table(rows: Sequence[dashboard.ReasonRow]) -> ExportTable:
    body: list[list[Cell]] = [[dashboard.reason_label(row.reason), row.reason, row.verifications] for row in rows]
    body.append([i18n.gettext("Total"), "", sum(row.verifications for row in rows)])
    header = [i18n.gettext("Result"), i18n.gettext("Code"), i18n.gettext("Verifications")]
    return ExportTable("reasons", header, body, False)


def _fraud_table(rows: Sequence[dashboard.FraudRow]) -> ExportTable:
    body: list[list[Cell]] = [
        [
            row.name,
            row.stale,
            row.revoked,
            row.bad_signature,
            row.bad_proof,
            row.flagged,
            row.verifications,
            Share(row.share),
        ]
        for row in rows
    ]
    header = [
        i18n.gettext("Partner"),
        *(dashboard.reason_label(reason) for reason in dashboard.FRAUD_REASONS),
        i18n.gettext("Together"),
        i18n.gettext("All verifications"),
        i18n.gettext("Share"),
    ]
    return ExportTable("fraud", header, body, False)


def _facts(session: Session, city: City, key: str, filters: Filters) -> Any:
    """The raw material of a table: what the database gives (the part that takes time)."""
    if key == "over_time":
        return count_over_time(session, city, filters)
    if key == "by_category":
        return count_by_category(session, city, filters)
    if key == "by_district":
        return count_by_district(session, city, filters)
    if key in ("benefits", "partners"):
        return count_hierarchy(session, city, filters)
    if key == "cards":
        return dashboard.cards_by_district(session, filters)
    if key == "families":
        return dashboard.families_by_month(session, filters)
    if key == "reasons":
        return dashboard.verifications_by_reason(session, filters)
    if key == "fraud":
        return dashboard.fraud_signals(session, filters, limit=MAX_ROWS)
    raise ValueError(f"unknown export table {key!r}")


def _table(key: str, facts: Any, filters: Filters, threshold: int) -> ExportTable:
    """The table as published: the rule applied where it applies (no database access)."""
    if key == "over_time":
        first = i18n.gettext("Week of") if filters.weekly else i18n.gettext("Day")
        return _list_table(key, first, facts, threshold, keep_order=True)
    if key == "by_category":
        return _list_table(key, i18n.gettext("Category"), facts, threshold, keep_order=False)
    if key == "by_district":
        return _list_table(key, i18n.gettext("District"), facts, threshold, keep_order=False)
    if key == "benefits":
        return _benefits_table(facts, threshold)
    if key == "partners":
        return _partners_table(facts, threshold)
    if key == "cards":
        return _cards_table(facts, threshold)
    if key == "families":
        return _families_table(facts, threshold)
    if key == "reasons":
        return _reasons_table(facts)
    return _fraud_table(facts)


def build_table(session: Session, city: City, key: str, filters: Filters) -> ExportTable:
    """One table of the export with the city's threshold applied."""
    return _table(key, _facts(session, city, key, filters), filters, city.suppression_threshold)


# --- the file ---


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes
    rows: int


def _about(session: Session, filters: Filters) -> list[tuple[str, str]]:
    partner = (
        session.scalar(select(Partner.name).where(Partner.id == filters.partner_id)) if filters.partner_id else None
    )
    return [
        (i18n.gettext("From"), filters.start.isoformat()),
        (i18n.gettext("To"), filters.end.isoformat()),
        (
            i18n.gettext("Category"),
            dashboard.category_label(filters.category) if filters.category else i18n.gettext("All categories"),
        ),
        (i18n.gettext("District"), filters.district or i18n.gettext("All districts")),
        (i18n.gettext("Partner"), partner or i18n.gettext("All partners")),
    ]


def filename(key: str, format_: str, filters: Filters) -> str:
    return f"familienkarte-{key.replace('_', '-')}-{filters.start.isoformat()}-{filters.end.isoformat()}.{format_}"


def render(
    table: ExportTable,
    format_: str,
    filters: Filters,
    about: Sequence[tuple[str, str]],
    threshold: int,
    now: dt.datetime,
) -> ExportFile:
    notes = [i18n.gettext(SCOPES[table.key])]
    notes.append(i18n.gettext(SUPPRESSED_NOTE, n=threshold) if table.suppressed else i18n.gettext(NOT_SUPPRESSED_NOTE))
    sheet = Sheet(i18n.gettext(TABLES[table.key]), about, table.header, table.rows, notes)
    if format_ == ExportFormat.XLSX.value:
        content, media_type = render_xlsx(sheet, created=now), XLSX_MEDIA_TYPE
    else:
        content, media_type = render_csv(sheet), CSV_MEDIA_TYPE
    return ExportFile(filename(table.key, format_, filters), media_type, content, len(table.rows))


def make_export(session: Session, city: City, request: ExportRequest, now: dt.datetime) -> ExportFile:
    table = build_table(session, city, request.table, request.filters)
    about = _about(session, request.filters)
    return render(table, request.format, request.filters, about, city.suppression_threshold, now)


# --- direct export or job ---


def estimated_rows(session: Session, city: City, key: str, filters: Filters) -> int:
    """How many rows the export will have (about: from the rollups, which are quick to count)."""
    if key == "over_time":
        return len(periods(filters)) + 1
    if key == "by_category":
        return len(CATEGORIES) + 1
    if key in ("by_district", "cards"):
        return len(city.districts) + 2
    if key == "families":
        return filters.last_month.year * 12 + filters.last_month.month - filters.first_month.year * 12 + 2
    if key == "reasons":
        return len(dashboard.REASON_LABELS) + 1
    if key == "fraud":
        query: Any = select(func.count(distinct(StatsVerifications.partner_id))).where(
            *dashboard.verification_filters(filters)
        )
        return int(session.scalar(query) or 0)
    conditions = dashboard.redemption_filters(filters)
    partners = int(session.scalar(select(func.count(distinct(StatsRedemptions.partner_id))).where(*conditions)) or 0)
    if key == "partners":
        return partners + 1
    benefits = int(session.scalar(select(func.count(distinct(StatsRedemptions.benefit_id))).where(*conditions)) or 0)
    return partners + benefits + 1


@dataclass(frozen=True)
class ExportOutcome:
    """A small export made right away (``file``), or a job queued for a worker (``job_id``)."""

    file: ExportFile | None = None
    job_id: uuid.UUID | None = None


def _audit_details(request: ExportRequest, rows: int, mode: str) -> dict[str, Any]:
    return {"table": request.table, "format": request.format, "filters": request.params, "rows": rows, "mode": mode}


def request_export(
    session: Session,
    principal: Principal,
    city: City,
    params: Mapping[str, Any],
    *,
    now: dt.datetime,
    today: dt.date,
    meta: RequestMeta | None = None,
) -> ExportOutcome:
    """An export for the dashboard's parameters plus ``table`` and ``format``: made now when it is small, else
    queued as a job (the worker is woken after the commit). Either way the audit log records it."""
    request = read_export(session, city, params, today=today)
    rows = estimated_rows(session, city, request.table, request.filters)
    if rows <= SYNC_MAX_ROWS:
        made = make_export(session, city, request, now)
        audit.record(
            session,
            principal,
            "statistics.export",
            "statistics_export",
            None,
            details=_audit_details(request, made.rows, "direct"),
            meta=meta,
        )
        return ExportOutcome(file=made)
    if principal.user_id is None:
        # Jobs belong to a person who downloads them later; a key has no one to hand the file to.
        raise ExportJobNotFound()
    job = ExportJob(
        requested_by_id=principal.user_id,
        table=request.table,
        format=request.format,
        filters=request.params,
        locale=i18n.current_locale(),
        status=ExportStatus.QUEUED.value,
        progress=0,
        attempts=0,
        created_at=now,
        expires_at=now + EXPORT_TTL,
    )
    session.add(job)
    session.flush()
    audit.record(
        session,
        principal,
        "statistics.export",
        "statistics_export",
        job.id,
        details=_audit_details(request, rows, "job"),
        meta=meta,
    )
    wake_after_commit(session, EXPORT_TOPIC, [job.id])
    return ExportOutcome(job_id=job.id)


# --- the job, run by a worker ---


Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class _Claimed:
    table: str
    format: str
    filters: dict[str, Any]
    locale: str


def _claim(session: Session, job_id: uuid.UUID, now: dt.datetime) -> _Claimed | None:
    """Mark a queued job (or one whose worker died while running it) as running; None for a done or failed one.

    A repeated message (``acks_late`` after a lost worker) makes the same file again: the export is deterministic,
    and only the first result is stored.
    """
    claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ExportJob)
        .where(
            ExportJob.id == job_id,
            ExportJob.status.in_([ExportStatus.QUEUED.value, ExportStatus.RUNNING.value]),
        )
        .values(status=ExportStatus.RUNNING.value, started_at=now, progress=5, attempts=ExportJob.attempts + 1)
    )
    if claimed.rowcount != 1:
        return None
    row = session.execute(
        select(ExportJob.table, ExportJob.format, ExportJob.filters, ExportJob.locale).where(ExportJob.id == job_id)
    ).one()
    return _Claimed(row.table, row.format, dict(row.filters or {}), row.locale)


def _set_progress(session: Session, job_id: uuid.UUID, progress: int) -> None:
    session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status == ExportStatus.RUNNING.value)
        .values(progress=progress)
    )


def _finish(session: Session, job_id: uuid.UUID, made: ExportFile, now: dt.datetime) -> None:
    session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status == ExportStatus.RUNNING.value)
        .values(
            status=ExportStatus.DONE.value,
            progress=100,
            rows=made.rows,
            filename=made.filename,
            content=made.content,
            error=None,
            finished_at=now,
        )
    )


def fail_export_job(session: Session, job_id: uuid.UUID, now: dt.datetime, error: str) -> bool:
    """Give up on a job that cannot be made; ``error`` is a message id shown (translated) on the job's page."""
    failed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status.in_([ExportStatus.QUEUED.value, ExportStatus.RUNNING.value]))
        .values(status=ExportStatus.FAILED.value, error=error, finished_at=now)
    )
    return bool(failed.rowcount)


EXPORT_FAILED: Final = N_("The export could not be made. Please try again; if it fails again, tell the administrators.")
FILTERS_CHANGED: Final = N_(
    "The export could not be made because its filters are no longer valid (for example, the partner was removed)."
)


def _gather(session: Session, city: City, claimed: _Claimed) -> tuple[Filters, Any, list[tuple[str, str]]] | None:
    """The job's filters read again, and the facts of its table (None: the filters are no longer valid)."""
    try:
        filters = dashboard.read_filters(session, claimed.filters, districts=city.districts, today=city.today())
    except InvalidInput:
        return None
    return filters, _facts(session, city, claimed.table, filters), _about(session, filters)


def run_export_job(transaction: Transaction, city: City, job_id: uuid.UUID) -> str | None:
    """Make a job's file, reporting progress as it goes; returns the job's status (None: no such job).

    Each step is its own short transaction, so the page sees the progress while the export is made: claim (5 %),
    count from the raw facts (60 %), suppress and write the file (90 %), store it (100 %).
    """
    with transaction() as session:
        claimed = _claim(session, job_id, utcnow())
        if claimed is None:
            return session.scalar(select(ExportJob.status).where(ExportJob.id == job_id))
    with i18n.use_locale(claimed.locale):
        with transaction() as session:
            gathered = _gather(session, city, claimed)
        if gathered is None:
            with transaction() as session:
                fail_export_job(session, job_id, utcnow(), FILTERS_CHANGED)
            return ExportStatus.FAILED.value
        filters, facts, about = gathered
        with transaction() as session:
            _set_progress(session, job_id, 60)
        table = _table(claimed.table, facts, filters, city.suppression_threshold)
        made = render(table, claimed.format, filters, about, city.suppression_threshold, utcnow())
    with transaction() as session:
        _set_progress(session, job_id, 90)
    with transaction() as session:
        _finish(session, job_id, made, utcnow())
        return session.scalar(select(ExportJob.status).where(ExportJob.id == job_id))


def queued_export_job_ids(session: Session, queued_before: dt.datetime, limit: int = SWEEP_BATCH) -> list[uuid.UUID]:
    """Jobs still queued since before ``queued_before``, oldest first: the ones whose wake-up was lost."""
    return list(
        session.scalars(
            select(ExportJob.id)
            .where(ExportJob.status == ExportStatus.QUEUED.value, ExportJob.created_at < queued_before)
            .order_by(ExportJob.created_at, ExportJob.id)
            .limit(limit)
        )
    )


def fail_stalled_exports(session: Session, now: dt.datetime) -> int:
    """Give up the jobs that have been running for longer than ``STALLED_AFTER``; returns how many."""
    failed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(ExportJob)
        .where(ExportJob.status == ExportStatus.RUNNING.value, ExportJob.started_at < now - STALLED_AFTER)
        .values(status=ExportStatus.FAILED.value, error=EXPORT_FAILED, finished_at=now)
    )
    return int(failed.rowcount or 0)


def remove_expired_exports(session: Session, now: dt.datetime) -> int:
    """Delete the jobs (and their files) past their expiry; returns how many."""
    removed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(ExportJob).where(ExportJob.expires_at <= now)
    )
    return int(removed.rowcount or 0)


# --- the job, seen by people ---


@dataclass(frozen=True)
class ExportJobView:
    id: uuid.UUID
    table: str
    title: str
    format: str
    format_label: str
    status: str
    progress: int
    rows: int | None
    filename: str | None
    error: str | None
    filters: dict[str, Any]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    expires_at: dt.datetime

    @property
    def done(self) -> bool:
        return self.status == ExportStatus.DONE.value

    @property
    def working(self) -> bool:
        return self.status in (ExportStatus.QUEUED.value, ExportStatus.RUNNING.value)

    @property
    def download_url(self) -> str | None:
        return f"/staff/statistics/exports/{self.id}/file" if self.done else None

    @property
    def message(self) -> str:
        """Where the job stands, in words (the text equivalent of the progress bar)."""
        if self.status == ExportStatus.QUEUED.value:
            return i18n.gettext("Waiting for a worker to start the export.")
        if self.status == ExportStatus.RUNNING.value:
            return i18n.gettext("The export is being made: %(progress)s %% done.", progress=self.progress)
        if self.status == ExportStatus.DONE.value:
            return i18n.gettext("The export is ready: %(rows)s rows.", rows=self.rows or 0)
        return i18n.gettext("The export could not be made.")


def _visible_job(session: Session, principal: Principal, job_id: uuid.UUID, now: dt.datetime) -> ExportJob:
    """The job, if it has not expired and the reader asked for it or is an administrator; else not found (a job of
    someone else is not even confirmed to exist)."""
    job = session.get(ExportJob, job_id)
    if job is None or job.expires_at <= now:
        raise ExportJobNotFound()
    if principal.role != Role.ADMIN and (principal.user_id is None or job.requested_by_id != principal.user_id):
        raise ExportJobNotFound()
    return job


def _view(job: ExportJob) -> ExportJobView:
    return ExportJobView(
        id=job.id,
        table=job.table,
        title=i18n.gettext(TABLES.get(job.table, job.table)),
        format=job.format,
        format_label=FORMAT_LABELS.get(job.format, job.format),
        status=job.status,
        progress=job.progress,
        rows=job.rows,
        filename=job.filename,
        error=i18n.gettext(job.error) if job.error else None,
        filters=dict(job.filters or {}),
        created_at=job.created_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
    )


def export_job(session: Session, principal: Principal, job_id: uuid.UUID, now: dt.datetime) -> ExportJobView:
    return _view(_visible_job(session, principal, job_id, now))


def export_jobs(session: Session, principal: Principal, now: dt.datetime) -> list[ExportJobView]:
    """The reader's own jobs that have not expired, newest first."""
    if principal.user_id is None:
        return []
    jobs = session.scalars(
        select(ExportJob)
        .where(ExportJob.requested_by_id == principal.user_id, ExportJob.expires_at > now)
        .order_by(ExportJob.created_at.desc(), ExportJob.id)
    )
    return [_view(job) for job in jobs]


def export_job_file(
    session: Session, principal: Principal, job_id: uuid.UUID, now: dt.datetime, meta: RequestMeta | None = None
) -> ExportFile:
    """The file of a finished job, for the person who asked or an administrator; the download is audited."""
    job = _visible_job(session, principal, job_id, now)
    if job.status != ExportStatus.DONE.value or job.content is None or job.filename is None:
        raise ExportJobNotFound()
    audit.record(
        session,
        principal,
        "statistics.export_download",
        "statistics_export",
        job.id,
        details={"table": job.table, "format": job.format, "requested_by": str(job.requested_by_id)},
        meta=meta,
    )
    media_type = XLSX_MEDIA_TYPE if job.format == ExportFormat.XLSX.value else CSV_MEDIA_TYPE
    return ExportFile(job.filename, media_type, job.content, job.rows or 0)


__all__ = [
    "EXPORT_TOPIC",
    "EXPORT_TTL",
    "SYNC_MAX_ROWS",
    "TABLES",
    "ExportFile",
    "ExportJobNotFound",
    "ExportJobView",
    "ExportOutcome",
    "build_table",
    "export_job",
    "export_job_file",
    "export_jobs",
    "fail_export_job",
    "fail_stalled_exports",
    "queued_export_job_ids",
    "read_export",
    "remove_expired_exports",
    "request_export",
    "run_export_job",
]
