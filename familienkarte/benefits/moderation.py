"""Staff moderation of benefits: the queue, one benefit as families would see it (with what a change alters), and
the decisions (approve, reject, ask for changes).

Rules made here:

- The queue holds new benefits (``submitted``) and changes to published or paused ones (``pending`` set), the
  longest waiting first (``submitted_at``).
- Approving a new benefit publishes it (``published_at``); approving a change writes the pending content into the
  benefit (``fields.apply_content``) and clears it. Either needs an approved partner: a benefit of a partner that
  is waiting, rejected or suspended is refused with a Conflict naming the partner.
- Rejecting a new benefit ends it as ``rejected`` (the partner may edit it, which makes it a draft again);
  rejecting a change clears it and leaves the benefit as families know it. Both need a reason.
- Asking for changes sends a new benefit back (``changes_requested``) with a message. A change to a published
  benefit cannot be sent back (the published content stays what it is): it is rejected with a reason instead.
- Each decision stores when and by whom (``moderated_at``, ``moderated_by_id``) and the text the partner reads
  (``moderation_reason``), writes an audit entry and e-mails the partner's owners, each in their language.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, null, or_, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.audit import services as audit
from familienkarte.benefits import fields
from familienkarte.benefits.models import ALL_WEEKDAYS, Benefit, BenefitKind, BenefitStatus
from familienkarte.benefits.rules import LocalText, localized, weekdays_of
from familienkarte.benefits.views import KIND_LABELS, PERIOD_LABELS, BenefitCard, LocationLine, benefit_card
from familienkarte.city import City
from familienkarte.db import is_postgresql, sqlite_write_lock, utcnow
from familienkarte.errors import N_, Conflict, NotFound
from familienkarte.partners.models import Location, Partner, PartnerStatus
from familienkarte.partners.moderation import (
    Recipient,
    address_of,
    greeting,
    has_pending_change,
    language_name,
    mail_owners,
    read_text,
    user_names,
)
from familienkarte.partners.vocabulary import CATEGORIES, WEEKDAYS

PER_PAGE: Final = 25
_CHANGEABLE: Final = (BenefitStatus.PUBLISHED.value, BenefitStatus.PAUSED.value)

FIELD_LABELS: Final[dict[str, str]] = {
    "category": N_("Category"),
    "kind": N_("Type of benefit"),
    "value": N_("Value"),
    "title": N_("Title"),
    "description": N_("Description"),
    "conditions": N_("Conditions"),
    "valid_from": N_("Valid from"),
    "valid_until": N_("Valid until"),
    "weekdays": N_("Weekdays"),
    "min_children": N_("Minimum number of children"),
    "child_age_min": N_("Youngest child age"),
    "child_age_max": N_("Oldest child age"),
    "requires_entitlement": N_("Only with the additional entitlement"),
    "limit_count": N_("Uses per card"),
    "limit_period": N_("Per period"),
    "total_quota": N_("Total quota"),
    "max_quantity": N_("At most at once"),
    "location_ids": N_("Locations"),
}
TEXT_KEYS: Final = ("title", "description", "conditions")


class BenefitNotFound(NotFound):
    code = "benefit_not_found"
    message = N_("There is no such benefit.")


class BenefitNotWaiting(Conflict):
    code = "benefit_not_submitted"
    message = N_("This benefit is not waiting for moderation.")


class ChangeCannotBeSentBack(Conflict):
    code = "benefit_change_reject_instead"
    message = N_(
        "A change to a published benefit cannot be sent back for changes. Reject the change with a reason; the "
        "partner can then submit a new one."
    )


class BenefitPartnerNotApproved(Conflict):
    code = "partner_not_approved"
    message = N_("The partner %(partner)s is not approved, so its benefits cannot be published.")


def is_change(benefit: Benefit) -> bool:
    return benefit.status in _CHANGEABLE and benefit.pending is not None


# The queue ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenefitQueueRow:
    id: uuid.UUID
    title: LocalText
    category: str
    status: str
    is_change: bool
    submitted_at: dt.datetime | None
    partner_id: uuid.UUID
    partner_name: str
    partner_status: str

    @property
    def partner_approved(self) -> bool:
        return self.partner_status == PartnerStatus.APPROVED.value


@dataclass(frozen=True)
class BenefitQueue:
    rows: list[BenefitQueueRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.per_page - 1) // self.per_page)


def benefit_queue(
    session: Session, page: int = 1, *, locale: str = i18n.DEFAULT_LOCALE, per_page: int = PER_PAGE
) -> BenefitQueue:
    """New benefits and changes waiting for moderation, the longest waiting first, titles in ``locale`` (a
    change shows its new title)."""
    waiting = or_(Benefit.status == BenefitStatus.SUBMITTED.value, has_pending_change())
    total = session.scalar(select(func.count()).select_from(Benefit).where(waiting)) or 0
    page = max(1, page)
    rows = session.execute(
        select(Benefit, Partner.name, Partner.status)
        .join(Partner, Partner.id == Benefit.partner_id)
        .where(waiting)
        .order_by(Benefit.submitted_at.is_(None), Benefit.submitted_at, Benefit.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    result = []
    for benefit, partner_name, partner_status in rows:
        change = is_change(benefit)
        shown = benefit.pending if change and isinstance(benefit.pending, dict) else {}
        result.append(
            BenefitQueueRow(
                id=benefit.id,
                title=localized(shown.get("title") or benefit.title or {}, locale),
                category=str(shown.get("category") or benefit.category),
                status=benefit.status,
                is_change=change,
                submitted_at=benefit.submitted_at,
                partner_id=benefit.partner_id,
                partner_name=partner_name,
                partner_status=partner_status,
            )
        )
    return BenefitQueue(result, total, page, per_page)


# One benefit ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One difference between the published content and the change: a field (a text in one language)."""

    key: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class BenefitReview:
    id: uuid.UUID
    status: str
    is_change: bool
    submitted_at: dt.datetime | None
    published_at: dt.datetime | None
    partner_id: uuid.UUID
    partner_name: str
    partner_status: str
    # What families would see once approved: the new benefit, or the benefit with the change applied.
    card: BenefitCard
    # For a change: what families see now, and what differs.
    published_card: BenefitCard | None
    changes: list[FieldChange]
    moderation_reason: str | None
    moderated_at: dt.datetime | None
    moderated_by: str | None

    @property
    def partner_approved(self) -> bool:
        return self.partner_status == PartnerStatus.APPROVED.value

    @property
    def waiting(self) -> bool:
        return self.status == BenefitStatus.SUBMITTED.value or self.is_change

    @property
    def decisions(self) -> list[str]:
        if self.status == BenefitStatus.SUBMITTED.value:
            return ["approve", "request-changes", "reject"]
        if self.is_change:
            return ["approve", "reject"]
        return []


