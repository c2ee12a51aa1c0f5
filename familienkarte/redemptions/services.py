"""Verifying a card and redeeming a benefit at the till (pretix's check-in is the model).

Rules made here:

- Only an approved partner verifies and redeems (``partner_suspended`` otherwise), at one of its own active
  locations; a key bound to a location works there only and implies it.
- A scanned code is verified as CREDENTIAL.md says (:func:`familienkarte.credentials.fk1.verify_presentation`).
  A typed card number is looked up instead: no code was checked, so the result says so, and the cashier should ask
  for ID, as for a printed card. Its own failures: ``malformed`` (not a card number), ``unknown_card``.
- Every verification is recorded once for statistics (:class:`VerificationEvent`: no card, no person), handed to
  the caller's ``record`` (the web process's batched :mod:`~familienkarte.redemptions.verification_log`, so that
  the request only reads) or, without one, added to the session; a redemption, which verifies again, is its own
  record and writes none.
- A redemption is refused, with a stable code, when the card does not verify (its reason code), the benefit is
  not this partner's published one (``benefit_not_found``, ``benefit_paused``), not offered at this location
  (``not_at_location``), not for this family today (``not_eligible``), the quantity is too high, this card's limit
  for the period is used up (``limit_reached``) or the quota is gone (``quota_exhausted``).
- Limits and quotas hold under concurrent tills: the counts are read and the redemption written under a lock on
  (benefit, card), and on the benefit row when it has a quota (PostgreSQL); SQLite has one writer at a time.
- The till's ``client_nonce`` makes a redemption idempotent per partner: the same nonce again answers with the
  first redemption and records nothing.
- A redemption may be voided by its partner within the city's ``void_window`` of being recorded, with a reason; a voided
  redemption no longer counts towards limits and quotas. Voiding again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.audit import services as audit
from familienkarte.benefits import rules
from familienkarte.benefits.models import Benefit, BenefitStatus, benefit_locations
from familienkarte.cards.models import Card, CardStatus, Child, Household, HouseholdAdult
from familienkarte.city import City
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import format_card_number, normalize_card_number
from familienkarte.credentials.fk1 import Reason, StatusLookup, verify_presentation
from familienkarte.credentials.status_list import REVOKED
from familienkarte.db import is_postgresql, new_uuid, serialise
from familienkarte.errors import N_, Conflict, InvalidInput, NotFound, PermissionDenied
from familienkarte.events import stats as stats_events
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.redemptions import limits
from familienkarte.redemptions.batching import WRITES_KEY
from familienkarte.redemptions.memory import (
    BenefitFacts,
    CardRow,
    LocationFacts,
    NeedsDatabase,
    PartnerFacts,
    PointOfSaleMemory,
)
from familienkarte.redemptions.models import PresentationKind, Redemption, RedemptionStatus, VerificationEvent
from familienkarte.redemptions.verification_log import VerificationRecord

# A typed card number that is well-formed but belongs to no card here.
UNKNOWN_CARD: Final = "unknown_card"
NONCE_MAX: Final = 64
VOID_REASON_MAX: Final = 500
_NONCE = re.compile(r"[\x21-\x7e]{1,64}")

# What the cashier reads for each verdict (the reason codes of CREDENTIAL.md, and unknown_card).
REASON_TEXTS: Final = {
    Reason.OK.value: N_("The card is valid."),
    Reason.MALFORMED.value: N_("This is not a family card code. Please scan again or type the card number."),
    Reason.UNKNOWN_KEY.value: N_("This code was not issued by this city's family card."),
    Reason.BAD_SIGNATURE.value: N_("This code is forged or damaged. Do not accept it."),
    Reason.EXPIRED.value: N_("The card has expired."),
    Reason.NOT_YET_VALID.value: N_("The card is not valid yet."),
    Reason.PRESENTATION_MISSING.value: N_(
        "This is a copy of a phone card without its changing code. Ask to see the card on the phone."
    ),
    Reason.BAD_PROOF.value: N_("This phone code is not genuine. Do not accept it."),
    Reason.STALE.value: N_("This phone code is too old (a screenshot?). Ask to see the live card on the phone."),
    Reason.REVOKED.value: N_("The card has been revoked. Do not accept it."),
    Reason.SUSPENDED.value: N_("The card is suspended. Do not accept it."),
    UNKNOWN_CARD: N_("There is no family card with this number."),
}


class PartnerSuspended(PermissionDenied):
    code = "partner_suspended"
    message = N_("Your organisation is not (or no longer) approved, so it cannot verify cards or redeem benefits.")


class CardRefused(Conflict):
    """The card did not verify; ``code`` is the reason code."""

    code = "card_refused"
    message = N_("The card was not accepted.")


class BenefitNotFound(NotFound):
    code = "benefit_not_found"
    message = N_("Your organisation has no such benefit on offer.")


class BenefitPaused(Conflict):
    code = "benefit_paused"
    message = N_("This benefit is paused at the moment.")


class NotAtLocation(Conflict):
    code = "not_at_location"
    message = N_("This benefit is not offered at this location.")


class NotEligibleError(Conflict):
    code = "not_eligible"
    message = N_("This family cannot use this benefit today.")


class LimitReached(Conflict):
    code = "limit_reached"
    message = N_("This card has already used this benefit as often as allowed for now.")


class QuotaExhausted(Conflict):
    code = "quota_exhausted"
    message = N_("This benefit has run out.")


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    message = N_("There is no such redemption of your organisation.")


class VoidWindowPassed(Conflict):
    code = "void_window_passed"
    message = N_("A redemption can only be voided within %(minutes)s minutes.")


# Results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardFacts:
    """What a cashier needs to apply a benefit; no names, no addresses."""

    number: str
    adults: int
    # Born children's completed years today, oldest first.
    children_ages: list[int]
    expected_children: int
    valid_until: dt.date | None
    # A printed card or a typed number: nothing proves the holder, so the cashier may ask for ID.
    ask_for_id: bool


@dataclass(frozen=True)
class BenefitOffer:
    benefit_id: uuid.UUID
    title: dict[str, str]
    kind: str
    value: int | None
    max_quantity: int
    limit_count: int | None
    limit_period: str | None
    # Uses this card has left in the current period (None: no limit), tickets left of the quota (None: none).
    uses_left: int | None
    quota_left: int | None

    @property
    def available(self) -> bool:
        return self.uses_left != 0 and self.quota_left != 0


@dataclass(frozen=True)
class Verification:
    reason: str
    presentation: str | None
    code_checked: bool
    card: CardFacts | None
    benefits: list[BenefitOffer]
    location_id: uuid.UUID

    @property
    def ok(self) -> bool:
        return self.reason == Reason.OK.value


@dataclass(frozen=True)
class RedemptionResult:
    id: uuid.UUID
    benefit_id: uuid.UUID
    location_id: uuid.UUID
    card_number: str
    quantity: int
    status: str
    presentation: str
    client_nonce: str
    occurred_at: dt.datetime
    created_at: dt.datetime
    void_reason: str | None
    voided_at: dt.datetime | None
    # True when the nonce had been seen: this is the first redemption's answer, nothing new was recorded.
    replayed: bool = False

    @classmethod
    def of(cls, row: Redemption, *, replayed: bool = False) -> RedemptionResult:
        return cls(
            id=row.id,
            benefit_id=row.benefit_id,
            location_id=row.location_id,
            card_number=format_card_number(row.card_number) if len(row.card_number) == 9 else row.card_number,
            quantity=row.quantity,
            status=row.status,
            presentation=row.presentation,
            client_nonce=row.client_nonce,
            occurred_at=row.occurred_at,
            created_at=row.created_at,
            void_reason=row.void_reason,
            voided_at=row.voided_at,
            replayed=replayed,
        )


# The till: partner and location -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Till:
    partner: Partner | PartnerFacts
    location: Location | LocationFacts


P = TypeVar("P", Partner, PartnerFacts)


def _checked_partner(principal: Principal, partner_of: Callable[[uuid.UUID], P | None]) -> P:
    """The principal's partner, read with ``partner_of``: refused unless the principal is a partner's and approved."""
    if not principal.is_partner or principal.partner_id is None:
        raise PermissionDenied()
    partner = partner_of(principal.partner_id)
    if partner is None or partner.status != PartnerStatus.APPROVED.value:
        raise PartnerSuspended()
    return partner


def approved_partner(session: Session, principal: Principal) -> Partner:
    return _checked_partner(principal, lambda key: session.get(Partner, key))


def _till(
    principal: Principal,
    location_id: uuid.UUID | None,
    partner_of: Callable[[uuid.UUID], P | None],
    location_of: Callable[[uuid.UUID], Location | LocationFacts | None],
) -> Till:
    """The partner and location a till works for, each read with the function given; refused as the API says."""
    partner = _checked_partner(principal, partner_of)
    wanted = location_id or principal.location_id
    if wanted is None:
        raise InvalidInput.one("location_id", N_("Choose the location where the card is shown."))
    location = location_of(wanted)
    if (
        location is None
        or location.partner_id != partner.id
        or not location.is_active
        or (principal.location_id is not None and principal.location_id != wanted)
    ):
        raise InvalidInput.one("location_id", N_("Choose one of your organisation's active locations."))
    return Till(partner, location)


def till_for(session: Session, principal: Principal, location_id: uuid.UUID | None) -> Till:
    return _till(principal, location_id, lambda key: session.get(Partner, key), lambda key: session.get(Location, key))


def remembered_till(
    memory: PointOfSaleMemory, session: Session | None, principal: Principal, location_id: uuid.UUID | None
) -> Till:
    """:func:`till_for` through the process's memory (``session`` None: raise NeedsDatabase if not remembered)."""
    return _till(
        principal,
        location_id,
        lambda key: memory.partner(session, key),
        lambda key: memory.location(session, key),
    )


