"""A partner's benefits: read the benefit form, create and edit drafts, submit them to moderation, pause, resume,
archive, and preview them as families will see them.

Plain synchronous functions on a ``Session``; the caller owns the transaction, and every check runs before the
first write, so a refused change leaves nothing behind. The owner of a partner account changes its benefits;
cashiers may read them. Another partner's benefit is "not found", so that ids cannot be probed.

The states (see ``BenefitStatus``): draft -> submitted -> published (staff), or rejected / changes_requested.
A change to a published (or paused) benefit is kept in ``Benefit.pending`` until staff approve it; families
see the published version meanwhile. With the city's ``auto_publish_benefits`` and an approved partner, what is
submitted is published at once.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import PARTNER_ROLES, Role
from familienkarte.audit import services as audit
from familienkarte.benefits import fields
from familienkarte.benefits.models import ALL_WEEKDAYS, Benefit, BenefitKind, BenefitStatus, LimitPeriod
from familienkarte.benefits.rules import DEFAULT_LANGUAGE, localized, weekday_mask, weekdays_of
from familienkarte.benefits.views import BenefitCard, LocationLine, benefit_card, offer_line
from familienkarte.cards.services import parse_date
from familienkarte.city import City
from familienkarte.db import utcnow
from familienkarte.errors import N_, Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.partners.vocabulary import CATEGORIES, WEEKDAYS

TITLE_MAX: Final = 120
DESCRIPTION_MAX: Final = 2000
CONDITIONS_MAX: Final = 1000
PERCENT_MIN, PERCENT_MAX = 1, 100
AMOUNT_MAX_CENTS: Final = 1_000_000  # 10,000 €
MIN_CHILDREN_MAX: Final = 10
CHILD_AGE_MAX: Final = 26
LIMIT_COUNT_MAX: Final = 100
TOTAL_QUOTA_MAX: Final = 1_000_000
MAX_QUANTITY_MAX: Final = 20
# Dates further away than this are typing mistakes, not offers.
DATE_YEARS_AHEAD: Final = 10
DATE_EARLIEST: Final = dt.date(2000, 1, 1)

VALUED_KINDS: Final = frozenset(
    {BenefitKind.PERCENT_OFF.value, BenefitKind.AMOUNT_OFF.value, BenefitKind.SPECIAL_PRICE.value}
)
MONEY_KINDS: Final = frozenset({BenefitKind.AMOUNT_OFF.value, BenefitKind.SPECIAL_PRICE.value})
# Benefits that count against a second one of the same title and overlapping dates.
ACTIVE_STATUSES: Final = frozenset(
    {BenefitStatus.DRAFT, BenefitStatus.SUBMITTED, BenefitStatus.PUBLISHED, BenefitStatus.PAUSED}
)
EDITABLE_IN_PLACE: Final = frozenset({BenefitStatus.DRAFT, BenefitStatus.CHANGES_REQUESTED, BenefitStatus.REJECTED})
EDITABLE_BY_CHANGE: Final = frozenset({BenefitStatus.PUBLISHED, BenefitStatus.PAUSED})
SUBMITTABLE: Final = frozenset({BenefitStatus.DRAFT, BenefitStatus.CHANGES_REQUESTED})
CHECKED: Final = ("on", "yes", "true", "1")
LOCATION_PREFIX: Final = "location-"
WEEKDAY_PREFIX: Final = "weekday-"
# The list shows what still matters first.
STATUS_ORDER: Final = {
    BenefitStatus.CHANGES_REQUESTED.value: 0,
    BenefitStatus.DRAFT.value: 1,
    BenefitStatus.REJECTED.value: 2,
    BenefitStatus.SUBMITTED.value: 3,
    BenefitStatus.PUBLISHED.value: 4,
    BenefitStatus.PAUSED.value: 5,
    BenefitStatus.ARCHIVED.value: 6,
}

_INTEGER = re.compile(r"^[0-9]{1,9}$")
_PERCENT = re.compile(r"^([0-9]{1,9})\s*%?$")
_MONEY = re.compile(r"^([0-9]{1,9})(?:[.,]([0-9]{1,2}))?$")


# Reading the form ----------------------------------------------------------------------------------------------


def _has_control(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in text)


def _line(raw: str | None) -> str:
    return " ".join((raw or "").split())


def _paragraphs(raw: str | None) -> str:
    """A longer text with its line breaks; spaces at the ends of lines and runs of empty lines removed."""
    text = (raw or "").replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _texts(
    form: Mapping[str, str],
    prefix: str,
    languages: Sequence[str],
    errors: list[FieldError],
    *,
    maximum: int,
    multiline: bool,
    required: str | None = None,
) -> dict[str, str]:
    """One text per language from the fields ``<prefix>-<language>``; only the ones given."""
    texts: dict[str, str] = {}
    for language in languages:
        name = f"{prefix}-{language}"
        raw = form.get(name)
        value = _paragraphs(raw) if multiline else _line(raw)
        if not value:
            if required and language == DEFAULT_LANGUAGE:
                errors.append(FieldError(name, required))
            continue
        if len(value) > maximum:
            errors.append(FieldError(name, N_("Please use at most %(max)s characters here."), {"max": maximum}))
        elif _has_control(value, "\n" if multiline else ""):
            errors.append(FieldError(name, N_("This field contains characters that cannot be used.")))
        texts[language] = value
    return texts


def _whole_number(
    form: Mapping[str, str], name: str, errors: list[FieldError], low: int, high: int, *, default: int | None = None
) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return default
    if not _INTEGER.match(raw) or not low <= int(raw) <= high:
        errors.append(
            FieldError(name, N_("Please enter a whole number from %(min)s to %(max)s."), {"min": low, "max": high})
        )
        return None
    return int(raw)


def parse_money(raw: str) -> int | None:
    """An amount in euros typed as ``5``, ``5,50`` or ``5.50`` (a € sign allowed), in cents; None if it is not one."""
    text = raw.strip().removesuffix("€").removesuffix("EUR").strip().removeprefix("€").strip()
    found = _MONEY.match(text)
    if not found:
        return None
    cents = (found[2] or "0").ljust(2, "0")
    return int(found[1]) * 100 + int(cents)


def _value(form: Mapping[str, str], kind: str | None, errors: list[FieldError]) -> int | None:
    raw = form.get("value", "").strip()
    if kind is None:
        return None
    if kind not in VALUED_KINDS:
        if raw:
            errors.append(FieldError("value", N_("This kind of benefit has no value. Please leave the field empty.")))
        return None
    if kind == BenefitKind.PERCENT_OFF.value:
        found = _PERCENT.match(raw)
        if not raw:
            errors.append(FieldError("value", N_("Please enter the percentage.")))
        elif not found or not PERCENT_MIN <= int(found[1]) <= PERCENT_MAX:
            errors.append(
                FieldError(
                    "value",
                    N_("Please enter a percentage from %(min)s to %(max)s."),
                    {"min": PERCENT_MIN, "max": PERCENT_MAX},
                )
            )
        else:
            return int(found[1])
        return None
    cents = parse_money(raw) if raw else None
    if not raw:
        errors.append(FieldError("value", N_("Please enter the amount in euros.")))
    elif cents is None or not 1 <= cents <= AMOUNT_MAX_CENTS:
        errors.append(FieldError("value", N_("Please enter an amount in euros from 0.01 to 10,000, for example 5.50.")))
    else:
        return cents
    return None


def _location_ids(form: Mapping[str, str], locations: Collection[uuid.UUID], errors: list[FieldError]) -> list[str]:
    raw_ids = [
        key[len(LOCATION_PREFIX) :]
        for key, value in form.items()
        if key.startswith(LOCATION_PREFIX) and value.strip().lower() in CHECKED
    ]
    # The import names them in one column.
    raw_ids += form.get("location_ids", "").replace(",", " ").split()
    chosen: set[uuid.UUID] = set()
    unknown = False
    for raw in raw_ids:
        try:
            location_id = uuid.UUID(raw.strip())
        except ValueError:
            unknown = True
            continue
        if location_id in locations:
            chosen.add(location_id)
        else:
            unknown = True
    if unknown:
        errors.append(
            FieldError("locations", N_("One of the chosen locations is unknown. Please choose from the list."))
        )
    elif not chosen:
        errors.append(FieldError("locations", N_("Please choose at least one location where the benefit applies.")))
    return sorted(str(location_id) for location_id in chosen)


def _date(form: Mapping[str, str], name: str, today: dt.date, errors: list[FieldError]) -> dt.date | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    day = parse_date(raw)
    if day is None:
        errors.append(FieldError(name, N_("Please enter a real date, for example 24.12.2026.")))
        return None
    latest = dt.date(today.year + DATE_YEARS_AHEAD, 12, 31)
    if not DATE_EARLIEST <= day <= latest:
        errors.append(
            FieldError(
                name,
                N_("Please enter a date between %(first)s and %(last)s."),
                {"first": DATE_EARLIEST.year, "last": latest.year},
            )
        )
        return None
    return day


def _weekdays(form: Mapping[str, str], errors: list[FieldError]) -> int:
    days = [
        index for index, code in enumerate(WEEKDAYS) if form.get(WEEKDAY_PREFIX + code, "").strip().lower() in CHECKED
    ]
    if not days:
        errors.append(FieldError("weekdays", N_("Please choose at least one weekday.")))
        return ALL_WEEKDAYS
    return weekday_mask(days)


def read_benefit(
    form: Mapping[str, str],
    *,
    locations: Collection[uuid.UUID],
    today: dt.date,
    languages: Sequence[str],
    current_until: dt.date | None = None,
) -> dict[str, Any]:
    """Check every field of the benefit form and return the benefit's content (``fields.content_of``'s shape).

    ``locations`` are the ids of the partner's own active locations; ``languages`` those whose texts are read
    (``title-de``, ``description-en``, ...). ``current_until`` is the end of validity the benefit has already:
    only a new end must not lie in the past. Texts are kept as typed (HTML too: it is shown as text, escaped).
    InvalidInput names each wrong field; nothing is stored here.
    """
    errors: list[FieldError] = []
    wanted = list(dict.fromkeys([DEFAULT_LANGUAGE, *languages]))
    title = _texts(
        form,
        "title",
        wanted,
        errors,
        maximum=TITLE_MAX,
        multiline=False,
        required=N_("Please enter a title in German."),
    )
    description = _texts(form, "description", wanted, errors, maximum=DESCRIPTION_MAX, multiline=True)
    conditions = _texts(form, "conditions", wanted, errors, maximum=CONDITIONS_MAX, multiline=True)

    category = form.get("category", "").strip()
    if category not in CATEGORIES:
        errors.append(FieldError("category", N_("Please choose a category from the list.")))
    kind: str | None = form.get("kind", "").strip()
    if kind not in {k.value for k in BenefitKind}:
        errors.append(FieldError("kind", N_("Please choose the kind of benefit from the list.")))
        kind = None
    value = _value(form, kind, errors)
    location_ids = _location_ids(form, locations, errors)

    valid_from = _date(form, "valid_from", today, errors)
    valid_until = _date(form, "valid_until", today, errors)
    if valid_from and valid_until and valid_until < valid_from:
        errors.append(FieldError("valid_until", N_("The last day cannot be before the first day.")))
    elif valid_until and valid_until < today and valid_until != current_until:
        errors.append(FieldError("valid_until", N_("The last day cannot be in the past.")))
    weekdays = _weekdays(form, errors)

    min_children = _whole_number(form, "min_children", errors, 0, MIN_CHILDREN_MAX, default=0)
    age_min = _whole_number(form, "child_age_min", errors, 0, CHILD_AGE_MAX)
    age_max = _whole_number(form, "child_age_max", errors, 0, CHILD_AGE_MAX)
    if age_min is not None and age_max is not None and age_min > age_max:
        errors.append(FieldError("child_age_max", N_("The highest age cannot be below the lowest age.")))
    requires_entitlement = form.get("requires_entitlement", "").strip().lower() in CHECKED

    limit_given = bool(form.get("limit_count", "").strip())
    limit_count = _whole_number(form, "limit_count", errors, 1, LIMIT_COUNT_MAX)
    limit_period: str | None = form.get("limit_period", "").strip() or None
    if limit_period is not None and limit_period not in {p.value for p in LimitPeriod}:
        errors.append(FieldError("limit_period", N_("Please choose a period from the list.")))
    elif limit_given and limit_period is None:
        errors.append(FieldError("limit_period", N_("Please choose the period the limit counts in.")))
    elif limit_period is not None and not limit_given:
        errors.append(
            FieldError("limit_count", N_("Please enter how often a card may use the benefit in this period."))
        )
    total_quota = _whole_number(form, "total_quota", errors, 1, TOTAL_QUOTA_MAX)
    max_quantity = _whole_number(form, "max_quantity", errors, 1, MAX_QUANTITY_MAX, default=1)

    if errors:
        raise InvalidInput(errors)
    return {
        "category": category,
        "kind": kind,
        "value": value,
        "title": title,
        "description": description,
        "conditions": conditions,
        "valid_from": valid_from.isoformat() if valid_from else None,
        "valid_until": valid_until.isoformat() if valid_until else None,
        "weekdays": weekdays,
        "min_children": min_children,
        "child_age_min": age_min,
        "child_age_max": age_max,
        "requires_entitlement": requires_entitlement,
        "limit_count": limit_count,
        "limit_period": limit_period,
        "total_quota": total_quota,
        "max_quantity": max_quantity,
        "location_ids": location_ids,
    }


def format_money(cents: int, locale: str | None = None) -> str:
    """Cents as the form shows them again: 5,50 in German, 5.50 in English (the form accepts both)."""
    separator = "," if (locale or i18n.current_locale()) == DEFAULT_LANGUAGE else "."
    return f"{cents // 100}{separator}{cents % 100:02d}"


def form_of(content: Mapping[str, Any]) -> dict[str, str]:
    """The form fields that ``read_benefit`` turns back into ``content``: the edit form filled in."""
    form: dict[str, str] = {}
    for key in ("title", "description", "conditions"):
        for language, text in (content.get(key) or {}).items():
            form[f"{key}-{language}"] = text
    form["category"] = content.get("category") or ""
    form["kind"] = content.get("kind") or ""
    value = content.get("value")
    if value is not None:
        form["value"] = format_money(value) if content.get("kind") in MONEY_KINDS else str(value)
    for location_id in content.get("location_ids") or []:
        form[LOCATION_PREFIX + str(location_id)] = "on"
    for key in ("valid_from", "valid_until"):
        form[key] = str(content.get(key) or "")
    for index in weekdays_of(int(content.get("weekdays") or ALL_WEEKDAYS)):
        form[WEEKDAY_PREFIX + list(WEEKDAYS)[index]] = "on"
    for key in ("min_children", "child_age_min", "child_age_max", "limit_count", "total_quota", "max_quantity"):
        number = content.get(key)
        form[key] = "" if number is None else str(number)
    form["limit_period"] = content.get("limit_period") or ""
    if content.get("requires_entitlement"):
        form["requires_entitlement"] = "on"
    return form


def new_form(locations: Sequence[LocationChoice], category: str | None) -> dict[str, str]:
    """A new benefit's form: every weekday, one at a time, the partner's category, its only location."""
    form = {WEEKDAY_PREFIX + code: "on" for code in WEEKDAYS}
    form.update({"min_children": "0", "max_quantity": "1", "kind": BenefitKind.PERCENT_OFF.value})
    form["category"] = category if category in CATEGORIES else ""
    if len(locations) == 1:
        form[LOCATION_PREFIX + str(locations[0].id)] = "on"
    return form


# What pages show ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationChoice:
    id: uuid.UUID
    name: str
    address: str


@dataclass(frozen=True)
class BenefitRow:
    id: uuid.UUID
    title: str
    status: str
    offer: str
    category: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    has_pending: bool
    moderation_reason: str | None
    updated_at: dt.datetime

    @property
    def can_edit(self) -> bool:
        return self.status in EDITABLE_IN_PLACE | EDITABLE_BY_CHANGE

    @property
    def can_submit(self) -> bool:
        return self.status in SUBMITTABLE

    @property
    def can_withdraw(self) -> bool:
        return self.status == BenefitStatus.SUBMITTED or (self.status in EDITABLE_BY_CHANGE and self.has_pending)

    @property
    def can_pause(self) -> bool:
        return self.status == BenefitStatus.PUBLISHED

    @property
    def can_resume(self) -> bool:
        return self.status == BenefitStatus.PAUSED

    @property
    def can_archive(self) -> bool:
        return self.status != BenefitStatus.ARCHIVED


@dataclass(frozen=True)
class BenefitPage:
    """The partner's side of its benefits: who it is, where it serves families, and what it may do."""

    partner_id: uuid.UUID
    partner_name: str
    partner_status: str
    partner_category: str | None
    locations: list[LocationChoice]
    languages: list[str]
    can_change: bool