def _get_benefit(session: Session, benefit_id: uuid.UUID) -> Benefit:
    benefit = session.get(Benefit, benefit_id)
    if benefit is None:
        raise BenefitNotFound()
    return benefit


def submitted_content(session: Session, benefit: Benefit) -> dict[str, Any]:
    """What the partner submitted: the columns for a new benefit, the pending content for a change (any key the
    change lacks keeps its published value)."""
    content = fields.content_of(session, benefit)
    if is_change(benefit) and isinstance(benefit.pending, dict):
        content.update({key: benefit.pending[key] for key in fields.CONTENT_KEYS if key in benefit.pending})
        content["location_ids"] = sorted(str(i) for i in content["location_ids"] or [])
    return content


def _locations(session: Session, partner_id: uuid.UUID) -> dict[str, Location]:
    rows = session.scalars(select(Location).where(Location.partner_id == partner_id).order_by(Location.name))
    return {str(row.id): row for row in rows}


def _card(
    benefit: Benefit, partner: Partner, content: Mapping[str, Any], locations: Mapping[str, Location], locale: str
) -> BenefitCard:
    lines = [
        LocationLine(loc.id, loc.name, address_of(loc.street, loc.house_number, loc.postal_code), loc.district)
        for key in content["location_ids"] or []
        if (loc := locations.get(str(key))) is not None
    ]
    return benefit_card(
        benefit_id=benefit.id,
        partner_id=partner.id,
        partner_name=partner.name,
        fields=fields.column_values(content),
        locations=lines,
        locale=locale,
    )