# The card -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedCard:
    reason: str
    presentation: str | None
    code_checked: bool
    number: str | None = None
    card_id: uuid.UUID | None = None
    family: rules.FamilyFacts | None = None
    valid_until: dt.date | None = None


def _year_month(child: Child) -> int:
    day = child.birth_date or child.expected_date
    assert day is not None  # the table's check constraint: born or expected
    return day.year * 100 + day.month


def _typed(session: Session, text: str, today: dt.date) -> CheckedCard:
    kind = PresentationKind.MANUAL.value
    number = normalize_card_number(text)
    if number is None:
        return CheckedCard(Reason.MALFORMED.value, kind, False)
    card = session.scalar(select(Card).where(Card.number == number).order_by(Card.issued_at.desc()).limit(1))
    if card is None:
        return CheckedCard(UNKNOWN_CARD, kind, False)
    household = session.get(Household, card.household_id)
    assert household is not None
    adults = session.scalar(
        select(func.count()).select_from(HouseholdAdult).where(HouseholdAdult.household_id == household.id)
    )
    children = session.scalars(select(Child).where(Child.household_id == household.id)).all()
    family = rules.FamilyFacts(
        adults=adults or 0,
        children=tuple(sorted(_year_month(child) for child in children)),
        flags=rules.TIER_FLAG if household.tier_approved else 0,
    )
    if card.status == CardStatus.REVOKED.value:
        reason = Reason.REVOKED.value
    elif card.status == CardStatus.SUSPENDED.value:
        reason = Reason.SUSPENDED.value
    elif card.status == CardStatus.EXPIRED.value or card.valid_until < today:
        reason = Reason.EXPIRED.value
    elif card.valid_from > today:
        reason = Reason.NOT_YET_VALID.value
    else:
        reason = Reason.OK.value
    return CheckedCard(reason, kind, False, number, card.id, family, card.valid_until)


