"""Partners: registration without help from the city, e-mail confirmation, profile, locations, logo and cashiers.

Plain functions on a SQLAlchemy ``Session``; forms come in as mappings of field name to text and every refusal is
an ``InvalidInput`` naming each wrong field, with nothing stored. Partner texts are plain text, stored as typed and
escaped wherever they are shown.

Form field names: the organisation's ``name``, ``legal_form``, ``website``, ``category``, ``description-<lang>``,
``phone``; the owner's ``owner_name``, ``email``, ``password``, ``password_confirm``; ``terms``; a location's fields
carry a prefix (``location-`` on the registration form, none on the location form): ``name``, ``street``,
``house_number``, ``postal_code``, ``district``, ``latitude``, ``longitude``, ``hours-<weekday>``,
``hours_note-<lang>``, ``access-<feature>``, ``access_note-<lang>``, ``phone``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.passwords import hash_password
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.accounts.services import (
    LinkUnusable,
    email_problem,
    new_login_link,
    normalise_email,
    password_problems,
    send_set_password_link,
    usable_link,
    use_link,
)
from familienkarte.audit import services as audit
from familienkarte.city import City
from familienkarte.db import utcnow
from familienkarte.errors import N_, Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from familienkarte.mail.services import queue_email
from familienkarte.partners import logos
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.partners.vocabulary import ACCESSIBILITY_FEATURES, CATEGORIES, LEGAL_FORMS, WEEKDAYS

# The version of the partner terms a registration accepts; raise it when the terms change.
TERMS_VERSION = "2025-01"
LINK_PURPOSE_CONFIRM_PARTNER = "partner-confirm"
CONFIRM_LINK_HOURS = 72
# Registrations (attempts, not only successes: each may send an e-mail and hash a password) per address and hour.
REGISTRATIONS_PER_IP = 20
REGISTRATION_WINDOW_SECONDS = 3600

NAME_MAX = 200
WEBSITE_MAX = 300
PHONE_MAX = 50
DESCRIPTION_MAX = 2000
NOTE_MAX = 500
STREET_MAX = 200
HOUSE_NUMBER_MAX = 20
INTERVALS_PER_DAY_MAX = 6
CHECKED = ("on", "yes", "true", "1")

_HOUSE_NUMBER = re.compile(r"^[0-9]{1,5}[0-9A-Za-z /-]{0,15}$")
_POSTAL = re.compile(r"^[0-9]{5}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()/.-]{2,48}$")
_TIME = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^xn--")
# Line breaks and tabs are kept in long texts; every other control character is refused.
_ALLOWED_CONTROLS = {"\n", "\t"}


# Reading forms --------------------------------------------------------------------------------------------------


def _one_line(raw: str | None) -> str:
    return " ".join((raw or "").split())


def _has_control(text: str, allowed: set[str] | frozenset[str] = frozenset()) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cs", "Co") and char not in allowed for char in text)


def _checked(form: Mapping[str, str], name: str) -> bool:
    return form.get(name, "").strip().lower() in CHECKED


def read_line(
    form: Mapping[str, str],
    name: str,
    errors: list[FieldError],
    *,
    missing: str | None,
    maximum: int,
) -> str:
    """A one-line text; ``missing`` is the message when it is required and empty (None: optional)."""
    value = _one_line(form.get(name))
    if not value:
        if missing:
            errors.append(FieldError(name, missing))
    elif len(value) > maximum:
        errors.append(FieldError(name, N_("Please use at most %(max)s characters here."), {"max": maximum}))
    elif _has_control(value):
        errors.append(FieldError(name, N_("This field contains characters that cannot be used.")))
    return value


def read_texts(
    form: Mapping[str, str],
    base: str,
    errors: list[FieldError],
    *,
    maximum: int,
    german_missing: str | None = None,
) -> dict[str, str]:
    """A text per language from the fields ``<base>-<lang>`` (every language of i18n.CONTENT_LOCALES); empty ones are
    left out.

    With ``german_missing``, the German text is required. Plain text: kept as typed (line breaks included) and
    escaped when shown.
    """
    texts: dict[str, str] = {}
    for language in i18n.CONTENT_LOCALES:
        name = f"{base}-{language}"
        value = (form.get(name) or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if not value:
            if language == i18n.DEFAULT_LOCALE and german_missing:
                errors.append(FieldError(name, german_missing))
            continue
        if len(value) > maximum:
            errors.append(FieldError(name, N_("Please use at most %(max)s characters here."), {"max": maximum}))
        elif _has_control(value, _ALLOWED_CONTROLS):
            errors.append(FieldError(name, N_("This field contains characters that cannot be used.")))
        else:
            texts[language] = value
    return texts


def _code(
    form: Mapping[str, str], name: str, choices: Mapping[str, str], errors: list[FieldError], missing: str
) -> str:
    value = (form.get(name) or "").strip()
    if value not in choices:
        errors.append(FieldError(name, missing if not value else N_("Please choose one of the listed entries.")))
    return value


def parse_website(raw: str) -> str:
    """An http(s) address of a website; ``www.example.org`` gets ``https://``. Raises ValueError with a message."""
    value = raw.strip()
    if "://" not in value and ":" not in value and "." in value:
        value = "https://" + value
    if len(value) > WEBSITE_MAX:
        raise ValueError(N_("Please use at most %(max)s characters here."))
    if any(char.isspace() for char in value) or _has_control(value):
        raise ValueError(N_("Please enter the address of your website, for example https://www.example.org."))
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - reading it checks the port
    except ValueError:
        raise ValueError(N_("Please enter the address of your website, for example https://www.example.org.")) from None
    if parts.scheme.lower() not in ("http", "https") or not host or parts.username or parts.password:
        raise ValueError(N_("Please enter the address of your website, for example https://www.example.org."))
    if not _HOST.match(host.encode("idna").decode("ascii") if not host.isascii() else host):
        raise ValueError(N_("Please enter the address of your website, for example https://www.example.org."))
    return value


