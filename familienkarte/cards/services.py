"""Applications and cards: a family applies, staff decide, an approved household gets its card.

Plain synchronous functions on a SQLAlchemy ``Session``; the caller owns the transaction, so an application is
stored whole or not at all. Every check runs before the first row is added.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.expression import Exists

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.services import (
    INVITATION_LINK_HOURS,
    LINK_PURPOSE_SIGN_IN,
    email_problem,
    new_login_link,
    normalise_email,
)
from familienkarte.audit import services as audit
from familienkarte.cards.eligibility import (
    ChildFacts,
    EligibilityResult,
    age_on,
    card_valid_until,
    check_eligibility,
)
from familienkarte.cards.errors import AlreadyDecided, ApplicationRefused, DuplicateApplication
from familienkarte.cards.household_mail import MailText, mail_household
from familienkarte.cards.models import (
    ACTIVE_STATUSES,
    OPEN_STATUSES,
    Application,
    ApplicationStatus,
    Card,
    CardStatus,
    Child,
    Household,
    HouseholdAdult,
)
from familienkarte.cards.schemas import (
    AdultInput,
    AdultRead,
    ApplicationDetail,
    ApplicationInput,
    ApplicationPage,
    ApplicationReceived,
    ApplicationRow,
    CardRead,
    ChildRead,
)
from familienkarte.city import City
from familienkarte.credentials.card_numbers import format_card_number, new_card_number
from familienkarte.db import serialise, utcnow
from familienkarte.errors import N_, Conflict, FieldError, InvalidInput, NotFound
from familienkarte.events import stats as stats_events

# Rows read from the form: more than any page offers, so that a crafted form meets the rules, not a silent cut.
ADULT_ROWS_READ = 10
CHILD_ROWS_READ = 20
CHILD_ROWS_OFFERED = 6
NAME_MAX = 100
STREET_MAX = 200
HOUSE_NUMBER_MAX = 20
TIER_NUMBER_MAX = 64
DECISION_TEXT_MAX = 2000
PER_PAGE = 25
CARD_NUMBER_ATTEMPTS = 10
APPROVAL_LINK_HOURS = INVITATION_LINK_HOURS
CHECKED = ("on", "yes", "true", "1")
# Serialises the duplicate check with the insert that follows it, so two submissions of one household sent at the
# same moment (a double click, two adults at once) cannot both pass it. Applications are rare: one lock is enough.
APPLICATIONS_LOCK = 0x464B_0003
# The caseworker's finding on a claimed tier: the pass number was checked and is valid, or it was not.
TIER_APPROVED = "approved"
TIER_REFUSED = "refused"

_HOUSE_NUMBER = re.compile(r"^[0-9]{1,5}[0-9A-Za-z /-]{0,15}$")
_POSTAL = re.compile(r"^[0-9]{5}$")
_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_GERMAN_DATE = re.compile(r"^([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})$")


# Reading the form ----------------------------------------------------------------------------------------------


def _clean(raw: str | None) -> str:
    return " ".join((raw or "").split())


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def _text(
    form: Mapping[str, str], name: str, errors: list[FieldError], *, missing: str, maximum: int, required: bool = True
) -> str:
    value = _clean(form.get(name))
    if not value:
        if required:
            errors.append(FieldError(name, missing))
    elif len(value) > maximum:
        errors.append(FieldError(name, N_("Please use at most %(max)s characters here."), {"max": maximum}))
    elif _has_control(value):
        errors.append(FieldError(name, N_("This field contains characters that cannot be used.")))
    return value


def parse_date(raw: str) -> dt.date | None:
    """A date typed as 2020-12-24 (what date fields send) or 24.12.2020; None if it is not a real date."""
    text = raw.strip()
    iso = _ISO_DATE.match(text)
    german = _GERMAN_DATE.match(text)
    try:
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        if german:
            return dt.date(int(german[3]), int(german[2]), int(german[1]))
    except ValueError:
        return None
    return None


def _checked(form: Mapping[str, str], name: str) -> bool:
    return form.get(name, "").strip().lower() in CHECKED


def _read_adults(form: Mapping[str, str], errors: list[FieldError]) -> list[AdultInput]:
    adults: list[AdultInput] = []
    seen: set[str] = set()
    for index in range(ADULT_ROWS_READ):
        prefix = f"adult-{index}-"
        if not any(_clean(form.get(prefix + key)) for key in ("first_name", "last_name", "email")):
            continue
        first = _text(form, prefix + "first_name", errors, missing=N_("Please enter the first name."), maximum=NAME_MAX)
        last = _text(form, prefix + "last_name", errors, missing=N_("Please enter the last name."), maximum=NAME_MAX)
        email = normalise_email(form.get(prefix + "email", ""))
        problem = email_problem(email, prefix + "email")
        if problem:
            errors.append(problem)
        elif email in seen:
            errors.append(FieldError(prefix + "email", N_("Each adult needs an e-mail address of their own.")))
        seen.add(email)
        adults.append(AdultInput(first, last, email))
    if not adults:
        errors.append(FieldError("adult-0-first_name", N_("Please enter at least one adult.")))
    return adults


def _read_children(form: Mapping[str, str], errors: list[FieldError]) -> list[ChildFacts]:
    children: list[ChildFacts] = []
    for index in range(CHILD_ROWS_READ):
        prefix = f"child-{index}-"
        expected = _checked(form, prefix + "expected")
        disability = _checked(form, prefix + "disability")
        name_given = bool(_clean(form.get(prefix + "first_name")))
        date_raw = form.get(prefix + "birth_date", "").strip()
        if not (name_given or date_raw or expected or disability):
            continue
        # An expected child may not have a name yet.
        first = _text(
            form,
            prefix + "first_name",
            errors,
            missing=N_("Please enter the child's first name."),
            maximum=NAME_MAX,
            required=not expected,
        )
        day = parse_date(date_raw) if date_raw else None
        if not date_raw:
            message = N_("Please enter the expected date.") if expected else N_("Please enter the date of birth.")
            errors.append(FieldError(prefix + "birth_date", message))
        elif day is None:
            errors.append(FieldError(prefix + "birth_date", N_("Please enter a real date, for example 24.12.2020.")))
        if day is not None:
            children.append(
                ChildFacts(
                    first_name=first,
                    birth_date=None if expected else day,
                    expected_date=day if expected else None,
                    has_disability=disability,
                )
            )
    return children


def _read_address(form: Mapping[str, str], city: City, errors: list[FieldError]) -> tuple[str, str, str, str]:
    street = _text(form, "street", errors, missing=N_("Please enter the street."), maximum=STREET_MAX)
    house = _text(form, "house_number", errors, missing=N_("Please enter the house number."), maximum=HOUSE_NUMBER_MAX)
    if house and len(house) <= HOUSE_NUMBER_MAX and not _HOUSE_NUMBER.match(house):
        errors.append(FieldError("house_number", N_("Please enter a house number such as 12 or 12a.")))
    postal = _clean(form.get("postal_code"))
    district = _clean(form.get("district"))
    if not _POSTAL.match(postal):
        errors.append(FieldError("postal_code", N_("Please enter the five-digit postal code.")))
        return street, house, postal, district
    options = city.districts_of(postal)
    if not options:
        errors.append(
            FieldError(
                "postal_code",
                N_("The postal code %(code)s is not in %(city)s. The family card is for families living in %(city)s."),
                {"code": postal, "city": city.name},
            )
        )
    elif len(options) == 1 and district in ("", options[0]):
        district = options[0]
    elif not district:
        errors.append(
            FieldError(
                "district",
                N_("Your postal code lies in several districts (%(districts)s). Please choose yours."),
                {"districts": ", ".join(options)},
            )
        )
    elif district not in options:
        errors.append(
            FieldError(
                "district",
                N_("The postal code %(code)s is not in this district. Please choose one of: %(districts)s."),
                {"code": postal, "districts": ", ".join(options)},
            )
        )
    return street, house, postal, district


def read_application(form: Mapping[str, str], city: City) -> ApplicationInput:
    """Check every field of the application form; InvalidInput names each wrong field."""
    errors: list[FieldError] = []
    adults = _read_adults(form, errors)
    children = _read_children(form, errors)
    street, house, postal, district = _read_address(form, city, errors)
    tier_number = None
    raw_tier = _clean(form.get("tier_number")).upper()
    if city.tier is not None and raw_tier:
        if len(raw_tier) > TIER_NUMBER_MAX or not city.tier.number_pattern.fullmatch(raw_tier):
            errors.append(
                FieldError("tier_number", N_("This pass number does not have the right form. Please check it."))
            )
        tier_number = raw_tier
    locale = _clean(form.get("locale"))
    if locale not in city.languages:
        errors.append(FieldError("locale", N_("Please choose one of the languages offered.")))
    if not _checked(form, "consent"):
        errors.append(FieldError("consent", N_("Please agree to the privacy notice, otherwise we cannot apply.")))
    if errors:
        raise InvalidInput(errors)
    return ApplicationInput(
        adults=adults,
        children=children,
        street=street,
        house_number=house,
        postal_code=postal,
        district=district,
        locale=locale,
        tier_number=tier_number,
        main_residence=_checked(form, "main_residence"),
    )


def check_application(application: ApplicationInput, city: City, today: dt.date) -> EligibilityResult:
    return check_eligibility(
        city.eligibility,
        adults=len(application.adults),
        children=application.children,
        today=today,
        main_residence=application.main_residence,
    )


# Duplicates ----------------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Case, accents, ß and the dotless ı folded away, then everything but letters and digits dropped."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ı", "i").replace("İ", "I"))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return re.sub(r"[^0-9a-z]+", "", plain)


def address_key(postal_code: str, street: str, house_number: str) -> str:
    """The address normalised: "Hauptstr. 5 A" and "hauptstraße 5a" are the same house."""
    street_key = re.sub(r"(strasse|str)$", "str", _fold(street))
    return f"{postal_code}|{street_key}|{_fold(house_number)}"


def _active_household() -> Exists:
    active = [s.value for s in ACTIVE_STATUSES]
    return exists().where(Application.household_id == Household.id, Application.status.in_(active))


def _is_duplicate(session: Session, key: str, last_names: set[str], emails: list[str]) -> bool:
    active = _active_household()
    names = session.scalars(
        select(HouseholdAdult.last_name).join(Household).where(Household.address_key == key, active)
    ).all()
    if any(_fold(name) in last_names for name in names):
        return True
    same_email = session.scalar(
        select(HouseholdAdult.id).join(Household).where(HouseholdAdult.email.in_(emails), active).limit(1)
    )
    return same_email is not None


# Applying -------------------------------------------------------------------------------------------------------


def _users_for(session: Session, adults: list[AdultInput], locale: str) -> list[User]:
    """The family account of each adult: an existing one is reused, one is created for a new address."""
    errors: list[FieldError] = []
    found: dict[str, User] = {}
    for index, adult in enumerate(adults):
        user = session.scalar(select(User).where(User.email == adult.email))
        if user is not None and user.role != Role.FAMILY.value:
            errors.append(
                FieldError(
                    f"adult-{index}-email",
                    N_("This e-mail address belongs to a staff or partner account. Please use another one."),
                )
            )
        elif user is not None:
            found[adult.email] = user
    if errors:
        raise InvalidInput(errors)
    users = []
    for adult in adults:
        user = found.get(adult.email)
        if user is None:
            user = User(
                email=adult.email,
                display_name=f"{adult.first_name} {adult.last_name}"[:200],
                role=Role.FAMILY.value,
                locale=locale,
            )
            session.add(user)
        users.append(user)
    return users


def submit_application(
    session: Session,
    city: City,
    form: Mapping[str, str],
    *,
    base_url: str,
    today: dt.date | None = None,
    meta: RequestMeta | None = None,
    number_source: Callable[[], str] = new_card_number,
) -> ApplicationReceived:
    """Apply for a household. Refused with the reasons, refused as a duplicate, or stored whole with its e-mail.

    When the city approves automatically and no tier is claimed, the card is issued at once.
    """
    today = today or city.today()
    application = read_application(form, city)
    result = check_application(application, city, today)
    if not result.eligible:
        raise ApplicationRefused(
            [FieldError(r.field, r.message, r.params) for r in result.refusals], reasons=result.codes
        )
    key = address_key(application.postal_code, application.street, application.house_number)
    emails = [a.email for a in application.adults]
    serialise(session, APPLICATIONS_LOCK, Household)
    if _is_duplicate(session, key, {_fold(a.last_name) for a in application.adults}, emails):
        raise DuplicateApplication()
    users = _users_for(session, application.adults, application.locale)

    household = Household(
        street=application.street,
        house_number=application.house_number,
        postal_code=application.postal_code,
        city_name=city.name,
        district=application.district,
        address_key=key,
        locale=application.locale,
        tier_claimed=application.tier_number is not None,
        tier_number=application.tier_number,
    )
    session.add(household)
    session.flush()
    for position, (adult, user) in enumerate(zip(application.adults, users, strict=True)):
        session.add(
            HouseholdAdult(
                household_id=household.id,
                position=position,
                first_name=adult.first_name,
                last_name=adult.last_name,
                email=adult.email,
                user_id=user.id,
            )
        )
    for position, child in enumerate(application.children):
        session.add(
            Child(
                household_id=household.id,
                position=position,
                first_name=child.first_name,
                birth_date=child.birth_date,
                expected_date=child.expected_date,
                has_disability=child.has_disability,
            )
        )
    record = Application(household_id=household.id, status=ApplicationStatus.SUBMITTED.value, refused_rules=[])
    session.add(record)
    session.flush()
    session.refresh(household)
    audit.record(
        session,
        None,
        "application.submitted",
        "application",
        record.id,
        details={"district": household.district, "tier_claimed": household.tier_claimed},
        meta=meta,
    )
    if city.auto_approve and not household.tier_claimed:
        card = _approve(session, city, record, household, None, today, base_url, meta, number_source, auto=True)
        return ApplicationReceived(record.id, record.status, card.number)
    mail_household(session, household, _received_mail(city, record))
    return ApplicationReceived(record.id, record.status)


# E-mail ---------------------------------------------------------------------------------------------------------


def _reference(application: Application) -> str:
    return application.id.hex[:8].upper()


def _received_mail(city: City, application: Application) -> MailText:
    def text(adult: HouseholdAdult) -> tuple[str, str]:
        return i18n.gettext(N_("We have received your application for the family card")), i18n.gettext(
            N_(
                "Hello %(name)s,\n\nthank you for applying for the family card of %(city)s. We will check your "
                "application and write to you as soon as it is decided.\n\nYour reference: %(reference)s\n"
            ),
            name=adult.first_name,
            city=city.name,
            reference=_reference(application),
        )

    return text


# Staff decisions ------------------------------------------------------------------------------------------------


def _facts(household: Household) -> list[ChildFacts]:
    return [ChildFacts(c.first_name, c.birth_date, c.expected_date, c.has_disability) for c in household.children]


def _load(session: Session, application_id: uuid.UUID, *, lock: bool = False) -> tuple[Application, Household]:
    query = select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update()
    record = session.scalar(query)
    if record is None:
        raise NotFound()
    household = session.scalar(
        select(Household)
        .where(Household.id == record.household_id)
        .options(selectinload(Household.adults), selectinload(Household.children))
    )
    assert household is not None
    return record, household


def _decidable(record: Application) -> None:
    if record.status not in OPEN_STATUSES:
        raise AlreadyDecided()


def _eligibility_now(city: City, household: Household, today: dt.date) -> EligibilityResult:
    return check_eligibility(
        city.eligibility,
        adults=len(household.adults),
        children=_facts(household),
        today=today,
        main_residence=True,
    )


def issue_card(
    session: Session,
    city: City,
    household: Household,
    application: Application | None,
    today: dt.date,
    number_source: Callable[[], str] = new_card_number,
) -> Card:
    """A new card for the household, valid per the city's rules from ``today``, with a number not yet used."""
    valid_until = card_valid_until(city.eligibility, _facts(household), today, city.card_validity_years)
    if valid_until < today:
        raise Conflict(
            N_("No child in this household is under the age limit any more, so no card can be issued."),
            code="not_eligible",
        )
    for _attempt in range(CARD_NUMBER_ATTEMPTS):
        number = number_source()
        if session.scalar(select(Card.id).where(Card.number == number)) is None:
            break
    else:
        raise RuntimeError("no unused card number found")
    card = Card(
        household_id=household.id,
        application_id=application.id if application else None,
        number=number,
        status=CardStatus.ACTIVE.value,
        valid_from=today,
        valid_until=valid_until,
    )
    session.add(card)
    session.flush()
    stats_events.card_changed(card, card.issued_at)
    return card


