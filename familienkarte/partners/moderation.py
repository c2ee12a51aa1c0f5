"""Staff work on partners: the queue of partners waiting for a decision, one partner's full record, and the
decisions (approve, reject, ask for changes, suspend, reactivate).

Rules made here:

- The queue lists partners by status (default: ``pending``). Partners whose owner has not confirmed the e-mail
  address yet (``unconfirmed``) are never in the queue: there is nothing to decide before that.
- Each decision starts from given states only (:data:`PARTNER_DECISIONS`); any other state is refused with a
  :class:`~familienkarte.errors.Conflict` whose code names the state needed. The state is checked before the text.
- Rejecting and suspending need a reason, asking for changes a message; approving and reactivating take an
  optional note. Every text is at most :data:`REASON_MAX` characters; it is stored on the partner
  (``status_reason``), written to the audit log and e-mailed to the partner's owners, each in their language.
- Suspending does not touch the partner's benefits or keys: the catalogue shows only benefits of approved partners
  and API keys of suspended partners are refused (``accounts.identity``), so reactivating restores both at once.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.audit import services as audit
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit, BenefitStatus
from familienkarte.benefits.rules import localized
from familienkarte.city import City
from familienkarte.db import is_postgresql, sqlite_write_lock, utcnow
from familienkarte.errors import N_, Conflict, InvalidInput, NotFound
from familienkarte.mail.services import queue_email
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.partners.vocabulary import ACCESSIBILITY_FEATURES, WEEKDAYS

REASON_MAX: Final = 2000
PER_PAGE: Final = 25
AUDIT_ENTRIES_SHOWN: Final = 20
# The queue's filters: every status staff decide on, and all of them together.
QUEUE_FILTERS: Final = (*(s.value for s in PartnerStatus if s is not PartnerStatus.UNCONFIRMED), "all")
DEFAULT_FILTER: Final = PartnerStatus.PENDING.value

PARTNER_STATUS_LABELS: Final[dict[str, str]] = {
    PartnerStatus.UNCONFIRMED.value: N_("E-mail address not confirmed yet"),
    PartnerStatus.PENDING.value: N_("Waiting for approval"),
    PartnerStatus.CHANGES_REQUESTED.value: N_("Changes requested"),
    PartnerStatus.APPROVED.value: N_("Approved"),
    PartnerStatus.REJECTED.value: N_("Rejected"),
    PartnerStatus.SUSPENDED.value: N_("Suspended"),
    "all": N_("All"),
}
BENEFIT_STATUS_LABELS: Final[dict[str, str]] = {
    BenefitStatus.DRAFT.value: N_("Draft"),
    BenefitStatus.SUBMITTED.value: N_("Waiting for moderation"),
    BenefitStatus.CHANGES_REQUESTED.value: N_("Changes requested"),
    BenefitStatus.PUBLISHED.value: N_("Published"),
    BenefitStatus.REJECTED.value: N_("Rejected"),
    BenefitStatus.PAUSED.value: N_("Paused"),
    BenefitStatus.ARCHIVED.value: N_("Archived"),
}
ROLE_LABELS: Final[dict[str, str]] = {Role.PARTNER_OWNER.value: N_("Owner"), Role.CASHIER.value: N_("Cashier")}


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    message = N_("There is no such partner.")


class DecisionNotFound(NotFound):
    code = "decision_not_found"
    message = N_("This decision does not exist.")


class PartnerNotPending(Conflict):
    code = "partner_not_pending"
    message = N_("Only a partner waiting for approval can be approved or asked for changes.")


class PartnerNotUndecided(Conflict):
    code = "partner_not_undecided"
    message = N_("Only a partner waiting for approval or for its changes can be rejected.")


class PartnerNotApproved(Conflict):
    code = "partner_not_approved"
    message = N_("Only an approved partner can be suspended.")


class PartnerNotSuspended(Conflict):
    code = "partner_not_suspended"
    message = N_("Only a suspended partner can be reactivated.")


# Reading the text of a decision ---------------------------------------------------------------------------------


def read_text(raw: object, field: str, *, required: bool, missing: str) -> str:
    """A reason, message or note from staff: ``missing`` when required and empty, at most :data:`REASON_MAX`
    characters, no control characters. Line ends are normalised."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        if required:
            raise InvalidInput.one(field, missing)
        return ""
    if len(text) > REASON_MAX:
        raise InvalidInput.one(field, N_("Please use at most %(max)s characters here."), max=REASON_MAX)
    if any(unicodedata.category(char) == "Cc" and char not in "\r\n\t" for char in text):
        raise InvalidInput.one(field, N_("This field contains characters that cannot be used."))
    return text.replace("\r\n", "\n")


