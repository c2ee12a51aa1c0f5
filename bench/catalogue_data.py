"""Generated partners, locations and benefits at a big city's size, for the catalogue benchmark.

Deterministic (a seeded random generator), written with bulk inserts so that 5,000 partners and 20,000 benefits
take seconds, not minutes. The mix is plausible rather than real: categories, kinds, districts, ages and validity
windows spread the way a catalogue's filters meet them, about 5 % of partners suspended or pending and about 15 %
of benefits in a state families do not see.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

import familienkarte.models  # noqa: F401  (every table known, for the foreign keys)
from familienkarte.benefits.models import ALL_WEEKDAYS, Benefit, BenefitKind, BenefitStatus, benefit_locations
from familienkarte.city import City
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.partners.vocabulary import CATEGORIES

WORDS = [
    "Zoo",
    "Museum",
    "Schwimmbad",
    "Kletterhalle",
    "Theater",
    "Kino",
    "Bücherei",
    "Eis",
    "Pizza",
    "Fahrrad",
    "Zirkus",
    "Sternwarte",
    "Bauernhof",
    "Musikschule",
    "Tanz",
    "Judo",
    "Reiten",
    "Minigolf",
    "Trampolin",
    "Spielplatz",
    "Bäckerei",
    "Buchhandlung",
    "Spielwaren",
    "Schuhe",
    "Optiker",
]
ENGLISH = {"Zoo": "zoo", "Museum": "museum", "Schwimmbad": "swimming pool", "Theater": "theatre", "Kino": "cinema"}
BATCH = 2000


@dataclass(frozen=True)
class Generated:
    partners: int
    locations: int
    benefits: int


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def generate(
    session: Session, city: City, *, partners: int = 5000, benefits: int = 20000, seed: int = 20261123
) -> Generated:
    rng = random.Random(seed)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    today = now.date()
    categories = list(CATEGORIES)
    kinds = list(BenefitKind)
    codes = sorted(city.postal_codes)
    partner_rows: list[dict[str, Any]] = []
    location_rows: list[dict[str, Any]] = []
    locations_of: dict[uuid.UUID, list[uuid.UUID]] = {}
    for number in range(partners):
        partner_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        status = rng.choices(
            [PartnerStatus.APPROVED, PartnerStatus.SUSPENDED, PartnerStatus.PENDING], weights=[95, 3, 2]
        )[0]
        word = rng.choice(WORDS)
        partner_rows.append(
            {
                "id": partner_id,
                "name": f"{word} {number}",
                "status": status.value,
                "category": rng.choice(categories),
                "description": {"de": f"{word} für die ganze Familie, Nummer {number}."},
                "created_at": now,
                "updated_at": now,
            }
        )
        locations_of[partner_id] = []
        for index in range(rng.choice([1, 1, 1, 2, 3])):
            location_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            code = rng.choice(codes)
            location_rows.append(
                {
                    "id": location_id,
                    "partner_id": partner_id,
                    "name": f"{word} {number}/{index + 1}",
                    "street": "Hauptstraße",
                    "house_number": str(rng.randint(1, 200)),
                    "postal_code": code,
                    "district": rng.choice(city.postal_codes[code]),
                    "latitude": 50.94 + rng.uniform(-0.08, 0.08),
                    "longitude": 6.96 + rng.uniform(-0.12, 0.12),
                    "opening_hours": {"mon": [["09:00", "18:00"]]},
                    "hours_note": {},
                    "accessibility": ["step_free"] if rng.random() < 0.5 else [],
                    "accessibility_note": {},
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            locations_of[partner_id].append(location_id)
    benefit_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    partner_ids = list(locations_of)
    for number in range(benefits):
        partner_id = rng.choice(partner_ids)
        benefit_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        kind = rng.choice(kinds)
        word = rng.choice(WORDS)
        age_min = rng.choice([None, None, 0, 3, 6, 10])
        age_max = rng.choice([None, None, 12, 17]) if age_min is None or age_min <= 12 else None
        benefit_status = rng.choices(
            [BenefitStatus.PUBLISHED, BenefitStatus.DRAFT, BenefitStatus.PAUSED, BenefitStatus.SUBMITTED],
            weights=[85, 8, 4, 3],
        )[0]
        ends = rng.random() < 0.3
        title = {"de": f"{word}: Angebot {number}"}
        if word in ENGLISH and rng.random() < 0.5:
            title["en"] = f"{ENGLISH[word]}: offer {number}"
        benefit_rows.append(
            {
                "id": benefit_id,
                "partner_id": partner_id,
                "status": benefit_status.value,
                "category": rng.choice(categories),
                "kind": kind.value,
                "value": rng.randint(5, 50)
                if kind is BenefitKind.PERCENT_OFF
                else (rng.randint(100, 2000) if kind in (BenefitKind.AMOUNT_OFF, BenefitKind.SPECIAL_PRICE) else None),
                "title": title,
                "description": {"de": f"Für Familien mit Familienkarte: {word} günstiger."},
                "conditions": {},
                "valid_from": None,
                "valid_until": today + dt.timedelta(days=rng.randint(-60, 400)) if ends else None,
                "weekdays": ALL_WEEKDAYS,
                "min_children": rng.choice([0, 0, 0, 1, 2, 3]),
                "child_age_min": age_min,
                "child_age_max": age_max,
                "requires_entitlement": rng.random() < 0.1,
                "limit_count": None,
                "limit_period": None,
                "total_quota": None,
                "max_quantity": 1,
                "published_at": now - dt.timedelta(days=rng.randint(0, 700)),
                "created_at": now,
                "updated_at": now,
            }
        )
        for location_id in locations_of[partner_id]:
            link_rows.append({"benefit_id": benefit_id, "location_id": location_id})
    for target, rows in ((Partner, partner_rows), (Location, location_rows), (Benefit, benefit_rows)):
        for chunk in _chunks(rows):
            session.execute(insert(target), chunk)
    for chunk in _chunks(link_rows):
        session.execute(insert(benefit_locations), chunk)
    return Generated(len(partner_rows), len(location_rows), len(benefit_rows))