def _website(form: Mapping[str, str], name: str, errors: list[FieldError]) -> str | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return parse_website(raw)
    except ValueError as exc:
        errors.append(FieldError(name, str(exc), {"max": WEBSITE_MAX}))
        return None
    except UnicodeError:
        errors.append(
            FieldError(name, N_("Please enter the address of your website, for example https://www.example.org."))
        )
        return None


def _phone(form: Mapping[str, str], name: str, errors: list[FieldError], *, required: bool) -> str | None:
    missing = N_("Please enter a telephone number.") if required else None
    value = read_line(form, name, errors, missing=missing, maximum=PHONE_MAX)
    if value and len(value) <= PHONE_MAX and not _PHONE.match(value):
        errors.append(FieldError(name, N_("Please enter a telephone number such as 0221 123456 or +49 221 123456.")))
    return value or None


# Opening hours ----------------------------------------------------------------------------------------------------


class HoursProblem(ValueError):
    """A day's opening hours that cannot be read; ``message`` is a message id taking ``%(day)s``."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


def _minutes(text: str, *, end: bool) -> int:
    found = _TIME.match(text.strip())
    if not found:
        raise HoursProblem(N_("%(day)s: please write the times as 09:00-12:30, several separated by commas."))
    hours, minutes = int(found[1]), int(found[2])
    if hours == 24 and minutes == 0 and end:
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise HoursProblem(N_("%(day)s: %(time)s is not a time of day."), time=text.strip())
    return hours * 60 + minutes


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_day_hours(raw: str) -> list[list[str]]:
    """One day's opening hours, typed as ``09:00-12:30, 14:00-18:00``; empty means closed.

    Strict: a time that does not exist (25:00, 10:75), an interval that ends before it starts and intervals that
    overlap are refused (HoursProblem). A closing time after midnight is written as 24:00 on the day and the rest
    on the next day. Returns the intervals in order as ``[["09:00", "12:30"], ...]``.
    """
    text = raw.strip()
    if not text:
        return []
    pieces = [p.strip() for p in re.split(r"[,;]", text)]
    if any(not p for p in pieces):
        raise HoursProblem(N_("%(day)s: please write the times as 09:00-12:30, several separated by commas."))
    if len(pieces) > INTERVALS_PER_DAY_MAX:
        raise HoursProblem(N_("%(day)s: please enter at most %(max)s time ranges."), max=INTERVALS_PER_DAY_MAX)
    intervals: list[tuple[int, int]] = []
    for piece in pieces:
        # A hyphen or the en dash that word processors put in.
        ends = re.split(r"\s*[-\u2013]\s*", piece)
        if len(ends) != 2:
            raise HoursProblem(N_("%(day)s: please write the times as 09:00-12:30, several separated by commas."))
        start, stop = _minutes(ends[0], end=False), _minutes(ends[1], end=True)
        if stop <= start:
            raise HoursProblem(
                N_("%(day)s: the time range %(range)s ends before it begins."), range=f"{ends[0]}-{ends[1]}"
            )
        intervals.append((start, stop))
    intervals.sort()
    for (_, first_end), (second_start, _) in itertools.pairwise(intervals):
        if second_start < first_end:
            raise HoursProblem(N_("%(day)s: the time ranges overlap. Please enter each time only once."))
    return [[_clock(a), _clock(b)] for a, b in intervals]


def hours_text(intervals: Any) -> str:
    """A day's stored intervals in the form people type them (the inverse of parse_day_hours)."""
    if not isinstance(intervals, list):
        return ""
    return ", ".join(f"{a}-{b}" for a, b in intervals)