@dataclass(frozen=True)
class BenefitList:
    page: BenefitPage
    benefits: list[BenefitRow]


@dataclass(frozen=True)
class BenefitEdit:
    page: BenefitPage
    benefit: BenefitRow
    form: dict[str, str]


@dataclass(frozen=True)
class BenefitPreview:
    page: BenefitPage
    benefit: BenefitRow
    card: BenefitCard
    # The preview shows a change waiting for review, not what families see now.
    of_pending_change: bool


# Who may do what ------------------------------------------------------------------------------------------------


def _reader(principal: Principal) -> uuid.UUID:
    """The partner whose benefits the principal may read: its own, as owner or cashier, signed in."""
    if principal.is_api_key or principal.role not in PARTNER_ROLES or principal.partner_id is None:
        raise PermissionDenied()
    return principal.partner_id


def _owner(principal: Principal) -> uuid.UUID:
    partner_id = _reader(principal)
    if principal.role != Role.PARTNER_OWNER:
        raise PermissionDenied(N_("Only the owner of the partner account can change benefits."))
    return partner_id


def _partner(session: Session, partner_id: uuid.UUID) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound()
    return partner


def _own_benefit(session: Session, partner_id: uuid.UUID, benefit_id: uuid.UUID, *, lock: bool = False) -> Benefit:
    query = select(Benefit).where(Benefit.id == benefit_id, Benefit.partner_id == partner_id)
    if lock:
        query = query.with_for_update()
    benefit = session.scalar(query)
    if benefit is None:
        raise NotFound()
    return benefit