def _approve(
    session: Session,
    city: City,
    record: Application,
    household: Household,
    principal: Principal | None,
    today: dt.date,
    base_url: str,
    meta: RequestMeta | None,
    number_source: Callable[[], str],
    *,
    auto: bool = False,
    tier_approved: bool = False,
) -> Card:
    household.tier_approved = tier_approved
    card = issue_card(session, city, household, record, today, number_source)
    record.status = ApplicationStatus.APPROVED.value
    record.decided_at = utcnow()
    record.decided_by_id = principal.user_id if principal else None
    record.refused_rules = _eligibility_now(city, household, today).codes
    audit.record(
        session,
        principal,
        "application.approved",
        "application",
        record.id,
        details={
            "card_id": str(card.id),
            "valid_until": card.valid_until.isoformat(),
            "automatic": auto,
            "tier_approved": tier_approved,
        },
        meta=meta,
    )
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_([a.user_id for a in household.adults])))}

    def text(adult: HouseholdAdult) -> tuple[str, str]:
        user = users.get(adult.user_id) if adult.user_id else None
        link = ""
        if user is not None:
            token = new_login_link(session, user, LINK_PURPOSE_SIGN_IN, dt.timedelta(hours=APPROVAL_LINK_HOURS))
            link = f"{base_url}/login/family/{token}"
        return i18n.gettext(N_("Your family card has been approved")), i18n.gettext(
            N_(
                "Hello %(name)s,\n\nyour application for the family card of %(city)s has been approved. "
                "Your card number is %(number)s; the card is valid until %(valid_until)s.\n\n"
                "To see your card, open this link:\n\n%(link)s\n\n"
                "The link works once and for %(hours)s hours. You can ask for a new sign-in link at any time "
                "at %(login)s.\n"
            ),
            name=adult.first_name,
            city=city.name,
            number=format_card_number(card.number),
            valid_until=i18n.format_date(card.valid_until, "long"),
            link=link,
            hours=APPROVAL_LINK_HOURS,
            login=f"{base_url}/login/family",
        )

    mail_household(session, household, text)
    return card