# Locations ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationInput:
    """One location's checked fields (the location form, the registration form and the CSV import)."""

    name: str
    street: str
    house_number: str
    postal_code: str
    district: str
    latitude: float | None
    longitude: float | None
    opening_hours: dict[str, list[list[str]]]
    hours_note: dict[str, str]
    accessibility: list[str]
    accessibility_note: dict[str, str]
    phone: str | None

    def apply_to(self, location: Location) -> None:
        location.name = self.name
        location.street = self.street
        location.house_number = self.house_number
        location.postal_code = self.postal_code
        location.district = self.district
        location.latitude = self.latitude
        location.longitude = self.longitude
        location.opening_hours = self.opening_hours
        location.hours_note = self.hours_note
        location.accessibility = self.accessibility
        location.accessibility_note = self.accessibility_note
        location.phone = self.phone


def _coordinate(
    form: Mapping[str, str], name: str, limit: float, errors: list[FieldError], message: str
) -> tuple[bool, float | None]:
    """(given, value): a decimal degree (a decimal comma is accepted) within ±limit."""
    raw = (form.get(name) or "").strip().replace(",", ".")
    if not raw:
        return False, None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not -limit <= value <= limit or not re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", raw):
        errors.append(FieldError(name, message, {"limit": int(limit)}))
        return True, None
    return True, value


def _district(form: Mapping[str, str], prefix: str, city: City, postal_code: str, errors: list[FieldError]) -> str:
    districts = city.districts_of(postal_code)
    if not districts:
        errors.append(
            FieldError(
                prefix + "postal_code",
                N_("This postal code is not in %(city)s. Only locations in the city can take part."),
                {"city": city.name},
            )
        )
        return ""
    chosen = (form.get(prefix + "district") or "").strip()
    if chosen in districts:
        return chosen
    if len(districts) == 1 and not chosen:
        return districts[0]
    errors.append(
        FieldError(
            prefix + "district",
            N_("This postal code lies in several districts: please choose one of %(districts)s."),
            {"districts": ", ".join(districts)},
        )
        if len(districts) > 1
        else FieldError(
            prefix + "district",
            N_("The postal code lies in the district %(district)s."),
            {"district": districts[0]},
        )
    )
    return ""


def _read_location(form: Mapping[str, str], city: City, prefix: str, errors: list[FieldError]) -> LocationInput:
    name = read_line(
        form, prefix + "name", errors, missing=N_("Please enter the name of the location."), maximum=NAME_MAX
    )
    street = read_line(form, prefix + "street", errors, missing=N_("Please enter the street."), maximum=STREET_MAX)
    house = read_line(
        form, prefix + "house_number", errors, missing=N_("Please enter the house number."), maximum=HOUSE_NUMBER_MAX
    )
    if house and len(house) <= HOUSE_NUMBER_MAX and not _HOUSE_NUMBER.match(house):
        errors.append(FieldError(prefix + "house_number", N_("Please enter a house number such as 12 or 12a.")))
    postal = (form.get(prefix + "postal_code") or "").strip()
    district = ""
    if not postal or not _POSTAL.match(postal):
        errors.append(FieldError(prefix + "postal_code", N_("Please enter the five-digit postal code.")))
    else:
        district = _district(form, prefix, city, postal, errors)
    has_lat, latitude = _coordinate(
        form,
        prefix + "latitude",
        90,
        errors,
        N_("Please enter the latitude as a decimal number between -%(limit)s and %(limit)s, for example 50.9384."),
    )
    has_lon, longitude = _coordinate(
        form,
        prefix + "longitude",
        180,
        errors,
        N_("Please enter the longitude as a decimal number between -%(limit)s and %(limit)s, for example 6.9583."),
    )
    if has_lat and not has_lon:
        errors.append(FieldError(prefix + "longitude", N_("Please enter the longitude too, or neither.")))
    elif has_lon and not has_lat:
        errors.append(FieldError(prefix + "latitude", N_("Please enter the latitude too, or neither.")))
    hours: dict[str, list[list[str]]] = {}
    for day, label in WEEKDAYS.items():
        try:
            intervals = parse_day_hours(form.get(f"{prefix}hours-{day}") or "")
        except HoursProblem as problem:
            # The weekday is named in the reader's language when the form is read.
            errors.append(
                FieldError(f"{prefix}hours-{day}", problem.message, {"day": i18n.gettext(label), **problem.params})
            )
            continue
        if intervals:
            hours[day] = intervals
    hours_note = read_texts(form, prefix + "hours_note", errors, maximum=NOTE_MAX)
    accessibility = [code for code in ACCESSIBILITY_FEATURES if _checked(form, f"{prefix}access-{code}")]
    accessibility_note = read_texts(form, prefix + "access_note", errors, maximum=NOTE_MAX)
    phone = _phone(form, prefix + "phone", errors, required=False)
    both = latitude is not None and longitude is not None
    return LocationInput(
        name=name,
        street=street,
        house_number=house,
        postal_code=postal,
        district=district,
        latitude=latitude if both else None,
        longitude=longitude if both else None,
        opening_hours=hours,
        hours_note=hours_note,
        accessibility=accessibility,
        accessibility_note=accessibility_note,
        phone=phone,
    )


