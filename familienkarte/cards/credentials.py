"""The family's card and its credentials: what the card page shows, phone activation, renewal, revocation.

Every credential has its own status entry (CREDENTIAL.md), allocated with
``credentials.services.allocate_status_index`` late in the transaction that stores it, signed with the active
issuer key (``signing_key``), and noted with ``record_issued`` in the same transaction, so the key stays
published as long as the credential lives. Revoking sets the entry to 1 (``set_status``); the list's signed
token follows after the commit.

Rules made here:

- A family user sees the newest card of the household they are an adult of; there is one card per household.
- A phone credential lives at most :data:`PHONE_LIFETIME` and never past the end of the card's last valid day in
  the city's time zone. The phone renews it silently while online (same device key, same status entry).
- Each adult may have at most :data:`MAX_PHONE_DEVICES` active phone credentials.
- Any adult of the household may revoke any of the household's credentials (a lost phone is often reported by
  the other parent); only the adult who activated a phone may renew its credential.
- Entitlement flags (``e``): bit 0 is the city's additional tier, set once staff have checked the household's
  tier number and approved it (``Household.tier_approved``). A claim alone sets nothing.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.audit import services as audit
from familienkarte.cards.credential_models import CardCredential, CredentialKind, CredentialStatus
from familienkarte.cards.eligibility import age_on
from familienkarte.cards.models import Card, CardStatus, Child, Household, HouseholdAdult
from familienkarte.city import City
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import format_card_number
from familienkarte.credentials.fk1 import CredentialClaims, decode_device_key, issue_credential
from familienkarte.credentials.status_list import REVOKED
from familienkarte.errors import N_, Conflict, FieldError, InvalidInput, NotFound
from familienkarte.events import stats as stats_events

PHONE_LIFETIME: Final = dt.timedelta(days=30)
# Bit 0 of the entitlement flags (``e``): the city's additional tier (CREDENTIAL.md).
TIER_FLAG: Final = 1
MAX_PHONE_DEVICES: Final = 5
DEVICE_NAME_MAX: Final = 60
# Longer input is refused before it is decoded; a device key is 44 characters.
DEVICE_KEY_MAX: Final = 200


class NoCard(NotFound):
    code = "no_card"
    message = N_("There is no family card for you yet. Once your application is approved, it appears here.")


class CardNotActive(Conflict):
    code = "card_not_active"
    message = N_("Your family card is not active, so it cannot be put on a phone.")


class TooManyDevices(Conflict):
    code = "too_many_devices"
    message = N_(
        "The card is already active on %(count)s phones of yours. Remove one on the card page before adding another."
    )


class CredentialNotFound(NotFound):
    code = "credential_not_found"
    message = N_("There is no such phone or printed card on your family card.")


class CredentialNotActive(Conflict):
    code = "credential_not_active"
    message = N_("This phone has been removed from the card. Please activate the card on it again.")


# Claims -----------------------------------------------------------------------------------------------------


def end_of_validity(card: Card, timezone: ZoneInfo) -> dt.datetime:
    """The end of the card's last valid day in the city: midnight at the start of the next day, in UTC."""
    next_day = card.valid_until + dt.timedelta(days=1)
    return dt.datetime.combine(next_day, dt.time(), tzinfo=timezone).astimezone(dt.UTC)


def _year_month(child: Child) -> int:
    day = child.birth_date or child.expected_date
    assert day is not None  # the table's check constraint: born or expected
    return day.year * 100 + day.month


def card_claims(
    card: Card,
    household: Household,
    adults: Sequence[HouseholdAdult],
    children: Sequence[Child],
    now: dt.datetime,
    *,
    timezone: ZoneInfo,
    status_list_id: int,
    status_index: int,
    device_key: str | None = None,
    lifetime: dt.timedelta | None = PHONE_LIFETIME,
) -> CredentialClaims:
    """The FK1 claims of a credential of ``card``; pure.

    ``device_key`` makes it a phone credential. ``exp`` is the end of the card's validity, or ``now + lifetime``
    when that is earlier (``lifetime=None`` for a printed card, which lives as long as the card). ``nbf`` is set
    only for a card whose validity starts after ``now``. ``e`` bit 0: the tier approved by staff.
    """
    end = end_of_validity(card, timezone)
    exp = end if lifetime is None else min(end, now + lifetime)
    start = dt.datetime.combine(card.valid_from, dt.time(), tzinfo=timezone)
    return CredentialClaims(
        sub=card.number.replace(" ", ""),
        exp=int(exp.timestamp()),
        a=len(adults),
        c=tuple(sorted(_year_month(child) for child in children)),
        s=status_index,
        e=TIER_FLAG if household.tier_approved else 0,
        l=status_list_id,
        k=device_key,
        nbf=int(start.timestamp()) if start > now else None,
    )