def _address(location: Location) -> str:
    street = " ".join(part for part in (location.street, location.house_number) if part)
    place = " ".join(part for part in (location.postal_code, location.district) if part)
    return ", ".join(part for part in (street, place) if part)


def _active_locations(session: Session, partner_id: uuid.UUID) -> list[LocationChoice]:
    rows = session.scalars(
        select(Location).where(Location.partner_id == partner_id, Location.is_active).order_by(Location.name)
    ).all()
    return [LocationChoice(row.id, row.name, _address(row)) for row in rows]


def _page(
    session: Session, principal: Principal, partner_id: uuid.UUID, city: City | None, *, with_locations: bool = True
) -> BenefitPage:
    partner = _partner(session, partner_id)
    languages = city.languages if city else ()
    return BenefitPage(
        partner_id=partner.id,
        partner_name=partner.name,
        partner_status=partner.status,
        partner_category=partner.category,
        locations=_active_locations(session, partner_id) if with_locations else [],
        languages=list(dict.fromkeys([DEFAULT_LANGUAGE, *languages])),
        can_change=principal.role == Role.PARTNER_OWNER,
    )


def _row(benefit: Benefit) -> BenefitRow:
    return BenefitRow(
        id=benefit.id,
        title=localized(benefit.title or {}, i18n.current_locale()).text,
        status=benefit.status,
        offer=offer_line(benefit.kind, benefit.value),
        category=benefit.category,
        valid_from=benefit.valid_from,
        valid_until=benefit.valid_until,
        has_pending=benefit.pending is not None,
        moderation_reason=benefit.moderation_reason,
        updated_at=benefit.updated_at,
    )