def read_location(form: Mapping[str, str], city: City, prefix: str = "") -> LocationInput:
    """Check one location's fields (named with ``prefix``); InvalidInput names each wrong field."""
    errors: list[FieldError] = []
    location = _read_location(form, city, prefix, errors)
    if errors:
        raise InvalidInput(errors)
    return location


def location_form_values(location: Location, prefix: str = "") -> dict[str, str]:
    """A stored location as the form fields read_location reads (to edit it)."""
    values = {
        prefix + "name": location.name,
        prefix + "street": location.street or "",
        prefix + "house_number": location.house_number or "",
        prefix + "postal_code": location.postal_code or "",
        prefix + "district": location.district or "",
        prefix + "latitude": "" if location.latitude is None else f"{location.latitude:.6f}".rstrip("0").rstrip("."),
        prefix + "longitude": "" if location.longitude is None else f"{location.longitude:.6f}".rstrip("0").rstrip("."),
        prefix + "phone": location.phone or "",
    }
    for day in WEEKDAYS:
        values[f"{prefix}hours-{day}"] = hours_text((location.opening_hours or {}).get(day))
    for language, text in (location.hours_note or {}).items():
        values[f"{prefix}hours_note-{language}"] = text
    for language, text in (location.accessibility_note or {}).items():
        values[f"{prefix}access_note-{language}"] = text
    for code in location.accessibility or []:
        values[f"{prefix}access-{code}"] = "on"
    return values


# Registration ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganisationInput:
    name: str
    legal_form: str
    website: str | None
    category: str
    description: dict[str, str]
    phone: str | None

    def apply_to(self, partner: Partner) -> None:
        partner.name = self.name
        partner.legal_form = self.legal_form
        partner.website = self.website
        partner.category = self.category
        partner.description = self.description
        partner.phone = self.phone


@dataclass(frozen=True)
class RegistrationInput:
    organisation: OrganisationInput
    owner_name: str
    email: str
    password: str = field(repr=False)
    location: LocationInput


def _read_organisation(
    form: Mapping[str, str], errors: list[FieldError], *, phone_required: bool = True
) -> OrganisationInput:
    name = read_line(form, "name", errors, missing=N_("Please enter the name of your organisation."), maximum=NAME_MAX)
    legal_form = _code(form, "legal_form", LEGAL_FORMS, errors, N_("Please choose the legal form."))
    website = _website(form, "website", errors)
    category = _code(form, "category", CATEGORIES, errors, N_("Please choose what your organisation offers."))
    description = read_texts(
        form,
        "description",
        errors,
        maximum=DESCRIPTION_MAX,
        german_missing=N_("Please describe your organisation in German; other languages are optional."),
    )
    phone = _phone(form, "phone", errors, required=phone_required)
    return OrganisationInput(name, legal_form, website, category, description, phone)


def read_organisation(form: Mapping[str, str], *, phone_required: bool = True) -> OrganisationInput:
    """Check the organisation's fields of the registration and profile forms (also the CSV import's partners,
    where a telephone number may be missing); InvalidInput names each wrong field."""
    errors: list[FieldError] = []
    organisation = _read_organisation(form, errors, phone_required=phone_required)
    if errors:
        raise InvalidInput(errors)
    return organisation


def _read_registration(form: Mapping[str, str], city: City, errors: list[FieldError]) -> RegistrationInput:
    organisation = _read_organisation(form, errors)
    owner_name = read_line(form, "owner_name", errors, missing=N_("Please enter your name."), maximum=NAME_MAX)
    email = normalise_email(form.get("email", ""))
    problem = email_problem(email)
    if problem:
        errors.append(problem)
    password = form.get("password", "")
    errors.extend(password_problems(password, form.get("password_confirm", ""), email))
    location = _read_location(form, city, "location-", errors)
    if not _checked(form, "terms"):
        errors.append(FieldError("terms", N_("Please accept the partner terms; without them you cannot take part.")))
    return RegistrationInput(organisation, owner_name, email, password, location)


def read_registration(form: Mapping[str, str], city: City) -> RegistrationInput:
    """Check every field of the registration form (not yet whether the e-mail address is taken)."""
    errors: list[FieldError] = []
    registration = _read_registration(form, city, errors)
    if errors:
        raise InvalidInput(errors)
    return registration


_EMAIL_TAKEN = N_("An account with this e-mail address exists already.")


def _email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(User.id).where(User.email == email)) is not None


@dataclass(frozen=True)
class Registered:
    partner_id: uuid.UUID
    email: str