def remembered_status(verifier: credential_services.VerifierCache) -> StatusLookup:
    """A status lookup from the lists ``verifier`` remembers; raises NeedsDatabase for anything else."""

    def lookup(list_id: int, index: int) -> int:
        entry = verifier.status_list(list_id)
        if entry is None or not 0 <= index < entry[0]:
            raise NeedsDatabase()
        byte, shift = divmod(index, 4)
        bits = entry[1]
        if byte >= len(bits):
            return REVOKED
        return (bits[byte] >> (shift * 2)) & 0b11

    return lookup


def _scanned(
    session: Session | None,
    city: City,
    text: str,
    now: dt.datetime,
    memory: PointOfSaleMemory | None = None,
    verifier: credential_services.VerifierCache | None = None,
) -> CheckedCard:
    if session is None:
        # From what the process remembers alone (the caller asks again with a session on NeedsDatabase).
        remembered = verifier.keys() if verifier is not None else None
        if remembered is None or verifier is None:
            raise NeedsDatabase()
        keys = {key.kid: key for key in remembered}
        result = verify_presentation(text, keys, now.timestamp(), remembered_status(verifier))
        if result.reason is Reason.UNKNOWN_KEY:
            raise NeedsDatabase()
    else:
        keys = {key.kid: key for key in credential_services.published_keys(session, now)}
        result = verify_presentation(text, keys, now.timestamp(), credential_services.status_lookup(session))
        if result.reason is Reason.UNKNOWN_KEY:
            # The remembered keys may predate a rotation by another process: read them again before refusing.
            keys = {key.kid: key for key in credential_services.published_keys(session, now, fresh=True)}
            result = verify_presentation(text, keys, now.timestamp(), credential_services.status_lookup(session))
    claims = result.claims
    if claims is None:
        return CheckedCard(result.reason.value, result.presentation_kind, True)
    if memory is not None:
        card = memory.card(session, claims.sub)
    elif session is not None:
        found = session.execute(select(Card.id, Card.valid_until).where(Card.number == claims.sub)).first()
        card = CardRow(found.id, found.valid_until) if found else None
    else:
        raise NeedsDatabase()
    # Without the card here (another deployment's key would not verify), the code's own end of validity.
    last_second = dt.datetime.fromtimestamp(claims.exp - 1, dt.UTC).astimezone(city.timezone).date()
    return CheckedCard(
        result.reason.value,
        result.presentation_kind,
        True,
        claims.sub,
        card.id if card else None,
        rules.FamilyFacts(adults=claims.a, children=tuple(claims.c), flags=claims.e),
        card.valid_until if card else last_second,
    )