def approve_application(
    session: Session,
    city: City,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    base_url: str,
    today: dt.date | None = None,
    meta: RequestMeta | None = None,
    number_source: Callable[[], str] = new_card_number,
    tier: str | None = None,
) -> Card:
    """Approve an open application and issue the card; the family is e-mailed a link to see it.

    When the household claims the city's tier, the caseworker states whether they checked the pass number and
    found it valid (``tier``: ``approved`` or ``refused``); only then is the tier part of the card (bit 0 of
    ``e``). A refused tier does not stop the card itself.
    """
    record, household = _load(session, application_id, lock=True)
    _decidable(record)
    tier_approved = read_tier_decision(household, tier)
    return _approve(
        session,
        city,
        record,
        household,
        principal,
        today or city.today(),
        base_url,
        meta,
        number_source,
        tier_approved=tier_approved,
    )


def read_tier_decision(household: Household, tier: str | None) -> bool:
    """Whether the household gets the tier: required and checked when one is claimed, never without a claim."""
    if not household.tier_claimed:
        return False
    choice = (tier or "").strip()
    if choice not in (TIER_APPROVED, TIER_REFUSED):
        raise InvalidInput.one("tier", N_("Please state whether you checked the pass number and found it valid."))
    return choice == TIER_APPROVED


