"""The family's data rights: see and download everything held about them, change their e-mail address and
language, add or remove the second adult, delete their account.

Plain synchronous functions on a SQLAlchemy ``Session`` for the signed-in family principal; the caller owns the
transaction, so every action is stored whole or not at all.

Rules made here:

- The household is the newest one the signed-in user is an adult of. A family user without one (nothing applied
  yet) can still download their account's data and delete it.
- The export (:func:`export_data`, format version :data:`FORMAT_VERSION`) holds the user's account and sign-in
  links, the household with its adults and children, applications, cards, credentials, printed-card orders (not
  the PDFs), the e-mails sent to the household's addresses and the audit entries about the household's records
  and the user (action, time, role; never who of the staff). Other adults' accounts and sign-in history are theirs.
- A new e-mail address is confirmed by a one-time link sent to it. The link is a ``LoginLink`` of the user whose
  hash covers the purpose and the whole token, and the token carries the new address (``random.base64url``): a
  token with an edited address is an unknown link. The old address gets a notice once the change is made.
- Removing an adult (or an adult leaving with "delete my account" while others stay): their credentials are
  revoked in the status list, their row is deleted, their family user too unless they are an adult of another
  household (then with their sign-in links and the e-mails to their addresses), and the personal details in the
  audit entries about them are erased.
- Deleting the account of the last adult erases the household: every credential revoked, the card ``revoked``
  with the reason :data:`ACCOUNT_DELETED_REASON`, open applications withdrawn, adults, children, street, house
  number, tier number, application texts, print PDFs, the e-mails to the household and its users' sign-in links
  deleted, the users themselves too. Kept for anonymous statistics: postal code, district, city, language, the
  tier flags, card number, validity, card status and every date; ``erased_at`` is set.
- Audit entries about erased people keep their action, time, role and the ids of the records, and lose the
  rest: the actor's user (the row is gone), the IP address of the family's own requests, and every detail but
  ids and a few codes (:data:`SAFE_DETAIL_KEYS`); a kept value that mentions a name, address, device name or
  tier number is erased as well.
- Deleting needs the word :data:`CONFIRM_WORD` typed in any offered language, or the card number.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import secrets
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import LoginLink, User
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.services import (
    LINK_PURPOSE_SIGN_IN,
    LinkUnusable,
    email_problem,
    new_login_link,
    normalise_email,
)
from familienkarte.audit import services as audit
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit
from familienkarte.cards.credential_models import CardCredential, CredentialStatus, PrintJob
from familienkarte.cards.models import (
    OPEN_STATUSES,
    Application,
    ApplicationStatus,
    Card,
    CardStatus,
    Household,
    HouseholdAdult,
)
from familienkarte.cards.services import APPROVAL_LINK_HOURS, NAME_MAX
from familienkarte.city import City
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import format_card_number, normalize_card_number
from familienkarte.credentials.errors import StatusAlreadyRevoked
from familienkarte.credentials.status_list import REVOKED
from familienkarte.errors import N_, Conflict, FieldError, InvalidInput, NotFound
from familienkarte.events import stats as stats_events
from familienkarte.mail.models import Email
from familienkarte.mail.services import queue_email
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import Redemption

FORMAT_VERSION: Final = 1
DATA_PATH: Final = "/card/data"
EMAIL_CONFIRM_PATH: Final = f"{DATA_PATH}/email/confirm"
EMAIL_CHANGE_HOURS: Final = 24
NEW_ADULT_LINK_HOURS: Final = APPROVAL_LINK_HOURS
ACCOUNT_DELETED_REASON: Final = "account deleted"
CONFIRM_WORD: Final = N_("DELETE")
ERASED: Final = "[erased]"
# Audit detail keys whose values are ids or codes, never free text about a person.
SAFE_DETAIL_KEYS: Final = frozenset(
    {
        "action",
        "automatic",
        "by_staff",
        "count",
        "district",
        "kind",
        "locale",
        "method",
        "reason_code",
        "role",
        "status",
        "tier_claimed",
        "valid_from",
        "valid_until",
    }
)
_EMAIL_CHANGE_PURPOSE = "email-change"
_TOKEN_MAX = 1000
# Strings shorter than this are not searched for in audit details (a house number "5" is in every other id).
_MATCH_MIN = 3

_LINK_UNKNOWN = N_("This link is not valid. Please check that you copied all of it, or ask for a new one.")
_LINK_USED = N_("This link has been used already. Each link works only once; please ask for a new one.")
_LINK_EXPIRED = N_("This link has expired. Please ask for a new one.")


# Errors -----------------------------------------------------------------------------------------------------


class NoHousehold(NotFound):
    code = "no_household"
    message = N_("There is no household for your account yet. Once you have applied, its data appear here.")


class AdultNotFound(NotFound):
    code = "adult_not_found"
    message = N_("There is no such adult in your household.")


class TooManyAdults(Conflict):
    code = "too_many_adults"
    message = N_("A family card can have at most %(max)s adults, and your household has that many already.")


class LastAdult(Conflict):
    code = "last_adult"
    message = N_(
        "You are the only adult of your household, so nobody can be removed. "
        "To end your participation, delete your account."
    )


class OwnAdult(Conflict):
    code = "own_adult"
    message = N_("To remove yourself from the household, delete your account.")


class EmailTaken(Conflict):
    code = "email_taken"
    message = N_("This e-mail address is used by another account by now. Please ask for the change again.")


# The export -------------------------------------------------------------------------------------------------


class ExportAccount(msgspec.Struct, kw_only=True):
    email: str
    language: str | None
    created_at: dt.datetime
    email_confirmed_at: dt.datetime | None
    last_login_at: dt.datetime | None


class ExportHousehold(msgspec.Struct, kw_only=True):
    street: str
    house_number: str
    postal_code: str
    city: str
    district: str
    language: str
    tier_claimed: bool
    tier_number: str | None
    tier_approved: Annotated[bool, msgspec.Meta(description="Staff checked the tier number.")]
    created_at: dt.datetime
    confirmed_at: Annotated[
        dt.datetime | None, msgspec.Meta(description="When the family last confirmed the facts to renew.")
    ]
    erased_at: dt.datetime | None


class ExportAdult(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    is_you: bool
    added_at: dt.datetime


class ExportChild(msgspec.Struct, kw_only=True):
    first_name: str
    birth_date: dt.date | None
    expected_date: dt.date | None
    has_disability: bool
    added_at: dt.datetime


class ExportApplication(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    submitted_at: dt.datetime
    decided_at: dt.datetime | None
    decision_reason: str | None
    info_request: str | None
    refused_rules: Annotated[list[str], msgspec.Meta(description="Codes of the eligibility rules not met.")]


class ExportCard(msgspec.Struct, kw_only=True):
    number: Annotated[str, msgspec.Meta(examples=["7KX 3QM 9TB"])]
    status: str
    valid_from: dt.date
    valid_until: dt.date
    issued_at: dt.datetime
    status_changed_at: dt.datetime | None
    status_reason: str | None


class ExportCredential(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    card_number: str
    kind: Annotated[str, msgspec.Meta(description="`phone` or `printed`.")]
    device_name: str | None
    holder: Annotated[str | None, msgspec.Meta(description="The adult who activated the phone.")]
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str
    revoked_at: dt.datetime | None


class ExportPrintOrder(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    card_number: str
    status: str
    ordered_by_staff: bool
    created_at: dt.datetime
    ready_at: dt.datetime | None


class ExportRedemption(msgspec.Struct, kw_only=True):
    """A use of the card at a partner."""

    card_number: str
    partner: str
    location: str
    benefit: str
    quantity: int
    status: Annotated[str, msgspec.Meta(description="`recorded`, or `voided` by the partner.")]
    occurred_at: dt.datetime


class ExportEmail(msgspec.Struct, kw_only=True):
    to: str
    subject: str
    body: str
    created_at: dt.datetime
    sent_at: dt.datetime | None


class ExportSignInLink(msgspec.Struct, kw_only=True):
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None


class ExportAuditEntry(msgspec.Struct, kw_only=True):
    at: dt.datetime
    action: str
    actor_role: Annotated[str, msgspec.Meta(description="The role that acted (`family`, `caseworker`, `system`).")]
    object_type: str
    object_id: str | None


class DataExport(msgspec.Struct, kw_only=True):
    """Everything held about the signed-in family user and their household."""

    format_version: int
    generated_at: dt.datetime
    account: ExportAccount
    sign_in_links: list[ExportSignInLink]
    household: ExportHousehold | None
    adults: list[ExportAdult]
    children: list[ExportChild]
    applications: list[ExportApplication]
    cards: list[ExportCard]
    credentials: list[ExportCredential]
    print_orders: list[ExportPrintOrder]
    redemptions: list[ExportRedemption]
    emails: list[ExportEmail]
    audit: list[ExportAuditEntry]


# Finding the principal's records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mine:
    user: User
    household: Household | None
    adult: HouseholdAdult | None


def _own_user(session: Session, principal: Principal) -> User:
    user = session.get(User, principal.user_id) if principal.user_id else None
    if user is None or user.role != Role.FAMILY.value:
        raise NotFound()
    return user


def _mine(session: Session, principal: Principal, *, lock: bool = False) -> _Mine:
    user = _own_user(session, principal)
    query = (
        select(HouseholdAdult)
        .join(Household, Household.id == HouseholdAdult.household_id)
        .where(HouseholdAdult.user_id == user.id)
        .order_by(Household.created_at.desc(), Household.id)
        .limit(1)
    )
    adult = session.scalar(query)
    if adult is None:
        return _Mine(user, None, None)
    household_query = select(Household).where(Household.id == adult.household_id)
    if lock:
        household_query = household_query.with_for_update()
    household = session.scalar(household_query)
    return _Mine(user, household, adult)


def _household(session: Session, principal: Principal, *, lock: bool = False) -> tuple[User, Household, HouseholdAdult]:
    mine = _mine(session, principal, lock=lock)
    if mine.household is None or mine.adult is None:
        raise NoHousehold()
    return mine.user, mine.household, mine.adult


def _cards(session: Session, household: Household) -> list[Card]:
    return list(
        session.scalars(
            select(Card).where(Card.household_id == household.id).order_by(Card.issued_at.desc(), Card.id)
        ).all()
    )


def _full_name(adult: HouseholdAdult) -> str:
    return f"{adult.first_name} {adult.last_name}"


def _mail_key(household: Household, purpose: str) -> str:
    """The e-mails about a household carry its id, so that erasing it finds them whatever address they went to."""
    return f"household:{household.id}:{purpose}:{uuid.uuid4().hex}"


# Reading ----------------------------------------------------------------------------------------------------


def export(session: Session, principal: Principal, city: City, now: dt.datetime) -> DataExport:
    """Everything held about the principal and their household (see the module's rules)."""
    mine = _mine(session, principal)
    user = mine.user
    links = session.scalars(
        select(LoginLink).where(LoginLink.user_id == user.id).order_by(LoginLink.created_at, LoginLink.id)
    ).all()
    result = DataExport(
        format_version=FORMAT_VERSION,
        generated_at=now,
        account=ExportAccount(
            email=user.email,
            language=user.locale,
            created_at=user.created_at,
            email_confirmed_at=user.email_confirmed_at,
            last_login_at=user.last_login_at,
        ),
        sign_in_links=[
            ExportSignInLink(created_at=k.created_at, expires_at=k.expires_at, used_at=k.used_at) for k in links
        ],
        household=None,
        adults=[],
        children=[],
        applications=[],
        cards=[],
        credentials=[],
        print_orders=[],
        redemptions=[],
        emails=[],
        audit=[],
    )
    household = mine.household
    addresses = {user.email}
    object_ids: set[str] = {str(user.id)}
    if household is not None:
        _export_household(session, result, household, mine.adult, addresses, object_ids)
    mails = session.scalars(
        select(Email).where(Email.to_address.in_(sorted(addresses))).order_by(Email.created_at, Email.id)
    ).all()
    result.emails = [
        ExportEmail(to=m.to_address, subject=m.subject, body=m.body_text, created_at=m.created_at, sent_at=m.sent_at)
        for m in mails
    ]
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.object_id.in_(sorted(object_ids))).order_by(AuditEntry.at, AuditEntry.id)
    ).all()
    result.audit = [
        ExportAuditEntry(
            at=e.at, action=e.action, actor_role=e.actor_role, object_type=e.object_type, object_id=e.object_id
        )
        for e in entries
    ]
    return result