def benefit_page(session: Session, principal: Principal, city: City) -> BenefitPage:
    """What the new-benefit form needs: the owner's partner, its active locations, the city's languages."""
    partner_id = _owner(principal)
    return _page(session, principal, partner_id, city)


def list_benefits(session: Session, principal: Principal, city: City | None = None) -> BenefitList:
    """The partner's benefits, what still needs the partner first, archived ones last."""
    partner_id = _reader(principal)
    page = _page(session, principal, partner_id, city)
    benefits = session.scalars(
        select(Benefit).where(Benefit.partner_id == partner_id).order_by(Benefit.created_at.desc())
    ).all()
    rows = sorted((_row(b) for b in benefits), key=lambda row: STATUS_ORDER.get(row.status, 9))
    return BenefitList(page, rows)


def _editable_content(session: Session, benefit: Benefit) -> dict[str, Any]:
    """What the partner works on: the pending change, or the benefit as it is."""
    if benefit.pending is not None:
        return dict(benefit.pending)
    return fields.content_of(session, benefit)


def edit_benefit_page(session: Session, principal: Principal, benefit_id: uuid.UUID, city: City) -> BenefitEdit:
    """The edit form of one of the owner's benefits, filled in with what the partner last saved."""
    partner_id = _owner(principal)
    benefit = _own_benefit(session, partner_id, benefit_id)
    return BenefitEdit(
        _page(session, principal, partner_id, city), _row(benefit), form_of(_editable_content(session, benefit))
    )