def _decision_text(raw: str, field_name: str, missing: str) -> str:
    text = (raw or "").strip()
    if not text:
        raise InvalidInput.one(field_name, missing)
    if len(text) > DECISION_TEXT_MAX:
        raise InvalidInput.one(field_name, N_("Please use at most %(max)s characters here."), max=DECISION_TEXT_MAX)
    return text


def reject_application(
    session: Session,
    city: City,
    principal: Principal,
    application_id: uuid.UUID,
    reason: str,
    *,
    today: dt.date | None = None,
    meta: RequestMeta | None = None,
) -> None:
    """Reject an open application with a reason the family reads in their e-mail."""
    record, household = _load(session, application_id, lock=True)
    _decidable(record)
    text_given = _decision_text(reason, "reason", N_("Please give the reason for the rejection."))
    record.status = ApplicationStatus.REJECTED.value
    record.decided_at = utcnow()
    record.decided_by_id = principal.user_id
    record.decision_reason = text_given
    record.refused_rules = _eligibility_now(city, household, today or city.today()).codes
    audit.record(
        session, principal, "application.rejected", "application", record.id, details={"reason": text_given}, meta=meta
    )

    def text(adult: HouseholdAdult) -> tuple[str, str]:
        return i18n.gettext(N_("Your application for the family card")), i18n.gettext(
            N_(
                "Hello %(name)s,\n\nunfortunately we cannot approve your application for the family card of "
                "%(city)s.\n\nReason: %(reason)s\n\nIf you have questions, please write to %(contact)s and give "
                "your reference %(reference)s.\n"
            ),
            name=adult.first_name,
            city=city.name,
            reason=text_given,
            contact=city.contact.email,
            reference=_reference(record),
        )

    mail_household(session, household, text)


