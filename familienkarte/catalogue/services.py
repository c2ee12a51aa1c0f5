"""The public side of partners and benefits: the catalogue, a partner's page, the benefit finder and open data.

No sign-in is needed for any of it. A benefit is *visible* when it is published, its partner approved and its
``valid_until`` not passed (:func:`visible`); everything here shows only visible benefits of approved partners.
Filtering, counting and paging happen in SQL, so a page costs the same with 20,000 benefits as with 20.

A benefit's locations are the active locations linked to it (``benefit_locations``); the district filter and the
distance order use those.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple
from urllib.parse import urlencode

import msgspec
from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.benefits import rules
from familienkarte.benefits.fields import COLUMN_KEYS
from familienkarte.benefits.models import Benefit, BenefitKind, BenefitStatus, benefit_locations
from familienkarte.benefits.views import KIND_LABELS, BenefitCard, LocationLine, benefit_card
from familienkarte.cards.models import Card, Child, Household, HouseholdAdult
from familienkarte.catalogue.counts import remembered
from familienkarte.errors import N_, FieldError, InvalidInput, NotFound
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.partners.vocabulary import ACCESSIBILITY_FEATURES, CATEGORIES, WEEKDAYS
from familienkarte.transit import NearbyStop, nearest_stops

DEFAULT_PER_PAGE: Final = 20
MAX_PER_PAGE: Final = 100
MAX_PAGE: Final = 100_000
PAGE_MESSAGE: Final = N_("The page must be a whole number from %(min)s to %(max)s.")
MAX_AGE: Final = 26
MAX_QUERY_LENGTH: Final = 100
MAX_QUERY_WORDS: Final = 8
SORTS: Final = ("newest", "name", "distance")
SORT_LABELS: Final[dict[str, str]] = {
    "newest": N_("Newest first"),
    "name": N_("By name"),
    "distance": N_("Nearest first"),
}
# Metres per degree of latitude (and of longitude at the equator) on a sphere of the earth's mean radius.
METRES_PER_DEGREE: Final = 111_195.0
# A distance that sorts after every real one (benefits without a location with coordinates).
FAR_AWAY: Final = 1.0e12

FINDER_MAX_ADULTS: Final = 10
FINDER_MAX_CHILDREN: Final = 12
# The finder's overview shows this many benefits per category (the rest: the category's own pages, FINDER_PER_PAGE
# at a time) and this many coming up. In a big city a family may use thousands: the page lists a few of each.
FINDER_SHOWN_PER_CATEGORY: Final = 3
FINDER_COMING_UP_SHOWN: Final = 5
# A category's own page of the finder lists the family's benefits in it this many at a time.
FINDER_PER_PAGE: Final = 20


class NoFamilyCard(NotFound):
    code = "no_card"
    message = N_("There is no family card for you yet. Enter your family's details in the form instead.")


# The query ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueQuery:
    """What a reader asked the catalogue for, checked; build it with :func:`read_query`."""

    category: str | None = None
    district: str | None = None
    kind: str | None = None
    age: int | None = None
    q: str | None = None
    sort: str = "newest"
    lat: float | None = None
    lon: float | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def words(self) -> list[str]:
        return (self.q or "").split()[:MAX_QUERY_WORDS]

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None

    def params(self, page: int | None = None) -> dict[str, str]:
        """The query as URL parameters, defaults left out, so that a link keeps exactly the reader's filters."""
        values: dict[str, str] = {}
        for name in ("category", "district", "kind", "q"):
            value = getattr(self, name)
            if value:
                values[name] = value
        if self.age is not None:
            values["age"] = str(self.age)
        if self.sort != "newest":
            values["sort"] = self.sort
        if self.has_position:
            values["lat"] = f"{self.lat:.5f}"
            values["lon"] = f"{self.lon:.5f}"
        if self.per_page != DEFAULT_PER_PAGE:
            values["per_page"] = str(self.per_page)
        wanted = self.page if page is None else page
        if wanted != 1:
            values["page"] = str(wanted)
        return values

    def url(self, path: str, page: int | None = None) -> str:
        params = self.params(page)
        return f"{path}?{urlencode(params)}" if params else path