def _shown(key: str, content: Mapping[str, Any], locations: Mapping[str, Location]) -> str:
    """A field's value in words of the current language, for comparing before and after."""
    value = content.get(key)
    if key == "location_ids":
        names = [locations[str(i)].name if str(i) in locations else str(i) for i in value or []]
        return ", ".join(names) or i18n.gettext(N_("none"))
    if value is None or value == "":
        return i18n.gettext(N_("none"))
    if key == "category":
        return i18n.gettext(CATEGORIES.get(str(value), str(value)))
    if key == "kind":
        return i18n.gettext(KIND_LABELS.get(str(value), str(value)))
    if key == "limit_period":
        return i18n.gettext(PERIOD_LABELS.get(str(value), str(value)))
    if key == "value":
        kind = content.get("kind")
        if kind == BenefitKind.PERCENT_OFF.value:
            return i18n.format_percent(int(value))
        if kind in (BenefitKind.AMOUNT_OFF.value, BenefitKind.SPECIAL_PRICE.value):
            return i18n.format_currency(int(value))
        return str(value)
    if key in fields.DATE_KEYS:
        return i18n.format_date(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)))
    if key == "weekdays":
        if int(value) == ALL_WEEKDAYS:
            return i18n.gettext(N_("every day"))
        labels = list(WEEKDAYS.values())
        return ", ".join(i18n.gettext(labels[day]) for day in weekdays_of(int(value)))
    if isinstance(value, bool):
        return i18n.gettext(N_("yes")) if value else i18n.gettext(N_("no"))
    return str(value)


def content_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], locations: Mapping[str, Location]
) -> list[FieldChange]:
    """What differs between two contents, field by field (texts language by language), in the current language."""
    changes = []
    for key in fields.CONTENT_KEYS:
        label = i18n.gettext(FIELD_LABELS[key])
        old, new = before.get(key), after.get(key)
        if key in TEXT_KEYS:
            old_texts, new_texts = old or {}, new or {}
            languages = sorted(set(old_texts) | set(new_texts), key=lambda c: (c != i18n.DEFAULT_LOCALE, c))
            for code in languages:
                if (old_texts.get(code) or "") != (new_texts.get(code) or ""):
                    changes.append(
                        FieldChange(
                            f"{key}.{code}",
                            f"{label} ({language_name(code)})",
                            old_texts.get(code) or i18n.gettext(N_("none")),
                            new_texts.get(code) or i18n.gettext(N_("none")),
                        )
                    )
        elif old != new:
            changes.append(FieldChange(key, label, _shown(key, before, locations), _shown(key, after, locations)))
    return changes


def benefit_review(session: Session, benefit_id: uuid.UUID, locale: str = i18n.DEFAULT_LOCALE) -> BenefitReview:
    """The benefit as families would see it once approved, in ``locale``; for a change also the published
    version and what the change alters."""
    with i18n.use_locale(locale):
        locale = i18n.current_locale()
        benefit = _get_benefit(session, benefit_id)
        partner = session.get(Partner, benefit.partner_id)
        assert partner is not None
        locations = _locations(session, partner.id)
        content = submitted_content(session, benefit)
        change = is_change(benefit)
        published = fields.content_of(session, benefit) if change else None
        names = user_names(session, [benefit.moderated_by_id])
        return BenefitReview(
            id=benefit.id,
            status=benefit.status,
            is_change=change,
            submitted_at=benefit.submitted_at,
            published_at=benefit.published_at,
            partner_id=partner.id,
            partner_name=partner.name,
            partner_status=partner.status,
            card=_card(benefit, partner, content, locations, locale),
            published_card=_card(benefit, partner, published, locations, locale) if published else None,
            changes=content_changes(published, content, locations) if published else [],
            moderation_reason=benefit.moderation_reason,
            moderated_at=benefit.moderated_at,
            moderated_by=names.get(benefit.moderated_by_id) if benefit.moderated_by_id else None,
        )


# Decisions ------------------------------------------------------------------------------------------------------


