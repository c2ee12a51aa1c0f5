"""The end of a card's validity: reminders before it, expiry when it passes, renewal by the family.

Rules made here:

- A card is due for its reminder from :attr:`City.expiry_reminder_days` days before its last valid day (in the
  city's time zone) until that day. Each adult of the household gets one e-mail in the household's language;
  ``Card.reminder_sent_at`` marks it done for the current ``valid_until`` and is cleared by a renewal.
- An active card whose last valid day has passed becomes ``expired``; the household is told once. Credentials
  need no change: their ``exp`` never lies past the card's end (see ``credentials.card_claims``).
- A family may renew from the day the reminder is due until :data:`RENEWAL_GRACE_DAYS` after the end, not while
  the card is suspended or revoked. They confirm the main residence and the household's facts; the rules are
  checked again on today's date and the new validity is computed from today as at the first issue. A renewal
  that would not move the end later is refused.

Periodic runs are idempotent and batched (oldest validity first), so beat may run them as often as it likes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.services import INVITATION_LINK_HOURS, LINK_PURPOSE_SIGN_IN, new_login_link
from familienkarte.audit import services as audit
from familienkarte.cards.eligibility import ChildFacts, Refusal, age_on, card_valid_until, check_eligibility
from familienkarte.cards.household_mail import mail_household
from familienkarte.cards.models import Card, CardStatus, Household, HouseholdAdult
from familienkarte.city import City
from familienkarte.credentials.card_numbers import format_card_number
from familienkarte.errors import N_, Conflict, FieldError, InvalidInput, NotFound
from familienkarte.events import stats as stats_events
from familienkarte.mail.services import queue_email

BATCH: Final = 500
# How long after the end of validity a family may still renew instead of applying again.
RENEWAL_GRACE_DAYS: Final = 365
LINK_HOURS: Final = INVITATION_LINK_HOURS
CARD_PATH: Final = "/card"
RENEW_PATH: Final = "/card/renew"
DATA_PATH: Final = "/card/data"
LOGIN_PATH: Final = "/login/family"
CHECKED: Final = ("on", "yes", "true", "1")
# Stored in ``Card.status_reason`` (a message id, translated where it is shown).
EXPIRED_REASON: Final = N_("The end of validity has passed.")
RENEWED_REASON: Final = N_("Renewed by the family.")


# Rules without a database --------------------------------------------------------------------------------------


class RenewalState(StrEnum):
    OPEN = "open"
    NOT_YET = "not_yet"
    TOO_LATE = "too_late"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


def reminder_from(valid_until: dt.date, reminder_days: int) -> dt.date:
    """The first day on which the reminder is due (and renewal opens)."""
    return valid_until - dt.timedelta(days=reminder_days)


def reminder_due(valid_until: dt.date, today: dt.date, reminder_days: int) -> bool:
    """The card ends within ``reminder_days`` days of ``today`` and has not ended yet."""
    return reminder_from(valid_until, reminder_days) <= today <= valid_until


def renewal_closes(valid_until: dt.date) -> dt.date:
    """The last day a card may be renewed."""
    return valid_until + dt.timedelta(days=RENEWAL_GRACE_DAYS)


def renewal_state(status: str, valid_until: dt.date, today: dt.date, reminder_days: int) -> RenewalState:
    if status == CardStatus.SUSPENDED.value:
        return RenewalState.SUSPENDED
    if status == CardStatus.REVOKED.value:
        return RenewalState.REVOKED
    if today < reminder_from(valid_until, reminder_days):
        return RenewalState.NOT_YET
    if today > renewal_closes(valid_until):
        return RenewalState.TOO_LATE
    return RenewalState.OPEN


def renewed_until(city: City, children: Sequence[ChildFacts], today: dt.date) -> dt.date:
    """The end of validity a renewal on ``today`` gives: the same rule as a new card issued that day."""
    return card_valid_until(city.eligibility, children, today, city.card_validity_years)


# Errors ---------------------------------------------------------------------------------------------------------


class NoCardToRenew(NotFound):
    code = "no_card"
    message = N_("There is no family card for you yet. Once your application is approved, it appears here.")


class RenewalNotOpen(Conflict):
    code = "renewal_not_open"
    message = N_("The card can be renewed from %(date)s on, %(days)s days before it ends.")


class RenewalTooLate(Conflict):
    code = "renewal_too_late"
    message = N_(
        "The card expired more than a year ago and can no longer be renewed. Please contact %(contact)s to take "
        "part again."
    )


class CardSuspended(Conflict):
    code = "card_suspended"
    message = N_("Your family card is suspended, so it cannot be renewed. Please contact %(contact)s.")


class CardRevoked(Conflict):
    code = "card_revoked"
    message = N_("Your family card has been revoked, so it cannot be renewed. Please contact %(contact)s.")


class RenewalRefused(InvalidInput):
    """Confirmed, but the household no longer meets a rule on today's date. Nothing was changed."""

    code = "renewal_refused"
    message = N_("We cannot renew the card. The reasons are listed below.")

    def __init__(self, errors: list[FieldError], reasons: list[str]) -> None:
        super().__init__(errors)
        self.reasons = reasons