def _export_household(
    session: Session,
    result: DataExport,
    household: Household,
    me: HouseholdAdult | None,
    addresses: set[str],
    object_ids: set[str],
) -> None:
    result.household = ExportHousehold(
        street=household.street,
        house_number=household.house_number,
        postal_code=household.postal_code,
        city=household.city_name,
        district=household.district,
        language=household.locale,
        tier_claimed=household.tier_claimed,
        tier_number=household.tier_number,
        tier_approved=household.tier_approved,
        created_at=household.created_at,
        confirmed_at=household.confirmed_at,
        erased_at=household.erased_at,
    )
    names = {a.id: _full_name(a) for a in household.adults}
    result.adults = [
        ExportAdult(
            id=a.id,
            first_name=a.first_name,
            last_name=a.last_name,
            email=a.email,
            is_you=me is not None and a.id == me.id,
            added_at=a.created_at,
        )
        for a in household.adults
    ]
    result.children = [
        ExportChild(
            first_name=c.first_name,
            birth_date=c.birth_date,
            expected_date=c.expected_date,
            has_disability=c.has_disability,
            added_at=c.created_at,
        )
        for c in household.children
    ]
    applications = session.scalars(
        select(Application)
        .where(Application.household_id == household.id)
        .order_by(Application.submitted_at, Application.id)
    ).all()
    result.applications = [
        ExportApplication(
            id=a.id,
            status=a.status,
            submitted_at=a.submitted_at,
            decided_at=a.decided_at,
            decision_reason=a.decision_reason,
            info_request=a.info_request,
            refused_rules=list(a.refused_rules or []),
        )
        for a in applications
    ]
    cards = _cards(session, household)
    numbers = {c.id: format_card_number(c.number) for c in cards}
    result.cards = [
        ExportCard(
            number=numbers[c.id],
            status=c.status,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            issued_at=c.issued_at,
            status_changed_at=c.status_changed_at,
            status_reason=c.status_reason,
        )
        for c in cards
    ]
    card_ids = list(numbers)
    credentials = session.scalars(
        select(CardCredential)
        .where(CardCredential.card_id.in_(card_ids))
        .order_by(CardCredential.created_at, CardCredential.id)
    ).all()
    result.credentials = [
        ExportCredential(
            id=c.id,
            card_number=numbers[c.card_id],
            kind=c.kind,
            device_name=c.device_name,
            holder=names.get(c.adult_id) if c.adult_id else None,
            created_at=c.created_at,
            expires_at=c.exp,
            status=c.status,
            revoked_at=c.revoked_at,
        )
        for c in credentials
    ]
    jobs = session.scalars(
        select(PrintJob).where(PrintJob.card_id.in_(card_ids)).order_by(PrintJob.created_at, PrintJob.id)
    ).all()
    result.print_orders = [
        ExportPrintOrder(
            id=j.id,
            card_number=numbers[j.card_id],
            status=j.status,
            ordered_by_staff=j.by_staff,
            created_at=j.created_at,
            ready_at=j.ready_at,
        )
        for j in jobs
    ]
    used = session.execute(
        select(Redemption, Partner.name, Location.name, Benefit.title)
        .join(Partner, Partner.id == Redemption.partner_id)
        .join(Location, Location.id == Redemption.location_id)
        .join(Benefit, Benefit.id == Redemption.benefit_id)
        .where(Redemption.card_id.in_(card_ids))
        .order_by(Redemption.occurred_at, Redemption.id)
    ).all()
    result.redemptions = [
        ExportRedemption(
            card_number=format_card_number(r.card_number),
            partner=partner_name,
            location=location_name,
            benefit=(title or {}).get("de", ""),
            quantity=r.quantity,
            status=r.status,
            occurred_at=r.occurred_at,
        )
        for r, partner_name, location_name, title in used
    ]
    addresses.update(a.email for a in household.adults)
    object_ids.update(_record_ids(household, applications, cards, credentials, jobs))