def register_partner(
    session: Session, city: City, form: Mapping[str, str], *, base_url: str, meta: RequestMeta | None = None
) -> Registered:
    """Register a partner with its owner's account and first location; e-mail the owner a confirmation link.

    The partner stays ``unconfirmed`` (not in the staff queue) until the owner opens the link.
    """
    errors: list[FieldError] = []
    registration = _read_registration(form, city, errors)
    if not any(e.field == "email" for e in errors) and _email_taken(session, registration.email):
        errors.append(FieldError("email", _EMAIL_TAKEN))
    if errors:
        raise InvalidInput(errors)
    now = utcnow()
    partner = Partner(
        status=PartnerStatus.UNCONFIRMED.value,
        contact_email=registration.email,
        terms_version=TERMS_VERSION,
        terms_accepted_at=now,
        status_changed_at=now,
    )
    registration.organisation.apply_to(partner)
    session.add(partner)
    session.flush()
    location = Location(partner_id=partner.id)
    registration.location.apply_to(location)
    owner = User(
        email=registration.email,
        display_name=registration.owner_name,
        role=Role.PARTNER_OWNER.value,
        partner_id=partner.id,
        password_hash=hash_password(registration.password),
        locale=i18n.current_locale(),
    )
    session.add(location)
    try:
        # Two registrations with one address at the same moment: the unique index decides, the second is refused.
        with session.begin_nested():
            session.add(owner)
            session.flush()
    except IntegrityError:
        raise InvalidInput([FieldError("email", _EMAIL_TAKEN)]) from None
    _send_confirmation(session, owner, partner, city, base_url)
    audit.record(
        session,
        principal_for_user(owner),
        "partner.registered",
        "partner",
        partner.id,
        partner_id=partner.id,
        details={"email": owner.email, "terms_version": TERMS_VERSION},
        meta=meta,
    )
    return Registered(partner.id, owner.email)


def _send_confirmation(session: Session, owner: User, partner: Partner, city: City, base_url: str) -> None:
    """E-mail the owner a new link that confirms the address (each link works once, for CONFIRM_LINK_HOURS)."""
    token = new_login_link(session, owner, LINK_PURPOSE_CONFIRM_PARTNER, dt.timedelta(hours=CONFIRM_LINK_HOURS))
    link = f"{base_url}/partner/register/confirm/{token}"
    with i18n.use_locale(owner.locale or i18n.DEFAULT_LOCALE):
        queue_email(
            session,
            to=owner.email,
            subject=i18n.gettext(N_("Please confirm your e-mail address for the family card")),
            body_text=i18n.gettext(
                N_(
                    "Hello %(name)s,\n\nthank you for registering %(partner)s as a partner of the family card "
                    "in %(city)s.\nPlease confirm your e-mail address with this link:\n\n%(link)s\n\n"
                    "The link works for %(hours)s hours. Once you have confirmed it, the city checks your "
                    "registration and lets you know by e-mail.\nIf the link has expired, ask for a new one at "
                    "%(resend)s\nIf you did not register, ignore this e-mail.\n"
                ),
                name=owner.display_name,
                partner=partner.name,
                city=city.name,
                link=link,
                hours=CONFIRM_LINK_HOURS,
                resend=f"{base_url}/partner/register/sent",
            ),
        )


def resend_confirmation(
    session: Session, city: City, raw_email: str, *, base_url: str, meta: RequestMeta | None = None
) -> None:
    """Send a new confirmation link to the owner of a registration that is still unconfirmed.

    The answer is the same whether or not such a registration exists, so that nobody learns from it which
    addresses are registered; only a malformed address is refused, naming the field.
    """
    email = normalise_email(raw_email)
    problem = email_problem(email, "email")
    if problem:
        raise InvalidInput([problem])
    row = session.execute(
        select(User, Partner)
        .join(Partner, Partner.id == User.partner_id)
        .where(
            User.email == email,
            User.role == Role.PARTNER_OWNER.value,
            User.email_confirmed_at.is_(None),
            Partner.status == PartnerStatus.UNCONFIRMED.value,
        )
    ).first()
    if row is None:
        return
    owner, partner = row
    _send_confirmation(session, owner, partner, city, base_url)
    audit.record(
        session,
        principal_for_user(owner),
        "partner.confirmation_resent",
        "partner",
        partner.id,
        partner_id=partner.id,
        meta=meta,
    )


def check_confirmation_link(session: Session, token: str) -> None:
    """Raise LinkUnusable when the confirmation link cannot be used; looking does not use it up."""
    usable_link(session, LINK_PURPOSE_CONFIRM_PARTNER, token)


@dataclass(frozen=True)
class Confirmed:
    partner_name: str
    email: str