def check_card(
    session: Session | None,
    city: City,
    text: str | None,
    card_number: str | None,
    now: dt.datetime,
    *,
    memory: PointOfSaleMemory | None = None,
    verifier: credential_services.VerifierCache | None = None,
) -> CheckedCard:
    """The card behind a scanned code or a typed number. Without a ``session``, from ``memory`` and ``verifier``
    alone (raises NeedsDatabase when that is not enough)."""
    if text:
        return _scanned(session, city, text, now, memory, verifier)
    if card_number:
        if session is None:
            raise NeedsDatabase()
        return _typed(session, card_number, city.today(now))
    raise InvalidInput.one("text", N_("Scan the card's code or type its number."))


def _facts(checked: CheckedCard, today: dt.date) -> CardFacts | None:
    if checked.family is None or checked.number is None:
        return None
    family = checked.family
    born = [age for ym in family.children if (age := rules.child_age(ym, today)) is not None]
    return CardFacts(
        number=format_card_number(checked.number) if len(checked.number) == 9 else checked.number,
        adults=family.adults,
        children_ages=sorted(born, reverse=True),
        expected_children=len(family.children) - len(born),
        valid_until=checked.valid_until,
        ask_for_id=checked.presentation != PresentationKind.PHONE.value,
    )


# Limits -------------------------------------------------------------------------------------------------------