def request_information(
    session: Session,
    city: City,
    principal: Principal,
    application_id: uuid.UUID,
    request_text: str,
    *,
    meta: RequestMeta | None = None,
) -> None:
    """Ask the family for more information; the application stays open."""
    record, household = _load(session, application_id, lock=True)
    _decidable(record)
    text_given = _decision_text(request_text, "message", N_("Please write what information you need."))
    record.status = ApplicationStatus.INFO_REQUESTED.value
    record.info_request = text_given
    audit.record(
        session,
        principal,
        "application.info_requested",
        "application",
        record.id,
        details={"message": text_given},
        meta=meta,
    )

    def text(adult: HouseholdAdult) -> tuple[str, str]:
        return i18n.gettext(N_("We need more information for your family card application")), i18n.gettext(
            N_(
                "Hello %(name)s,\n\nto decide your application for the family card of %(city)s we need more "
                "information:\n\n%(request)s\n\nPlease write to %(contact)s and give your reference %(reference)s.\n"
            ),
            name=adult.first_name,
            city=city.name,
            request=text_given,
            contact=city.contact.email,
            reference=_reference(record),
        )

    mail_household(session, household, text)


# Staff reading --------------------------------------------------------------------------------------------------

STATUS_FILTERS = ("open", *(s.value for s in ApplicationStatus), "all")


