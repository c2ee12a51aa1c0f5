"""Public transport stops near a place, from the stops a city imported from its GTFS feed.

The import itself (``familienkarte transit import FILE``) lives beside this; here is what the partner page asks:
the nearest stops with their walking distance. Distances are great-circle distances; walking time assumes
:data:`WALKING_METRES_PER_MINUTE` and a detour factor, which is what people expect from "about 5 minutes' walk".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.partners.models import TransitStop

EARTH_RADIUS_M: Final = 6_371_000.0
WALKING_METRES_PER_MINUTE: Final = 75.0
# Streets are not straight lines: walking distance is about this much longer than the distance as the crow flies.
DETOUR: Final = 1.3
SEARCH_RADIUS_M: Final = 1500.0


@dataclass(frozen=True)
class NearbyStop:
    stop_id: str
    name: str
    distance_m: int
    walk_minutes: int


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def walking(distance: float) -> tuple[int, int]:
    """(walking distance in metres, minutes), rounded the way a page shows them."""
    walk = distance * DETOUR
    return int(round(walk / 10) * 10), max(1, math.ceil(walk / WALKING_METRES_PER_MINUTE))


def nearest_stops(
    session: Session, latitude: float, longitude: float, *, limit: int = 3, radius_m: float = SEARCH_RADIUS_M
) -> list[NearbyStop]:
    """The ``limit`` stops nearest to the place within ``radius_m``, nearest first; a bounding box on the index
    narrows the candidates before the exact distance is computed."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(0.01, math.cos(math.radians(latitude)))))
    rows = session.execute(
        select(TransitStop.stop_id, TransitStop.name, TransitStop.latitude, TransitStop.longitude).where(
            TransitStop.latitude.between(latitude - dlat, latitude + dlat),
            TransitStop.longitude.between(longitude - dlon, longitude + dlon),
        )
    ).all()
    found = []
    for stop_id, name, lat, lon in rows:
        distance = distance_m(latitude, longitude, lat, lon)
        if distance <= radius_m:
            found.append((distance, stop_id, name))
    found.sort()
    result = []
    for distance, stop_id, name in found[:limit]:
        metres, minutes = walking(distance)
        result.append(NearbyStop(stop_id, name, metres, minutes))
    return result