def confirm_partner_email(session: Session, token: str, *, meta: RequestMeta | None = None) -> Confirmed:
    """Confirm the owner's address: the partner moves from ``unconfirmed`` to ``pending`` (the staff queue)."""
    owner = use_link(session, LINK_PURPOSE_CONFIRM_PARTNER, token)
    if owner.role != Role.PARTNER_OWNER.value or owner.partner_id is None:
        raise LinkUnusable(N_("This link is not valid. Please check that you copied all of it, or ask for a new one."))
    partner = session.get(Partner, owner.partner_id, with_for_update=True)
    if partner is None:
        raise NotFound()
    now = utcnow()
    if owner.email_confirmed_at is None:
        owner.email_confirmed_at = now
    if partner.status == PartnerStatus.UNCONFIRMED.value:
        partner.status = PartnerStatus.PENDING.value
        partner.status_changed_at = now
        partner.status_changed_by_id = owner.id
    audit.record(
        session,
        principal_for_user(owner),
        "partner.email_confirmed",
        "partner",
        partner.id,
        partner_id=partner.id,
        details={"email": owner.email, "status": partner.status},
        meta=meta,
    )
    return Confirmed(partner.name, owner.email)


# The partner's own data -----------------------------------------------------------------------------------------


def _partner_of(session: Session, principal: Principal, *, lock: bool = False) -> Partner:
    """The signed-in partner user's organisation (any partner role)."""
    if principal.is_api_key or not principal.is_partner or principal.partner_id is None:
        raise PermissionDenied()
    partner = session.get(Partner, principal.partner_id, with_for_update=lock)
    if partner is None:
        raise NotFound()
    return partner


def _owned_partner(session: Session, principal: Principal, *, lock: bool = False) -> Partner:
    """The organisation of the signed-in owner: only owners change partner data (cashiers scan and redeem)."""
    if principal.role != Role.PARTNER_OWNER:
        raise PermissionDenied()
    return _partner_of(session, principal, lock=lock)


def _record(
    session: Session,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: object,
    partner: Partner,
    meta: RequestMeta | None,
    **details: Any,
) -> None:
    audit.record(session, principal, action, object_type, object_id, partner_id=partner.id, details=details, meta=meta)


@dataclass(frozen=True)
class LocationView:
    id: uuid.UUID
    name: str
    street: str | None
    house_number: str | None
    postal_code: str | None
    district: str | None
    latitude: float | None
    longitude: float | None
    opening_hours: dict[str, Any]
    hours_note: dict[str, str]
    accessibility: list[str]
    accessibility_note: dict[str, str]
    phone: str | None
    is_active: bool

    @property
    def address(self) -> str:
        street = " ".join(p for p in (self.street, self.house_number) if p)
        return ", ".join(p for p in (street, self.postal_code) if p)

    @property
    def hours_lines(self) -> list[tuple[str, str]]:
        """(weekday label id, "09:00-12:30, 14:00-18:00") for each open day."""
        hours = self.opening_hours
        return [(label, hours_text(hours[day])) for day, label in WEEKDAYS.items() if hours.get(day)]


def _location_view(location: Location) -> LocationView:
    return LocationView(
        id=location.id,
        name=location.name,
        street=location.street,
        house_number=location.house_number,
        postal_code=location.postal_code,
        district=location.district,
        latitude=location.latitude,
        longitude=location.longitude,
        opening_hours=dict(location.opening_hours or {}),
        hours_note=dict(location.hours_note or {}),
        accessibility=list(location.accessibility or []),
        accessibility_note=dict(location.accessibility_note or {}),
        phone=location.phone,
        is_active=location.is_active,
    )


@dataclass(frozen=True)
class PartnerProfile:
    id: uuid.UUID
    name: str
    status: str
    status_reason: str | None
    legal_form: str | None
    website: str | None
    category: str | None
    description: dict[str, str]
    contact_email: str | None
    phone: str | None
    has_logo: bool
    logo_updated_at: dt.datetime | None
    terms_version: str | None
    terms_accepted_at: dt.datetime | None
    locations: list[LocationView]

    @property
    def can_resubmit(self) -> bool:
        return self.status == PartnerStatus.CHANGES_REQUESTED.value

    @property
    def form(self) -> dict[str, str]:
        """The profile as the fields update_profile reads."""
        values = {
            "name": self.name,
            "legal_form": self.legal_form or "",
            "website": self.website or "",
            "category": self.category or "",
            "phone": self.phone or "",
        }
        for language, text in self.description.items():
            values[f"description-{language}"] = text
        return values


def _locations_of(session: Session, partner_id: uuid.UUID) -> list[Location]:
    return list(
        session.scalars(
            select(Location)
            .where(Location.partner_id == partner_id)
            .order_by(Location.is_active.desc(), Location.name, Location.id)
        )
    )


def partner_profile(session: Session, principal: Principal) -> PartnerProfile:
    partner = _owned_partner(session, principal)
    return PartnerProfile(
        id=partner.id,
        name=partner.name,
        status=partner.status,
        status_reason=partner.status_reason,
        legal_form=partner.legal_form,
        website=partner.website,
        category=partner.category,
        description=dict(partner.description or {}),
        contact_email=partner.contact_email,
        phone=partner.phone,
        has_logo=partner.logo is not None,
        logo_updated_at=partner.logo_updated_at,
        terms_version=partner.terms_version,
        terms_accepted_at=partner.terms_accepted_at,
        locations=[_location_view(loc) for loc in _locations_of(session, partner.id)],
    )