# Changes ---------------------------------------------------------------------------------------------------------


def _same_title(a: Mapping[str, str] | None, b: Mapping[str, str] | None) -> bool:
    first = " ".join(((a or {}).get(DEFAULT_LANGUAGE) or "").split()).casefold()
    second = " ".join(((b or {}).get(DEFAULT_LANGUAGE) or "").split()).casefold()
    return bool(first) and first == second


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _overlaps(a_from: Any, a_until: Any, b_from: Any, b_until: Any) -> bool:
    start_a, end_a = _as_date(a_from) or dt.date.min, _as_date(a_until) or dt.date.max
    start_b, end_b = _as_date(b_from) or dt.date.min, _as_date(b_until) or dt.date.max
    return start_a <= end_b and start_b <= end_a


def _refuse_overlap(
    session: Session, partner_id: uuid.UUID, content: Mapping[str, Any], exclude: uuid.UUID | None
) -> None:
    """A second benefit of the same title whose dates overlap an active one would show twice to families."""
    others = session.scalars(
        select(Benefit).where(Benefit.partner_id == partner_id, Benefit.status.in_([s.value for s in ACTIVE_STATUSES]))
    ).all()
    for other in others:
        if other.id == exclude:
            continue
        versions: list[Mapping[str, Any]] = [
            {"title": other.title, "valid_from": other.valid_from, "valid_until": other.valid_until}
        ]
        if other.pending is not None:
            versions.append(other.pending)
        for version in versions:
            if _same_title(version.get("title"), content["title"]) and _overlaps(
                version.get("valid_from"), version.get("valid_until"), content["valid_from"], content["valid_until"]
            ):
                raise InvalidInput.one(
                    "valid_from",
                    N_(
                        "You already have a benefit called “%(title)s” in this period. Please change the dates or "
                        "the title, or edit the existing benefit."
                    ),
                    title=content["title"][DEFAULT_LANGUAGE],
                )