def web_link(address: str | None) -> str | None:
    """A partner's website as a link target: http(s) only, whatever got into the database (an import, an old row),
    so a ``javascript:`` or ``data:`` address never becomes a link."""
    if not address or not address.strip().lower().startswith(("https://", "http://")):
        return None
    return address.strip()


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def whole_param(
    params: Mapping[str, Any], name: str, low: int, high: int, message: str, errors: list[FieldError]
) -> int | None:
    """The whole number ``low`` to ``high`` in the parameter ``name``; None when it is missing or refused (then
    ``message`` is added to ``errors`` for the field, with ``min`` and ``max``)."""
    raw = _text(params, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors.append(FieldError(name, message, {"min": low, "max": high}))
        return None
    if not low <= value <= high:
        errors.append(FieldError(name, message, {"min": low, "max": high}))
        return None
    return value


def _coordinate(params: Mapping[str, Any], name: str, limit: int, errors: list[FieldError]) -> float | None:
    raw = _text(params, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not -limit <= value <= limit:
        errors.append(
            FieldError(
                name, N_("%(name)s must be a number from -%(limit)s to %(limit)s."), {"name": name, "limit": limit}
            )
        )
        return None
    return value


def read_query(params: Mapping[str, Any], *, districts: Sequence[str]) -> CatalogueQuery:
    """The catalogue query from URL parameters; every bad value is refused with a message naming its parameter.

    Empty values mean "any" (a filter form sends every field). Parameters the catalogue does not know (``lang``)
    are ignored.
    """
    errors: list[FieldError] = []
    category = _text(params, "category")
    if category is not None and category not in CATEGORIES:
        errors.append(FieldError("category", N_("There is no category %(value)s."), {"value": category}))
        category = None
    kind = _text(params, "kind")
    if kind is not None and kind not in KIND_LABELS:
        errors.append(FieldError("kind", N_("There is no kind of benefit %(value)s."), {"value": kind}))
        kind = None
    district = _text(params, "district")
    if district is not None and district not in districts:
        errors.append(FieldError("district", N_("There is no district %(value)s."), {"value": district}))
        district = None
    age = whole_param(params, "age", 0, MAX_AGE, N_("The age must be a whole number from %(min)s to %(max)s."), errors)
    q = _text(params, "q")
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        errors.append(
            FieldError("q", N_("The search text may have at most %(max)s characters."), {"max": MAX_QUERY_LENGTH})
        )
        q = None
    page = whole_param(params, "page", 1, MAX_PAGE, PAGE_MESSAGE, errors)
    per_page = whole_param(
        params, "per_page", 1, MAX_PER_PAGE, N_("per_page must be a whole number from %(min)s to %(max)s."), errors
    )
    lat = _coordinate(params, "lat", 90, errors)
    lon = _coordinate(params, "lon", 180, errors)
    lat_given, lon_given = _text(params, "lat") is not None, _text(params, "lon") is not None
    if lat_given != lon_given:
        missing = "lon" if lat_given else "lat"
        errors.append(FieldError(missing, N_("Give both lat and lon, or neither.")))
    sort = _text(params, "sort") or "newest"
    if sort not in SORTS:
        errors.append(FieldError("sort", N_("sort must be one of %(values)s."), {"values": ", ".join(SORTS)}))
        sort = "newest"
    elif sort == "distance" and not (lat_given and lon_given):
        errors.append(FieldError("sort", N_("Sorting by distance (sort=distance) needs your position: lat and lon.")))
    if errors:
        raise InvalidInput(errors)
    return CatalogueQuery(
        category=category,
        district=district,
        kind=kind,
        age=age,
        q=q,
        sort=sort,
        lat=lat,
        lon=lon,
        page=page or 1,
        per_page=per_page or DEFAULT_PER_PAGE,
    )


# Visibility and filters ----------------------------------------------------------------------------------------


def visible(today: dt.date) -> ColumnElement[bool]:
    """The benefits families see (the query must join ``Partner``)."""
    return and_(
        Benefit.status == BenefitStatus.PUBLISHED.value,
        Partner.status == PartnerStatus.APPROVED.value,
        or_(Benefit.valid_until.is_(None), Benefit.valid_until >= today),
    )


def _active_location_of_benefit() -> ColumnElement[bool]:
    return and_(
        benefit_locations.c.benefit_id == Benefit.id,
        Location.id == benefit_locations.c.location_id,
        Location.is_active.is_(True),
    )


def _language_texts(column: Any, locale: str) -> list[ColumnElement[str]]:
    """The text of a JSON column in the reader's language and in German, as plain text (never the JSON keys)."""
    languages = [locale] if locale == rules.DEFAULT_LANGUAGE else [locale, rules.DEFAULT_LANGUAGE]
    return [func.lower(func.coalesce(column[language].as_string(), "")) for language in languages]


def _filters(query: CatalogueQuery, locale: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.category:
        conditions.append(Benefit.category == query.category)
    if query.kind:
        conditions.append(Benefit.kind == query.kind)
    if query.age is not None:
        conditions.append(or_(Benefit.child_age_min.is_(None), Benefit.child_age_min <= query.age))
        conditions.append(or_(Benefit.child_age_max.is_(None), Benefit.child_age_max >= query.age))
    if query.district:
        conditions.append(exists().where(_active_location_of_benefit(), Location.district == query.district))
    texts = [*_language_texts(Benefit.title, locale), *_language_texts(Benefit.description, locale)]
    for word in query.words:
        # Each word somewhere in a title or description; LIKE wildcards in the word are taken literally.
        conditions.append(or_(*(text.contains(word.lower(), autoescape=True) for text in texts)))
    return conditions


def _distances_squared(lat: float, lon: float) -> Any:
    """(benefit_id, distance): the smallest squared equirectangular distance (in degrees of latitude) from the
    position to one of the benefit's active locations with coordinates; benefits without one have no row. Plain
    arithmetic, so any database can compute it, and accurate enough to order places within a city. Grouped once
    over the links, not asked per benefit: a city's benefits share a few thousand locations."""
    scale = math.cos(math.radians(lat))
    dlat = Location.latitude - lat
    dlon = (Location.longitude - lon) * scale
    return (
        select(
            benefit_locations.c.benefit_id.label("benefit_id"), func.min(dlat * dlat + dlon * dlon).label("distance")
        )
        .join(Location, Location.id == benefit_locations.c.location_id)
        .where(Location.is_active.is_(True), Location.latitude.is_not(None), Location.longitude.is_not(None))
        .group_by(benefit_locations.c.benefit_id)
        .subquery("distances")
    )


def _title_for_sorting(locale: str) -> Any:
    own = func.nullif(Benefit.title[locale].as_string(), "")
    return func.lower(func.coalesce(own, Benefit.title[rules.DEFAULT_LANGUAGE].as_string(), ""))


# Cards ---------------------------------------------------------------------------------------------------------


def address_of(location: Any) -> str:
    """A location's street, house number and postal code (a ``Location`` or a row with those columns)."""
    street = " ".join(part for part in (location.street, location.house_number) if part)
    return ", ".join(part for part in (street, location.postal_code) if part)


def _location_lines(session: Session, benefit_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[LocationLine]]:
    lines: dict[uuid.UUID, list[LocationLine]] = defaultdict(list)
    if not benefit_ids:
        return lines
    rows = session.execute(
        select(
            benefit_locations.c.benefit_id,
            Location.id,
            Location.name,
            Location.street,
            Location.house_number,
            Location.postal_code,
            Location.district,
        )
        .join(Location, Location.id == benefit_locations.c.location_id)
        .where(benefit_locations.c.benefit_id.in_(benefit_ids), Location.is_active.is_(True))
        .order_by(Location.name, Location.id)
    ).all()
    for row in rows:
        lines[row.benefit_id].append(LocationLine(row.id, row.name, address_of(row), row.district))
    return lines


# What a benefit's card shows, as plain columns (an ORM object would also load and parse ``pending``).
CARD_COLUMNS: Final = (
    Benefit.id,
    Benefit.partner_id,
    *(getattr(Benefit, key) for key in COLUMN_KEYS),
    Partner.name.label("partner_name"),
)


def card_rows() -> Select[Any]:
    """The columns of benefit cards, their partner joined (``visible`` can be applied)."""
    return select(*CARD_COLUMNS).join(Partner, Partner.id == Benefit.partner_id)


def _cards(session: Session, rows: Sequence[Any], locale: str) -> list[BenefitCard]:
    """The cards of rows of :func:`card_rows`, with their active locations (one query for all)."""
    lines = _location_lines(session, [row.id for row in rows])
    return [
        benefit_card(
            benefit_id=row.id,
            partner_id=row.partner_id,
            partner_name=row.partner_name,
            fields={key: getattr(row, key) for key in COLUMN_KEYS},
            locations=lines.get(row.id, []),
            locale=locale,
        )
        for row in rows
    ]


# The catalogue -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CataloguePage:
    query: CatalogueQuery
    items: list[BenefitCard]
    total: int
    # Metres from the reader's position to the nearest location of each benefit listed, when sorted by distance.
    distances_m: dict[uuid.UUID, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.query.per_page))

    @property
    def has_next(self) -> bool:
        return self.query.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.query.page > 1

    def distance_text(self, benefit_id: uuid.UUID | None) -> str | None:
        """How far the benefit's nearest location is, in the reader's language ("1,2 km away")."""
        metres = self.distances_m.get(benefit_id) if benefit_id else None
        if metres is None:
            return None
        if metres < 1000:
            return i18n.gettext(N_("%(metres)s m away"), metres=i18n.format_number(int(round(metres, -1))))
        km = i18n.format_number(round(metres / 1000, 1))
        return i18n.gettext(N_("%(km)s km away"), km=km)


def search_benefits(session: Session, query: CatalogueQuery, *, locale: str, today: dt.date) -> CataloguePage:
    """One page of the visible benefits that match the query, in its order, with the number of all matches."""
    conditions = [visible(today), *_filters(query, locale)]
    total = remembered(
        session,
        ("matches", today, locale, query.category, query.kind, query.age, query.district, tuple(query.words)),
        lambda: session.scalar(
            select(func.count()).select_from(Benefit).where(visible_alone(today), *_filters(query, locale))
        ),
    )
    distances: dict[uuid.UUID, int] = {}
    offset = (query.page - 1) * query.per_page
    if query.sort == "distance" and query.lat is not None and query.lon is not None:
        # The page's ids first (every benefit's distance is needed to order them), then their cards.
        nearest = _distances_squared(query.lat, query.lon)
        ranked = session.execute(
            select(Benefit.id, nearest.c.distance)
            .join(Partner, Partner.id == Benefit.partner_id)
            .outerjoin(nearest, nearest.c.benefit_id == Benefit.id)
            .where(*conditions)
            .order_by(func.coalesce(nearest.c.distance, FAR_AWAY), Benefit.id)
            .limit(query.per_page)
            .offset(offset)
        ).all()
        for benefit_id, squared in ranked:
            if squared is not None:
                distances[benefit_id] = round(math.sqrt(squared) * METRES_PER_DEGREE)
        cards = _cards_by_id(session, [benefit_id for benefit_id, _squared in ranked], locale)
    else:
        statement = card_rows().where(*conditions)
        if query.sort == "name":
            statement = statement.order_by(_title_for_sorting(locale), Benefit.id)
        else:
            statement = statement.order_by(*_newest_first())
        rows: Sequence[Any] = session.execute(statement.limit(query.per_page).offset(offset)).all()
        cards = _cards(session, rows, locale)
    return CataloguePage(query=query, items=cards, total=int(total or 0), distances_m=distances)


def benefit_detail(session: Session, benefit_id: uuid.UUID, *, locale: str, today: dt.date) -> BenefitCard:
    """One visible benefit; any other (a draft, another partner's paused one, an ended one) does not exist here."""
    row = session.execute(card_rows().where(Benefit.id == benefit_id, visible(today))).first()
    if row is None:
        raise NotFound()
    return _cards(session, [row], locale)[0]


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FilterChoices:
    """The options of the catalogue's filter form, labels in the reader's language."""

    categories: list[Choice]
    kinds: list[Choice]
    districts: list[Choice]
    sorts: list[Choice]


def filter_choices(districts: Sequence[str]) -> FilterChoices:
    return FilterChoices(
        categories=[Choice(code, i18n.gettext(label)) for code, label in CATEGORIES.items()],
        kinds=[Choice(kind.value, i18n.gettext(KIND_LABELS[kind.value])) for kind in BenefitKind],
        districts=[Choice(name, name) for name in districts],
        sorts=[Choice(code, i18n.gettext(label)) for code, label in SORT_LABELS.items()],
    )


@dataclass(frozen=True)
class CatalogueView:
    """The catalogue page: the filter form (with the values given and any errors) and, when they were fine, the
    results."""

    form: dict[str, str]
    errors: dict[str, str]
    choices: FilterChoices
    result: CataloguePage | None


def catalogue_view(
    session: Session, params: Mapping[str, Any], *, districts: Sequence[str], locale: str, today: dt.date
) -> CatalogueView:
    """The catalogue page for URL parameters; bad parameters are shown at their fields instead of results."""
    names = ("category", "district", "kind", "age", "q", "sort", "lat", "lon")
    form = {name: str(params.get(name) or "") for name in names}
    choices = filter_choices(districts)
    try:
        query = read_query(params, districts=districts)
    except InvalidInput as exc:
        return CatalogueView(form, i18n.field_messages(exc.errors), choices, None)
    return CatalogueView(form, {}, choices, search_benefits(session, query, locale=locale, today=today))


# The partner page ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayHours:
    weekday: str
    hours: str
    closed: bool


@dataclass(frozen=True)
class LocationView:
    id: uuid.UUID
    name: str
    address: str
    district: str | None
    latitude: float | None
    longitude: float | None
    opening_hours: list[DayHours]
    hours_note: rules.LocalText
    accessibility: list[str]
    accessibility_note: rules.LocalText
    stops: list[NearbyStop]


@dataclass(frozen=True)
class PartnerPage:
    id: uuid.UUID
    name: str
    category: str | None
    category_label: str | None
    description: rules.LocalText
    website: str | None
    logo_url: str | None
    locations: list[LocationView]
    benefits: list[BenefitCard]


def opening_hours_in_words(hours: Mapping[str, Any]) -> list[DayHours]:
    """Each weekday, Monday first, with its opening intervals ("09:00–13:00, 14:00–18:00") or closed."""
    days = []
    for code, label in WEEKDAYS.items():
        intervals = hours.get(code) or []
        spans = [f"{interval[0]}–{interval[1]}" for interval in intervals if len(interval) == 2]
        if spans:
            days.append(DayHours(i18n.gettext(label), ", ".join(spans), False))
        else:
            days.append(DayHours(i18n.gettext(label), i18n.gettext(N_("Closed")), True))
    return days


def _approved_partner(session: Session, partner_id: uuid.UUID) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None or partner.status != PartnerStatus.APPROVED.value:
        raise NotFound()
    return partner


def partner_page(session: Session, partner_id: uuid.UUID, *, locale: str, today: dt.date) -> PartnerPage:
    """An approved partner as families see it; any other partner does not exist here."""
    partner = _approved_partner(session, partner_id)
    locations = session.scalars(
        select(Location)
        .where(Location.partner_id == partner.id, Location.is_active.is_(True))
        .order_by(Location.name, Location.id)
    ).all()
    views = []
    for location in locations:
        stops = []
        if location.latitude is not None and location.longitude is not None:
            stops = nearest_stops(session, location.latitude, location.longitude)
        views.append(
            LocationView(
                id=location.id,
                name=location.name,
                address=address_of(location),
                district=location.district,
                latitude=location.latitude,
                longitude=location.longitude,
                opening_hours=opening_hours_in_words(location.opening_hours or {}),
                hours_note=rules.localized(location.hours_note or {}, locale),
                accessibility=[
                    i18n.gettext(ACCESSIBILITY_FEATURES[code])
                    for code in ACCESSIBILITY_FEATURES
                    if code in (location.accessibility or [])
                ],
                accessibility_note=rules.localized(location.accessibility_note or {}, locale),
                stops=stops,
            )
        )
    rows = session.execute(
        card_rows()
        .where(Benefit.partner_id == partner.id, visible(today))
        .order_by(_title_for_sorting(locale), Benefit.id)
    ).all()
    category = partner.category
    return PartnerPage(
        id=partner.id,
        name=partner.name,
        category=category,
        category_label=i18n.gettext(CATEGORIES[category]) if category in CATEGORIES else None,
        description=rules.localized(partner.description or {}, locale),
        website=web_link(partner.website),
        logo_url=f"/partners/{partner.id}/logo" if partner.logo else None,
        locations=views,
        benefits=_cards(session, rows, locale),
    )


# The finder ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinderGroup:
    category: str
    label: str
    # The newest FINDER_SHOWN_PER_CATEGORY on the overview, one page of FINDER_PER_PAGE on the category's own page;
    # ``total`` counts every one the family may use.
    benefits: list[BenefitCard]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.benefits)


@dataclass(frozen=True)
class ComingUp:
    """A benefit the family may use from ``on``, when a child reaches ``child_age`` (0: when it is born)."""

    benefit: BenefitCard
    on: dt.date
    child_age: int | None


@dataclass(frozen=True)
class FinderResult:
    """The overview (every category, a few benefits each, and what comes up) or, with ``category``, one page of
    that category's benefits."""

    groups: list[FinderGroup]
    # The soonest FINDER_COMING_UP_SHOWN (on the overview only); ``coming_up_total`` counts them all.
    coming_up: list[ComingUp]
    coming_up_total: int
    # Every benefit the family may use, in all categories.
    count: int
    category: str | None = None
    page: int = 1

    @property
    def pages(self) -> int:
        total = self.groups[0].total if self.category is not None and self.groups else 0
        return max(1, math.ceil(total / FINDER_PER_PAGE))

    @property
    def has_next(self) -> bool:
        return self.category is not None and self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.category is not None and self.page > 1


def _may_grow_into(benefit: rules.BenefitRules, family: rules.FamilyFacts, today: dt.date) -> bool:
    """Cheap checks that rule out a benefit the family can never grow into, before the month-by-month search."""
    if benefit.requires_entitlement and not family.entitled:
        return False
    if benefit.min_children > len(family.children):
        return False
    if benefit.child_age_max is not None:
        # Ages only grow: a child already older than the range never fits; an unborn one may.
        ages = [rules.child_age(ym, today) for ym in family.children]
        if all(age is not None and age > benefit.child_age_max for age in ages):
            return False
    return True


def _child_that_grew(benefit: rules.BenefitRules, family: rules.FamilyFacts, on: dt.date) -> int | None:
    """The age reached on ``on`` by a child whose age changes that day, preferring one that this age brings into
    the benefit's age range (the youngest such child)."""
    before = on - dt.timedelta(days=1)
    grown = [
        age
        for ym in family.children
        if (age := rules.child_age(ym, on)) is not None and age != rules.child_age(ym, before)
    ]
    low = benefit.child_age_min if benefit.child_age_min is not None else 0
    high = benefit.child_age_max if benefit.child_age_max is not None else 10**6
    fitting = [age for age in grown if low <= age <= high] if benefit.has_age_range else []
    return min(fitting or grown) if grown else None


def _usable(family: rules.FamilyFacts, on: dt.date) -> ColumnElement[bool]:
    """:func:`rules.family_may_use` as SQL: the benefits whose own conditions the family meets on ``on``."""
    born = rules.ages(family, on)
    in_range = [
        and_(
            or_(Benefit.child_age_min.is_(None), Benefit.child_age_min <= age),
            or_(Benefit.child_age_max.is_(None), Benefit.child_age_max >= age),
        )
        for age in sorted(set(born))
    ]
    conditions = [
        Benefit.min_children <= len(born),
        or_(and_(Benefit.child_age_min.is_(None), Benefit.child_age_max.is_(None)), *in_range),
    ]
    if not family.entitled:
        conditions.append(Benefit.requires_entitlement.is_(False))
    return and_(*conditions)


# (min_children, child_age_min, child_age_max): the conditions of a benefit that change as the children grow.
Shape = tuple[int, int | None, int | None]


def _partner_approved() -> ColumnElement[bool]:
    """The benefit's partner is approved, without joining partners: the few partners that are not are looked up
    once (a join would hash every approved partner for each query)."""
    return Benefit.partner_id.not_in(select(Partner.id).where(Partner.status != PartnerStatus.APPROVED.value))


def visible_alone(today: dt.date) -> ColumnElement[bool]:
    """:func:`visible` for a query of benefits alone (counts read from an index of benefits only)."""
    return and_(
        Benefit.status == BenefitStatus.PUBLISHED.value,
        or_(Benefit.valid_until.is_(None), Benefit.valid_until >= today),
        _partner_approved(),
    )


@dataclass
class _Tally:
    """What the finder learns from one pass over the visible benefits, grouped by category, conditions and end."""

    usable: dict[str, int] = field(default_factory=dict)
    # Shape -> the day the family grows into it and the age a child reaches that day.
    grown: dict[Shape, tuple[dt.date, int | None]] = field(default_factory=dict)
    # Day -> how many benefits the family grows into that day (still offered then).
    coming: dict[dt.date, int] = field(default_factory=dict)
    # Category -> (newest, id) of the newest benefits of each usable group: the category's newest are among them.
    candidates: dict[str, list[tuple[Any, uuid.UUID]]] = field(default_factory=dict)

    @property
    def coming_total(self) -> int:
        return sum(self.coming.values())


class _Listed(NamedTuple):
    """A benefit listed by the finder: as the rows of its queries."""

    id: uuid.UUID
    category: str
    newest: Any


@dataclass(frozen=True)
class Conditions:
    """The visible benefits with the same conditions (``shape`` and tier): how many per category, and their ends."""

    shape: Shape
    needs_tier: bool
    by_category: Mapping[str, int]
    # The number of these benefits that end on or after each day (sorted); ``open_ended`` never end.
    ends: tuple[dt.date, ...]
    ending_from: tuple[int, ...]
    open_ended: int
    # Per category, the newest FINDER_SHOWN_PER_CATEGORY of these benefits as (newest, id): the finder's overview
    # lists the newest of the groups a family may use from these, without a query of its own.
    newest: Mapping[str, tuple[tuple[Any, uuid.UUID], ...]] = field(default_factory=dict)

    def still_offered(self, day: dt.date) -> int:
        """How many of these benefits are still offered on ``day``."""
        at = bisect.bisect_left(self.ends, day)
        return self.open_ended + (self.ending_from[at] if at < len(self.ends) else 0)


def visible_conditions(session: Session, today: dt.date) -> tuple[Conditions, ...]:
    """The visible benefits grouped by their conditions: one pass over ``ix_benefits_published_conditions`` alone
    (a few thousand groups at 20,000 benefits, a few dozen sets of conditions), the same for every family, and so
    remembered by the process (:mod:`familienkarte.catalogue.counts`)."""

    grouped = (
        Benefit.min_children,
        Benefit.child_age_min,
        Benefit.child_age_max,
        Benefit.requires_entitlement,
        Benefit.category,
        Benefit.valid_until,
    )

    def read() -> tuple[Conditions, ...]:
        rows = session.execute(select(*grouped, func.count()).where(visible_alone(today)).group_by(*grouped)).all()
        categories: dict[tuple[Shape, bool], dict[str, int]] = defaultdict(dict)
        ends: dict[tuple[Shape, bool], dict[dt.date | None, int]] = defaultdict(dict)
        for min_children, age_min, age_max, needs_tier, category, valid_until, number in rows:
            key = ((min_children, age_min, age_max), bool(needs_tier))
            categories[key][category] = categories[key].get(category, 0) + int(number)
            ends[key][valid_until] = ends[key].get(valid_until, 0) + int(number)
        newest = _newest_of_groups(session, today)
        found = []
        for key, by_category in categories.items():
            days = sorted(day for day in ends[key] if day is not None)
            ending_from = list(itertools.accumulate(ends[key][day] for day in reversed(days)))[::-1]
            found.append(
                Conditions(
                    key[0],
                    key[1],
                    by_category,
                    tuple(days),
                    tuple(ending_from),
                    ends[key].get(None, 0),
                    {category: tuple(rows) for category, rows in newest[key].items()},
                )
            )
        return tuple(found)

    return remembered(session, ("conditions", today), read)


def _newest_of_groups(
    session: Session, today: dt.date
) -> dict[tuple[Shape, bool], dict[str, list[tuple[Any, uuid.UUID]]]]:
    """The newest FINDER_SHOWN_PER_CATEGORY visible benefits (newest, id) of each set of conditions and category,
    newest first: one window query over the visible benefits."""
    newest, tie = _newest_first()
    rank = func.row_number().over(
        partition_by=(
            Benefit.min_children,
            Benefit.child_age_min,
            Benefit.child_age_max,
            Benefit.requires_entitlement,
            Benefit.category,
        ),
        order_by=(newest, tie),
    )
    ranked = (
        select(
            Benefit.min_children,
            Benefit.child_age_min,
            Benefit.child_age_max,
            Benefit.requires_entitlement,
            Benefit.category,
            Benefit.id,
            func.coalesce(Benefit.published_at, Benefit.created_at).label("newest"),
            rank.label("rank"),
        )
        .where(visible_alone(today))
        .subquery()
    )
    rows = session.execute(
        select(ranked).where(ranked.c.rank <= FINDER_SHOWN_PER_CATEGORY).order_by(ranked.c.rank)
    ).all()
    found: dict[tuple[Shape, bool], dict[str, list[tuple[Any, uuid.UUID]]]] = defaultdict(lambda: defaultdict(list))
    for min_children, age_min, age_max, needs_tier, category, benefit_id, at, _rank in rows:
        found[((min_children, age_min, age_max), bool(needs_tier))][category].append((at, benefit_id))
    return found


def _newest_first_rows(candidates: list[tuple[Any, uuid.UUID]], category: str, limit: int) -> list[_Listed]:
    """The ``limit`` newest of ``candidates`` in the catalogue's order: newest first, then by id."""
    # Newest first, and by id where two are as new: the id negated, as a number (UUIDs compare slowly).
    ordered = heapq.nlargest(limit, candidates, key=lambda row: (row[0], -row[1].int))
    return [_Listed(benefit_id, category, at) for at, benefit_id in ordered]


def _may_use(conditions: Conditions, family: rules.FamilyFacts, today: dt.date) -> bool:
    """:func:`_usable` in Python, for a set of conditions."""
    min_children, age_min, age_max = conditions.shape
    benefit = rules.BenefitRules(
        min_children=min_children,
        child_age_min=age_min,
        child_age_max=age_max,
        requires_entitlement=conditions.needs_tier,
    )
    return rules.family_may_use(benefit, family, today) is None


def _tally(session: Session, family: rules.FamilyFacts, today: dt.date, *, growth: bool = True) -> _Tally:
    """How many visible benefits of each category the family may use, and (``growth``) when it grows into the
    others: from the visible benefits' sets of conditions (:func:`visible_conditions`), each judged once by the
    rules (:mod:`rules`). A category's own page needs only the first."""
    tally = _Tally()
    for conditions in visible_conditions(session, today):
        if _may_use(conditions, family, today):
            for category, number in conditions.by_category.items():
                tally.usable[category] = tally.usable.get(category, 0) + number
            for category, newest in conditions.newest.items():
                tally.candidates.setdefault(category, []).extend(newest)
            continue
        grows = _judge(conditions.shape, conditions.needs_tier, family, today) if growth else None
        if grows is not None:
            tally.grown[conditions.shape] = grows
            coming = conditions.still_offered(grows[0])
            if coming:
                tally.coming[grows[0]] = tally.coming.get(grows[0], 0) + coming
    return tally


def _judge(
    shape: Shape, needs_tier: bool, family: rules.FamilyFacts, today: dt.date
) -> tuple[dt.date, int | None] | None:
    """(day, age reached) when the family, which may not use benefits of these conditions today, grows into them;
    None when it does not."""
    conditions = rules.BenefitRules(
        min_children=shape[0], child_age_min=shape[1], child_age_max=shape[2], requires_entitlement=needs_tier
    )
    if not _may_grow_into(conditions, family, today):
        return None
    day = rules.eligible_from(conditions, family, today)
    return None if day is None else (day, _child_that_grew(conditions, family, day))


def _newest_first() -> tuple[Any, Any]:
    """The catalogue's default order, read from ``ix_benefits_published_newest`` (``..._category_newest`` in a
    category)."""
    return func.coalesce(Benefit.published_at, Benefit.created_at).desc(), Benefit.id


def _usable_newest_first(family: rules.FamilyFacts, today: dt.date) -> Select[uuid.UUID, str, dt.datetime]:
    """The visible benefits the family may use, newest first; a category's are read from
    ``ix_benefits_published_category_newest``."""
    return (
        select(Benefit.id, Benefit.category, func.coalesce(Benefit.published_at, Benefit.created_at).label("newest"))
        .join(Partner, Partner.id == Benefit.partner_id)
        .where(visible(today), _usable(family, today))
        .order_by(*_newest_first())
    )


def _of_shape(shape: Shape) -> ColumnElement[bool]:
    min_children, age_min, age_max = shape
    return and_(
        Benefit.min_children == min_children,
        Benefit.child_age_min.is_(None) if age_min is None else Benefit.child_age_min == age_min,
        Benefit.child_age_max.is_(None) if age_max is None else Benefit.child_age_max == age_max,
    )


def _coming_up(
    session: Session, family: rules.FamilyFacts, today: dt.date, tally: _Tally
) -> list[tuple[uuid.UUID, dt.date, int | None]]:
    """The soonest FINDER_COMING_UP_SHOWN (benefit, day, age reached) the family grows into before they end: day
    by day, newest first within a day, asking only for the days the tally found benefits on."""
    soon: list[tuple[uuid.UUID, dt.date, int | None]] = []
    for day in sorted(tally.coming):
        wanted = FINDER_COMING_UP_SHOWN - len(soon)
        if wanted <= 0:
            break
        shapes = [shape for shape, (on, _age) in tally.grown.items() if on == day]
        conditions = [
            visible(today),
            or_(*(_of_shape(shape) for shape in shapes)),
            or_(Benefit.valid_until.is_(None), Benefit.valid_until >= day),
        ]
        if not family.entitled:
            conditions.append(Benefit.requires_entitlement.is_(False))
        rows = session.execute(
            select(Benefit.id, Benefit.min_children, Benefit.child_age_min, Benefit.child_age_max)
            .join(Partner, Partner.id == Benefit.partner_id)
            .where(*conditions)
            .order_by(*_newest_first())
            .limit(wanted)
        ).all()
        soon.extend((row.id, *tally.grown[(row.min_children, row.child_age_min, row.child_age_max)]) for row in rows)
    return soon


def find_benefits(
    session: Session,
    *,
    family: rules.FamilyFacts,
    locale: str,
    today: dt.date,
    category: str | None = None,
    page: int = 1,
) -> FinderResult:
    """The visible benefits the family may use (``rules.family_may_use``), grouped by category in the
    vocabulary's order, newest first, and the ones it will be able to use when a child reaches an age, soonest
    first. Without ``category`` the overview: FINDER_SHOWN_PER_CATEGORY of each category and the soonest
    FINDER_COMING_UP_SHOWN coming up; with it, page ``page`` of that category's benefits."""
    tally = _tally(session, family, today, growth=category is None)
    order = list(CATEGORIES)
    categories = sorted(tally.usable, key=lambda c: order.index(c) if c in order else len(order))
    soon: list[tuple[uuid.UUID, dt.date, int | None]] = []
    soon_total = 0
    # Each category's rows newest first, then by id: as the catalogue orders them.
    rows: Sequence[Any] = []
    if category is None:
        # The newest of each category from the remembered groups (their cards are read below, visible ones only).
        rows = [
            row
            for code in categories
            for row in _newest_first_rows(tally.candidates.get(code, []), code, FINDER_SHOWN_PER_CATEGORY)
        ]
        # Which benefits come up is remembered like the tally (their cards are read below, visible ones only).
        soon = remembered(session, ("coming_up", family, today), lambda: _coming_up(session, family, today, tally))
        soon_total = tally.coming_total
    elif category in tally.usable:
        categories = [category]
        offset = (page - 1) * FINDER_PER_PAGE
        usable = _usable_newest_first(family, today).where(Benefit.category == category)
        rows = session.execute(usable.limit(FINDER_PER_PAGE).offset(offset)).all()
    else:
        categories = []
    ids = [*(row.id for row in rows), *(s[0] for s in soon)]
    cards = {card.id: card for card in _cards_by_id(session, ids, locale, visible_on=today)}
    groups = [
        FinderGroup(
            code,
            i18n.gettext(CATEGORIES.get(code, N_("Other"))),
            [cards[row.id] for row in rows if row.category == code and row.id in cards],
            tally.usable[code],
        )
        for code in categories
    ]
    coming = [ComingUp(cards[benefit_id], day, age) for benefit_id, day, age in soon if benefit_id in cards]
    return FinderResult(groups, coming, soon_total, sum(tally.usable.values()), category, page)


def _cards_by_id(
    session: Session, ids: Sequence[uuid.UUID], locale: str, *, visible_on: dt.date | None = None
) -> list[BenefitCard]:
    """The cards of these benefits, in the order of ``ids``; with ``visible_on``, of those visible that day only.

    With ``visible_on`` (the finder, whose ids are remembered for a few seconds and may name a benefit paused since)
    which of them are visible is asked afresh, and their cards are remembered by the process like the finder's
    groups (:mod:`familienkarte.catalogue.counts`): a text changed by another process shows after that time."""
    if visible_on is None:
        return _read_cards(session, ids, locale)
    shown: set[uuid.UUID] = set()
    for chunk in _slices(ids):
        shown.update(
            session.scalars(
                select(Benefit.id)
                .join(Partner, Partner.id == Benefit.partner_id)
                .where(Benefit.id.in_(chunk), visible(visible_on))
            )
        )
    wanted = tuple(benefit_id for benefit_id in ids if benefit_id in shown)
    return remembered(session, ("cards", locale, visible_on, wanted), lambda: _read_cards(session, wanted, locale))


def _slices(ids: Sequence[uuid.UUID]) -> list[Sequence[uuid.UUID]]:
    """``ids`` in slices, so that an IN list stays within every database's limit on parameters."""
    return [ids[start : start + 500] for start in range(0, len(ids), 500)]


def _read_cards(session: Session, ids: Sequence[uuid.UUID], locale: str) -> list[BenefitCard]:
    cards: dict[uuid.UUID | None, BenefitCard] = {}
    for chunk in _slices(ids):
        rows = session.execute(card_rows().where(Benefit.id.in_(chunk))).all()
        cards.update((card.id, card) for card in _cards(session, rows, locale))
    return [cards[benefit_id] for benefit_id in ids if benefit_id in cards]


def read_family_form(params: Mapping[str, Any], today: dt.date) -> rules.FamilyFacts:
    """A family from the finder's form: ``adults`` (1 to 10), ``children`` (ages 0 to 26, separated by commas or
    spaces, at most 12), ``tier`` (any non-empty value but ``0``/``false``: the family has the city's tier)."""
    errors: list[FieldError] = []
    adults = whole_param(
        params, "adults", 1, FINDER_MAX_ADULTS, N_("The number of adults must be from %(min)s to %(max)s."), errors
    )
    if adults is None and _text(params, "adults") is None:
        errors.append(FieldError("adults", N_("Please enter the number of adults.")))
    ages: list[int] = []
    raw = (_text(params, "children") or "").replace(",", " ").replace(";", " ").split()
    if len(raw) > FINDER_MAX_CHILDREN:
        errors.append(
            FieldError("children", N_("Please enter at most %(max)s children."), {"max": FINDER_MAX_CHILDREN})
        )
    else:
        for value in raw:
            if not value.isdigit() or not 0 <= int(value) <= MAX_AGE:
                errors.append(
                    FieldError(
                        "children",
                        N_("Each child's age must be a whole number from 0 to %(max)s."),
                        {"max": MAX_AGE},
                    )
                )
                break
            ages.append(int(value))
    if errors:
        raise InvalidInput(errors)
    tier = (_text(params, "tier") or "").lower() not in ("", "0", "false", "no", "off")
    return rules.FamilyFacts(
        adults=adults or 1,
        children=tuple(sorted(rules.year_month_for_age(age, today) for age in ages)),
        flags=rules.TIER_FLAG if tier else 0,
    )


def family_of_card(session: Session, principal: Principal) -> rules.FamilyFacts:
    """The family as its card carries it (CREDENTIAL.md): its adults, its children's birth (or expected) months and
    the tier flag staff approved. Only for a family whose household has a card."""
    if principal.role != Role.FAMILY or principal.user_id is None:
        raise NoFamilyCard()
    household_id = session.scalar(
        select(HouseholdAdult.household_id)
        .join(Card, Card.household_id == HouseholdAdult.household_id)
        .where(HouseholdAdult.user_id == principal.user_id)
        .limit(1)
    )
    if household_id is None:
        raise NoFamilyCard()
    household = session.get(Household, household_id)
    assert household is not None
    adults = session.scalar(select(func.count()).where(HouseholdAdult.household_id == household_id)) or 1
    months = session.execute(
        select(Child.birth_date, Child.expected_date).where(Child.household_id == household_id)
    ).all()
    children = tuple(
        sorted(day.year * 100 + day.month for birth, expected in months if (day := birth or expected) is not None)
    )
    return rules.FamilyFacts(
        adults=int(adults), children=children, flags=rules.TIER_FLAG if household.tier_approved else 0
    )


@dataclass(frozen=True)
class FinderView:
    """The finder page: the form (values and errors), whether the reader may use their card, and the result."""

    form: dict[str, str]
    errors: dict[str, str]
    can_use_card: bool
    from_card: bool
    ages: list[int]
    result: FinderResult | None

    def url(self, category: str | None = None, page: int = 1) -> str:
        """The finder for the same family: the overview, or a page of one category."""
        values = {"mine": "1"} if self.from_card else {name: value for name, value in self.form.items() if value}
        if category is not None:
            values["category"] = category
        if page != 1:
            values["page"] = str(page)
        return f"/finder?{urlencode(values)}"


def _wants_card(params: Mapping[str, Any]) -> bool:
    return (_text(params, "mine") or "") not in ("", "0")


def _finder_page(params: Mapping[str, Any]) -> tuple[str | None, int]:
    """The category and page asked for (a link of the finder's own): unknown ones are refused."""
    errors: list[FieldError] = []
    category = _text(params, "category")
    if category is not None and category not in CATEGORIES:
        errors.append(FieldError("category", N_("There is no category %(value)s."), {"value": category}))
    page = whole_param(params, "page", 1, MAX_PAGE, PAGE_MESSAGE, errors)
    if errors:
        raise InvalidInput(errors)
    return category, page or 1


def finder_view(
    session: Session, params: Mapping[str, Any], principal: Principal | None, *, locale: str, today: dt.date
) -> FinderView:
    """The finder for URL parameters: nothing asked yet, the family from the form, or (``mine=1``, signed in as a
    family) from their own card; ``category`` and ``page`` choose a page of one category."""
    form = {name: str(params.get(name) or "") for name in ("adults", "children", "tier")}
    can_use_card = principal is not None and principal.role == Role.FAMILY
    asked = _wants_card(params) or any(form.values())
    if not asked:
        return FinderView(form, {}, can_use_card, False, [], None)
    from_card = _wants_card(params)
    try:
        category, page = _finder_page(params)
        if from_card:
            if principal is None:
                raise NoFamilyCard()
            family = family_of_card(session, principal)
        else:
            family = read_family_form(params, today)
    except InvalidInput as exc:
        return FinderView(form, i18n.field_messages(exc.errors), can_use_card, False, [], None)
    except NoFamilyCard as exc:
        return FinderView(form, {"mine": i18n.gettext(exc.message)}, can_use_card, True, [], None)
    result = find_benefits(session, family=family, locale=locale, today=today, category=category, page=page)
    return FinderView(form, {}, can_use_card, from_card, rules.ages(family, today), result)


# Open data -----------------------------------------------------------------------------------------------------


def _visible_counts_by_location(session: Session, today: dt.date) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(benefit_locations.c.location_id, func.count(Benefit.id))
        .join(Benefit, Benefit.id == benefit_locations.c.benefit_id)
        .join(Partner, Partner.id == Benefit.partner_id)
        .where(visible(today))
        .group_by(benefit_locations.c.location_id)
    ).all()
    return {location_id: int(count) for location_id, count in rows}