class RenewalWouldNotExtend(Conflict):
    code = "renewal_would_not_extend"
    message = N_(
        "Renewing now would not extend the card: it already runs until %(date)s, the longest the rules allow for "
        "your household. If something has changed (for example a child has been born), please update your "
        "household's details first."
    )


def _state_error(state: RenewalState, card: Card, city: City) -> Conflict | None:
    contact = city.contact.email
    if state is RenewalState.SUSPENDED:
        return CardSuspended(contact=contact)
    if state is RenewalState.REVOKED:
        return CardRevoked(contact=contact)
    if state is RenewalState.NOT_YET:
        opens = reminder_from(card.valid_until, city.expiry_reminder_days)
        return RenewalNotOpen(date=i18n.format_date(opens, "long"), days=city.expiry_reminder_days)
    if state is RenewalState.TOO_LATE:
        return RenewalTooLate(contact=contact)
    return None


# Shared ---------------------------------------------------------------------------------------------------------


def _facts(household: Household) -> list[ChildFacts]:
    return [ChildFacts(c.first_name, c.birth_date, c.expected_date, c.has_disability) for c in household.children]


def _renewable(city: City, household: Household, card: Card, today: dt.date) -> bool:
    """Whether a renewal today would move the end later (the household's facts as stored)."""
    return renewed_until(city, _facts(household), max(today, card.valid_from)) > card.valid_until


def _households(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Household]:
    return {
        h.id: h
        for h in session.scalars(
            select(Household)
            .where(Household.id.in_(ids))
            .options(selectinload(Household.adults), selectinload(Household.children))
        )
    }


def _users(session: Session, adults: Sequence[HouseholdAdult]) -> dict[uuid.UUID, User]:
    ids = [a.user_id for a in adults if a.user_id is not None]
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids), User.is_active))}


# Subject and body for one adult, given their sign-in link.
AdultMail = Callable[[HouseholdAdult, str], tuple[str, str]]


def _mail_adults(
    session: Session, household: Household, dedupe: str, base_url: str, text: AdultMail, *, with_link: bool
) -> int:
    """One e-mail to each adult in the household's language; ``text`` gets the adult and their sign-in link.

    The dedupe key makes a repeated run (a crash between queueing and marking the card) send nothing twice.
    """
    users = _users(session, household.adults) if with_link else {}

    def with_sign_in(adult: HouseholdAdult) -> tuple[str, str]:
        link = f"{base_url}{LOGIN_PATH}"
        user = users.get(adult.user_id) if adult.user_id else None
        if user is not None:
            token = new_login_link(session, user, LINK_PURPOSE_SIGN_IN, dt.timedelta(hours=LINK_HOURS))
            link = f"{base_url}{LOGIN_PATH}/{token}"
        return text(adult, link)

    return mail_household(session, household, with_sign_in, dedupe=dedupe)


def _urls(base_url: str) -> dict[str, str]:
    return {
        "renew": f"{base_url}{RENEW_PATH}",
        "data": f"{base_url}{DATA_PATH}",
        "login": f"{base_url}{LOGIN_PATH}",
        "card": f"{base_url}{CARD_PATH}",
    }


# Reminders ------------------------------------------------------------------------------------------------------


