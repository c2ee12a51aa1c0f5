"""Staff work on issued cards: find a card, read it, suspend, reactivate or revoke it, or revoke one credential.

Rules made here:

- A search needs something to search for: a card number (spaces, hyphens and case do not matter; a wrong check
  character is named as such), an e-mail address (exact) or a last name (case, accents and ß folded away; matches
  the start of the name or of any part of a double name). An empty search lists nothing.
- Staff give a reason for every change (at most :data:`REASON_MAX` characters). It is stored on the card, written
  to the audit log and e-mailed to the household in its language, so the family learns why.
- Suspending sets every active credential's status entry to suspended (2); reactivating (only a suspended card)
  sets exactly those back to valid (0). Revoking is final: every credential not yet revoked gets revoked (1), and
  the card can no longer change. Revoking one credential leaves the others working.
- The card row is locked first and then its credentials, in the same order as the family's own actions, so a phone
  activated or revoked at the same moment is either seen or refused, never half-changed.
- Reading a card's page is recorded in the audit log (``card.viewed``): staff reading personal data.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.services import normalise_email
from familienkarte.audit import services as audit
from familienkarte.audit.models import AuditEntry
from familienkarte.cards.credential_models import CardCredential, CredentialKind, CredentialStatus
from familienkarte.cards.credentials import _effective_status
from familienkarte.cards.eligibility import age_on
from familienkarte.cards.household_mail import MailText, mail_household
from familienkarte.cards.models import Card, CardStatus, Household, HouseholdAdult
from familienkarte.cards.printing import PrintJobView, list_print_jobs
from familienkarte.city import City
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import ALPHABET, LENGTH, format_card_number, normalize_card_number
from familienkarte.credentials.status_list import REVOKED, SUSPENDED, VALID
from familienkarte.db import is_postgresql, sqlite_write_lock, utcnow
from familienkarte.errors import N_, Conflict, InvalidInput, NotFound
from familienkarte.events import stats as stats_events

REASON_MAX: Final = 2000
QUERY_MAX: Final = 200
PER_PAGE: Final = 25
AUDIT_ENTRIES_SHOWN: Final = 20
# Audit actions that change a card's status; the latest one says who made the change shown on the card page.
STATUS_ACTIONS: Final = ("card.suspended", "card.reactivated", "card.revoked")
VIEWED_ACTION: Final = "card.viewed"
_SEPARATORS: Final = " -\u00a0\u2010\u2011\u2012\u2013\u2014\u2212\t"


class CardNotFound(NotFound):
    code = "card_not_found"
    message = N_("There is no such card.")


class CardCredentialNotFound(NotFound):
    code = "credential_not_found"
    message = N_("This card has no such phone or printed card.")


class CardAlreadySuspended(Conflict):
    code = "card_suspended"
    message = N_("This card is already suspended.")


class CardNotSuspended(Conflict):
    code = "card_not_suspended"
    message = N_("Only a suspended card can be reactivated, and this card is not suspended.")


class CardRevoked(Conflict):
    code = "card_revoked"
    message = N_("This card has been revoked for good. It cannot be changed any more.")


class CardExpired(Conflict):
    code = "card_expired"
    message = N_("This card has expired. It cannot be suspended or revoked.")


class CredentialAlreadyRevoked(Conflict):
    code = "credential_revoked"
    message = N_("This phone or printed card has already been revoked.")


# Reading the reason -------------------------------------------------------------------------------------------


def read_reason(raw: object) -> str:
    """The reason staff give for a change: required, at most :data:`REASON_MAX` characters."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InvalidInput.one("reason", N_("Please give the reason for this decision."))
    if len(text) > REASON_MAX:
        raise InvalidInput.one("reason", N_("Please use at most %(max)s characters here."), max=REASON_MAX)
    if any(unicodedata.category(char) == "Cc" and char not in "\r\n\t" for char in text):
        raise InvalidInput.one("reason", N_("This field contains characters that cannot be used."))
    return text.replace("\r\n", "\n")


# Searching ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardRow:
    id: uuid.UUID
    formatted_number: str
    status: str
    valid_until: dt.date
    names: str
    postal_code: str
    district: str