def update_profile(
    session: Session, principal: Principal, form: Mapping[str, str], *, meta: RequestMeta | None = None
) -> None:
    """Change the organisation's data (owner only); it applies at once, whatever the partner's status."""
    errors: list[FieldError] = []
    organisation = _read_organisation(form, errors)
    if errors:
        raise InvalidInput(errors)
    partner = _owned_partner(session, principal, lock=True)
    before = {
        "name": partner.name,
        "legal_form": partner.legal_form,
        "website": partner.website,
        "category": partner.category,
        "description": dict(partner.description or {}),
        "phone": partner.phone,
    }
    organisation.apply_to(partner)
    after = {
        "name": partner.name,
        "legal_form": partner.legal_form,
        "website": partner.website,
        "category": partner.category,
        "description": dict(partner.description or {}),
        "phone": partner.phone,
    }
    changed = sorted(k for k in before if before[k] != after[k])
    if changed:
        _record(session, principal, "partner.profile_updated", "partner", partner.id, partner, meta, changed=changed)


def resubmit_partner(session: Session, principal: Principal, *, meta: RequestMeta | None = None) -> None:
    """After staff asked for changes, the owner sends the registration back to the staff queue."""
    partner = _owned_partner(session, principal, lock=True)
    if partner.status != PartnerStatus.CHANGES_REQUESTED.value:
        raise Conflict(
            N_("Your registration can only be sent again after the city has asked for changes."),
            code="not_changes_requested",
        )
    partner.status = PartnerStatus.PENDING.value
    partner.status_changed_at = utcnow()
    partner.status_changed_by_id = principal.user_id
    _record(session, principal, "partner.resubmitted", "partner", partner.id, partner, meta)


# Locations of the own partner ------------------------------------------------------------------------------------


def _own_location(session: Session, partner: Partner, location_id: uuid.UUID, *, lock: bool = False) -> Location:
    """A location of this partner; another partner's is "not found", so that ids cannot be probed."""
    location = session.get(Location, location_id, with_for_update=lock)
    if location is None or location.partner_id != partner.id:
        raise NotFound()
    return location


def list_locations(session: Session, principal: Principal) -> list[LocationView]:
    partner = _owned_partner(session, principal)
    return [_location_view(loc) for loc in _locations_of(session, partner.id)]


@dataclass(frozen=True)
class LocationEdit:
    location: LocationView
    form: dict[str, str]


def location_for_edit(session: Session, principal: Principal, location_id: uuid.UUID) -> LocationEdit:
    partner = _owned_partner(session, principal)
    location = _own_location(session, partner, location_id)
    return LocationEdit(_location_view(location), location_form_values(location))


def add_location(
    session: Session, principal: Principal, city: City, form: Mapping[str, str], *, meta: RequestMeta | None = None
) -> uuid.UUID:
    checked = read_location(form, city)
    partner = _owned_partner(session, principal)
    location = Location(partner_id=partner.id)
    checked.apply_to(location)
    session.add(location)
    session.flush()
    _record(session, principal, "location.created", "location", location.id, partner, meta, name=location.name)
    return location.id


def update_location(
    session: Session,
    principal: Principal,
    city: City,
    location_id: uuid.UUID,
    form: Mapping[str, str],
    *,
    meta: RequestMeta | None = None,
) -> None:
    partner = _owned_partner(session, principal)
    location = _own_location(session, partner, location_id, lock=True)
    if not location.is_active:
        raise Conflict(N_("This location has been closed and can no longer be changed."), code="location_inactive")
    checked = read_location(form, city)
    checked.apply_to(location)
    _record(session, principal, "location.updated", "location", location.id, partner, meta, name=location.name)


def deactivate_location(
    session: Session, principal: Principal, location_id: uuid.UUID, *, meta: RequestMeta | None = None
) -> None:
    """Close a location: it stays for the records of what was redeemed there, but is no longer shown."""
    # The partner row is locked, so that two closings at once cannot leave no active location.
    partner = _owned_partner(session, principal, lock=True)
    location = _own_location(session, partner, location_id, lock=True)
    if not location.is_active:
        return
    active = session.scalar(
        select(func.count()).select_from(Location).where(Location.partner_id == partner.id, Location.is_active)
    )
    if (active or 0) <= 1:
        raise Conflict(
            N_("This is your only open location. Add another location first, then close this one."),
            code="last_location",
        )
    location.is_active = False
    _record(session, principal, "location.deactivated", "location", location.id, partner, meta, name=location.name)


# Logo ------------------------------------------------------------------------------------------------------------