def _record_ids(
    household: Household,
    applications: Iterable[Application],
    cards: Iterable[Card],
    credentials: Iterable[CardCredential],
    jobs: Iterable[PrintJob],
) -> set[str]:
    """The ids of the household's records, as the audit log stores them (``object_id``)."""
    ids: list[uuid.UUID] = [household.id]
    ids += [a.id for a in household.adults]
    ids += [c.id for c in household.children]
    ids += [a.id for a in applications]
    ids += [c.id for c in cards]
    ids += [c.id for c in credentials]
    ids += [j.id for j in jobs]
    return {str(i) for i in ids}


def export_data(session: Session, principal: Principal, city: City, now: dt.datetime) -> dict[str, Any]:
    """The export as JSON-ready data: ids, dates and times as strings (RFC 3339)."""
    data: dict[str, Any] = msgspec.to_builtins(export(session, principal, city, now))
    return data


@dataclass(frozen=True)
class AdultView:
    id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    is_you: bool


@dataclass(frozen=True)
class ChildView:
    first_name: str
    birth_date: dt.date | None
    expected_date: dt.date | None


@dataclass(frozen=True)
class DataOverview:
    """What the data page shows: the household's facts and what may be changed."""

    email: str
    street: str
    house_number: str
    postal_code: str
    city_name: str
    district: str
    locale: str
    tier_claimed: bool
    adults: list[AdultView]
    children: list[ChildView]
    card_number: str | None
    card_status: str | None
    valid_until: dt.date | None
    max_adults: int

    @property
    def can_add_adult(self) -> bool:
        return len(self.adults) < self.max_adults