@dataclass(frozen=True)
class CardSearch:
    """One page of search results. ``kind``: ``number``, ``email``, ``name``, or ``None`` when nothing was asked."""

    query: str
    kind: str | None
    rows: list[CardRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


# Letters that Unicode does not decompose into a base letter and an accent.
_PLAIN_LETTERS: Final = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "ı": "i",
        "İ": "I",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
    }
)


def fold_name(text: str) -> str:
    """A name for comparing: case and accents folded, ß as ss, hyphens as spaces, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_PLAIN_LETTERS))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    spaced = "".join(char if char.isalnum() else " " for char in plain)
    return " ".join(spaced.split())


# The accented forms of each letter that a name typed without accents should find ("Muller" finds "Müller").
_VARIANTS: Final = {
    "a": "àáâãäåāăą",
    "c": "çćčĉ",
    "d": "ďđ",
    "e": "èéêëēėęě",
    "g": "ğģ",
    "i": "ìíîïīı",
    "l": "łľĺ",
    "n": "ñńňņ",
    "o": "òóôõöøōő",
    "r": "řŕ",
    "s": "śšşș",
    "t": "ťţț",
    "u": "ùúûüūůűų",
    "y": "ýÿ",
    "z": "źżž",
}
_LIGATURES: Final = {"ss": "ßẞ", "ae": "æÆ", "oe": "œŒ"}
# Accents stored as separate combining marks (a name typed on some systems arrives decomposed).
_COMBINING: Final = "[\u0300-\u036f]*"
# What separates the parts of a double name, or a name from its particle.
_NAME_SEPARATORS: Final = "[ '’-]"


def _letter_class(char: str) -> str:
    letters = dict.fromkeys(char + char.upper() + _VARIANTS.get(char, "") + _VARIANTS.get(char, "").upper())
    return "[" + "".join(letters) + "]" + _COMBINING


def name_pattern(folded_query: str) -> str:
    """A regular expression (the same in Python and PostgreSQL) for a last name of which the whole or one part
    starts with the folded query, in any case and with or without accents."""
    parts = ["(^|" + _NAME_SEPARATORS + ")"]
    index = 0
    while index < len(folded_query):
        pair = folded_query[index : index + 2]
        char = folded_query[index]
        if pair in _LIGATURES:
            parts.append(f"(?:{_letter_class(pair[0])}{_letter_class(pair[1])}|[{_LIGATURES[pair]}])")
            index += 2
            continue
        if char == " ":
            parts.append(_NAME_SEPARATORS + "+")
        elif char.isalnum():
            parts.append(_letter_class(char))
        index += 1
    return "".join(parts)


def card_number_in_query(query: str) -> str | None:
    """The card number meant by the query, ``None`` if the query is no card number, or :class:`InvalidInput`."""
    compact = "".join(char for char in query.upper() if char not in _SEPARATORS)
    if not compact.isalnum() or not compact.isascii():
        return None
    number = normalize_card_number(compact)
    if number is not None:
        return number
    if not any(char.isdigit() for char in compact):
        return None  # letters only: a last name
    if len(compact) != LENGTH:
        raise InvalidInput.one(
            "q", N_("A card number has %(length)s characters, for example 7KX 3QM 9TB."), length=LENGTH
        )
    if any(char not in ALPHABET for char in compact):
        raise InvalidInput.one(
            "q",
            N_("Card numbers do not use the characters 0, 1, I, L and O. Please check the number for typing errors."),
        )
    raise InvalidInput.one(
        "q", N_("The check character of this card number does not match. Please check the number for typing errors.")
    )


def search_cards(
    session: Session,
    query: str | None,
    page: int = 1,
    *,
    per_page: int = PER_PAGE,
    today: dt.date | None = None,
    actor: Principal | None = None,
    meta: RequestMeta | None = None,
) -> CardSearch:
    """Cards by card number, an adult's e-mail address or last name, newest first; nothing for an empty query.

    With ``actor``, a search that was made is recorded in the audit log (it shows names and addresses).
    """
    text = " ".join((query or "").split())
    page = max(1, page)
    if not text:
        return CardSearch("", None, [], 0, page, per_page)
    if len(text) > QUERY_MAX:
        raise InvalidInput.one("q", N_("Please use at most %(max)s characters here."), max=QUERY_MAX)
    number = card_number_in_query(text)
    condition: ColumnElement[bool]
    if number is not None:
        kind = "number"
        condition = Card.number == number
    elif "@" in text:
        kind = "email"
        condition = Card.household_id.in_(
            select(HouseholdAdult.household_id).where(HouseholdAdult.email == normalise_email(text))
        )
    else:
        folded = fold_name(text)
        if len(folded) < 2:
            raise InvalidInput.one("q", N_("Please enter at least two letters of the last name."))
        kind = "name"
        condition = Card.household_id.in_(
            select(HouseholdAdult.household_id).where(HouseholdAdult.last_name.regexp_match(name_pattern(folded)))
        )
    total = session.scalar(select(func.count()).select_from(Card).where(condition)) or 0
    cards = session.scalars(
        select(Card)
        .where(condition)
        .order_by(Card.issued_at.desc(), Card.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    rows = _rows(session, cards, today or utcnow().date())
    if actor is not None:
        audit.record(
            session,
            actor,
            "card.searched",
            "card",
            None,
            details={"by": kind, "query": text, "results": total, "page": page},
            meta=meta,
        )
    return CardSearch(text, kind, rows, total, page, per_page)


def _rows(session: Session, cards: Sequence[Card], today: dt.date) -> list[CardRow]:
    household_ids = {card.household_id for card in cards}
    households = {h.id: h for h in session.scalars(select(Household).where(Household.id.in_(household_ids)))}
    names: dict[uuid.UUID, list[str]] = {}
    for adult in session.scalars(
        select(HouseholdAdult)
        .where(HouseholdAdult.household_id.in_(household_ids))
        .order_by(HouseholdAdult.household_id, HouseholdAdult.position)
    ):
        names.setdefault(adult.household_id, []).append(f"{adult.first_name} {adult.last_name}".strip())
    rows = []
    for card in cards:
        household = households[card.household_id]
        rows.append(
            CardRow(
                id=card.id,
                formatted_number=format_card_number(card.number),
                status=_effective_status(card, today),
                valid_until=card.valid_until,
                names=", ".join(names.get(card.household_id, [])),
                postal_code=household.postal_code,
                district=household.district,
            )
        )
    return rows


# Reading one card ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffAdult:
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class StaffChild:
    first_name: str
    birth_date: dt.date | None
    expected_date: dt.date | None
    age: int | None
    has_disability: bool


@dataclass(frozen=True)
class StaffCredential:
    id: uuid.UUID
    kind: str
    device_name: str | None
    holder: str | None
    status: str
    created_at: dt.datetime
    exp: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: str | None

    @property
    def revocable(self) -> bool:
        return self.status != CredentialStatus.REVOKED.value


@dataclass(frozen=True)
class StaffAuditRow:
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    reason: str | None


@dataclass(frozen=True)
class StaffCard:
    id: uuid.UUID
    number: str
    formatted_number: str
    status: str
    effective_status: str
    valid_from: dt.date
    valid_until: dt.date
    issued_at: dt.datetime
    status_changed_at: dt.datetime | None
    status_changed_by: str | None
    status_reason: str | None
    application_id: uuid.UUID | None

    @property
    def can_suspend(self) -> bool:
        return self.status == CardStatus.ACTIVE.value

    @property
    def can_reactivate(self) -> bool:
        return self.status == CardStatus.SUSPENDED.value

    @property
    def can_revoke(self) -> bool:
        return self.status in (CardStatus.ACTIVE.value, CardStatus.SUSPENDED.value)


@dataclass(frozen=True)
class StaffCardDetail:
    """Everything on the staff page of a card."""

    card: StaffCard
    street: str
    house_number: str
    postal_code: str
    city_name: str
    district: str
    locale: str
    tier_claimed: bool
    tier_approved: bool
    confirmed_at: dt.datetime | None
    erased_at: dt.datetime | None
    adults: list[StaffAdult]
    children: list[StaffChild]
    credentials: list[StaffCredential]
    prints: list[PrintJobView]
    audit: list[StaffAuditRow]
    checked_on: dt.date


def _user_names(session: Session, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.email).where(User.id.in_(wanted)))
    return {row.id: row.display_name or row.email for row in rows}


def _audit_about(session: Session, card: Card, credential_ids: list[uuid.UUID]) -> list[AuditEntry]:
    """The newest entries about the card and its credentials, without the mere readings of its page."""
    about = [(AuditEntry.object_type == "card") & (AuditEntry.object_id == str(card.id))]
    if credential_ids:
        about.append(
            (AuditEntry.object_type == "card_credential") & AuditEntry.object_id.in_([str(i) for i in credential_ids])
        )
    return list(
        session.scalars(
            select(AuditEntry)
            .where(or_(*about), AuditEntry.action != VIEWED_ACTION)
            .order_by(AuditEntry.id.desc())
            .limit(AUDIT_ENTRIES_SHOWN)
        )
    )


def _get_card(session: Session, card_id: uuid.UUID) -> tuple[Card, Household]:
    card = session.get(Card, card_id)
    if card is None:
        raise CardNotFound()
    household = session.get(Household, card.household_id)
    assert household is not None
    return card, household


def staff_card_detail(
    session: Session,
    city: City,
    card_id: uuid.UUID,
    today: dt.date | None = None,
    *,
    viewer: Principal,
    meta: RequestMeta | None = None,
) -> StaffCardDetail:
    """The card with its household, credentials, printed-card orders and recent audit entries.

    Recorded in the audit log as ``card.viewed`` in the caller's transaction.
    """
    today = today or city.today()
    card, household = _get_card(session, card_id)
    credentials = session.scalars(
        select(CardCredential)
        .where(CardCredential.card_id == card.id)
        .order_by(CardCredential.created_at, CardCredential.id)
    ).all()
    entries = _audit_about(session, card, [c.id for c in credentials])
    status_entry = session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.object_type == "card",
            AuditEntry.object_id == str(card.id),
            AuditEntry.action.in_(STATUS_ACTIONS),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    users = _user_names(
        session,
        {c.revoked_by_id for c in credentials}
        | {e.actor_user_id for e in entries}
        | ({status_entry.actor_user_id} if status_entry else set()),
    )
    holders = {a.id: f"{a.first_name} {a.last_name}".strip() for a in household.adults}

    def actor(entry: AuditEntry) -> str:
        return users.get(entry.actor_user_id, entry.actor_role) if entry.actor_user_id else entry.actor_role

    detail = StaffCardDetail(
        card=StaffCard(
            id=card.id,
            number=card.number,
            formatted_number=format_card_number(card.number),
            status=card.status,
            effective_status=_effective_status(card, today),
            valid_from=card.valid_from,
            valid_until=card.valid_until,
            issued_at=card.issued_at,
            status_changed_at=card.status_changed_at,
            status_changed_by=actor(status_entry) if status_entry else None,
            status_reason=card.status_reason,
            application_id=card.application_id,
        ),
        street=household.street,
        house_number=household.house_number,
        postal_code=household.postal_code,
        city_name=household.city_name,
        district=household.district,
        locale=household.locale,
        tier_claimed=household.tier_claimed,
        tier_approved=household.tier_approved,
        confirmed_at=household.confirmed_at,
        erased_at=household.erased_at,
        adults=[StaffAdult(a.first_name, a.last_name, a.email) for a in household.adults],
        children=[
            StaffChild(
                c.first_name,
                c.birth_date,
                c.expected_date,
                None if c.birth_date is None else age_on(c.birth_date, today),
                c.has_disability,
            )
            for c in household.children
        ],
        credentials=[
            StaffCredential(
                id=c.id,
                kind=c.kind,
                device_name=c.device_name,
                holder=holders.get(c.adult_id) if c.adult_id else None,
                status=c.status,
                created_at=c.created_at,
                exp=c.exp,
                revoked_at=c.revoked_at,
                revoked_by=users.get(c.revoked_by_id) if c.revoked_by_id else None,
            )
            for c in credentials
        ],
        prints=list_print_jobs(session, card.id),
        audit=[
            StaffAuditRow(e.at, actor(e), e.action, e.object_type, (e.details or {}).get("reason")) for e in entries
        ],
        checked_on=today,
    )
    audit.record(session, viewer, VIEWED_ACTION, "card", card.id, meta=meta)
    return detail


# Changing a card ----------------------------------------------------------------------------------------------


def _lock_card(session: Session, card_id: uuid.UUID) -> tuple[Card, Household]:
    if not is_postgresql(session):
        sqlite_write_lock(session, Card)  # one writer from here on: what is read below stays current
    card = session.scalar(
        select(Card).where(Card.id == card_id).with_for_update().execution_options(populate_existing=True)
    )
    if card is None:
        raise CardNotFound()
    household = session.get(Household, card.household_id)
    assert household is not None
    return card, household


def _locked_credentials(session: Session, card: Card, statuses: Sequence[str]) -> list[CardCredential]:
    return list(
        session.scalars(
            select(CardCredential)
            .where(CardCredential.card_id == card.id, CardCredential.status.in_(list(statuses)))
            .order_by(CardCredential.created_at, CardCredential.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def _status_mail(city: City, card: Card, reason: str, subject: str, body: str) -> MailText:
    def text(adult: HouseholdAdult) -> tuple[str, str]:
        return i18n.gettext(subject), i18n.gettext(
            body,
            name=adult.first_name,
            city=city.name,
            number=format_card_number(card.number),
            reason=reason,
            contact=city.contact.email,
        )

    return text


def _set_card_status(card: Card, status: CardStatus, reason: str, now: dt.datetime) -> None:
    stats_events.card_changed(card, now)
    card.status = status.value
    card.status_changed_at = now
    card.status_reason = reason


@dataclass(frozen=True)
class CardChange:
    """One of staff's changes to a whole card: what it allows, what it does to the credentials, what it tells."""

    action: str
    # The card statuses it starts from; any other is refused (see :func:`_refuse`).
    from_statuses: frozenset[CardStatus]
    to_status: CardStatus
    # The credentials it changes, and their new status in the table and in the status list.
    credentials_from: tuple[CredentialStatus, ...]
    credentials_to: CredentialStatus
    status_list_value: int
    subject: str
    body: str


