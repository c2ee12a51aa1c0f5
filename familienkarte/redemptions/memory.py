"""A web process's short memory of what every scan at a till reads: the partner, the location, the partner's
benefits and the scanned card's row, so that a verification needs no database at all and a redemption only its
write.

Everything is kept for a few seconds per process (one :class:`PointOfSaleMemory` per web process, in
``familienkarte.runtime``). How long a change takes to reach a till:

- A change made in this process (a partner suspended, a location closed, a benefit paused, edited, moved to
  other locations, a card changed; any ORM write of a ``Partner``, ``Location``, ``Benefit`` or ``Card``, also
  bulk ``INSERT``/``UPDATE``/``DELETE`` through a session, and Core writes of ``benefit_locations`` through a
  session) makes every memory of the process forget everything at once, and again when that transaction commits.
- A change made in another process (the other web worker, a Celery worker, the command line) reaches this one
  within :data:`TTL_SECONDS`: a benefit paused there can be shown, and redeemed, here at most that much longer.
  A card's row (its id and end of validity) is kept :data:`CARD_TTL_SECONDS`: a card's new end of validity is
  shown that much later. Revoking or suspending a card is not affected: that is the status list's business
  (:class:`familienkarte.credentials.services.VerifierCache`, 5 s).
- Uses left and quotas are never remembered: they are counted in the database on every scan that needs them.

What was read is remembered only when nothing changed in this process while it was read (the same rule as the
API key cache): a read that raced with a change is not kept.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.benefits import rules
from familienkarte.benefits.models import Benefit, benefit_locations
from familienkarte.cards.models import Card
from familienkarte.partners.models import Location, Partner
from familienkarte.write_watch import WriteWatch, writes_tables

T = TypeVar("T")

# The most a change made in another process stays unseen here (see the module): partners, locations, benefits.
TTL_SECONDS: Final = 5.0
# The same for a card's row (its id and end of validity, which change rarely; its status is the status list's).
CARD_TTL_SECONDS: Final = 60.0
# Cards remembered at most; beyond that the memory of cards starts again empty.
MAX_CARDS: Final = 50_000
_WATCHED_CLASSES: Final = (Partner, Location, Benefit, Card)
_WATCHED_TABLES: Final = frozenset(
    {Partner.__tablename__, Location.__tablename__, Benefit.__tablename__, Card.__tablename__, benefit_locations.name}
)


_watch = WriteWatch("pos_memory", _WATCHED_CLASSES, writes_tables(_WATCHED_TABLES))
# A number that changes whenever partners, locations, benefits or cards were written in this process.
generation = _watch.generation
forget_all = _watch.forget_all


def _monotonic() -> float:
    return time.monotonic()


@dataclass(frozen=True)
class PartnerFacts:
    id: uuid.UUID
    status: str


@dataclass(frozen=True)
class LocationFacts:
    id: uuid.UUID
    partner_id: uuid.UUID
    is_active: bool


@dataclass(frozen=True)
class BenefitFacts:
    """A benefit as the till needs it (the same names as :class:`~familienkarte.benefits.models.Benefit`)."""

    id: uuid.UUID
    partner_id: uuid.UUID
    status: str
    title: dict[str, str]
    kind: str
    value: int | None
    max_quantity: int
    limit_count: int | None
    limit_period: str | None
    total_quota: int | None
    published_at: dt.datetime | None
    location_ids: frozenset[uuid.UUID]
    rules: rules.BenefitRules


@dataclass(frozen=True)
class CardRow:
    id: uuid.UUID
    valid_until: dt.date


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    until: float
    generation: int


class PointOfSaleMemory:
    """The process's memory (see the module). ``clock``: seconds, monotonic; a test passes its own."""

    def __init__(
        self, ttl: float = TTL_SECONDS, card_ttl: float = CARD_TTL_SECONDS, clock: Callable[[], float] | None = None
    ) -> None:
        self._ttl = ttl
        self._card_ttl = card_ttl
        self._clock = clock or (lambda: _monotonic())
        self._partners: dict[uuid.UUID, _Entry[PartnerFacts | None]] = {}
        self._locations: dict[uuid.UUID, _Entry[LocationFacts | None]] = {}
        self._benefits: dict[uuid.UUID, _Entry[tuple[BenefitFacts, ...]]] = {}
        # A card number not known here is remembered too (None): another deployment's card.
        self._cards: dict[str, _Entry[CardRow | None]] = {}

    def _get(self, entries: dict[Any, _Entry[T]], key: Any) -> _Entry[T] | None:
        entry = entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation() or entry.until <= self._clock():
            entries.pop(key, None)
            return None
        return entry

    def _put(
        self, entries: dict[Any, _Entry[T]], key: Any, value: T, looked_up_at: int, ttl: float | None = None
    ) -> None:
        if looked_up_at == generation():
            entries[key] = _Entry(value, self._clock() + (self._ttl if ttl is None else ttl), looked_up_at)

    # Each ``*_or_load`` answers from memory or reads through ``session`` (None: raise NeedsDatabase).

    def partner(self, session: Session | None, partner_id: uuid.UUID) -> PartnerFacts | None:
        entry = self._get(self._partners, partner_id)
        if entry is not None:
            return entry.value
        looked_up_at = generation()
        row = _need(session).execute(select(Partner.id, Partner.status).where(Partner.id == partner_id)).first()
        facts = PartnerFacts(row.id, row.status) if row else None
        self._put(self._partners, partner_id, facts, looked_up_at)
        return facts

    def location(self, session: Session | None, location_id: uuid.UUID) -> LocationFacts | None:
        entry = self._get(self._locations, location_id)
        if entry is not None:
            return entry.value
        looked_up_at = generation()
        row = (
            _need(session)
            .execute(select(Location.id, Location.partner_id, Location.is_active).where(Location.id == location_id))
            .first()
        )
        facts = LocationFacts(row.id, row.partner_id, bool(row.is_active)) if row else None
        self._put(self._locations, location_id, facts, looked_up_at)
        return facts

    def benefits(self, session: Session | None, partner_id: uuid.UUID) -> tuple[BenefitFacts, ...]:
        """Every benefit of the partner (any status), the published ones in the order of publication."""
        entry = self._get(self._benefits, partner_id)
        if entry is not None:
            return entry.value
        looked_up_at = generation()
        facts = load_benefits(_need(session), partner_id)
        self._put(self._benefits, partner_id, facts, looked_up_at)
        return facts

    def card(self, session: Session | None, number: str) -> CardRow | None:
        entry = self._get(self._cards, number)
        if entry is not None:
            return entry.value
        if session is None:
            raise CardNotRemembered(number)
        return self.load_cards(session, [number])[number]

    def load_cards(self, session: Session, numbers: Collection[str]) -> dict[str, CardRow | None]:
        """Read the rows of the cards ``numbers`` in one statement, and remember them (None: no such card)."""
        looked_up_at = generation()
        found: dict[str, CardRow | None] = dict.fromkeys(numbers)
        rows = session.execute(select(Card.number, Card.id, Card.valid_until).where(Card.number.in_(list(found))))
        for row in rows:  # card numbers are unique
            found[row.number] = CardRow(row.id, row.valid_until)
        if len(self._cards) + len(found) > MAX_CARDS:
            self._cards.clear()
        for number, facts in found.items():
            self._put(self._cards, number, facts, looked_up_at, self._card_ttl)
        return found