def _visible_counts_by_partner(session: Session, today: dt.date) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(Benefit.partner_id, func.count(Benefit.id))
        .join(Partner, Partner.id == Benefit.partner_id)
        .where(visible(today))
        .group_by(Benefit.partner_id)
    ).all()
    return {partner_id: int(count) for partner_id, count in rows}


def mapped_locations(category: str | None = None) -> Select[Location, str, str | None]:
    """(location, partner name, partner category) of every place on the map: the active locations with
    coordinates of approved partners; the GeoJSON and the map page's list both come from here."""
    query = (
        select(Location, Partner.name, Partner.category)
        .join(Partner, Partner.id == Location.partner_id)
        .where(
            Partner.status == PartnerStatus.APPROVED.value,
            Location.is_active.is_(True),
            Location.latitude.is_not(None),
            Location.longitude.is_not(None),
        )
    )
    return query if category is None else query.where(Partner.category == category)


def _remembered_json(session: Session, key: tuple[Any, ...], build: Callable[[], Any]) -> bytes:
    """``build()`` encoded as JSON, remembered by the process like the catalogue's counts
    (:mod:`familienkarte.catalogue.counts`): for the open data files, the same for every caller and large."""
    return remembered(session, key, lambda: msgspec.json.encode(build()))


def partners_geojson_encoded(session: Session, *, today: dt.date, base_url: str = "") -> bytes:
    """:func:`partners_geojson` as JSON, remembered. Every visit of the map loads it: at 8,000 places it took half a
    second of a web process and weighs 5 MB, the same for every visitor, so a process makes it once in a while."""
    return _remembered_json(
        session, ("geojson", today, base_url), lambda: partners_geojson(session, today=today, base_url=base_url)
    )