def _reminder_text(city: City, card: Card, renewable: bool, base_url: str) -> AdultMail:
    def text(adult: HouseholdAdult, link: str) -> tuple[str, str]:
        params = {
            "name": adult.first_name,
            "city": city.name,
            "number": format_card_number(card.number),
            "valid_until": i18n.format_date(card.valid_until, "long"),
            "link": link,
            "hours": LINK_HOURS,
            **_urls(base_url),
        }
        if renewable:
            return i18n.gettext(
                N_("Your family card ends on %(valid_until)s: please renew it"), valid_until=params["valid_until"]
            ), i18n.gettext(
                N_(
                    "Hello %(name)s,\n\nyour family card of %(city)s (number %(number)s) is valid until "
                    "%(valid_until)s. To keep it, please renew it: confirm that your household still lives in "
                    "%(city)s and that its details are right.\n\n"
                    "1. Sign in with this link (it works once and for %(hours)s hours):\n\n%(link)s\n\n"
                    "2. Then open the renewal page:\n\n%(renew)s\n\n"
                    "If something has changed in your household, please correct it first at %(data)s. "
                    "You can ask for a new sign-in link at any time at %(login)s.\n\n"
                    "Phones with the card carry on by themselves after the renewal. A printed card keeps its old "
                    "end date: if you use one, please order a new printed card on your card page after renewing.\n"
                ),
                **params,
            )
        return i18n.gettext(
            N_("Your family card ends on %(valid_until)s"), valid_until=params["valid_until"]
        ), i18n.gettext(
            N_(
                "Hello %(name)s,\n\nyour family card of %(city)s (number %(number)s) is valid until "
                "%(valid_until)s. After that day no child in your household is under the age limit any more, so "
                "the card cannot be renewed. Thank you for taking part!\n\n"
                "If your household has changed (for example a child has been born), please update its details "
                "and then renew the card. Sign in with this link (it works once and for %(hours)s hours):\n\n"
                "%(link)s\n\nThen open %(data)s to update the details and %(renew)s to renew.\n"
            ),
            **params,
        )

    return text


def send_expiry_reminders(session: Session, city: City, now: dt.datetime, base_url: str) -> int:
    """Remind every household whose active card ends within the reminder window; returns the cards reminded.

    At most :data:`BATCH` cards a run, the earliest end first; the next run takes the rest. A card already
    reminded for its current end, or of an erased household, is left alone.
    """
    today = city.today(now)
    last_day = today + dt.timedelta(days=city.expiry_reminder_days)
    cards = session.scalars(
        select(Card)
        .join(Household, Household.id == Card.household_id)
        .where(
            Card.status == CardStatus.ACTIVE.value,
            Card.valid_until >= today,
            Card.valid_until <= last_day,
            Card.reminder_sent_at.is_(None),
            Household.erased_at.is_(None),
        )
        .order_by(Card.valid_until, Card.id)
        .limit(BATCH)
        # Two overlapping runs take different cards instead of reminding the same ones.
        .with_for_update(of=Card, skip_locked=True)
    ).all()
    households = _households(session, [c.household_id for c in cards])
    for card in cards:
        household = households[card.household_id]
        renewable = _renewable(city, household, card, today)
        dedupe = f"card-expiry-reminder:{card.id}:{card.valid_until.isoformat()}"
        _mail_adults(
            session, household, dedupe, base_url, _reminder_text(city, card, renewable, base_url), with_link=True
        )
        card.reminder_sent_at = now
    return len(cards)


# Expiry ---------------------------------------------------------------------------------------------------------


def _expired_text(city: City, card: Card, renewable: bool, base_url: str) -> AdultMail:
    def text(adult: HouseholdAdult, link: str) -> tuple[str, str]:
        params = {
            "name": adult.first_name,
            "city": city.name,
            "number": format_card_number(card.number),
            "valid_until": i18n.format_date(card.valid_until, "long"),
            "closes": i18n.format_date(renewal_closes(card.valid_until), "long"),
            "link": link,
            "hours": LINK_HOURS,
            **_urls(base_url),
        }
        subject = i18n.gettext(N_("Your family card has expired"))
        if renewable:
            return subject, i18n.gettext(
                N_(
                    "Hello %(name)s,\n\nyour family card of %(city)s (number %(number)s) was valid until "
                    "%(valid_until)s and has now expired: partners no longer accept it.\n\n"
                    "You can renew it until %(closes)s by confirming your household's details.\n\n"
                    "1. Sign in with this link (it works once and for %(hours)s hours):\n\n%(link)s\n\n"
                    "2. Then open the renewal page:\n\n%(renew)s\n\n"
                    "You can ask for a new sign-in link at any time at %(login)s.\n"
                ),
                **params,
            )
        return subject, i18n.gettext(
            N_(
                "Hello %(name)s,\n\nyour family card of %(city)s (number %(number)s) was valid until "
                "%(valid_until)s and has now expired, because no child in your household is under the age limit "
                "any more. Thank you for taking part!\n\n"
                "If your household has changed (for example a child has been born), you can update its details "
                "at %(data)s and renew the card at %(renew)s until %(closes)s. Sign in with this link (it works "
                "once and for %(hours)s hours):\n\n%(link)s\n"
            ),
            **params,
        )

    return text


