"""The till without a network: the offline bundle it verifies with, and the upload of what it did meanwhile.

Rules made here:

- The offline bundle holds what a browser needs to verify a code exactly as :func:`services.verify` does and to
  show the benefits of one location: the published issuer keys (as in the JWKS), the signed token of every status
  list a live credential may point to, the verifier's ``stale_after`` and ``leeway``, the city's time zone (for
  "today" and children's ages), and this partner's published benefits at the location with their eligibility
  rules. Uses left per card and quota left cannot be known offline; they are checked on upload.
- An upload records every redemption made offline, idempotent by ``client_nonce`` per partner like online ones:
  an upload repeated after a lost answer records nothing twice and answers with the same redemptions.
- The code is verified as of the till's time (``occurred_at``), so a phone code that was live at the till is not
  ``stale`` now, while its status is the status now: a card revoked in the meantime is flagged ``revoked``.
  ``occurred_at`` may lie at most :data:`CLOCK_TOLERANCE` in the future and at most :data:`MAX_AGE` in the past:
  a till offline for longer has to be looked at by a person.
- A broken rule does not refuse an uploaded redemption (the goods were given): it is recorded with ``offline``,
  ``uploaded_at`` and ``flags``, the codes of every rule it broke, and counts towards limits and quotas like any
  other. Only what cannot be stored at all is refused per item: a benefit that is not this partner's
  (``benefit_not_found``), a location that is not one of its active ones (``location_not_found``), a code that
  names no card and no card number beside it (its reason code, e.g. ``malformed``).
- Limits and quotas are read under the same locks as online redemptions (:func:`services.lock_for_redemption`),
  so tills uploading at the same time keep them right.
- Offline verifications are stored as :class:`VerificationEvent` rows with the till's time. Having no nonce,
  a verification is recognised as already uploaded by an identical event (partner, location, time to the
  millisecond, reason, presentation): the same upload repeated counts each once.
- Each upload writes one audit entry with its counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.audit import services as audit
from familienkarte.benefits import rules
from familienkarte.benefits.models import Benefit, BenefitStatus, benefit_locations
from familienkarte.city import City
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import normalize_card_number
from familienkarte.credentials.fk1 import DEFAULT_LEEWAY, DEFAULT_STALE_AFTER, Reason
from familienkarte.credentials.jwks import jwks
from familienkarte.credentials.models import StatusListRecord
from familienkarte.errors import N_, FieldError, InvalidInput
from familienkarte.events import stats as stats_events
from familienkarte.partners.models import Location
from familienkarte.redemptions import services
from familienkarte.redemptions.models import PresentationKind, Redemption, RedemptionStatus, VerificationEvent

# An upload holds at most this many items of each kind; a till with more sends several.
MAX_REDEMPTIONS: Final = 200
MAX_VERIFICATIONS: Final = 1000
MAX_TEXT: Final = 2048
MAX_CARD_NUMBER: Final = 64
# How far the till's clock may run ahead of the server's.
CLOCK_TOLERANCE: Final = dt.timedelta(minutes=5)
# The oldest till time accepted: a week offline is the most a till should run on its cached status lists.
MAX_AGE: Final = dt.timedelta(days=7)

# Flags of an uploaded redemption, besides the card's reason codes (``revoked``, ``expired``, ``stale``, ...).
LIMIT_REACHED: Final = services.LimitReached.code
QUOTA_EXHAUSTED: Final = services.QuotaExhausted.code
NOT_ELIGIBLE: Final = services.NotEligibleError.code
BENEFIT_PAUSED: Final = services.BenefitPaused.code
NOT_AT_LOCATION: Final = services.NotAtLocation.code
# The partner's benefit exists but is neither published nor paused now (archived, or back in review).
BENEFIT_NOT_PUBLISHED: Final = "benefit_not_published"
# More at once than the benefit's ``max_quantity``.
QUANTITY_TOO_HIGH: Final = "quantity_too_high"
# Per-item refusals besides the card's reason codes.
BENEFIT_NOT_FOUND: Final = services.BenefitNotFound.code
LOCATION_NOT_FOUND: Final = "location_not_found"

RECORDED: Final = "recorded"
REPLAYED: Final = "replayed"
REFUSED: Final = "refused"

# What a verification's ``reason`` may be: the till's verdicts.
VERIFICATION_REASONS: Final = frozenset({reason.value for reason in Reason} | {services.UNKNOWN_CARD})
PRESENTATIONS: Final = frozenset(kind.value for kind in PresentationKind)


# The offline bundle -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusListToken:
    id: int
    token: str


@dataclass(frozen=True)
class OfflineBenefit:
    benefit_id: uuid.UUID
    title: dict[str, str]
    kind: str
    value: int | None
    max_quantity: int
    limit_count: int | None
    limit_period: str | None
    min_children: int
    child_age_min: int | None
    child_age_max: int | None
    requires_entitlement: bool
    weekdays: int
    valid_from: dt.date | None
    valid_until: dt.date | None


@dataclass(frozen=True)
class OfflineBundle:
    generated_at: dt.datetime
    location_id: uuid.UUID
    timezone: str
    jwks: dict[str, list[dict[str, str]]]
    status_lists: list[StatusListToken]
    stale_after: int
    leeway: int
    benefits: list[OfflineBenefit]


def _location_benefits(session: Session, partner_id: uuid.UUID, location_id: uuid.UUID) -> Sequence[Benefit]:
    # The same selection and order as the benefits an online verification offers.
    return session.scalars(
        select(Benefit)
        .join(benefit_locations, benefit_locations.c.benefit_id == Benefit.id)
        .where(
            Benefit.partner_id == partner_id,
            Benefit.status == BenefitStatus.PUBLISHED.value,
            benefit_locations.c.location_id == location_id,
        )
        .order_by(Benefit.published_at, Benefit.id)
    ).all()


def offline_bundle(
    session: Session,
    principal: Principal,
    city: City,
    *,
    location_id: uuid.UUID | None,
    secret: str,
    base_url: str,
    now: dt.datetime,
) -> OfflineBundle:
    """Everything a till's browser needs to verify cards and show benefits at this location without a network."""
    till = services.till_for(session, principal, location_id)
    list_ids = session.scalars(
        select(StatusListRecord.id).where(StatusListRecord.allocated > 0).order_by(StatusListRecord.id)
    ).all()
    tokens = [
        StatusListToken(list_id, credential_services.status_list_token(session, list_id, secret, base_url, now))
        for list_id in list_ids
    ]
    return OfflineBundle(
        generated_at=now,
        location_id=till.location.id,
        timezone=city.timezone.key,
        jwks=jwks(credential_services.published_keys(session, now)),
        status_lists=tokens,
        stale_after=DEFAULT_STALE_AFTER,
        leeway=DEFAULT_LEEWAY,
        benefits=[
            OfflineBenefit(
                benefit_id=benefit.id,
                title=dict(benefit.title),
                kind=benefit.kind,
                value=benefit.value,
                max_quantity=benefit.max_quantity,
                limit_count=benefit.limit_count,
                limit_period=benefit.limit_period,
                min_children=benefit.min_children,
                child_age_min=benefit.child_age_min,
                child_age_max=benefit.child_age_max,
                requires_entitlement=benefit.requires_entitlement,
                weekdays=benefit.weekdays,
                valid_from=benefit.valid_from,
                valid_until=benefit.valid_until,
            )
            for benefit in _location_benefits(session, till.partner.id, till.location.id)
        ],
    )