def overview(session: Session, principal: Principal, city: City) -> DataOverview:
    user, household, me = _household(session, principal)
    cards = _cards(session, household)
    card = cards[0] if cards else None
    return DataOverview(
        email=user.email,
        street=household.street,
        house_number=household.house_number,
        postal_code=household.postal_code,
        city_name=household.city_name,
        district=household.district,
        locale=household.locale,
        tier_claimed=household.tier_claimed,
        adults=[AdultView(a.id, a.first_name, a.last_name, a.email, a.id == me.id) for a in household.adults],
        children=[ChildView(c.first_name, c.birth_date, c.expected_date) for c in household.children],
        card_number=format_card_number(card.number) if card else None,
        card_status=card.status if card else None,
        valid_until=card.valid_until if card else None,
        max_adults=city.eligibility.max_adults,
    )


def removal_preview(session: Session, principal: Principal, adult_id: uuid.UUID) -> AdultView:
    """The adult to remove, for the confirmation page: another adult of the principal's household."""
    _user, household, me = _household(session, principal)
    target = _other_adult(household, me, adult_id)
    return AdultView(target.id, target.first_name, target.last_name, target.email, False)


@dataclass(frozen=True)
class DeletionPreview:
    card_number: str | None
    others_remain: bool


def deletion_preview(session: Session, principal: Principal) -> DeletionPreview:
    mine = _mine(session, principal)
    if mine.household is None:
        return DeletionPreview(None, False)
    cards = _cards(session, mine.household)
    return DeletionPreview(
        format_card_number(cards[0].number) if cards else None,
        len(mine.household.adults) > 1,
    )


# The e-mail address -----------------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(f"{_EMAIL_CHANGE_PURPOSE}:{token}".encode()).hexdigest()


def _encode_address(email: str) -> str:
    return base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")


def _decode_address(token: str) -> str | None:
    _random, sep, encoded = token.partition(".")
    if not sep or not encoded:
        return None
    try:
        address = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return address or None


def _address_taken(session: Session, email: str, user_id: uuid.UUID) -> bool:
    other_user = session.scalar(select(User.id).where(User.email == email, User.id != user_id))
    if other_user is not None:
        return True
    other_adult = session.scalar(
        select(HouseholdAdult.id)
        .where(HouseholdAdult.email == email, or_(HouseholdAdult.user_id.is_(None), HouseholdAdult.user_id != user_id))
        .limit(1)
    )
    return other_adult is not None


def _new_address(session: Session, user: User, raw: str) -> str:
    email = normalise_email(raw)
    problem = email_problem(email)
    if problem:
        raise InvalidInput([problem])
    if email == user.email:
        raise InvalidInput.one("email", N_("This is your e-mail address already. Please enter the new one."))
    if _address_taken(session, email, user.id):
        raise InvalidInput.one("email", N_("This e-mail address is used by another account. Please use another one."))
    return email