# Reading the card -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildView:
    first_name: str
    age: int


@dataclass(frozen=True)
class CredentialView:
    id: uuid.UUID
    kind: str
    device_name: str | None
    holder: str | None
    created_at: dt.datetime
    own: bool


@dataclass(frozen=True)
class CardView:
    """The card as the family sees it: on the card page and from ``GET /api/v1/me/card``."""

    number: str
    formatted_number: str
    status: str
    valid_until: dt.date
    holders: list[str]
    children: list[ChildView]
    city: str
    server_time: int
    credentials: list[CredentialView]


@dataclass(frozen=True)
class _Mine:
    card: Card
    household: Household
    adult: HouseholdAdult


def _mine(session: Session, principal: Principal, *, lock: bool = False) -> _Mine | None:
    """The principal's household adult and the household's newest card, if there is one."""
    if principal.user_id is None:
        return None
    query = (
        select(Card, HouseholdAdult)
        .join(HouseholdAdult, HouseholdAdult.household_id == Card.household_id)
        .where(HouseholdAdult.user_id == principal.user_id)
        .order_by(Card.issued_at.desc(), Card.id)
        .limit(1)
    )
    if lock:
        query = query.with_for_update(of=Card)
    row = session.execute(query).first()
    if row is None:
        return None
    card, adult = row
    household = session.get(Household, card.household_id)
    assert household is not None
    return _Mine(card, household, adult)


def _effective_status(card: Card, today: dt.date) -> str:
    if card.status == CardStatus.ACTIVE.value and card.valid_until < today:
        return CardStatus.EXPIRED.value
    return card.status


def find_card_view(session: Session, principal: Principal, city: City, now: dt.datetime) -> CardView | None:
    """The principal's card, or ``None`` while there is none (the application is still being processed)."""
    mine = _mine(session, principal)
    if mine is None:
        return None
    card, household = mine.card, mine.household
    today = city.today(now)
    names = {adult.id: f"{adult.first_name} {adult.last_name}" for adult in household.adults}
    rows = session.scalars(
        select(CardCredential)
        .where(CardCredential.card_id == card.id, CardCredential.status == CredentialStatus.ACTIVE.value)
        .order_by(CardCredential.created_at, CardCredential.id)
    ).all()
    return CardView(
        number=card.number,
        formatted_number=format_card_number(card.number),
        status=_effective_status(card, today),
        valid_until=card.valid_until,
        holders=list(names.values()),
        # An expected child has no age yet; it counts in the credential (``c``), but is not listed by name.
        children=[
            ChildView(child.first_name, age_on(child.birth_date, today))
            for child in sorted(household.children, key=lambda c: (c.birth_date or dt.date.max, c.position))
            if child.birth_date is not None
        ],
        city=city.name,
        server_time=int(now.timestamp()),
        credentials=[
            CredentialView(
                row.id,
                row.kind,
                row.device_name,
                names.get(row.adult_id) if row.adult_id else None,
                row.created_at,
                row.adult_id == mine.adult.id,
            )
            for row in rows
        ],
    )


def card_view(session: Session, principal: Principal, city: City, now: dt.datetime) -> CardView:
    """The principal's card; :class:`NoCard` when there is none."""
    view = find_card_view(session, principal, city, now)
    if view is None:
        raise NoCard()
    return view


# Issuing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCredential:
    credential_id: uuid.UUID
    credential: str
    exp: int
    server_time: int