# Reading an upload --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedRedemption:
    client_nonce: str
    text: str | None
    card_number: str | None
    benefit_id: uuid.UUID
    location_id: uuid.UUID
    quantity: int
    occurred_at: dt.datetime


@dataclass(frozen=True)
class UploadedVerification:
    reason: str
    presentation: str | None
    at: dt.datetime
    location_id: uuid.UUID


class _Reader:
    """Collects every field error of an upload, each named by its list, index and field."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str, **params: Any) -> None:
        self.errors.append(FieldError(name, message, params))

    def uuid(self, item: Mapping[str, Any], prefix: str, key: str, message: str) -> uuid.UUID | None:
        raw = item.get(key)
        if isinstance(raw, uuid.UUID):
            return raw
        if isinstance(raw, str):
            try:
                return uuid.UUID(raw)
            except ValueError:
                pass
        self.fail(f"{prefix}.{key}", message)
        return None

    def time(self, item: Mapping[str, Any], prefix: str, key: str) -> dt.datetime | None:
        raw = item.get(key)
        value: dt.datetime | None = None
        if isinstance(raw, dt.datetime):
            value = raw
        elif isinstance(raw, str):
            try:
                value = dt.datetime.fromisoformat(raw)
            except ValueError:
                value = None
        if value is None or value.tzinfo is None:
            self.fail(f"{prefix}.{key}", N_("Send the till's time as an ISO 8601 date and time with its time zone."))
            return None
        value = value.astimezone(dt.UTC)
        if value > self.now + CLOCK_TOLERANCE or value < self.now - MAX_AGE:
            self.fail(
                f"{prefix}.{key}",
                N_(
                    "The till's time must lie within the last %(days)s days and not in the future; "
                    "check the till's clock."
                ),
                days=MAX_AGE.days,
            )
            return None
        return value

    def optional_text(self, item: Mapping[str, Any], prefix: str, key: str, limit: int) -> str | None:
        raw = item.get(key)
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str) or len(raw) > limit:
            self.fail(f"{prefix}.{key}", N_("Send at most %(max)s characters of text."), max=limit)
            return None
        return raw


def _items(raw: object, name: str, limit: int, reader: _Reader) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        reader.fail(name, N_("Send a list."))
        return []
    if len(raw) > limit:
        reader.fail(name, N_("Send at most %(max)s items in one upload."), max=limit)
        return []
    items: list[Mapping[str, Any]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            reader.fail(f"{name}[{index}]", N_("Send an object."))
            items.append({})
        else:
            items.append(item)
    return items


def read_upload(
    redemptions: object, verifications: object, now: dt.datetime
) -> tuple[list[UploadedRedemption], list[UploadedVerification]]:
    """Check every item of an upload; :class:`InvalidInput` names each wrong field as ``redemptions[3].quantity``
    (nothing is stored then)."""
    reader = _Reader(now)
    out_redemptions: list[UploadedRedemption] = []
    for index, item in enumerate(_items(redemptions, "redemptions", MAX_REDEMPTIONS, reader)):
        prefix = f"redemptions[{index}]"
        errors_before = len(reader.errors)
        nonce = item.get("client_nonce")
        try:
            nonce = services.read_nonce(nonce)
        except InvalidInput as exc:
            reader.errors.extend(
                FieldError(f"{prefix}.{error.field}", error.message, error.params) for error in exc.errors
            )
        text = reader.optional_text(item, prefix, "text", MAX_TEXT)
        card_number = reader.optional_text(item, prefix, "card_number", MAX_CARD_NUMBER)
        if text is None and card_number is None and len(reader.errors) == errors_before:
            reader.fail(f"{prefix}.text", N_("Send the scanned code or the card number."))
        benefit_id = reader.uuid(item, prefix, "benefit_id", N_("Send the benefit's id."))
        location_id = reader.uuid(item, prefix, "location_id", N_("Send the location's id."))
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1000:
            reader.fail(f"{prefix}.quantity", N_("Send a whole number from 1 to %(max)s."), max=1000)
        occurred_at = reader.time(item, prefix, "occurred_at")
        if (
            len(reader.errors) == errors_before
            and isinstance(nonce, str)
            and benefit_id is not None
            and location_id is not None
            and occurred_at is not None
        ):
            out_redemptions.append(
                UploadedRedemption(nonce, text, card_number, benefit_id, location_id, quantity, occurred_at)
            )
    out_verifications: list[UploadedVerification] = []
    for index, item in enumerate(_items(verifications, "verifications", MAX_VERIFICATIONS, reader)):
        prefix = f"verifications[{index}]"
        errors_before = len(reader.errors)
        reason = item.get("reason")
        if reason not in VERIFICATION_REASONS:
            reader.fail(f"{prefix}.reason", N_("Send one of the verification reason codes."))
        presentation = item.get("presentation")
        if presentation is not None and presentation not in PRESENTATIONS:
            reader.fail(f"{prefix}.presentation", N_("Send phone, printed, manual or nothing."))
        at = reader.time(item, prefix, "at")
        location_id = reader.uuid(item, prefix, "location_id", N_("Send the location's id."))
        if len(reader.errors) == errors_before and isinstance(reason, str) and at and location_id:
            out_verifications.append(UploadedVerification(reason, presentation, at, location_id))
    if reader.errors:
        raise InvalidInput(reader.errors)
    return out_redemptions, out_verifications


# Recording an upload ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadItemResult:
    status: str
    client_nonce: str | None = None
    id: uuid.UUID | None = None
    flags: list[str] = field(default_factory=list)
    code: str | None = None


@dataclass(frozen=True)
class UploadResult:
    redemptions: list[UploadItemResult]
    verifications: list[UploadItemResult]

    @property
    def flagged(self) -> int:
        return sum(1 for item in self.redemptions if item.status != REFUSED and item.flags)


def _replayed(row: Redemption) -> UploadItemResult:
    return UploadItemResult(REPLAYED, row.client_nonce, row.id, list(row.flags or []))


def _benefit_flags(
    session: Session, benefit: Benefit, location_id: uuid.UUID, family: rules.FamilyFacts | None, day: dt.date
) -> list[str]:
    """Every rule of the benefit itself the redemption broke (services.check_benefit stops at the first)."""
    flags = []
    if benefit.status == BenefitStatus.PAUSED.value:
        flags.append(BENEFIT_PAUSED)
    elif benefit.status != BenefitStatus.PUBLISHED.value:
        flags.append(BENEFIT_NOT_PUBLISHED)
    here = session.scalar(
        select(func.count())
        .select_from(benefit_locations)
        .where(benefit_locations.c.benefit_id == benefit.id, benefit_locations.c.location_id == location_id)
    )
    if not here:
        flags.append(NOT_AT_LOCATION)
    if family is not None and rules.check(services.benefit_rules(benefit), family, day) is not None:
        flags.append(NOT_ELIGIBLE)
    return flags


def _check_card(session: Session, city: City, item: UploadedRedemption) -> tuple[services.CheckedCard, list[str]]:
    """The card as of the till's time (its status as of now), and the reason codes to flag."""
    flags: list[str] = []
    checked = services.check_card(session, city, item.text, item.card_number, item.occurred_at)
    if checked.reason != Reason.OK.value:
        flags.append(checked.reason)
    if checked.number is None and item.text and item.card_number:
        # The code names no card (forged, damaged, another issuer's): the number the cashier read instead.
        typed = services.check_card(session, city, None, item.card_number, item.occurred_at)
        if typed.number is not None:
            if typed.reason != Reason.OK.value and typed.reason not in flags:
                flags.append(typed.reason)
            checked = services.CheckedCard(
                checked.reason,
                checked.presentation,
                checked.code_checked,
                typed.number,
                typed.card_id,
                typed.family,
                typed.valid_until,
            )
        elif normalize_card_number(item.card_number) is not None:
            # A well-formed number of no card here: recorded by the number, flagged unknown_card.
            flags.append(typed.reason)
            checked = services.CheckedCard(
                checked.reason, checked.presentation, checked.code_checked, normalize_card_number(item.card_number)
            )
    elif checked.number is None and item.card_number and normalize_card_number(item.card_number) is not None:
        checked = services.CheckedCard(
            checked.reason, checked.presentation, checked.code_checked, normalize_card_number(item.card_number)
        )
    return checked, flags