# E-mail to the partner ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    locale: str


def owner_recipients(session: Session, partner: Partner) -> list[Recipient]:
    """The partner's active owners, each with their language (German when they chose none); the partner's contact
    address in German when it has no owner account."""
    owners = session.scalars(
        select(User)
        .where(User.partner_id == partner.id, User.role == Role.PARTNER_OWNER.value, User.is_active.is_(True))
        .order_by(User.created_at, User.id)
    ).all()
    recipients = [Recipient(u.email, u.display_name, u.locale or i18n.DEFAULT_LOCALE) for u in owners if u.email]
    if not recipients and partner.contact_email:
        recipients.append(Recipient(partner.contact_email, "", i18n.DEFAULT_LOCALE))
    return recipients


# Subject and body for one recipient; called with the recipient's language active.
PartnerMailText = Callable[[Recipient], tuple[str, str]]


def mail_owners(session: Session, partner: Partner, text: PartnerMailText) -> int:
    """Queue one e-mail to each owner in their own language; returns how many."""
    sent = 0
    for recipient in owner_recipients(session, partner):
        with i18n.use_locale(recipient.locale):
            subject, body = text(recipient)
        queue_email(session, to=recipient.email, subject=subject, body_text=body)
        sent += 1
    return sent


def greeting(recipient: Recipient) -> str:
    if recipient.name:
        return i18n.gettext(N_("Hello %(name)s,"), name=recipient.name)
    return i18n.gettext(N_("Hello,"))


# The queue ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerRow:
    id: uuid.UUID
    name: str
    status: str
    category: str | None
    registered_at: dt.datetime
    status_changed_at: dt.datetime | None
    locations: int
    benefits_waiting: int


