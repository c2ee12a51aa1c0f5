"""The partner locations the public map shows, and the same places as a list for everyone the map does not serve.

A location is on the map when it is active, has coordinates and belongs to an approved partner; the page lists
exactly these, so that the list and the markers (from ``GET /api/v1/partners.geojson``) never disagree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from familienkarte.catalogue.services import address_of, mapped_locations
from familienkarte.partners.vocabulary import CATEGORIES


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


@dataclass(frozen=True)
class MapPage:
    locations: list[MapLocation]
    # The category codes that have places on the map, in the vocabulary's order (the filter offers only these).
    categories: list[str]
    category: str | None


def visible_locations(session: Session, category: str | None = None) -> list[MapLocation]:
    """Active locations with coordinates of approved partners, by partner name and location name."""
    found = []
    for location, partner_name, partner_category in session.execute(mapped_locations(category)):
        # Checked by the query; the model allows None for locations without coordinates.
        assert location.latitude is not None
        assert location.longitude is not None
        found.append(
            MapLocation(
                partner_id=location.partner_id,
                partner_name=partner_name,
                location_id=location.id,
                location_name=location.name,
                category=partner_category,
                district=location.district,
                # The same address as the map's popups (the GeoJSON's ``address``).
                address=address_of(location),
                latitude=location.latitude,
                longitude=location.longitude,
            )
        )
    found.sort(key=lambda m: (m.partner_name.casefold(), m.location_name.casefold(), str(m.location_id)))
    return found


def map_page(session: Session, category: str | None = None) -> MapPage:
    """The places for the map page, filtered by a category code; an unknown code (an old link) filters nothing."""
    chosen = category if category in CATEGORIES else None
    every = visible_locations(session)
    present = {location.category for location in every}
    shown = every if chosen is None else [location for location in every if location.category == chosen]
    return MapPage(locations=shown, categories=[code for code in CATEGORIES if code in present], category=chosen)