def benefit_rules(benefit: Benefit) -> rules.BenefitRules:
    return rules.BenefitRules(
        min_children=benefit.min_children,
        child_age_min=benefit.child_age_min,
        child_age_max=benefit.child_age_max,
        requires_entitlement=benefit.requires_entitlement,
        weekdays=benefit.weekdays,
        valid_from=benefit.valid_from,
        valid_until=benefit.valid_until,
    )


def uses_left(
    session: Session, benefit: Benefit | BenefitFacts, number: str, city: City, now: dt.datetime
) -> int | None:
    """This card's uses left of ``benefit`` in the current period; None without a limit."""
    if benefit.limit_count is None or benefit.limit_period is None:
        return None
    query = select(func.count()).where(
        Redemption.benefit_id == benefit.id,
        Redemption.card_number == number,
        Redemption.status == RedemptionStatus.RECORDED.value,
    )
    start = limits.period_start(benefit.limit_period, now, city.timezone)
    if start is not None:
        query = query.where(Redemption.occurred_at >= start)
    return limits.left(benefit.limit_count, session.scalar(query) or 0)


def quota_left(session: Session, benefit: Benefit | BenefitFacts) -> int | None:
    """Tickets left of the benefit's quota; None without one."""
    if benefit.total_quota is None:
        return None
    used = session.scalar(
        select(func.coalesce(func.sum(Redemption.quantity), 0)).where(
            Redemption.benefit_id == benefit.id, Redemption.status == RedemptionStatus.RECORDED.value
        )
    )
    return limits.left(benefit.total_quota, int(used or 0))


def _rules_of(benefit: Benefit | BenefitFacts) -> rules.BenefitRules:
    return benefit.rules if isinstance(benefit, BenefitFacts) else benefit_rules(benefit)


def _counted(benefit: Benefit | BenefitFacts) -> bool:
    """Whether the benefit's offer needs counting in the database (a per-card limit or a quota)."""
    return (benefit.limit_count is not None and benefit.limit_period is not None) or benefit.total_quota is not None


def _offers(
    session: Session | None,
    till: Till,
    checked: CheckedCard,
    city: City,
    now: dt.datetime,
    memory: PointOfSaleMemory | None = None,
) -> list[BenefitOffer]:
    if checked.family is None or checked.number is None:
        return []
    today = city.today(now)
    benefits: Sequence[Benefit | BenefitFacts]
    if memory is not None:
        benefits = [
            benefit
            for benefit in memory.benefits(session, till.partner.id)
            if benefit.status == BenefitStatus.PUBLISHED.value and till.location.id in benefit.location_ids
        ]
    else:
        benefits = (
            _need_session(session)
            .scalars(
                select(Benefit)
                .join(benefit_locations, benefit_locations.c.benefit_id == Benefit.id)
                .where(
                    Benefit.partner_id == till.partner.id,
                    Benefit.status == BenefitStatus.PUBLISHED.value,
                    benefit_locations.c.location_id == till.location.id,
                )
                .order_by(Benefit.published_at, Benefit.id)
            )
            .all()
        )
    offers = []
    for benefit in benefits:
        if rules.check(_rules_of(benefit), checked.family, today) is not None:
            continue
        counts = _need_session(session) if _counted(benefit) else None
        offers.append(
            BenefitOffer(
                benefit_id=benefit.id,
                title=dict(benefit.title),
                kind=benefit.kind,
                value=benefit.value,
                max_quantity=benefit.max_quantity,
                limit_count=benefit.limit_count,
                limit_period=benefit.limit_period,
                uses_left=uses_left(counts, benefit, checked.number, city, now) if counts is not None else None,
                quota_left=quota_left(counts, benefit) if counts is not None else None,
            )
        )
    return offers


def _need_session(session: Session | None) -> Session:
    if session is None:
        raise NeedsDatabase()
    return session


# Verifying ----------------------------------------------------------------------------------------------------