SUSPEND: Final = CardChange(
    action="card.suspended",
    from_statuses=frozenset({CardStatus.ACTIVE}),
    to_status=CardStatus.SUSPENDED,
    credentials_from=(CredentialStatus.ACTIVE,),
    credentials_to=CredentialStatus.SUSPENDED,
    status_list_value=SUSPENDED,
    subject=N_("Your family card has been suspended"),
    body=N_(
        "Hello %(name)s,\n\nthe family card %(number)s of %(city)s has been suspended. Until it is "
        "reactivated, it does not work, neither on a phone nor as a printed card.\n\nReason: %(reason)s\n\n"
        "If you have questions, please write to %(contact)s and give your card number.\n"
    ),
)
# Credentials the family revoked while the card was suspended stay revoked.
REACTIVATE: Final = CardChange(
    action="card.reactivated",
    from_statuses=frozenset({CardStatus.SUSPENDED}),
    to_status=CardStatus.ACTIVE,
    credentials_from=(CredentialStatus.SUSPENDED,),
    credentials_to=CredentialStatus.ACTIVE,
    status_list_value=VALID,
    subject=N_("Your family card is active again"),
    body=N_(
        "Hello %(name)s,\n\nthe family card %(number)s of %(city)s is active again. Your phones and printed "
        "cards work as before.\n\nReason: %(reason)s\n\n"
        "If you have questions, please write to %(contact)s and give your card number.\n"
    ),
)
REVOKE: Final = CardChange(
    action="card.revoked",
    from_statuses=frozenset({CardStatus.ACTIVE, CardStatus.SUSPENDED}),
    to_status=CardStatus.REVOKED,
    credentials_from=(CredentialStatus.ACTIVE, CredentialStatus.SUSPENDED),
    credentials_to=CredentialStatus.REVOKED,
    status_list_value=REVOKED,
    subject=N_("Your family card has been revoked"),
    body=N_(
        "Hello %(name)s,\n\nthe family card %(number)s of %(city)s has been revoked. It no longer works, "
        "neither on a phone nor as a printed card.\n\nReason: %(reason)s\n\n"
        "If you have questions, please write to %(contact)s and give your card number.\n"
    ),
)
CARD_CHANGES: Final = {"suspend": SUSPEND, "reactivate": REACTIVATE, "revoke": REVOKE}