def expire_cards(session: Session, city: City, now: dt.datetime, base_url: str) -> int:
    """Mark active cards whose last valid day has passed as expired and tell the household; returns the count.

    At most :data:`BATCH` cards a run, the earliest end first. An erased household gets no e-mail (there is no
    address left).
    """
    today = city.today(now)
    cards = session.scalars(
        select(Card)
        .where(Card.status == CardStatus.ACTIVE.value, Card.valid_until < today)
        .order_by(Card.valid_until, Card.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    households = _households(session, [c.household_id for c in cards])
    for card in cards:
        stats_events.card_changed(card, now)
        card.status = CardStatus.EXPIRED.value
        card.status_changed_at = now
        card.status_reason = EXPIRED_REASON
        household = households[card.household_id]
        audit.record(
            session,
            None,
            "card.expired",
            "card",
            card.id,
            details={"valid_until": card.valid_until.isoformat()},
        )
        if household.erased_at is not None:
            continue
        renewable = _renewable(city, household, card, today)
        dedupe = f"card-expired:{card.id}:{card.valid_until.isoformat()}"
        _mail_adults(
            session, household, dedupe, base_url, _expired_text(city, card, renewable, base_url), with_link=True
        )
    return len(cards)


# Renewal --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalChild:
    # The child's place in the household, as the eligibility rules name it (``child-<index>-birth_date``).
    index: int
    first_name: str
    birth_date: dt.date | None
    expected_date: dt.date | None
    has_disability: bool
    age: int | None

    @property
    def field(self) -> str:
        return f"child-{self.index}-birth_date"


@dataclass(frozen=True)
class RenewalView:
    """What the renewal page shows: the household's facts, the card's end and what a renewal today would give."""

    number: str
    formatted_number: str
    status: str
    valid_until: dt.date
    state: str
    opens_on: dt.date
    closes_on: dt.date
    street: str
    house_number: str
    postal_code: str
    city_name: str
    district: str
    adults: list[str]
    children: list[RenewalChild]
    # What a renewal today would give, or None when the household is not eligible today.
    new_valid_until: dt.date | None
    # The rules the household fails today (other than the main residence, which the family confirms).
    problems: list[Refusal]
    reminder_days: int
    contact: str

    @property
    def open(self) -> bool:
        return self.state == RenewalState.OPEN.value

    @property
    def extends(self) -> bool:
        return self.new_valid_until is not None and self.new_valid_until > self.valid_until


@dataclass(frozen=True)
class RenewalDone:
    number: str
    valid_until: dt.date
    previous_valid_until: dt.date


@dataclass(frozen=True)
class _Mine:
    card: Card
    household: Household


def _mine(session: Session, principal: Principal, *, lock: bool = False) -> _Mine:
    """The principal's household and its newest card; :class:`NoCardToRenew` when there is none."""
    if principal.user_id is None:
        raise NoCardToRenew()
    query = (
        select(Card)
        .join(HouseholdAdult, HouseholdAdult.household_id == Card.household_id)
        .where(HouseholdAdult.user_id == principal.user_id)
        .order_by(Card.issued_at.desc(), Card.id)
        .limit(1)
    )
    if lock:
        query = query.with_for_update(of=Card)
    card = session.scalar(query)
    if card is None:
        raise NoCardToRenew()
    household = session.scalar(
        select(Household)
        .where(Household.id == card.household_id)
        .options(selectinload(Household.adults), selectinload(Household.children))
    )
    if household is None or household.erased_at is not None:
        raise NoCardToRenew()
    return _Mine(card, household)


def _effective_status(card: Card, today: dt.date) -> str:
    if card.status == CardStatus.ACTIVE.value and card.valid_until < today:
        return CardStatus.EXPIRED.value
    return card.status


def _eligibility(city: City, household: Household, today: dt.date) -> list[Refusal]:
    result = check_eligibility(
        city.eligibility, adults=len(household.adults), children=_facts(household), today=today, main_residence=True
    )
    return list(result.refusals)


def renewal_view(session: Session, principal: Principal, city: City, now: dt.datetime) -> RenewalView:
    """The renewal page of the principal's card."""
    mine = _mine(session, principal)
    card, household = mine.card, mine.household
    today = city.today(now)
    problems = _eligibility(city, household, today)
    return RenewalView(
        number=card.number,
        formatted_number=format_card_number(card.number),
        status=_effective_status(card, today),
        valid_until=card.valid_until,
        state=renewal_state(card.status, card.valid_until, today, city.expiry_reminder_days).value,
        opens_on=reminder_from(card.valid_until, city.expiry_reminder_days),
        closes_on=renewal_closes(card.valid_until),
        street=household.street,
        house_number=household.house_number,
        postal_code=household.postal_code,
        city_name=household.city_name,
        district=household.district,
        adults=[f"{a.first_name} {a.last_name}" for a in household.adults],
        children=[
            RenewalChild(
                index=index,
                first_name=child.first_name,
                birth_date=child.birth_date,
                expected_date=child.expected_date,
                has_disability=child.has_disability,
                age=None if child.birth_date is None else age_on(child.birth_date, today),
            )
            for index, child in enumerate(household.children)
        ],
        new_valid_until=None if problems else renewed_until(city, _facts(household), today),
        problems=problems,
        reminder_days=city.expiry_reminder_days,
        contact=city.contact.email,
    )


def _checked(form: Mapping[str, str], name: str) -> bool:
    return form.get(name, "").strip().lower() in CHECKED


def read_confirmation(form: Mapping[str, str]) -> None:
    """Both boxes ticked; :class:`InvalidInput` names each one that is not."""
    errors = []
    if not _checked(form, "main_residence"):
        errors.append(
            FieldError(
                "main_residence",
                N_("Please confirm that your household's main residence is still in the city."),
            )
        )
    if not _checked(form, "facts_confirmed"):
        errors.append(
            FieldError(
                "facts_confirmed",
                N_("Please confirm that the details shown are right, or correct them first."),
            )
        )
    if errors:
        raise InvalidInput(errors)


def renew_card(
    session: Session,
    principal: Principal,
    city: City,
    form: Mapping[str, str],
    now: dt.datetime,
    meta: RequestMeta | None = None,
    *,
    base_url: str = "",
) -> RenewalDone:
    """Renew the principal's card from today: the household re-confirmed, the rules checked again, a new end.

    Refused (nothing changed) outside the renewal window, for a suspended or revoked card, without both
    confirmations, when a rule fails today, or when the new end would not be later than the current one.
    """
    mine = _mine(session, principal, lock=True)
    card, household = mine.card, mine.household
    today = city.today(now)
    problem = _state_error(renewal_state(card.status, card.valid_until, today, city.expiry_reminder_days), card, city)
    if problem is not None:
        raise problem
    read_confirmation(form)
    refusals = _eligibility(city, household, today)
    if refusals:
        raise RenewalRefused([FieldError(r.field, r.message, r.params) for r in refusals], [r.code for r in refusals])
    new_end = renewed_until(city, _facts(household), today)
    if new_end <= card.valid_until:
        raise RenewalWouldNotExtend(date=i18n.format_date(card.valid_until, "long"))

    previous = card.valid_until
    previous_status = card.status
    stats_events.card_changed(card, now, since=card.valid_until)
    card.valid_until = new_end
    card.reminder_sent_at = None
    if card.status != CardStatus.ACTIVE.value:
        card.status = CardStatus.ACTIVE.value
        card.status_changed_at = now
        card.status_reason = RENEWED_REASON
    household.confirmed_at = now
    audit.record(
        session,
        principal,
        "card.renewed",
        "card",
        card.id,
        details={
            "previous_valid_until": previous.isoformat(),
            "valid_until": new_end.isoformat(),
            "previous_status": previous_status,
        },
        meta=meta,
    )

    with i18n.use_locale(household.locale):
        for adult in household.adults:
            if not adult.email:
                continue
            queue_email(
                session,
                to=adult.email,
                subject=i18n.gettext(N_("Your family card has been renewed")),
                body_text=i18n.gettext(
                    N_(
                        "Hello %(name)s,\n\nyour family card of %(city)s (number %(number)s) has been renewed and "
                        "is now valid until %(valid_until)s.\n\n"
                        "Phones with the card carry on by themselves the next time they are online. A printed "
                        "card keeps its old end date (%(previous)s): if you use one, please order a new printed "
                        "card on your card page %(card)s.\n"
                    ),
                    name=adult.first_name,
                    city=city.name,
                    number=format_card_number(card.number),
                    valid_until=i18n.format_date(new_end, "long"),
                    previous=i18n.format_date(previous, "long"),
                    card=f"{base_url}{CARD_PATH}",
                ),
            )
    return RenewalDone(card.number, new_end, previous)