def request_email_change(
    session: Session,
    principal: Principal,
    city: City,
    raw_email: str,
    *,
    base_url: str,
    now: dt.datetime,
    meta: RequestMeta | None = None,
) -> str:
    """E-mail a confirmation link to the new address; nothing changes until it is opened. Returns the address."""
    mine = _mine(session, principal)
    user = mine.user
    email = _new_address(session, user, raw_email)
    token = f"{secrets.token_urlsafe(24)}.{_encode_address(email)}"
    session.add(
        LoginLink(
            user_id=user.id, token_hash=_token_hash(token), expires_at=now + dt.timedelta(hours=EMAIL_CHANGE_HOURS)
        )
    )
    link = f"{base_url}{EMAIL_CONFIRM_PATH}/{token}"
    locale = mine.household.locale if mine.household else (user.locale or i18n.current_locale())
    with i18n.use_locale(locale):
        queue_email(
            session,
            to=email,
            subject=i18n.gettext(N_("Please confirm your new e-mail address for the family card")),
            body_text=i18n.gettext(
                N_(
                    "Hello,\n\nyou asked to use this address for the family card of %(city)s from now on. "
                    "To confirm it, open this link:\n\n%(link)s\n\nThe link works once and for %(hours)s hours. "
                    "If you did not ask for it, ignore this e-mail: nothing changes.\n"
                ),
                city=city.name,
                link=link,
                hours=EMAIL_CHANGE_HOURS,
            ),
            dedupe_key=_mail_key(mine.household, "email-change") if mine.household else None,
        )
    audit.record(
        session, principal, "family.email_change_requested", "user", user.id, details={"new_email": email}, meta=meta
    )
    return email


def _email_change_link(session: Session, token: str, now: dt.datetime) -> tuple[LoginLink, str]:
    link = None
    email = _decode_address(token) if token and len(token) <= _TOKEN_MAX else None
    if email is not None:
        link = session.scalar(select(LoginLink).where(LoginLink.token_hash == _token_hash(token)))
    if link is None or email is None:
        raise LinkUnusable(_LINK_UNKNOWN, code="link_unknown")
    if link.used_at is not None:
        raise LinkUnusable(_LINK_USED, code="link_used")
    if link.expires_at <= now:
        raise LinkUnusable(_LINK_EXPIRED, code="link_expired")
    return link, email


def _link_user(session: Session, link: LoginLink) -> User:
    user = session.get(User, link.user_id)
    if user is None or not user.is_active or user.role != Role.FAMILY.value:
        raise LinkUnusable(_LINK_UNKNOWN, code="link_unknown")
    return user


def check_email_change_link(session: Session, token: str, now: dt.datetime) -> str:
    """The new address the link confirms; raises ``LinkUnusable``. Looking does not use the link up."""
    link, email = _email_change_link(session, token, now)
    _link_user(session, link)
    return email


def confirm_email_change(
    session: Session, city: City, token: str, *, now: dt.datetime, meta: RequestMeta | None = None
) -> uuid.UUID:
    """Use the link: the user and their household rows get the new address, the old one a notice. Returns the user."""
    link, email = _email_change_link(session, token, now)
    used = session.execute(
        update(LoginLink)
        .where(LoginLink.id == link.id, LoginLink.used_at.is_(None))
        .values(used_at=now)
        .returning(LoginLink.id)
    ).scalar_one_or_none()
    if used is None:
        raise LinkUnusable(_LINK_USED, code="link_used")
    user = _link_user(session, link)
    if _address_taken(session, email, user.id):
        raise EmailTaken()
    old = user.email
    user.email = email
    user.email_confirmed_at = now
    adults = session.scalars(select(HouseholdAdult).where(HouseholdAdult.user_id == user.id)).all()
    household = session.get(Household, adults[0].household_id) if adults else None
    for adult in adults:
        adult.email = email
    with i18n.use_locale(household.locale if household else (user.locale or i18n.current_locale())):
        queue_email(
            session,
            to=old,
            subject=i18n.gettext(N_("Your e-mail address for the family card has been changed")),
            body_text=i18n.gettext(
                N_(
                    "Hello,\n\nthe e-mail address of your account for the family card of %(city)s has been "
                    "changed; e-mails now go to the new address. If you did not do this, please write to "
                    "%(contact)s at once.\n"
                ),
                city=city.name,
                contact=city.contact.email,
            ),
            dedupe_key=_mail_key(household, "email-changed") if household else None,
        )
    actor = Principal(role=Role.FAMILY, user_id=user.id, email=email)
    # The old address stays in the entry, so that erasing the account also finds the e-mails sent to it.
    audit.record(session, actor, "family.email_changed", "user", user.id, details={"old_email": old}, meta=meta)
    return user.id


# Language ---------------------------------------------------------------------------------------------------


def change_language(
    session: Session, principal: Principal, city: City, raw: str, *, meta: RequestMeta | None = None
) -> str:
    """The household's language (its e-mails) and the user's; one of the city's languages. Returns it."""
    locale = (raw or "").strip()
    if locale not in city.languages:
        raise InvalidInput.one("locale", N_("Please choose one of the languages offered."))
    user, household, _me = _household(session, principal, lock=True)
    household.locale = locale
    user.locale = locale
    audit.record(
        session, principal, "family.language_changed", "household", household.id, details={"locale": locale}, meta=meta
    )
    return locale


# Adults -----------------------------------------------------------------------------------------------------


def _name(form: Mapping[str, str], name: str, missing: str, errors: list[FieldError]) -> str:
    value = " ".join((form.get(name) or "").split())
    if not value:
        errors.append(FieldError(name, missing))
    elif len(value) > NAME_MAX:
        errors.append(FieldError(name, N_("Please use at most %(max)s characters here."), {"max": NAME_MAX}))
    elif any(unicodedata.category(char) == "Cc" for char in value):
        errors.append(FieldError(name, N_("This field contains characters that cannot be used.")))
    return value