def _auto_publishes(city: City, partner: Partner) -> bool:
    return city.auto_publish_benefits and partner.status == PartnerStatus.APPROVED


def _read(
    session: Session,
    partner_id: uuid.UUID,
    form: Mapping[str, str],
    city: City,
    today: dt.date | None,
    current_until: dt.date | None = None,
) -> dict[str, Any]:
    locations = {choice.id for choice in _active_locations(session, partner_id)}
    return read_benefit(
        form, locations=locations, today=today or city.today(), languages=city.languages, current_until=current_until
    )


def create_benefit(
    session: Session,
    principal: Principal,
    form: Mapping[str, str],
    *,
    city: City,
    today: dt.date | None = None,
    meta: RequestMeta | None = None,
) -> Benefit:
    """A new draft of the owner's partner from the benefit form; families see nothing until it is published."""
    partner_id = _owner(principal)
    _partner(session, partner_id)
    content = _read(session, partner_id, form, city, today)
    _refuse_overlap(session, partner_id, content, None)
    benefit = Benefit(partner_id=partner_id, status=BenefitStatus.DRAFT.value, **fields.column_values(content))
    session.add(benefit)
    session.flush()
    fields.apply_content(session, benefit, content)
    audit.record(session, principal, "benefit.created", "benefit", benefit.id, partner_id=partner_id, meta=meta)
    return benefit


def _publish_change(session: Session, benefit: Benefit, content: Mapping[str, Any]) -> None:
    fields.apply_content(session, benefit, content)
    benefit.pending = None
    benefit.submitted_at = None
    benefit.published_at = utcnow()