def _lock_benefit(session: Session, benefit_id: uuid.UUID) -> tuple[Benefit, Partner]:
    if not is_postgresql(session):
        sqlite_write_lock(session, Benefit)
    benefit = session.scalar(
        select(Benefit).where(Benefit.id == benefit_id).with_for_update().execution_options(populate_existing=True)
    )
    if benefit is None:
        raise BenefitNotFound()
    partner = session.get(Partner, benefit.partner_id, populate_existing=True)
    assert partner is not None
    return benefit, partner


_CLOSING: Final = N_(
    "You find your benefits in the partner portal: %(portal)s\n\nIf you have questions, please write to "
    "%(contact)s.\n\nYour family card team of %(city)s\n"
)
_SUBJECTS: Final = {
    "benefit.published": N_("Your benefit “%(title)s” is published"),
    "benefit.change_approved": N_("Your change to the benefit “%(title)s” is published"),
    "benefit.rejected": N_("Your benefit “%(title)s” has been declined"),
    "benefit.change_rejected": N_("Your change to the benefit “%(title)s” has been declined"),
    "benefit.changes_requested": N_("Please revise your benefit “%(title)s”"),
}
_BODIES: Final = {
    "benefit.published": N_(
        "%(greeting)s\n\nwe have checked your benefit “%(title)s” of %(partner)s: it is published, and families "
        "with the family card of %(city)s now find it in the catalogue.\n\n"
    ),
    "benefit.change_approved": N_(
        "%(greeting)s\n\nwe have checked your change to the benefit “%(title)s” of %(partner)s: families now see "
        "the benefit as you changed it.\n\n"
    ),
    "benefit.rejected": N_(
        "%(greeting)s\n\nwe cannot publish your benefit “%(title)s” of %(partner)s.\n\nReason: %(reason)s\n\n"
        "You may edit the benefit and submit it again.\n\n"
    ),
    "benefit.change_rejected": N_(
        "%(greeting)s\n\nwe cannot accept your change to the benefit “%(title)s” of %(partner)s. Families keep "
        "seeing the benefit as it was before.\n\nReason: %(reason)s\n\n"
    ),
    "benefit.changes_requested": N_(
        "%(greeting)s\n\nbefore we can publish your benefit “%(title)s” of %(partner)s, please change the "
        "following:\n\n%(reason)s\n\nPlease edit the benefit in the partner portal and submit it again.\n\n"
    ),
}


def _decided(
    session: Session,
    city: City,
    principal: Principal,
    benefit: Benefit,
    partner: Partner,
    action: str,
    text: str,
    titles: Mapping[str, str],
    previous: str,
    *,
    base_url: str,
    now: dt.datetime,
    meta: RequestMeta | None,
) -> None:
    benefit.moderated_at = now
    benefit.moderated_by_id = principal.user_id
    benefit.moderation_reason = text or None
    audit.record(
        session,
        principal,
        action,
        "benefit",
        benefit.id,
        partner_id=partner.id,
        details={
            "reason": text or None,
            "from": previous,
            "to": benefit.status,
            "title": localized(titles, i18n.DEFAULT_LOCALE).text,
        },
        meta=meta,
    )
    portal = f"{base_url.rstrip('/')}/partner"

    def mail(recipient: Recipient) -> tuple[str, str]:
        title = localized(titles, i18n.current_locale()).text
        body = i18n.gettext(
            _BODIES[action],
            greeting=greeting(recipient),
            title=title,
            partner=partner.name,
            city=city.name,
            reason=text,
        )
        closing = i18n.gettext(_CLOSING, portal=portal, contact=city.contact.email, city=city.name)
        return i18n.gettext(_SUBJECTS[action], title=title), body + closing

    mail_owners(session, partner, mail)