def _in_other_household(session: Session, email: str, household: Household) -> bool:
    """An adult of another household that has a card or an open application."""
    has_card = exists().where(Card.household_id == HouseholdAdult.household_id)
    is_open = exists().where(
        Application.household_id == HouseholdAdult.household_id,
        Application.status.in_([s.value for s in OPEN_STATUSES]),
    )
    found = session.scalar(
        select(HouseholdAdult.id)
        .where(HouseholdAdult.email == email, HouseholdAdult.household_id != household.id, or_(has_card, is_open))
        .limit(1)
    )
    return found is not None


def add_adult(
    session: Session,
    principal: Principal,
    city: City,
    form: Mapping[str, str],
    *,
    base_url: str,
    now: dt.datetime,
    meta: RequestMeta | None = None,
) -> uuid.UUID:
    """Add an adult to the household (up to the city's maximum); they get an e-mail with a sign-in link."""
    _user, household, _me = _household(session, principal, lock=True)
    maximum = city.eligibility.max_adults
    if len(household.adults) >= maximum:
        raise TooManyAdults(max=maximum)
    errors: list[FieldError] = []
    first = _name(form, "first_name", N_("Please enter the first name."), errors)
    last = _name(form, "last_name", N_("Please enter the last name."), errors)
    email = normalise_email(form.get("email", ""))
    problem = email_problem(email)
    user = None
    if problem:
        errors.append(problem)
    elif any(a.email == email for a in household.adults):
        errors.append(FieldError("email", N_("This person is an adult of your household already.")))
    else:
        user = session.scalar(select(User).where(User.email == email))
        if user is not None and user.role != Role.FAMILY.value:
            errors.append(
                FieldError(
                    "email",
                    N_("This e-mail address belongs to a staff or partner account. Please use another one."),
                )
            )
        elif _in_other_household(session, email, household):
            errors.append(
                FieldError(
                    "email",
                    N_(
                        "This e-mail address belongs to an adult of another household with a family card or an "
                        "open application. Each adult can be on one family card only."
                    ),
                )
            )
    if errors:
        raise InvalidInput(errors)
    if user is None:
        user = User(email=email, display_name=f"{first} {last}"[:200], role=Role.FAMILY.value, locale=household.locale)
        session.add(user)
        session.flush()
    position = max((a.position for a in household.adults), default=-1) + 1
    adult = HouseholdAdult(
        household_id=household.id, position=position, first_name=first, last_name=last, email=email, user_id=user.id
    )
    household.adults.append(adult)
    session.flush()
    token = new_login_link(session, user, LINK_PURPOSE_SIGN_IN, dt.timedelta(hours=NEW_ADULT_LINK_HOURS))
    with i18n.use_locale(household.locale):
        queue_email(
            session,
            to=email,
            subject=i18n.gettext(N_("You have been added to a family card")),
            body_text=i18n.gettext(
                N_(
                    "Hello %(name)s,\n\nyou have been added as an adult to a family card of %(city)s. "
                    "To see the card and put it on your phone, open this link:\n\n%(link)s\n\n"
                    "The link works once and for %(hours)s hours. You can ask for a new sign-in link at any time "
                    "at %(login)s.\n"
                ),
                name=first,
                city=city.name,
                link=f"{base_url}/login/family/{token}",
                hours=NEW_ADULT_LINK_HOURS,
                login=f"{base_url}/login/family",
            ),
            dedupe_key=_mail_key(household, "adult-added"),
        )
    audit.record(
        session,
        principal,
        "household.adult_added",
        "household_adult",
        adult.id,
        details={"household_id": str(household.id)},
        meta=meta,
    )
    return adult.id


def _other_adult(household: Household, me: HouseholdAdult, adult_id: uuid.UUID) -> HouseholdAdult:
    target = next((a for a in household.adults if a.id == adult_id), None)
    if target is None:
        raise AdultNotFound()
    if len(household.adults) <= 1:
        raise LastAdult()
    if target.id == me.id:
        raise OwnAdult()
    return target


def remove_adult(
    session: Session,
    principal: Principal,
    city: City,
    adult_id: uuid.UUID,
    *,
    now: dt.datetime,
    meta: RequestMeta | None = None,
) -> None:
    """Remove another adult of the household: their phones stop working, their data go; they get an e-mail."""
    _user, household, me = _household(session, principal, lock=True)
    target = _other_adult(household, me, adult_id)
    first_name, address, target_id = target.first_name, target.email, target.id
    _detach(session, household, target, by=principal.user_id, now=now)
    with i18n.use_locale(household.locale):
        queue_email(
            session,
            to=address,
            subject=i18n.gettext(N_("You have been removed from a family card")),
            body_text=i18n.gettext(
                N_(
                    "Hello %(name)s,\n\nanother adult of your household has removed you from the family card of "
                    "%(city)s. The card no longer works on your phones. If you think this is a mistake, please "
                    "write to %(contact)s.\n"
                ),
                name=first_name,
                city=city.name,
                contact=city.contact.email,
            ),
            dedupe_key=_mail_key(household, "adult-removed"),
        )
    audit.record(
        session,
        principal,
        "household.adult_removed",
        "household_adult",
        target_id,
        details={"household_id": str(household.id)},
        meta=meta,
    )


# Revoking and erasing ---------------------------------------------------------------------------------------