def update_benefit(
    session: Session,
    principal: Principal,
    benefit_id: uuid.UUID,
    form: Mapping[str, str],
    *,
    city: City,
    today: dt.date | None = None,
    meta: RequestMeta | None = None,
) -> Benefit:
    """Save the edit form.

    A draft, a benefit with changes requested and a rejected one (which becomes a draft again) change in place.
    A published or paused one keeps what families see; the new content waits in ``pending`` for staff (or is
    published at once where the city publishes automatically). Saving what is already published withdraws a
    waiting change. A submitted benefit must be withdrawn first; an archived one has ended.
    """
    partner_id = _owner(principal)
    benefit = _own_benefit(session, partner_id, benefit_id, lock=True)
    status = BenefitStatus(benefit.status)
    if status not in EDITABLE_IN_PLACE | EDITABLE_BY_CHANGE:
        message = (
            N_("The benefit is waiting for review. Withdraw it first to change it.")
            if status == BenefitStatus.SUBMITTED
            else N_("An archived benefit cannot be changed.")
        )
        raise Conflict(message, code="benefit_not_editable")
    content = _read(session, partner_id, form, city, today, current_until=benefit.valid_until)
    _refuse_overlap(session, partner_id, content, benefit.id)
    partner = _partner(session, partner_id)
    action = "benefit.updated"
    if status in EDITABLE_IN_PLACE:
        fields.apply_content(session, benefit, content)
        if status == BenefitStatus.REJECTED:
            benefit.status = BenefitStatus.DRAFT.value
    elif content == fields.content_of(session, benefit):
        if benefit.pending is not None:
            action = "benefit.change_withdrawn"
        benefit.pending = None
        benefit.submitted_at = None
    elif _auto_publishes(city, partner):
        _publish_change(session, benefit, content)
        action = "benefit.change_published"
    else:
        benefit.pending = dict(content)
        benefit.submitted_at = utcnow()
        action = "benefit.change_submitted"
    benefit.updated_at = utcnow()
    audit.record(
        session,
        principal,
        action,
        "benefit",
        benefit.id,
        partner_id=partner_id,
        details={"status": benefit.status},
        meta=meta,
    )
    return benefit


def _refuse_unready(session: Session, benefit: Benefit, today: dt.date) -> None:
    """What may have changed since the draft was saved: its locations closed, its last day passed."""
    active = {
        str(row)
        for row in session.scalars(
            select(Location.id).where(Location.partner_id == benefit.partner_id, Location.is_active)
        )
    }
    if not active.intersection(fields.location_ids(session, benefit.id)):
        raise Conflict(
            N_("The benefit applies at no open location. Please edit it and choose a location."),
            code="benefit_without_location",
        )
    if benefit.valid_until is not None and benefit.valid_until < today:
        raise Conflict(N_("The benefit's last day has passed. Please edit the dates first."), code="benefit_ended")


def submit_benefit(
    session: Session,
    principal: Principal,
    benefit_id: uuid.UUID,
    *,
    city: City,
    today: dt.date | None = None,
    meta: RequestMeta | None = None,
) -> Benefit:
    """Send a draft (or a benefit with changes requested) to moderation, or publish it at once where the city
    publishes automatically and the partner is approved. A partner not yet approved may submit: staff decide
    once they have approved the partner."""
    partner_id = _owner(principal)
    benefit = _own_benefit(session, partner_id, benefit_id, lock=True)
    partner = _partner(session, partner_id)
    status = BenefitStatus(benefit.status)
    now = utcnow()
    if status in EDITABLE_BY_CHANGE and benefit.pending is not None and _auto_publishes(city, partner):
        _publish_change(session, benefit, benefit.pending)
        action = "benefit.change_published"
    elif status not in SUBMITTABLE:
        raise Conflict(
            N_("Only a draft or a benefit with requested changes can be submitted."), code="benefit_not_submittable"
        )
    else:
        _refuse_unready(session, benefit, today or city.today())
        benefit.submitted_at = now
        if _auto_publishes(city, partner):
            benefit.status = BenefitStatus.PUBLISHED.value
            benefit.published_at = now
            action = "benefit.published"
        else:
            benefit.status = BenefitStatus.SUBMITTED.value
            action = "benefit.submitted"
    benefit.updated_at = now
    audit.record(
        session,
        principal,
        action,
        "benefit",
        benefit.id,
        partner_id=partner_id,
        details={"status": benefit.status},
        meta=meta,
    )
    return benefit


def withdraw_benefit(
    session: Session, principal: Principal, benefit_id: uuid.UUID, *, meta: RequestMeta | None = None
) -> Benefit:
    """Take a submitted benefit back to a draft, or drop the change to a published one that waits for review."""
    partner_id = _owner(principal)
    benefit = _own_benefit(session, partner_id, benefit_id, lock=True)
    status = BenefitStatus(benefit.status)
    if status == BenefitStatus.SUBMITTED:
        benefit.status = BenefitStatus.DRAFT.value
        action = "benefit.withdrawn"
    elif status in EDITABLE_BY_CHANGE and benefit.pending is not None:
        benefit.pending = None
        action = "benefit.change_withdrawn"
    else:
        raise Conflict(N_("Nothing of this benefit is waiting for review."), code="benefit_not_withdrawable")
    benefit.submitted_at = None
    benefit.updated_at = utcnow()
    audit.record(
        session,
        principal,
        action,
        "benefit",
        benefit.id,
        partner_id=partner_id,
        details={"status": benefit.status},
        meta=meta,
    )
    return benefit