def approve_benefit(
    session: Session,
    city: City,
    principal: Principal,
    benefit_id: uuid.UUID,
    *,
    base_url: str,
    now: dt.datetime | None = None,
    meta: RequestMeta | None = None,
) -> str:
    """Publish a submitted benefit, or apply a published one's pending change; returns the audit action."""
    now = now or utcnow()
    benefit, partner = _lock_benefit(session, benefit_id)
    previous = benefit.status
    change = is_change(benefit)
    if previous != BenefitStatus.SUBMITTED.value and not change:
        raise BenefitNotWaiting()
    if partner.status != PartnerStatus.APPROVED.value:
        raise BenefitPartnerNotApproved(partner=partner.name)
    if change:
        content = submitted_content(session, benefit)
        # Only the partner's own locations, whatever the stored change names.
        own = _locations(session, partner.id)
        content["location_ids"] = [i for i in content["location_ids"] if i in own]
        fields.apply_content(session, benefit, content)
        benefit.pending = null()
        action = "benefit.change_approved"
    else:
        benefit.status = BenefitStatus.PUBLISHED.value
        benefit.published_at = now
        action = "benefit.published"
    _decided(
        session,
        city,
        principal,
        benefit,
        partner,
        action,
        "",
        benefit.title or {},
        previous,
        base_url=base_url,
        now=now,
        meta=meta,
    )
    return action


def reject_benefit(
    session: Session,
    city: City,
    principal: Principal,
    benefit_id: uuid.UUID,
    reason: object,
    *,
    base_url: str,
    now: dt.datetime | None = None,
    meta: RequestMeta | None = None,
) -> str:
    """Reject a submitted benefit, or a published one's pending change (the benefit stays as it was)."""
    now = now or utcnow()
    benefit, partner = _lock_benefit(session, benefit_id)
    previous = benefit.status
    change = is_change(benefit)
    if previous != BenefitStatus.SUBMITTED.value and not change:
        raise BenefitNotWaiting()
    text = read_text(reason, "reason", required=True, missing=N_("Please give the reason for this decision."))
    titles = submitted_content(session, benefit)["title"] or {}
    if change:
        benefit.pending = null()
        action = "benefit.change_rejected"
    else:
        benefit.status = BenefitStatus.REJECTED.value
        action = "benefit.rejected"
    _decided(
        session,
        city,
        principal,
        benefit,
        partner,
        action,
        text,
        titles,
        previous,
        base_url=base_url,
        now=now,
        meta=meta,
    )
    return action


def request_benefit_changes(
    session: Session,
    city: City,
    principal: Principal,
    benefit_id: uuid.UUID,
    message: object,
    *,
    base_url: str,
    now: dt.datetime | None = None,
    meta: RequestMeta | None = None,
) -> str:
    """Send a submitted benefit back to the partner with what to change."""
    now = now or utcnow()
    benefit, partner = _lock_benefit(session, benefit_id)
    previous = benefit.status
    if is_change(benefit):
        raise ChangeCannotBeSentBack()
    if previous != BenefitStatus.SUBMITTED.value:
        raise BenefitNotWaiting()
    text = read_text(message, "message", required=True, missing=N_("Please write what the partner should change."))
    benefit.status = BenefitStatus.CHANGES_REQUESTED.value
    _decided(
        session,
        city,
        principal,
        benefit,
        partner,
        "benefit.changes_requested",
        text,
        benefit.title or {},
        previous,
        base_url=base_url,
        now=now,
        meta=meta,
    )
    return "benefit.changes_requested"


_Decide = Callable[..., str]
# By the name in the page's address (``/staff/benefit-queue/{id}/{name}``): the service and the form field with
# the text for the partner, if any.
BENEFIT_DECISIONS: Final[dict[str, tuple[_Decide, str | None]]] = {
    "approve": (approve_benefit, None),
    "reject": (reject_benefit, "reason"),
    "request-changes": (request_benefit_changes, "message"),
}


def decide_benefit(
    session: Session,
    city: City,
    principal: Principal,
    benefit_id: uuid.UUID,
    decision_name: str,
    form: Mapping[str, Any],
    *,
    base_url: str,
    now: dt.datetime | None = None,
    meta: RequestMeta | None = None,
) -> str:
    """One decision of :data:`BENEFIT_DECISIONS`, its text read from ``form``; returns the audit action."""
    entry = BENEFIT_DECISIONS.get(decision_name)
    if entry is None:
        raise NotFound()
    decide, field = entry
    args: tuple[Any, ...] = (form.get(field, ""),) if field else ()
    return decide(session, city, principal, benefit_id, *args, base_url=base_url, now=now, meta=meta)