def _refuse(card: Card, change: CardChange) -> None:
    """Conflict with the code that names why ``change`` cannot start from the card's status."""
    if CardStatus(card.status) in change.from_statuses:
        return
    if card.status == CardStatus.REVOKED.value:
        raise CardRevoked()
    if card.status == CardStatus.EXPIRED.value:
        raise CardExpired()
    if card.status == CardStatus.SUSPENDED.value:
        raise CardAlreadySuspended()
    raise CardNotSuspended()


def change_card(
    session: Session,
    city: City,
    principal: Principal,
    card_id: uuid.UUID,
    change_name: str,
    reason: object,
    *,
    now: dt.datetime | None = None,
    meta: RequestMeta | None = None,
) -> int:
    """Suspend, reactivate or revoke a whole card (``change_name``, a key of :data:`CARD_CHANGES`), with the
    reason the family reads.

    Every credential in ``change.credentials_from`` follows in the status list; an audit entry lists them and each
    adult is e-mailed. The card's state is checked before the reason. Returns the number of credentials changed.
    """
    change = CARD_CHANGES.get(change_name)
    if change is None:
        raise NotFound()
    now = now or utcnow()
    card, household = _lock_card(session, card_id)
    _refuse(card, change)
    text = read_reason(reason)
    rows = _locked_credentials(session, card, [status.value for status in change.credentials_from])
    for row in rows:
        _set_credential(session, row, change.credentials_to, change.status_list_value, principal, now)
    _set_card_status(card, change.to_status, text, now)
    audit.record(
        session,
        principal,
        change.action,
        "card",
        card.id,
        details={"reason": text, "credentials": [str(r.id) for r in rows]},
        meta=meta,
    )
    mail_household(session, household, _status_mail(city, card, text, change.subject, change.body))
    return len(rows)


