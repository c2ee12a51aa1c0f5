"""The partner locations the public map shows, and the same places as a list for everyone the map does not serve.

A location is on the map when it is active, has coordinates and belongs to an approved partner; the page lists
exactly these, so that the list and the markers (from ``GET /api/v1/partners.geojson``) never disagree.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.catalogue.counts import remembered
from familienkarte.catalogue.services import MAX_PAGE, PAGE_MESSAGE, address_of, mapped_locations, whole_param
from familienkarte.errors import FieldError, InvalidInput
from familienkarte.partners.models import Location, Partner
from familienkarte.partners.vocabulary import CATEGORIES

MAP_PATH: Final = "/map"


def partner_page_url(partner_id: uuid.UUID) -> str:
    """The public page of a partner, which each place on the map links to."""
    return f"/partners/{partner_id}"


@dataclass(frozen=True)
class MapLocation:
    partner_id: uuid.UUID
    partner_name: str
    location_id: uuid.UUID
    location_name: str
    category: str | None
    district: str | None
    address: str
    latitude: float
    longitude: float

    @property
    def url(self) -> str:
        return partner_page_url(self.partner_id)


# Places listed per page below the map (the map itself shows every place).
MAP_PER_PAGE: Final = 50


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` places fill (one, empty, when there are none)."""
    return max(1, math.ceil(total / per_page))


@dataclass(frozen=True)
class MapPage:
    """One page of the list below the map. ``total`` counts every place of the chosen category."""

    locations: list[MapLocation]
    # The category codes that have places on the map, in the vocabulary's order (the filter offers only these).
    categories: list[str]
    category: str | None
    total: int = 0
    page: int = 1
    per_page: int = MAP_PER_PAGE

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def first(self) -> int:
        """The number of the first place of this page in the whole list (from 1)."""
        return (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return self.first + len(self.locations) - 1

    def url(self, page: int) -> str:
        params = {"category": self.category} if self.category else {}
        if page > 1:
            params["page"] = str(page)
        return f"{MAP_PATH}?{urlencode(params)}" if params else MAP_PATH


# What the list shows of a place, as plain columns (a ``Location`` would also load and parse its opening hours and
# accessibility notes, which only the map's popups show).
PLACE_COLUMNS: Final = (
    Location.id,
    Location.partner_id,
    Location.name,
    Location.street,
    Location.house_number,
    Location.postal_code,
    Location.district,
    Location.latitude,
    Location.longitude,
    Partner.name.label("partner_name"),
    Partner.category.label("partner_category"),
)


def _as_place(row: Any) -> MapLocation:
    # Checked by the query; the model allows None for locations without coordinates.
    assert row.latitude is not None
    assert row.longitude is not None
    return MapLocation(
        partner_id=row.partner_id,
        partner_name=row.partner_name,
        location_id=row.id,
        location_name=row.name,
        category=row.partner_category,
        district=row.district,
        # The same address as the map's popups (the GeoJSON's ``address``).
        address=address_of(row),
        latitude=row.latitude,
        longitude=row.longitude,
    )


def read_page(raw: str | None) -> int:
    """The page of the list asked for (``?page=``, from 1), as the catalogue reads its pages; refused with a
    message naming the field."""
    errors: list[FieldError] = []
    page = whole_param({"page": raw}, "page", 1, MAX_PAGE, PAGE_MESSAGE, errors)
    if errors:
        raise InvalidInput(errors)
    return page or 1


def _places_in_order(session: Session, category: str | None) -> tuple[uuid.UUID, ...]:
    """The ids of the places of ``category`` (every category: None) in the list's order: partner name, location
    name. The same for every reader, and so remembered by the process like the catalogue's counts
    (:mod:`familienkarte.catalogue.counts`): sorting every place was most of a big city's map page."""

    def read() -> tuple[uuid.UUID, ...]:
        ordered = (
            mapped_locations(category)
            .with_only_columns(Location.id, maintain_column_froms=True)
            .order_by(func.lower(Partner.name), func.lower(Location.name), Location.id)
        )
        return tuple(session.scalars(ordered))

    return remembered(session, ("map places", category), read)


def _categories_on_map(session: Session) -> frozenset[str]:
    def read() -> frozenset[str]:
        return frozenset(
            code for code in session.scalars(select(mapped_locations().subquery().c.category).distinct()) if code
        )

    return remembered(session, ("map categories",), read)


def map_page(session: Session, category: str | None = None, page: int = 1) -> MapPage:
    """The places for the map page, filtered by a category code, one page of ``MAP_PER_PAGE`` in the order of
    partner name and location name; a page after the last shows the last (places may have gone since the link was
    made). An unknown category code (an old link) filters nothing.

    A big city has thousands of places (8,079 at 5,000 partners): listing all of them made the page take a second
    and weigh megabytes on a phone; the map still shows every one (its markers come from the GeoJSON). The order of
    the places, the categories present and each page's places are remembered for a few seconds, as the map's markers
    are (:func:`familienkarte.catalogue.services.partners_geojson_encoded`): the list and the map change together,
    at once for a change made in this process, after at most the remembered time for one made elsewhere."""
    chosen = category if category in CATEGORIES else None
    order = _places_in_order(session, chosen)
    total = len(order)
    page = min(page, page_count(total, MAP_PER_PAGE))
    wanted = order[(page - 1) * MAP_PER_PAGE : page * MAP_PER_PAGE]

    def read_places() -> list[MapLocation]:
        shown = mapped_locations(chosen).with_only_columns(*PLACE_COLUMNS, maintain_column_froms=True)
        rows = session.execute(shown.where(Location.id.in_(wanted))).all() if wanted else []
        position = {location_id: number for number, location_id in enumerate(wanted)}
        return [_as_place(row) for row in sorted(rows, key=lambda row: position[row.id])]

    places = remembered(session, ("map places of page", chosen, wanted), read_places)
    present = _categories_on_map(session)
    return MapPage(
        locations=places,
        categories=[code for code in CATEGORIES if code in present],
        category=chosen,
        total=total,
        page=page,
        per_page=MAP_PER_PAGE,
    )


@dataclass(frozen=True)
class MapView:
    """The map page: one page of the list, and the message for a page number that could not be read (the first
    page is shown then)."""

    page: MapPage
    errors: dict[str, str]


def map_view(session: Session, category: str | None, raw_page: str | None) -> MapView:
    try:
        number = read_page(raw_page)
    except InvalidInput as exc:
        messages = i18n.field_messages(exc.errors)
        return MapView(map_page(session, category), messages)
    return MapView(map_page(session, category, number), {})