@dataclass(frozen=True)
class PartnerQueue:
    status: str
    rows: list[PartnerRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


def _benefit_waiting() -> Any:
    return or_(Benefit.status == BenefitStatus.SUBMITTED.value, has_pending_change())


def has_pending_change() -> Any:
    """Published or paused with a change waiting. A cleared change may be stored as SQL NULL or JSON null."""
    return (
        Benefit.status.in_([BenefitStatus.PUBLISHED.value, BenefitStatus.PAUSED.value])
        & Benefit.pending.is_not(None)
        & (cast(Benefit.pending, Text) != "null")
    )


def partner_queue(
    session: Session, status: str | None = None, page: int = 1, *, per_page: int = PER_PAGE
) -> PartnerQueue:
    """Partners in one status (default ``pending``), the longest waiting first; ``all``: every confirmed one."""
    status = status or DEFAULT_FILTER
    if status not in QUEUE_FILTERS:
        raise InvalidInput.one("status", N_("Please choose one of the listed states."))
    query = select(Partner)
    if status == "all":
        query = query.where(Partner.status != PartnerStatus.UNCONFIRMED.value)
    else:
        query = query.where(Partner.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    since = func.coalesce(Partner.status_changed_at, Partner.created_at)
    partners = session.scalars(
        query.order_by(since, Partner.name, Partner.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    ids = [p.id for p in partners]
    locations: dict[uuid.UUID, int] = dict(
        session.execute(
            select(Location.partner_id, func.count())
            .where(Location.partner_id.in_(ids), Location.is_active.is_(True))
            .group_by(Location.partner_id)
        ).all()
    )
    waiting: dict[uuid.UUID, int] = dict(
        session.execute(
            select(Benefit.partner_id, func.count())
            .where(Benefit.partner_id.in_(ids), _benefit_waiting())
            .group_by(Benefit.partner_id)
        ).all()
    )
    rows = [
        PartnerRow(
            id=p.id,
            name=p.name,
            status=p.status,
            category=p.category,
            registered_at=p.created_at,
            status_changed_at=p.status_changed_at,
            locations=locations.get(p.id, 0),
            benefits_waiting=waiting.get(p.id, 0),
        )
        for p in partners
    ]
    return PartnerQueue(status, rows, total, page, per_page)


# One partner ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageText:
    language: str
    language_name: str
    text: str


@dataclass(frozen=True)
class HoursLine:
    weekday: str
    hours: str | None  # None: closed


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
    phone: str | None
    is_active: bool
    hours: list[HoursLine]
    hours_note: list[LanguageText]
    accessibility: list[str]
    accessibility_note: list[LanguageText]

    @property
    def address(self) -> str:
        return address_of(self.street, self.house_number, self.postal_code)


@dataclass(frozen=True)
class PartnerPerson:
    name: str
    email: str
    role: str
    is_active: bool
    email_confirmed: bool


@dataclass(frozen=True)
class PartnerBenefitRow:
    id: uuid.UUID
    title: str
    status: str
    change_waiting: bool
    submitted_at: dt.datetime | None


@dataclass(frozen=True)
class PartnerAuditRow:
    at: dt.datetime
    actor: str
    action: str
    reason: str | None


@dataclass(frozen=True)
class PartnerDetail:
    id: uuid.UUID
    name: str
    status: str
    legal_form: str | None
    website: str | None
    category: str | None
    contact_email: str | None
    phone: str | None
    has_logo: bool
    terms_version: str | None
    terms_accepted_at: dt.datetime | None
    registered_at: dt.datetime
    status_reason: str | None
    status_changed_at: dt.datetime | None
    status_changed_by: str | None
    description: list[LanguageText]
    locations: list[LocationView]
    people: list[PartnerPerson]
    benefits: list[PartnerBenefitRow]
    audit: list[PartnerAuditRow]

    @property
    def decisions(self) -> list[str]:
        """The decisions possible in the partner's status, in the order the page offers them."""
        return [name for name, d in PARTNER_DECISIONS.items() if PartnerStatus(self.status) in d.from_statuses]


def address_of(street: str | None, house_number: str | None, postal_code: str | None) -> str:
    first = " ".join(part for part in (street, house_number) if part)
    return ", ".join(part for part in (first, postal_code) if part)


def language_name(code: str) -> str:
    """The name of a language in the current language (any code: partners may write in more languages)."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(code).get_display_name(i18n.current_locale())
    except (UnknownLocaleError, ValueError, TypeError):
        return code
    return name or code


def texts_by_language(texts: Mapping[str, Any] | None) -> list[LanguageText]:
    """Texts per language, German first, then by code; empty ones left out."""
    items = [(k, v) for k, v in (texts or {}).items() if isinstance(v, str) and v.strip()]
    items.sort(key=lambda item: (item[0] != i18n.DEFAULT_LOCALE, item[0]))
    return [LanguageText(code, language_name(code), text) for code, text in items]


def hours_lines(opening_hours: Mapping[str, Any] | None) -> list[HoursLine]:
    """One line per weekday, Monday first: the intervals, or None when closed."""
    lines = []
    for code, label in WEEKDAYS.items():
        intervals = (opening_hours or {}).get(code) or []
        parts = [
            f"{item[0]}–{item[1]}"
            for item in intervals
            if isinstance(item, list | tuple) and len(item) == 2 and all(isinstance(v, str) for v in item)
        ]
        lines.append(HoursLine(label, ", ".join(parts) or None))
    return lines


def _get_partner(session: Session, partner_id: uuid.UUID) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise PartnerNotFound()
    return partner


def user_names(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.email).where(User.id.in_(wanted)))
    return {row.id: row.display_name or row.email for row in rows}


def partner_detail(session: Session, partner_id: uuid.UUID, *, locale: str = i18n.DEFAULT_LOCALE) -> PartnerDetail:
    """The partner's profile, texts per language, locations, people, benefits and latest audit entries, with
    labels and benefit titles in ``locale``."""
    with i18n.use_locale(locale):
        return _partner_detail(session, partner_id, locale)


def _partner_detail(session: Session, partner_id: uuid.UUID, locale: str) -> PartnerDetail:
    partner = _get_partner(session, partner_id)
    locations = session.scalars(
        select(Location)
        .where(Location.partner_id == partner.id)
        .order_by(Location.is_active.desc(), Location.name, Location.id)
    ).all()
    people = session.scalars(
        select(User).where(User.partner_id == partner.id).order_by(User.role.desc(), User.display_name, User.email)
    ).all()
    benefits = session.scalars(
        select(Benefit).where(Benefit.partner_id == partner.id).order_by(Benefit.created_at, Benefit.id)
    ).all()
    entries = session.scalars(
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.partner_id == partner.id,
                (AuditEntry.object_type == "partner") & (AuditEntry.object_id == str(partner.id)),
            )
        )
        .order_by(AuditEntry.id.desc())
        .limit(AUDIT_ENTRIES_SHOWN)
    ).all()
    names = user_names(session, [partner.status_changed_by_id, *(e.actor_user_id for e in entries)])

    def actor(entry: AuditEntry) -> str:
        return names.get(entry.actor_user_id, entry.actor_role) if entry.actor_user_id else entry.actor_role

    return PartnerDetail(
        id=partner.id,
        name=partner.name,
        status=partner.status,
        legal_form=partner.legal_form,
        website=partner.website,
        category=partner.category,
        contact_email=partner.contact_email,
        phone=partner.phone,
        has_logo=partner.logo is not None,
        terms_version=partner.terms_version,
        terms_accepted_at=partner.terms_accepted_at,
        registered_at=partner.created_at,
        status_reason=partner.status_reason,
        status_changed_at=partner.status_changed_at,
        status_changed_by=names.get(partner.status_changed_by_id) if partner.status_changed_by_id else None,
        description=texts_by_language(partner.description),
        locations=[
            LocationView(
                id=loc.id,
                name=loc.name,
                street=loc.street,
                house_number=loc.house_number,
                postal_code=loc.postal_code,
                district=loc.district,
                latitude=loc.latitude,
                longitude=loc.longitude,
                phone=loc.phone,
                is_active=loc.is_active,
                hours=hours_lines(loc.opening_hours),
                hours_note=texts_by_language(loc.hours_note),
                accessibility=[ACCESSIBILITY_FEATURES.get(code, code) for code in loc.accessibility or []],
                accessibility_note=texts_by_language(loc.accessibility_note),
            )
            for loc in locations
        ],
        people=[
            PartnerPerson(u.display_name, u.email, u.role, u.is_active, u.email_confirmed_at is not None)
            for u in people
        ],
        benefits=[
            PartnerBenefitRow(
                id=b.id,
                title=localized(b.title or {}, locale).text,
                status=b.status,
                change_waiting=b.pending is not None and b.status in _CHANGEABLE,
                submitted_at=b.submitted_at,
            )
            for b in benefits
        ],
        audit=[PartnerAuditRow(e.at, actor(e), e.action, (e.details or {}).get("reason")) for e in entries],
    )


_CHANGEABLE: Final = (BenefitStatus.PUBLISHED.value, BenefitStatus.PAUSED.value)


def partner_logo(session: Session, partner_id: uuid.UUID) -> tuple[bytes, str]:
    """The partner's logo as stored (re-encoded when uploaded) and its media type, for staff to judge it."""
    row = session.execute(select(Partner.logo, Partner.logo_type).where(Partner.id == partner_id)).one_or_none()
    if row is None or row.logo is None or not row.logo_type:
        raise NotFound()
    return bytes(row.logo), row.logo_type


# Decisions ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerDecision:
    """One of staff's decisions on a partner: the states it starts from, the field with its text, what it tells."""

    action: str
    from_statuses: frozenset[PartnerStatus]
    to_status: PartnerStatus
    refused: type[Conflict]
    # The form field with the text for the partner, and the message when it is required and missing.
    field: str
    missing: str | None
    subject: str
    body: str

    @property
    def text_required(self) -> bool:
        return self.missing is not None


_CLOSING: Final = N_("If you have questions, please write to %(contact)s.\n\nYour family card team of %(city)s\n")

APPROVE: Final = PartnerDecision(
    action="partner.approved",
    from_statuses=frozenset({PartnerStatus.PENDING}),
    to_status=PartnerStatus.APPROVED,
    refused=PartnerNotPending,
    field="reason",
    missing=None,
    subject=N_("%(partner)s is now a partner of the family card"),
    body=N_(
        "%(greeting)s\n\nwe have approved %(partner)s as a partner of the family card of %(city)s. You can now "
        "add your benefits in the partner portal; once we have checked them, families will find them in the "
        "catalogue.\n\n%(note)s%(portal)s\n\n"
    ),
)
REJECT: Final = PartnerDecision(
    action="partner.rejected",
    from_statuses=frozenset({PartnerStatus.PENDING, PartnerStatus.CHANGES_REQUESTED}),
    to_status=PartnerStatus.REJECTED,
    refused=PartnerNotUndecided,
    field="reason",
    missing=N_("Please give the reason for this decision."),
    subject=N_("Your registration of %(partner)s has been declined"),
    body=N_(
        "%(greeting)s\n\nwe are sorry: we cannot accept %(partner)s as a partner of the family card of "
        "%(city)s.\n\nReason: %(reason)s\n\n"
    ),
)
REQUEST_CHANGES: Final = PartnerDecision(
    action="partner.changes_requested",
    from_statuses=frozenset({PartnerStatus.PENDING}),
    to_status=PartnerStatus.CHANGES_REQUESTED,
    refused=PartnerNotPending,
    field="message",
    missing=N_("Please write what the partner should change."),
    subject=N_("Please complete the registration of %(partner)s"),
    body=N_(
        "%(greeting)s\n\nthank you for registering %(partner)s for the family card of %(city)s. Before we can "
        "approve it, please change the following:\n\n%(reason)s\n\nPlease make the changes in the partner portal "
        "and send the registration again: %(portal)s\n\n"
    ),
)
SUSPEND: Final = PartnerDecision(
    action="partner.suspended",
    from_statuses=frozenset({PartnerStatus.APPROVED}),
    to_status=PartnerStatus.SUSPENDED,
    refused=PartnerNotApproved,
    field="reason",
    missing=N_("Please give the reason for this decision."),
    subject=N_("%(partner)s has been suspended from the family card"),
    body=N_(
        "%(greeting)s\n\nwe have suspended %(partner)s from the family card of %(city)s. Until it is "
        "reactivated, families do not see your benefits, and cards can no longer be checked or redeemed with "
        "your API keys.\n\nReason: %(reason)s\n\n"
    ),
)
REACTIVATE: Final = PartnerDecision(
    action="partner.reactivated",
    from_statuses=frozenset({PartnerStatus.SUSPENDED}),
    to_status=PartnerStatus.APPROVED,
    refused=PartnerNotSuspended,
    field="reason",
    missing=None,
    subject=N_("%(partner)s is a partner of the family card again"),
    body=N_(
        "%(greeting)s\n\nwe have reactivated %(partner)s for the family card of %(city)s. Families see your "
        "published benefits again, and your API keys work again.\n\n%(note)s%(portal)s\n\n"
    ),
)
# By the name in the page's address (``/staff/partner-queue/{id}/{name}``).
PARTNER_DECISIONS: Final[dict[str, PartnerDecision]] = {
    "approve": APPROVE,
    "request-changes": REQUEST_CHANGES,
    "reject": REJECT,
    "suspend": SUSPEND,
    "reactivate": REACTIVATE,
}


def _lock_partner(session: Session, partner_id: uuid.UUID) -> Partner:
    if not is_postgresql(session):
        sqlite_write_lock(session, Partner)
    partner = session.scalar(
        select(Partner).where(Partner.id == partner_id).with_for_update().execution_options(populate_existing=True)
    )
    if partner is None:
        raise PartnerNotFound()
    return partner


def decide_partner(
    session: Session,
    city: City,
    principal: Principal,
    partner_id: uuid.UUID,
    decision_name: str,
    form: Mapping[str, Any],
    *,
    base_url: str,
    now: dt.datetime | None = None,
    meta: RequestMeta | None = None,
) -> PartnerDecision:
    """Make one decision of :data:`PARTNER_DECISIONS` on a partner, with the text read from ``form``.

    The partner's state is checked before the text. The partner's status, reason and who decided are stored; an
    audit entry and an e-mail to each owner (in their language) are added to the caller's transaction.
    """
    decision = PARTNER_DECISIONS.get(decision_name)
    if decision is None:
        raise DecisionNotFound()
    partner = _lock_partner(session, partner_id)
    previous = partner.status
    if PartnerStatus(previous) not in decision.from_statuses:
        raise decision.refused()
    text = read_text(
        form.get(decision.field),
        decision.field,
        required=decision.text_required,
        missing=decision.missing or "",
    )
    now = now or utcnow()
    partner.status = decision.to_status.value
    partner.status_reason = text or None
    partner.status_changed_at = now
    partner.status_changed_by_id = principal.user_id
    audit.record(
        session,
        principal,
        decision.action,
        "partner",
        partner.id,
        partner_id=partner.id,
        details={"reason": text or None, "from": previous, "to": partner.status},
        meta=meta,
    )
    portal = f"{base_url.rstrip('/')}/partner"

    def mail(recipient: Recipient) -> tuple[str, str]:
        note = i18n.gettext(N_("Note from the city: %(note)s"), note=text) + "\n\n" if text else ""
        body = i18n.gettext(
            decision.body,
            greeting=greeting(recipient),
            partner=partner.name,
            city=city.name,
            reason=text,
            note=note,
            portal=portal,
        )
        closing = i18n.gettext(_CLOSING, contact=city.contact.email, city=city.name)
        return i18n.gettext(decision.subject, partner=partner.name), body + closing

    mail_owners(session, partner, mail)
    return decision


def approve_partner(
    session: Session, city: City, principal: Principal, partner_id: uuid.UUID, note: str = "", **kwargs: Any
) -> PartnerDecision:
    """pending -> approved; the optional note goes into the e-mail."""
    return decide_partner(session, city, principal, partner_id, "approve", {"reason": note}, **kwargs)


def reject_partner(
    session: Session, city: City, principal: Principal, partner_id: uuid.UUID, reason: str, **kwargs: Any
) -> PartnerDecision:
    """pending or changes_requested -> rejected, with the reason."""
    return decide_partner(session, city, principal, partner_id, "reject", {"reason": reason}, **kwargs)


def request_partner_changes(
    session: Session, city: City, principal: Principal, partner_id: uuid.UUID, message: str, **kwargs: Any
) -> PartnerDecision:
    """pending -> changes_requested, with what to change; the partner edits and sends its registration again."""
    return decide_partner(session, city, principal, partner_id, "request-changes", {"message": message}, **kwargs)


def suspend_partner(
    session: Session, city: City, principal: Principal, partner_id: uuid.UUID, reason: str, **kwargs: Any
) -> PartnerDecision:
    """approved -> suspended, with the reason: its benefits leave the catalogue and its API keys stop working."""
    return decide_partner(session, city, principal, partner_id, "suspend", {"reason": reason}, **kwargs)


def reactivate_partner(
    session: Session, city: City, principal: Principal, partner_id: uuid.UUID, note: str = "", **kwargs: Any
) -> PartnerDecision:
    """suspended -> approved; the optional note goes into the e-mail."""
    return decide_partner(session, city, principal, partner_id, "reactivate", {"reason": note}, **kwargs)