def _set_credential(
    session: Session, row: CardCredential, to: CredentialStatus, value: int, principal: Principal, now: dt.datetime
) -> None:
    credential_services.set_status(session, row.status_list_id, row.status_index, value, now=now)
    row.status = to.value
    if to is CredentialStatus.REVOKED:
        row.revoked_at = now
        row.revoked_by_id = principal.user_id


def _credential_label(row: CardCredential) -> str:
    """What the family calls the credential, in the current language."""
    if row.kind == CredentialKind.PRINTED.value:
        return i18n.gettext(N_("a printed card"))
    if row.device_name:
        return i18n.gettext(N_("the phone “%(device)s”"), device=row.device_name)
    return i18n.gettext(N_("a phone"))


def revoke_credential_by_staff(
    session: Session,
    city: City,
    principal: Principal,
    card_id: uuid.UUID,
    credential_id: uuid.UUID,
    reason: object,
    *,
    now: dt.datetime | None = None,
    meta: RequestMeta | None = None,
) -> None:
    """Revoke one phone or printed card of the card for good; the card's other credentials keep working."""
    now = now or utcnow()
    card, household = _lock_card(session, card_id)
    row = session.scalar(
        select(CardCredential)
        .where(CardCredential.id == credential_id, CardCredential.card_id == card.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise CardCredentialNotFound()
    if row.status == CredentialStatus.REVOKED.value:
        raise CredentialAlreadyRevoked()
    text = read_reason(reason)
    _set_credential(session, row, CredentialStatus.REVOKED, REVOKED, principal, now)
    audit.record(
        session,
        principal,
        "credential.revoke",
        "card_credential",
        row.id,
        details={
            "card_id": str(card.id),
            "kind": row.kind,
            "device_name": row.device_name,
            "reason": text,
            "by_staff": True,
        },
        meta=meta,
    )

    def mail(adult: HouseholdAdult) -> tuple[str, str]:
        return i18n.gettext(N_("A phone or printed card has been removed from your family card")), i18n.gettext(
            N_(
                "Hello %(name)s,\n\nthe city has removed %(what)s from the family card %(number)s of %(city)s: it "
                "no longer works. Your other phones and printed cards keep working.\n\nReason: %(reason)s\n\n"
                "If you have questions, please write to %(contact)s and give your card number.\n"
            ),
            name=adult.first_name,
            what=_credential_label(row),
            number=format_card_number(card.number),
            city=city.name,
            reason=text,
            contact=city.contact.email,
        )

    mail_household(session, household, mail)