def benefits_open_data_encoded(session: Session, *, today: dt.date, base_url: str = "") -> bytes:
    """:func:`benefits_open_data` as JSON, remembered: at 20,000 benefits it took 2.5 s of a web process and weighs
    12 MB, and anyone may ask for it, so that repeated calls cannot keep the workers busy."""
    return _remembered_json(
        session,
        ("open data benefits", today, base_url),
        lambda: benefits_open_data(session, today=today, base_url=base_url),
    )


def partners_geojson(session: Session, *, today: dt.date, base_url: str = "") -> dict[str, Any]:
    """Every active location with coordinates of an approved partner as a GeoJSON FeatureCollection (RFC 7946:
    coordinates are longitude, latitude). Only facts about places: no contact of any person."""
    rows = session.execute(mapped_locations().order_by(Partner.name, Location.name, Location.id)).all()
    at_location = _visible_counts_by_location(session, today)
    of_partner = _visible_counts_by_partner(session, today)
    features = []
    for location, partner_name, category in rows:
        features.append(
            {
                "type": "Feature",
                "id": str(location.id),
                "geometry": {"type": "Point", "coordinates": [location.longitude, location.latitude]},
                "properties": {
                    "partner_id": str(location.partner_id),
                    "partner_name": partner_name,
                    "location_id": str(location.id),
                    "location_name": location.name,
                    "category": category,
                    "district": location.district,
                    "address": address_of(location),
                    "street": location.street,
                    "house_number": location.house_number,
                    "postal_code": location.postal_code,
                    "opening_hours": location.opening_hours or {},
                    "hours_note": location.hours_note or {},
                    "accessibility": list(location.accessibility or []),
                    "accessibility_note": location.accessibility_note or {},
                    "benefits": at_location.get(location.id, 0),
                    "partner_benefits": of_partner.get(location.partner_id, 0),
                    "url": f"{base_url}/partners/{location.partner_id}",
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _weekday_codes(mask: int) -> list[str]:
    codes = list(WEEKDAYS)
    return [codes[day] for day in rules.weekdays_of(mask)]


def benefits_open_data(session: Session, *, today: dt.date, base_url: str = "") -> dict[str, Any]:
    """Every visible benefit with its structured fields and its texts in every language, for other portals.
    Partner and location ids link it to ``partners.geojson``; nothing about any person is included."""
    rows = session.execute(
        select(Benefit, Partner.name)
        .join(Partner, Partner.id == Benefit.partner_id)
        .where(visible(today))
        .order_by(Benefit.partner_id, Benefit.id)
    ).all()
    links: dict[uuid.UUID, list[str]] = defaultdict(list)
    for benefit_id, location_id in session.execute(
        select(benefit_locations.c.benefit_id, benefit_locations.c.location_id)
        .join(Location, Location.id == benefit_locations.c.location_id)
        .join(Benefit, Benefit.id == benefit_locations.c.benefit_id)
        .join(Partner, Partner.id == Benefit.partner_id)
        .where(visible(today), Location.is_active.is_(True))
    ).all():
        links[benefit_id].append(str(location_id))
    benefits = []
    for benefit, partner_name in rows:
        benefits.append(
            {
                "id": str(benefit.id),
                "partner_id": str(benefit.partner_id),
                "partner_name": partner_name,
                "location_ids": sorted(links.get(benefit.id, [])),
                "category": benefit.category,
                "kind": benefit.kind,
                "value": benefit.value,
                "title": dict(benefit.title or {}),
                "description": dict(benefit.description or {}),
                "conditions": dict(benefit.conditions or {}),
                "valid_from": _iso(benefit.valid_from),
                "valid_until": _iso(benefit.valid_until),
                "weekdays": _weekday_codes(benefit.weekdays),
                "min_children": benefit.min_children,
                "child_age_min": benefit.child_age_min,
                "child_age_max": benefit.child_age_max,
                "requires_entitlement": benefit.requires_entitlement,
                "limit_count": benefit.limit_count,
                "limit_period": benefit.limit_period,
                "max_quantity": benefit.max_quantity,
                "total_quota": benefit.total_quota,
                "published_at": benefit.published_at.isoformat() if benefit.published_at else None,
                "url": f"{base_url}/benefits/{benefit.id}",
            }
        )
    return {"generated_on": today.isoformat(), "count": len(benefits), "benefits": benefits}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
