"""What goes into and comes out of the card services."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from familienkarte.cards.eligibility import ChildFacts, EligibilityResult


@dataclass(frozen=True)
class AdultInput:
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class ApplicationInput:
    """An application read and checked field by field (not yet against the eligibility rules)."""

    adults: list[AdultInput]
    children: list[ChildFacts]
    street: str
    house_number: str
    postal_code: str
    district: str
    locale: str
    tier_number: str | None
    main_residence: bool


@dataclass(frozen=True)
class ApplicationReceived:
    application_id: uuid.UUID
    status: str
    card_number: str | None = None


@dataclass(frozen=True)
class ApplicationRow:
    id: uuid.UUID
    status: str
    submitted_at: dt.datetime
    names: str
    district: str
    children: int
    tier_claimed: bool


@dataclass(frozen=True)
class ApplicationPage:
    rows: list[ApplicationRow]
    total: int
    page: int
    per_page: int
    status: str | None

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


@dataclass(frozen=True)
class ChildRead:
    first_name: str
    birth_date: dt.date | None
    expected_date: dt.date | None
    has_disability: bool
    age: int | None


@dataclass(frozen=True)
class AdultRead:
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class CardRead:
    id: uuid.UUID
    number: str
    formatted_number: str
    status: str
    valid_from: dt.date
    valid_until: dt.date


@dataclass(frozen=True)
class ApplicationDetail:
    id: uuid.UUID
    status: str
    submitted_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str | None
    decision_reason: str | None
    info_request: str | None
    refused_rules: list[str]
    street: str
    house_number: str
    postal_code: str
    city_name: str
    district: str
    locale: str
    tier_claimed: bool
    tier_number: str | None
    adults: list[AdultRead]
    children: list[ChildRead]
    eligibility: EligibilityResult
    checked_on: dt.date
    card: CardRead | None = None
    decidable: bool = field(default=False)