def _revoke(session: Session, row: CardCredential, by: uuid.UUID | None, now: dt.datetime) -> None:
    if row.status != CredentialStatus.REVOKED.value:
        with contextlib.suppress(StatusAlreadyRevoked):
            credential_services.set_status(session, row.status_list_id, row.status_index, REVOKED, now=now)
        row.status = CredentialStatus.REVOKED.value
        row.revoked_at = now
        row.revoked_by_id = by
    row.device_name = None
    row.adult_id = None


def _personal_strings(values: Iterable[str | None]) -> set[str]:
    return {v.casefold() for v in values if v and len(v) >= _MATCH_MIN}


def _mentions(text: str, personal: set[str]) -> bool:
    folded = text.casefold()
    return any(p in folded for p in personal)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _scrubbed(key: str | None, value: Any, personal: set[str]) -> Any:
    """Audit details without personal data: ids and the codes of :data:`SAFE_DETAIL_KEYS`, nothing else."""
    if isinstance(value, dict):
        return {k: _scrubbed(k, v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(key, v, personal) for v in value]
    if isinstance(value, str):
        if key is not None and (key == "id" or key.endswith("_id")) and _is_uuid(value):
            return value
        if key in SAFE_DETAIL_KEYS and not _mentions(value, personal):
            return value
        return ERASED
    return value


def _scrub_audit(
    session: Session, object_ids: set[str], actors: set[uuid.UUID], personal: set[str]
) -> list[AuditEntry]:
    conditions = []
    if object_ids:
        conditions.append(AuditEntry.object_id.in_(sorted(object_ids)))
    if actors:
        conditions.append(AuditEntry.actor_user_id.in_(sorted(actors, key=str)))
    if not conditions:
        return []
    entries = list(session.scalars(select(AuditEntry).where(or_(*conditions))).all())
    for entry in entries:
        entry.details = _scrubbed(None, dict(entry.details or {}), personal)
        if entry.actor_user_id in actors:
            entry.ip = None
    return entries


def _former_addresses(session: Session, user_ids: set[uuid.UUID]) -> set[str]:
    """Addresses these users had or asked for, as recorded by the e-mail change (read before the audit is scrubbed)."""
    if not user_ids:
        return set()
    entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == "user",
            AuditEntry.object_id.in_(sorted(str(u) for u in user_ids)),
            AuditEntry.action.in_(["family.email_change_requested", "family.email_changed"]),
        )
    ).all()
    found = set()
    for entry in entries:
        for key in ("old_email", "new_email"):
            value = (entry.details or {}).get(key)
            if isinstance(value, str) and value:
                found.add(value)
    return found


def _belongs_elsewhere(session: Session, user_id: uuid.UUID, household_id: uuid.UUID) -> bool:
    other = session.scalar(
        select(HouseholdAdult.id)
        .where(HouseholdAdult.user_id == user_id, HouseholdAdult.household_id != household_id)
        .limit(1)
    )
    return other is not None


def _delete_users(session: Session, users: list[User], addresses: set[str]) -> None:
    """Delete family users with their sign-in links and the e-mails to ``addresses`` (theirs, now and before)."""
    ids = [u.id for u in users]
    # An earlier address of theirs may be someone else's by now: that person's e-mails stay.
    kept = set(session.scalars(select(User.email).where(User.email.in_(sorted(addresses)), User.id.not_in(ids))))
    if addresses - kept:
        session.execute(delete(Email).where(Email.to_address.in_(sorted(addresses - kept))))
    if not ids:
        return
    session.execute(delete(LoginLink).where(LoginLink.user_id.in_(ids)))
    # The database sets these to NULL as well; done here so that no session holds a dangling id.
    session.execute(update(AuditEntry).where(AuditEntry.actor_user_id.in_(ids)).values(actor_user_id=None))
    session.execute(update(CardCredential).where(CardCredential.revoked_by_id.in_(ids)).values(revoked_by_id=None))
    session.execute(update(PrintJob).where(PrintJob.requested_by_id.in_(ids)).values(requested_by_id=None))
    session.execute(delete(User).where(User.id.in_(ids)).execution_options(synchronize_session="fetch"))


def _detach(
    session: Session, household: Household, adult: HouseholdAdult, *, by: uuid.UUID | None, now: dt.datetime
) -> None:
    """Take one adult out of the household (others stay): credentials revoked, their row and data gone."""
    credentials = session.scalars(select(CardCredential).where(CardCredential.adult_id == adult.id)).all()
    personal = _personal_strings(
        [adult.first_name, adult.last_name, _full_name(adult), adult.email, *(c.device_name for c in credentials)]
    )
    for row in credentials:
        _revoke(session, row, by, now)
    user = session.get(User, adult.user_id) if adult.user_id else None
    leaving = user is not None and not _belongs_elsewhere(session, user.id, household.id)
    object_ids = {str(adult.id), *(str(c.id) for c in credentials)}
    actors: set[uuid.UUID] = set()
    addresses: set[str] = set()
    if user is not None and leaving:
        object_ids.add(str(user.id))
        actors.add(user.id)
        addresses = {user.email, adult.email, *_former_addresses(session, {user.id})}
        personal |= _personal_strings(addresses)
    _scrub_audit(session, object_ids, actors, personal)
    household.adults.remove(adult)
    session.flush()
    if user is not None and leaving:
        _delete_users(session, [user], addresses)