def verify(
    session: Session | None,
    principal: Principal,
    city: City,
    *,
    text: str | None = None,
    card_number: str | None = None,
    location_id: uuid.UUID | None = None,
    now: dt.datetime,
    record: Callable[[VerificationRecord], None] | None = None,
    memory: PointOfSaleMemory | None = None,
    verifier: credential_services.VerifierCache | None = None,
) -> Verification:
    """The verdict on a scanned code (``text``) or a typed ``card_number`` at the till, with the card's facts and
    this partner's benefits that apply at this location today (only for a valid card). Records the verification
    for statistics through ``record`` (nothing is written in this session then), or else in this session.

    With the process's ``memory`` (and ``verifier``), what they remember is not read again. Without a ``session``
    the verdict comes from them alone, and NeedsDatabase is raised (before anything is recorded) when they do not
    remember enough or a limit or quota must be counted: the caller asks again with a session."""
    if memory is None:
        till = till_for(_need_session(session), principal, location_id)
    else:
        till = remembered_till(memory, session, principal, location_id)
    checked = check_card(session, city, text, card_number, now, memory=memory, verifier=verifier)
    ok = checked.reason == Reason.OK.value
    offers = _offers(session, till, checked, city, now, memory) if ok else []
    # Recorded last: a verification asked again with a session after NeedsDatabase counts once.
    event = VerificationRecord(till.partner.id, till.location.id, checked.reason, checked.presentation, now)
    if record is not None:
        record(event)
    else:
        session = _need_session(session)
        session.add(VerificationEvent(**event.row()))
        stats_events.verifications_recorded(session, [now])
    return Verification(
        reason=checked.reason,
        presentation=checked.presentation,
        code_checked=checked.code_checked,
        card=_facts(checked, city.today(now)),
        benefits=offers,
        location_id=till.location.id,
    )


# Redeeming ----------------------------------------------------------------------------------------------------


def read_nonce(raw: object) -> str:
    """The till's nonce: 1 to 64 printable ASCII characters (a UUID fits)."""
    if not isinstance(raw, str) or not _NONCE.fullmatch(raw):
        raise InvalidInput.one(
            "client_nonce", N_("Send a client nonce of 1 to %(max)s printable characters (a UUID)."), max=NONCE_MAX
        )
    return raw


def by_nonce(session: Session, partner_id: uuid.UUID, nonce: str) -> Redemption | None:
    return session.scalar(
        select(Redemption)
        .where(Redemption.partner_id == partner_id, Redemption.client_nonce == nonce)
        .execution_options(populate_existing=True)
    )