class NeedsDatabase(Exception):
    """Something is not remembered (or must be counted): the caller asks again with a database session."""


class CardNotRemembered(NeedsDatabase):
    """Only the row of the card ``number`` is missing: the caller may load it (``load_cards``) and ask again."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


def _need(session: Session | None) -> Session:
    if session is None:
        raise NeedsDatabase()
    return session


def load_benefits(session: Session, partner_id: uuid.UUID) -> tuple[BenefitFacts, ...]:
    benefits = session.execute(select(Benefit).where(Benefit.partner_id == partner_id)).scalars().all()
    where: dict[uuid.UUID, set[uuid.UUID]] = {benefit.id: set() for benefit in benefits}
    if where:
        links = session.execute(
            select(benefit_locations.c.benefit_id, benefit_locations.c.location_id).where(
                benefit_locations.c.benefit_id.in_(list(where))
            )
        )
        for benefit_id, location_id in links:
            where[benefit_id].add(location_id)
    facts = [
        BenefitFacts(
            id=benefit.id,
            partner_id=benefit.partner_id,
            status=benefit.status,
            title=dict(benefit.title),
            kind=benefit.kind,
            value=benefit.value,
            max_quantity=benefit.max_quantity,
            limit_count=benefit.limit_count,
            limit_period=benefit.limit_period,
            total_quota=benefit.total_quota,
            published_at=benefit.published_at,
            location_ids=frozenset(where[benefit.id]),
            rules=rules.BenefitRules(
                min_children=benefit.min_children,
                child_age_min=benefit.child_age_min,
                child_age_max=benefit.child_age_max,
                requires_entitlement=benefit.requires_entitlement,
                weekdays=benefit.weekdays,
                valid_from=benefit.valid_from,
                valid_until=benefit.valid_until,
            ),
        )
        for benefit in benefits
    ]
    never = dt.datetime.max.replace(tzinfo=dt.UTC)
    facts.sort(key=lambda b: (b.published_at or never, str(b.id)))
    return tuple(facts)