def list_applications(
    session: Session,
    *,
    status: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    viewer: Principal | None = None,
    meta: RequestMeta | None = None,
) -> ApplicationPage:
    """Applications oldest first; ``open`` (the default) means submitted or waiting for information.

    With ``viewer``, the reading is recorded in the audit log (the list shows the adults' names)."""
    status = status or "open"
    if status not in STATUS_FILTERS:
        raise InvalidInput.one("status", N_("Please choose one of the listed states."))
    query = select(Application)
    if status == "open":
        query = query.where(Application.status.in_([s.value for s in OPEN_STATUSES]))
    elif status != "all":
        query = query.where(Application.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    records = session.scalars(
        query.order_by(Application.submitted_at, Application.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    households = {
        h.id: h
        for h in session.scalars(
            select(Household)
            .where(Household.id.in_([r.household_id for r in records]))
            .options(selectinload(Household.adults), selectinload(Household.children))
        )
    }
    rows = []
    for record in records:
        household = households[record.household_id]
        rows.append(
            ApplicationRow(
                id=record.id,
                status=record.status,
                submitted_at=record.submitted_at,
                names=", ".join(f"{a.first_name} {a.last_name}" for a in household.adults),
                district=household.district,
                children=len(household.children),
                tier_claimed=household.tier_claimed,
            )
        )
    if viewer is not None:
        audit.record(
            session,
            viewer,
            "application.listed",
            "application",
            None,
            details={"status": status, "page": page},
            meta=meta,
        )
    return ApplicationPage(rows, total, page, per_page, status)


def application_detail(
    session: Session,
    city: City,
    application_id: uuid.UUID,
    *,
    today: dt.date | None = None,
    viewer: Principal | None = None,
    meta: RequestMeta | None = None,
) -> ApplicationDetail:
    """Everything staff need to decide: the facts, the rules checked today, the tier number, the card if any.

    With ``viewer``, the reading is recorded in the audit log (``application.viewed``): staff reading personal data."""
    today = today or city.today()
    record, household = _load(session, application_id)
    if viewer is not None:
        audit.record(session, viewer, "application.viewed", "application", record.id, meta=meta)
    decided_by = session.get(User, record.decided_by_id) if record.decided_by_id else None
    card = session.scalar(select(Card).where(Card.application_id == record.id))
    children = [
        ChildRead(
            first_name=c.first_name,
            birth_date=c.birth_date,
            expected_date=c.expected_date,
            has_disability=c.has_disability,
            age=None if c.birth_date is None else age_on(c.birth_date, today),
        )
        for c in household.children
    ]
    return ApplicationDetail(
        id=record.id,
        status=record.status,
        submitted_at=record.submitted_at,
        decided_at=record.decided_at,
        decided_by=(decided_by.display_name or decided_by.email) if decided_by else None,
        decision_reason=record.decision_reason,
        info_request=record.info_request,
        refused_rules=list(record.refused_rules or []),
        street=household.street,
        house_number=household.house_number,
        postal_code=household.postal_code,
        city_name=household.city_name,
        district=household.district,
        locale=household.locale,
        tier_claimed=household.tier_claimed,
        tier_number=household.tier_number,
        adults=[AdultRead(a.first_name, a.last_name, a.email) for a in household.adults],
        children=children,
        eligibility=_eligibility_now(city, household, today),
        checked_on=today,
        card=_card_read(card) if card else None,
        decidable=record.status in OPEN_STATUSES,
    )


def _card_read(card: Card) -> CardRead:
    return CardRead(
        card.id, card.number, format_card_number(card.number), card.status, card.valid_from, card.valid_until
    )