def lock_key(benefit_id: uuid.UUID, card_number: str) -> int:
    """A 64-bit advisory lock id for one card's uses of one benefit."""
    digest = hashlib.sha256(f"redemption:{benefit_id}:{card_number}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_for_redemption(session: Session, benefit: Benefit | BenefitFacts, number: str) -> None:
    """Serialise every redemption of this benefit by this card, and by any card when the benefit has a quota."""
    serialise(session, lock_key(benefit.id, number), Redemption)
    if benefit.total_quota is not None and is_postgresql(session):
        session.execute(select(Benefit.id).where(Benefit.id == benefit.id).with_for_update())
    if isinstance(benefit, Benefit):
        session.refresh(benefit)


def insert_redemption(session: Session, row: Redemption) -> bool:
    """Write ``row`` (a new, transient redemption) in one statement; False, and nothing written, when the partner
    has a redemption with its nonce already. The one place an online redemption is written: whatever belongs to
    it (its events, its audit entry) follows in the same session and transaction."""
    values = {
        "id": row.id,
        "partner_id": row.partner_id,
        "location_id": row.location_id,
        "benefit_id": row.benefit_id,
        "card_number": row.card_number,
        "card_id": row.card_id,
        "quantity": row.quantity,
        "client_nonce": row.client_nonce,
        "status": row.status,
        "presentation": row.presentation,
        "recorded_by_user_id": row.recorded_by_user_id,
        "recorded_by_api_key_id": row.recorded_by_api_key_id,
        "occurred_at": row.occurred_at,
        "created_at": row.created_at,
        "offline": row.offline,
        "flags": row.flags,
    }
    statement = _INSERT_POSTGRESQL if is_postgresql(session) else _INSERT_SQLITE
    # Counted for the batches of redemptions, which must know whether a refused call wrote (see batching).
    session.info[WRITES_KEY] = session.info.get(WRITES_KEY, 0) + 1
    return session.execute(statement, values).first() is not None


# Built once (the values come as parameters), so that SQLAlchemy compiles each only once per process.
_REDEMPTIONS = cast(Table, Redemption.__table__)
_INSERT_POSTGRESQL: Final = (
    postgresql.insert(_REDEMPTIONS)
    .on_conflict_do_nothing(index_elements=["partner_id", "client_nonce"])
    .returning(_REDEMPTIONS.c.id)
)
_INSERT_SQLITE: Final = (
    sqlite.insert(_REDEMPTIONS)
    .on_conflict_do_nothing(index_elements=["partner_id", "client_nonce"])
    .returning(_REDEMPTIONS.c.id)
)


def redeem(
    session: Session,
    principal: Principal,
    city: City,
    *,
    text: str | None = None,
    card_number: str | None = None,
    benefit_id: uuid.UUID,
    location_id: uuid.UUID | None = None,
    quantity: int = 1,
    client_nonce: object,
    now: dt.datetime,
    meta: RequestMeta | None = None,
    memory: PointOfSaleMemory | None = None,
) -> RedemptionResult:
    """Record one use of a benefit by a card at the till, or refuse it with a reason code (see the module).

    The till, the benefit and the card's row come from the web process's ``memory`` where it remembers them
    (without one, everything is read here). The statements: on a benefit with a limit or a quota, the lock and
    the count (:func:`lock_for_redemption`); then the insert, which on a nonce seen before writes nothing."""
    memory = memory or PointOfSaleMemory(ttl=0, card_ttl=0)
    till = remembered_till(memory, session, principal, location_id)
    nonce = read_nonce(client_nonce)
    try:
        checked = check_card(session, city, text, card_number, now, memory=memory)
        if checked.reason != Reason.OK.value or checked.family is None or checked.number is None:
            raise CardRefused(REASON_TEXTS.get(checked.reason), code=checked.reason)
        benefit = next((b for b in memory.benefits(session, till.partner.id) if b.id == benefit_id), None)
        if benefit is None:
            raise BenefitNotFound()
        check_offer(benefit, till, checked.family, city.today(now), quantity)
        if _counted(benefit):
            lock_for_redemption(session, benefit, checked.number)
            if uses_left(session, benefit, checked.number, city, now) == 0:
                raise LimitReached()
            quota = quota_left(session, benefit)
            if quota is not None and quota < quantity:
                raise QuotaExhausted()
    except (Conflict, NotFound, InvalidInput):
        # A request repeated with its nonce answers with the first redemption, whatever changed since (the
        # code gone stale, the limit used up by the first one).
        earlier = by_nonce(session, till.partner.id, nonce)
        if earlier is not None:
            return RedemptionResult.of(earlier, replayed=True)
        raise

    row = Redemption(
        id=new_uuid(),
        partner_id=till.partner.id,
        location_id=till.location.id,
        benefit_id=benefit.id,
        card_number=checked.number,
        card_id=checked.card_id,
        quantity=quantity,
        client_nonce=nonce,
        status=RedemptionStatus.RECORDED.value,
        presentation=checked.presentation or PresentationKind.MANUAL.value,
        recorded_by_user_id=principal.user_id,
        recorded_by_api_key_id=principal.api_key_id,
        occurred_at=now,
        created_at=now,
        offline=False,
        flags=[],
    )
    if not insert_redemption(session, row):
        # The same nonce, perhaps for another card or benefit, recorded first (or at the same moment).
        earlier = by_nonce(session, till.partner.id, nonce)
        if earlier is None:
            raise RuntimeError("a redemption's nonce conflicted, but no redemption has it")
        return RedemptionResult.of(earlier, replayed=True)
    stats_events.redemption_recorded(session, row)
    audit.record(
        session,
        principal,
        "redemption.record",
        "redemption",
        row.id,
        partner_id=till.partner.id,
        details={
            "benefit_id": str(benefit.id),
            "location_id": str(till.location.id),
            "quantity": quantity,
            "presentation": row.presentation,
        },
        meta=meta,
    )
    return RedemptionResult.of(row)


def check_offer(benefit: BenefitFacts, till: Till, family: rules.FamilyFacts, today: dt.date, quantity: int) -> None:
    """The benefit (as remembered) is published, offered at this till, for this family today, in this quantity."""
    if benefit.status == BenefitStatus.PAUSED.value:
        raise BenefitPaused()
    if benefit.status != BenefitStatus.PUBLISHED.value:
        raise BenefitNotFound()
    if till.location.id not in benefit.location_ids:
        raise NotAtLocation()
    why = rules.check(benefit.rules, family, today)
    if why is not None:
        raise NotEligibleError(why=why.value)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= benefit.max_quantity:
        raise InvalidInput.one("quantity", N_("Choose a quantity from 1 to %(max)s."), max=benefit.max_quantity)


def check_benefit(
    session: Session, benefit: Benefit, till: Till, family: rules.FamilyFacts, today: dt.date, quantity: int
) -> None:
    if benefit.status == BenefitStatus.PAUSED.value:
        raise BenefitPaused()
    if benefit.status != BenefitStatus.PUBLISHED.value:
        raise BenefitNotFound()
    here = session.scalar(
        select(func.count())
        .select_from(benefit_locations)
        .where(benefit_locations.c.benefit_id == benefit.id, benefit_locations.c.location_id == till.location.id)
    )
    if not here:
        raise NotAtLocation()
    why = rules.check(benefit_rules(benefit), family, today)
    if why is not None:
        raise NotEligibleError(why=why.value)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= benefit.max_quantity:
        raise InvalidInput.one("quantity", N_("Choose a quantity from 1 to %(max)s."), max=benefit.max_quantity)


# Voiding ------------------------------------------------------------------------------------------------------


def read_void_reason(raw: object) -> str:
    reason = raw.strip() if isinstance(raw, str) else ""
    if not reason or len(reason) > VOID_REASON_MAX:
        raise InvalidInput.one(
            "reason", N_("Say in at most %(max)s characters why the redemption is voided."), max=VOID_REASON_MAX
        )
    return reason


def void(
    session: Session,
    principal: Principal,
    city: City,
    redemption_id: uuid.UUID,
    reason: object,
    *,
    now: dt.datetime,
    meta: RequestMeta | None = None,
) -> RedemptionResult:
    """Void a redemption of the principal's partner within the city's ``void_window``, with a reason."""
    partner = approved_partner(session, principal)
    row = session.scalar(
        select(Redemption)
        .where(Redemption.id == redemption_id, Redemption.partner_id == partner.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise RedemptionNotFound()
    if row.status == RedemptionStatus.VOIDED.value:
        return RedemptionResult.of(row)
    text = read_void_reason(reason)
    if now - row.created_at > city.void_window:
        raise VoidWindowPassed(minutes=int(city.void_window.total_seconds() // 60))
    row.status = RedemptionStatus.VOIDED.value
    row.void_reason = text
    row.voided_at = now
    row.voided_by_user_id = principal.user_id
    row.voided_by_api_key_id = principal.api_key_id
    stats_events.redemption_voided(session, row)
    audit.record(
        session,
        principal,
        "redemption.void",
        "redemption",
        row.id,
        partner_id=partner.id,
        details={"benefit_id": str(row.benefit_id), "reason": text},
        meta=meta,
    )
    session.flush()
    return RedemptionResult.of(row)