def _location_ok(session: Session, principal: Principal, partner_id: uuid.UUID, location_id: uuid.UUID) -> bool:
    location = session.get(Location, location_id)
    return (
        location is not None
        and location.partner_id == partner_id
        and location.is_active
        and (principal.location_id is None or principal.location_id == location_id)
    )


def _record_redemption(
    session: Session,
    principal: Principal,
    city: City,
    partner_id: uuid.UUID,
    item: UploadedRedemption,
    now: dt.datetime,
) -> UploadItemResult:
    earlier = services.by_nonce(session, partner_id, item.client_nonce)
    if earlier is not None:
        return _replayed(earlier)
    if not _location_ok(session, principal, partner_id, item.location_id):
        return UploadItemResult(REFUSED, item.client_nonce, code=LOCATION_NOT_FOUND)
    benefit = session.get(Benefit, item.benefit_id)
    if benefit is None or benefit.partner_id != partner_id:
        return UploadItemResult(REFUSED, item.client_nonce, code=BENEFIT_NOT_FOUND)
    checked, flags = _check_card(session, city, item)
    if checked.number is None:
        return UploadItemResult(REFUSED, item.client_nonce, code=checked.reason)
    number = checked.number

    services.lock_for_redemption(session, benefit, number)
    earlier = services.by_nonce(session, partner_id, item.client_nonce)
    if earlier is not None:
        return _replayed(earlier)
    flags += _benefit_flags(session, benefit, item.location_id, checked.family, city.today(item.occurred_at))
    if item.quantity > benefit.max_quantity:
        flags.append(QUANTITY_TOO_HIGH)
    if services.uses_left(session, benefit, number, city, item.occurred_at) == 0:
        flags.append(LIMIT_REACHED)
    quota = services.quota_left(session, benefit)
    if quota is not None and quota < item.quantity:
        flags.append(QUOTA_EXHAUSTED)

    row = Redemption(
        partner_id=partner_id,
        location_id=item.location_id,
        benefit_id=benefit.id,
        card_number=number,
        card_id=checked.card_id,
        quantity=item.quantity,
        client_nonce=item.client_nonce,
        status=RedemptionStatus.RECORDED.value,
        presentation=checked.presentation or PresentationKind.MANUAL.value,
        recorded_by_user_id=principal.user_id,
        recorded_by_api_key_id=principal.api_key_id,
        occurred_at=item.occurred_at,
        created_at=now,
        offline=True,
        uploaded_at=now,
        flags=flags,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # The same nonce at the same moment from another upload: the first one stands.
        earlier = services.by_nonce(session, partner_id, item.client_nonce)
        if earlier is None:
            raise
        return _replayed(earlier)
    stats_events.redemption_recorded(session, row)
    return UploadItemResult(RECORDED, item.client_nonce, row.id, flags)


def _record_verification(
    session: Session, principal: Principal, partner_id: uuid.UUID, item: UploadedVerification
) -> UploadItemResult:
    if not _location_ok(session, principal, partner_id, item.location_id):
        return UploadItemResult(REFUSED, code=LOCATION_NOT_FOUND)
    same = session.scalar(
        select(VerificationEvent.id).where(
            VerificationEvent.partner_id == partner_id,
            VerificationEvent.at == item.at,
            VerificationEvent.location_id == item.location_id,
            VerificationEvent.reason == item.reason,
            VerificationEvent.presentation.is_(None)
            if item.presentation is None
            else VerificationEvent.presentation == item.presentation,
        )
    )
    if same is not None:
        return UploadItemResult(REPLAYED)
    session.add(
        VerificationEvent(
            partner_id=partner_id,
            location_id=item.location_id,
            reason=item.reason,
            presentation=item.presentation,
            at=item.at,
        )
    )
    stats_events.verifications_recorded(session, [item.at])
    session.flush()
    return UploadItemResult(RECORDED)


def upload(
    session: Session,
    principal: Principal,
    city: City,
    *,
    redemptions: object,
    verifications: object,
    now: dt.datetime,
    meta: RequestMeta | None = None,
) -> UploadResult:
    """Record what a till did offline: every redemption (flagged where it broke a rule) and every verification."""
    partner_id = services.approved_partner(session, principal).id
    items, events = read_upload(redemptions, verifications, now)
    # Oldest first, so that a limit is charged to the later use, as it would have been online.
    order = sorted(range(len(items)), key=lambda index: items[index].occurred_at)
    results: dict[int, UploadItemResult] = {}
    for index in order:
        results[index] = _record_redemption(session, principal, city, partner_id, items[index], now)
    result = UploadResult(
        [results[index] for index in range(len(items))],
        [_record_verification(session, principal, partner_id, event) for event in events],
    )
    statuses = [item.status for item in result.redemptions]
    audit.record(
        session,
        principal,
        "redemption.upload",
        "partner",
        partner_id,
        partner_id=partner_id,
        details={
            "recorded": statuses.count(RECORDED),
            "replayed": statuses.count(REPLAYED),
            "refused": statuses.count(REFUSED),
            "flagged": result.flagged,
            "verifications": sum(1 for item in result.verifications if item.status == RECORDED),
        },
        meta=meta,
    )
    return result