def set_logo(session: Session, principal: Principal, raw: bytes, *, meta: RequestMeta | None = None) -> None:
    """Check the uploaded image and store it re-encoded (see partners.logos)."""
    if principal.role != Role.PARTNER_OWNER:
        raise PermissionDenied()
    processed = logos.process_logo(raw)
    partner = _owned_partner(session, principal, lock=True)
    partner.logo = processed.data
    partner.logo_type = processed.media_type
    partner.logo_updated_at = utcnow()
    _record(
        session,
        principal,
        "partner.logo_updated",
        "partner",
        partner.id,
        partner,
        meta,
        bytes=len(processed.data),
        width=processed.width,
        height=processed.height,
    )


def remove_logo(session: Session, principal: Principal, *, meta: RequestMeta | None = None) -> None:
    partner = _owned_partner(session, principal, lock=True)
    if partner.logo is None:
        return
    partner.logo = None
    partner.logo_type = None
    partner.logo_updated_at = utcnow()
    _record(session, principal, "partner.logo_removed", "partner", partner.id, partner, meta)


@dataclass(frozen=True)
class Logo:
    data: bytes
    media_type: str
    updated_at: dt.datetime | None


def _logo_of(partner: Partner | None) -> Logo:
    if partner is None or partner.logo is None or not partner.logo_type:
        raise NotFound()
    return Logo(partner.logo, partner.logo_type, partner.logo_updated_at)


def public_logo(session: Session, partner_id: uuid.UUID) -> Logo:
    """The logo of an approved partner, for everyone; any other partner's is "not found"."""
    partner = session.get(Partner, partner_id)
    if partner is None or partner.status != PartnerStatus.APPROVED.value:
        raise NotFound()
    return _logo_of(partner)


def own_logo(session: Session, principal: Principal) -> Logo:
    """The owner's own logo, whatever the partner's status (to see what was stored)."""
    return _logo_of(_owned_partner(session, principal))


# Cashiers --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CashierView:
    id: uuid.UUID
    email: str
    display_name: str
    is_active: bool
    has_password: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime


def list_cashiers(session: Session, principal: Principal) -> list[CashierView]:
    partner = _owned_partner(session, principal)
    users = session.scalars(
        select(User)
        .where(User.partner_id == partner.id, User.role == Role.CASHIER.value)
        .order_by(User.is_active.desc(), User.email)
    )
    return [
        CashierView(
            id=u.id,
            email=u.email,
            display_name=u.display_name,
            is_active=u.is_active,
            has_password=u.password_hash is not None,
            last_login_at=u.last_login_at,
            created_at=u.created_at,
        )
        for u in users
    ]


def invite_cashier(
    session: Session,
    principal: Principal,
    form: Mapping[str, str],
    *,
    base_url: str,
    meta: RequestMeta | None = None,
) -> str:
    """Create a cashier account of the owner's partner and e-mail it a link to choose a password.

    Returns the invited address. Cashiers sign in with that password and can only scan and redeem.
    """
    partner = _owned_partner(session, principal)
    errors: list[FieldError] = []
    email = normalise_email(form.get("email", ""))
    problem = email_problem(email)
    if problem:
        errors.append(problem)
    elif _email_taken(session, email):
        errors.append(FieldError("email", _EMAIL_TAKEN))
    name = read_line(
        form, "display_name", errors, missing=N_("Please enter the name of the cashier."), maximum=NAME_MAX
    )
    if errors:
        raise InvalidInput(errors)
    owner = session.get(User, principal.user_id) if principal.user_id else None
    cashier = User(
        email=email,
        display_name=name,
        role=Role.CASHIER.value,
        partner_id=partner.id,
        locale=(owner.locale if owner else None) or i18n.current_locale(),
    )
    session.add(cashier)
    session.flush()
    send_set_password_link(session, cashier, base_url=base_url, invitation=True)
    _record(session, principal, "partner.cashier_invited", "user", cashier.id, partner, meta, email=email)
    return email


def _own_cashier(session: Session, partner: Partner, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id, with_for_update=True)
    if user is None or user.partner_id != partner.id or user.role != Role.CASHIER.value:
        raise NotFound()
    return user


def deactivate_cashier(
    session: Session, principal: Principal, user_id: uuid.UUID, *, meta: RequestMeta | None = None
) -> None:
    """Stop a cashier from signing in; their sessions end at once."""
    partner = _owned_partner(session, principal)
    user = _own_cashier(session, partner, user_id)
    if not user.is_active:
        return
    user.is_active = False
    user.session_epoch += 1
    _record(session, principal, "partner.cashier_deactivated", "user", user.id, partner, meta, email=user.email)


def resend_cashier_invitation(
    session: Session, principal: Principal, user_id: uuid.UUID, *, base_url: str, meta: RequestMeta | None = None
) -> None:
    """A new link to choose a password (an invitation that expired, a forgotten password)."""
    partner = _owned_partner(session, principal)
    user = _own_cashier(session, partner, user_id)
    if not user.is_active:
        raise Conflict(N_("This cashier account is deactivated."), code="user_inactive")
    send_set_password_link(session, user, base_url=base_url, invitation=True)
    _record(session, principal, "partner.cashier_link_sent", "user", user.id, partner, meta, email=user.email)