@dataclass(frozen=True)
class Switch:
    """A change of a benefit's state that takes effect at once, without moderation."""

    allowed: frozenset[BenefitStatus]
    to: BenefitStatus
    action: str
    refused: str
    code: str
    done: str


SWITCHES: Final[dict[str, Switch]] = {
    # Hide a published benefit from families at once.
    "pause": Switch(
        frozenset({BenefitStatus.PUBLISHED}),
        BenefitStatus.PAUSED,
        "benefit.paused",
        N_("Only a published benefit can be paused."),
        "benefit_not_pausable",
        N_("Paused. Families no longer see the benefit until you resume it."),
    ),
    # Show a paused benefit again, as it was published.
    "resume": Switch(
        frozenset({BenefitStatus.PAUSED}),
        BenefitStatus.PUBLISHED,
        "benefit.resumed",
        N_("Only a paused benefit can be resumed."),
        "benefit_not_resumable",
        N_("Resumed. Families see the benefit again."),
    ),
    # End a benefit for good; it stays for the records of what was redeemed.
    "archive": Switch(
        frozenset(BenefitStatus) - {BenefitStatus.ARCHIVED},
        BenefitStatus.ARCHIVED,
        "benefit.archived",
        N_("The benefit is archived already."),
        "benefit_already_archived",
        N_("Archived. The benefit has ended for good."),
    ),
}


def switch_benefit(
    session: Session, principal: Principal, benefit_id: uuid.UUID, name: str, *, meta: RequestMeta | None = None
) -> Switch:
    """Pause, resume or archive one of the partner's benefits (``name``, a key of :data:`SWITCHES`) at once."""
    switch = SWITCHES.get(name)
    if switch is None:
        raise NotFound()
    partner_id = _owner(principal)
    benefit = _own_benefit(session, partner_id, benefit_id, lock=True)
    if BenefitStatus(benefit.status) not in switch.allowed:
        raise Conflict(switch.refused, code=switch.code)
    now = utcnow()
    before = benefit.status
    benefit.status = switch.to.value
    benefit.updated_at = now
    if switch.to == BenefitStatus.PAUSED:
        benefit.paused_at = now
    elif switch.to == BenefitStatus.PUBLISHED:
        benefit.paused_at = None
    elif switch.to == BenefitStatus.ARCHIVED:
        benefit.pending = None
        benefit.submitted_at = None
    audit.record(
        session,
        principal,
        switch.action,
        "benefit",
        benefit.id,
        partner_id=partner_id,
        details={"from": before, "status": benefit.status},
        meta=meta,
    )
    return switch


# Preview --------------------------------------------------------------------------------------------------------


def location_lines(session: Session, ids: Sequence[str]) -> list[LocationLine]:
    wanted = [uuid.UUID(str(value)) for value in ids]
    if not wanted:
        return []
    rows = session.scalars(select(Location).where(Location.id.in_(wanted)).order_by(Location.name)).all()
    return [LocationLine(row.id, row.name, _address(row), row.district) for row in rows]


def preview(
    session: Session, principal: Principal, benefit_id: uuid.UUID, locale: str, city: City | None = None
) -> BenefitPreview:
    """The benefit as families will see it in ``locale`` (the current gettext language): the draft, or the change
    waiting for review."""
    partner_id = _reader(principal)
    benefit = _own_benefit(session, partner_id, benefit_id)
    partner = _partner(session, partner_id)
    content = _editable_content(session, benefit)
    shown = dict(content)
    for key in fields.DATE_KEYS:
        shown[key] = _as_date(content.get(key))
    card = benefit_card(
        benefit_id=benefit.id,
        partner_id=partner.id,
        partner_name=partner.name,
        fields=shown,
        locations=location_lines(session, content.get("location_ids") or []),
        locale=locale,
    )
    page = _page(session, principal, partner_id, city, with_locations=False)
    return BenefitPreview(page, _row(benefit), card, benefit.pending is not None)