def read_device_key(raw: object) -> str:
    """The ``k`` value of a device key sent by a phone: a compressed P-256 point. :class:`InvalidInput` otherwise."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput.one("device_key", N_("The phone did not send its key. Please load the page again."))
    text = raw.strip()
    try:
        if len(text) > DEVICE_KEY_MAX:
            raise ValueError("too long")
        decode_device_key(text)
    except ValueError:
        raise InvalidInput.one(
            "device_key", N_("The phone's key is not a valid P-256 public key in compressed form.")
        ) from None
    return text


def read_device_name(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidInput.one("device_name", N_("Please give the phone a name of text."))
    name = " ".join(raw.split())
    if len(name) > DEVICE_NAME_MAX:
        raise InvalidInput(
            [FieldError("device_name", N_("At most %(max)s characters, please."), {"max": DEVICE_NAME_MAX})]
        )
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidInput.one("device_name", N_("The name contains characters that are not allowed."))
    return name or None


def _active_card(session: Session, principal: Principal, city: City, now: dt.datetime) -> _Mine:
    mine = _mine(session, principal, lock=True)
    if mine is None or _effective_status(mine.card, city.today(now)) != CardStatus.ACTIVE.value:
        raise CardNotActive()
    return mine


def _sign(
    session: Session,
    mine: _Mine,
    city: City,
    now: dt.datetime,
    secret: str,
    *,
    status_list_id: int,
    status_index: int,
    device_key: str,
) -> tuple[str, str, int]:
    """Sign a phone credential; returns (credential, kid, exp) with the key kept published until ``exp``."""
    household = mine.household
    claims = card_claims(
        mine.card,
        household,
        household.adults,
        household.children,
        now,
        timezone=city.timezone,
        status_list_id=status_list_id,
        status_index=status_index,
        device_key=device_key,
    )
    key = credential_services.signing_key(session, secret)
    credential = issue_credential(claims, key)
    credential_services.record_issued(session, key.kid, claims.exp)
    return credential, key.kid, claims.exp


def activate_phone(
    session: Session,
    principal: Principal,
    city: City,
    device_key: object,
    device_name: object,
    now: dt.datetime,
    secret: str,
    *,
    meta: RequestMeta | None = None,
) -> IssuedCredential:
    """Put the principal's card on a phone: a new credential bound to the phone's key, with its own status entry."""
    k = read_device_key(device_key)
    name = read_device_name(device_name)
    mine = _active_card(session, principal, city, now)
    # Late, and serialised with every other allocation until the commit: the count below cannot race either.
    list_id, index = credential_services.allocate_status_index(session, now)
    active = session.scalar(
        select(func.count())
        .select_from(CardCredential)
        .where(
            CardCredential.adult_id == mine.adult.id,
            CardCredential.kind == CredentialKind.PHONE.value,
            CardCredential.status == CredentialStatus.ACTIVE.value,
        )
    )
    if (active or 0) >= MAX_PHONE_DEVICES:
        raise TooManyDevices(count=MAX_PHONE_DEVICES)
    credential, kid, exp = _sign(
        session, mine, city, now, secret, status_list_id=list_id, status_index=index, device_key=k
    )
    row = CardCredential(
        card_id=mine.card.id,
        adult_id=mine.adult.id,
        kind=CredentialKind.PHONE.value,
        device_key=k,
        device_name=name,
        status_list_id=list_id,
        status_index=index,
        kid=kid,
        exp=dt.datetime.fromtimestamp(exp, dt.UTC),
        status=CredentialStatus.ACTIVE.value,
        created_at=now,
    )
    session.add(row)
    session.flush()
    stats_events.card_changed(mine.card, now)
    audit.record(
        session,
        principal,
        "credential.activate",
        "card_credential",
        row.id,
        details={"card_id": str(mine.card.id), "kind": row.kind, "device_name": name},
        meta=meta,
    )
    return IssuedCredential(row.id, credential, exp, int(now.timestamp()))


def renew_phone(
    session: Session,
    principal: Principal,
    city: City,
    credential_id: uuid.UUID,
    now: dt.datetime,
    secret: str,
) -> IssuedCredential:
    """A fresh credential for one of the principal's own phones: same device key, same status entry."""
    mine = _mine(session, principal, lock=True)
    row = session.get(CardCredential, credential_id, with_for_update=True)
    if mine is None or row is None or row.adult_id != mine.adult.id or row.kind != CredentialKind.PHONE.value:
        raise CredentialNotFound()
    if row.card_id != mine.card.id or _effective_status(mine.card, city.today(now)) != CardStatus.ACTIVE.value:
        raise CardNotActive()
    if row.status != CredentialStatus.ACTIVE.value or row.device_key is None:
        raise CredentialNotActive()
    credential, kid, exp = _sign(
        session,
        mine,
        city,
        now,
        secret,
        status_list_id=row.status_list_id,
        status_index=row.status_index,
        device_key=row.device_key,
    )
    row.kid = kid
    row.exp = dt.datetime.fromtimestamp(exp, dt.UTC)
    return IssuedCredential(row.id, credential, exp, int(now.timestamp()))


def revoke_credential(
    session: Session,
    principal: Principal,
    credential_id: uuid.UUID,
    now: dt.datetime,
    *,
    meta: RequestMeta | None = None,
) -> bool:
    """Revoke one of the household's credentials for good (a lost phone or printed card); the others keep working.

    Returns whether it changed anything: revoking a revoked credential is no error.
    """
    mine = _mine(session, principal)
    row = session.get(CardCredential, credential_id, with_for_update=True)
    if mine is None or row is None:
        raise CredentialNotFound()
    card = session.get(Card, row.card_id)
    if card is None or card.household_id != mine.household.id:
        raise CredentialNotFound()
    if row.status == CredentialStatus.REVOKED.value:
        return False
    credential_services.set_status(session, row.status_list_id, row.status_index, REVOKED, now=now)
    row.status = CredentialStatus.REVOKED.value
    row.revoked_at = now
    row.revoked_by_id = principal.user_id
    audit.record(
        session,
        principal,
        "credential.revoke",
        "card_credential",
        row.id,
        details={"card_id": str(card.id), "kind": row.kind, "device_name": row.device_name},
        meta=meta,
    )
    return True