def _confirmation_key(text: str) -> str:
    """``text`` as compared with the confirmation word: spaces collapsed, without case and accents, so that USUN
    counts as USUŃ on a keyboard without Polish letters and SIL as SİL (whose casefold keeps a combining dot)."""
    decomposed = unicodedata.normalize("NFKD", " ".join(text.split()).casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _check_confirmation(raw: str, card: Card | None) -> None:
    given = _confirmation_key(raw or "")
    words = set()
    for locale in i18n.SUPPORTED_LOCALES:
        with i18n.use_locale(locale):
            words.add(_confirmation_key(i18n.gettext(CONFIRM_WORD)))
    if given in words:
        return
    number = normalize_card_number(given) if given else None
    if card is not None and number is not None and number == normalize_card_number(card.number):
        return
    if not given:
        raise InvalidInput.one("confirmation", N_("Please type %(word)s to confirm."), word=i18n.gettext(CONFIRM_WORD))
    raise InvalidInput.one(
        "confirmation",
        N_("This is not %(word)s or your card number. Nothing has been deleted."),
        word=i18n.gettext(CONFIRM_WORD),
    )


@dataclass(frozen=True)
class Deleted:
    """What deleting did: ``erased`` when the whole household went (the last adult), else the requester left."""

    erased: bool


def delete_account(
    session: Session,
    principal: Principal,
    confirmation: str,
    *,
    now: dt.datetime,
    meta: RequestMeta | None = None,
) -> Deleted:
    """Delete the principal's account after the confirmation (see the module's rules). The caller signs them out."""
    mine = _mine(session, principal, lock=True)
    household, me, user = mine.household, mine.adult, mine.user
    cards = _cards(session, household) if household is not None else []
    _check_confirmation(confirmation, cards[0] if cards else None)
    # The actor's user row is deleted in this transaction: the entries name the role only.
    actor = Principal(role=Role.FAMILY)
    quiet_meta = RequestMeta(request_id=meta.request_id) if meta else None
    if household is None or me is None:
        addresses = {user.email, *_former_addresses(session, {user.id})}
        _scrub_audit(session, {str(user.id)}, {user.id}, _personal_strings(addresses))
        _delete_users(session, [user], addresses)
        audit.record(session, actor, "family.account_deleted", "user", user.id, meta=quiet_meta)
        return Deleted(erased=False)
    if len(household.adults) > 1:
        adult_id = me.id
        _detach(session, household, me, by=None, now=now)
        audit.record(
            session,
            actor,
            "household.adult_left",
            "household_adult",
            adult_id,
            details={"household_id": str(household.id)},
            meta=quiet_meta,
        )
        return Deleted(erased=False)
    _erase(session, household, cards, now=now)
    audit.record(
        session,
        actor,
        "household.erased",
        "household",
        household.id,
        details={"district": household.district},
        meta=quiet_meta,
    )
    return Deleted(erased=True)


def _erase(session: Session, household: Household, cards: list[Card], *, now: dt.datetime) -> None:
    """Erase the household's personal data; what statistics need stays (see the module's rules)."""
    card_ids = [c.id for c in cards]
    credentials = session.scalars(select(CardCredential).where(CardCredential.card_id.in_(card_ids))).all()
    jobs = session.scalars(select(PrintJob).where(PrintJob.card_id.in_(card_ids))).all()
    applications = session.scalars(select(Application).where(Application.household_id == household.id)).all()
    adults = list(household.adults)
    users = [
        u
        for u in session.scalars(select(User).where(User.id.in_([a.user_id for a in adults if a.user_id]))).all()
        if not _belongs_elsewhere(session, u.id, household.id)
    ]
    user_ids = {u.id for u in users}
    addresses = {a.email for a in adults} | {u.email for u in users} | _former_addresses(session, user_ids)
    personal = _personal_strings(
        [
            *(a.first_name for a in adults),
            *(a.last_name for a in adults),
            *(_full_name(a) for a in adults),
            *(c.first_name for c in household.children),
            *(c.device_name for c in credentials),
            household.street,
            household.tier_number,
            *addresses,
        ]
    )
    object_ids = _record_ids(household, applications, cards, credentials, jobs) | {str(u) for u in user_ids}
    _scrub_audit(session, object_ids, user_ids, personal)

    for row in credentials:
        _revoke(session, row, None, now)
    for card in cards:
        stats_events.card_changed(card, now)
        card.status = CardStatus.REVOKED.value
        card.status_reason = ACCOUNT_DELETED_REASON
        card.status_changed_at = now
    for job in jobs:
        job.pdf = None
        job.error = None
    for application in applications:
        application.decision_reason = None
        application.info_request = None
        if application.status in OPEN_STATUSES:
            application.status = ApplicationStatus.WITHDRAWN.value
            application.decided_at = now
    session.execute(delete(Email).where(Email.dedupe_key.like(f"household:{household.id}:%")))
    household.adults.clear()
    household.children.clear()
    household.street = ""
    household.house_number = ""
    household.tier_number = None
    household.address_key = f"{household.postal_code}|"
    household.erased_at = now
    session.flush()
    _delete_users(session, users, addresses)


__all__ = [
    "ACCOUNT_DELETED_REASON",
    "CONFIRM_WORD",
    "DataExport",
    "add_adult",
    "change_language",
    "confirm_email_change",
    "delete_account",
    "export",
    "export_data",
    "remove_adult",
    "request_email_change",
]
