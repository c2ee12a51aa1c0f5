"""Printed cards: ordered by the family or staff, rendered to a PDF by a worker, downloaded by the family.

A printed card is a credential of its own (CREDENTIAL.md): no device key (``k``), valid as long as the card, with
its own status entry, so a lost printed card is revoked on the card page without touching the phones.

Rules made here:

- The family orders for their own household's card (the newest card of the household they are an adult of);
  caseworkers and admins order for any card by its id. The card must be active (not suspended, revoked or
  expired) when it is ordered and again when the worker makes it.
- One order at a time: a second order is refused while one is still queued for the card.
- At most :data:`MAX_PRINTED_CREDENTIALS` active printed credentials per card, checked when ordering and again
  when the worker issues the credential (two orders racing each other cannot pass it).
- The worker (``render_print_job``) is idempotent: it claims a queued job with one UPDATE (a row lock on
  PostgreSQL, the write lock on SQLite), so a job woken twice, or picked up by the sweep while its wake-up
  runs, is made once. It allocates the status entry late, signs, records the credential and the PDF, and
  e-mails the household in their language, all in one transaction.
- The PDF is downloaded by the household (or staff) while its credential is active; afterwards it is gone for
  them, since its code no longer works.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.audit import services as audit
from familienkarte.cards import credentials
from familienkarte.cards.credential_models import CardCredential, CredentialKind, CredentialStatus, PrintJob
from familienkarte.cards.credential_models import PrintJobStatus as Status
from familienkarte.cards.credentials import CardView
from familienkarte.cards.household_mail import mail_household
from familienkarte.cards.models import Card, CardStatus, Household, HouseholdAdult
from familienkarte.cards.pdf import ChildLine, PrintedCardFacts, render_printed_card
from familienkarte.city import City
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import format_card_number
from familienkarte.credentials.fk1 import issue_credential, present_printed
from familienkarte.db import utcnow
from familienkarte.errors import N_, Conflict, NotFound, PermissionDenied
from familienkarte.outbox_wake import wake_after_commit

log = logging.getLogger("familienkarte.printing")

MAX_PRINTED_CREDENTIALS: Final = 2
# The wake-up topic of queued print jobs (familienkarte.outbox_wake); the ids are print job ids.
PRINT_TOPIC: Final = "cards.print_jobs"
STAFF_ROLES: Final = frozenset({Role.CASEWORKER, Role.ADMIN})
CARD_PAGE_PATH: Final = "/card"
# Lines of names in the address field of the letter; more adults are on the card, not on the envelope.
ADDRESS_NAME_LINES: Final = 3

NOT_ACTIVE_ANY_MORE = N_("The family card was no longer active when the printed card was to be made.")
CAP_REACHED = N_("The family card already had the most printed cards allowed when this one was to be made.")
RENDER_FAILED = N_("The printed card could not be made. Please order it again.")
# The state of a printed credential whose exp has passed (its row still says active).
EXPIRED: Final = "expired"


class PrintJobNotFound(NotFound):
    code = "print_job_not_found"
    message = N_("There is no such printed card, or it can no longer be downloaded.")


class CardNotPrintable(Conflict):
    code = "card_not_active"
    message = N_("The family card is suspended, revoked or expired, so no printed card can be ordered for it.")


class PrintAlreadyQueued(Conflict):
    code = "print_already_queued"
    message = N_("A printed card is already being made for this family card. Please wait until it is ready.")


class TooManyPrintedCards(Conflict):
    code = "too_many_printed_cards"
    message = N_(
        "A family card can have at most %(max)s printed cards in use. Remove a printed card you no longer have "
        "under “Phones and printed cards” before ordering a new one."
    )


# Reading ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintJobView:
    id: uuid.UUID
    status: str
    by_staff: bool
    created_at: dt.datetime
    ready_at: dt.datetime | None
    credential_id: uuid.UUID | None
    # A message id (translated where it is shown) when the job failed.
    error: str | None = None
    # The printed credential's status once it is issued: active, revoked, suspended, or expired (its exp passed,
    # for instance after the card was renewed).
    credential_status: str | None = None

    @property
    def downloadable(self) -> bool:
        return self.status == Status.READY.value and self.credential_status == CredentialStatus.ACTIVE.value

    @property
    def state(self) -> str:
        """What people are told: queued, ready, failed, expired or removed (revoked or suspended)."""
        if self.status == Status.READY.value and not self.downloadable:
            return "expired" if self.credential_status == EXPIRED else "removed"
        return self.status


def list_print_jobs(session: Session, card_id: uuid.UUID, now: dt.datetime | None = None) -> list[PrintJobView]:
    """The card's printed-card orders, newest first."""
    now = now or utcnow()
    rows = session.execute(
        select(
            PrintJob.id,
            PrintJob.status,
            PrintJob.by_staff,
            PrintJob.created_at,
            PrintJob.ready_at,
            PrintJob.credential_id,
            PrintJob.error,
            CardCredential.status,
            CardCredential.exp,
        )
        .outerjoin(CardCredential, CardCredential.id == PrintJob.credential_id)
        .where(PrintJob.card_id == card_id)
        .order_by(PrintJob.created_at.desc(), PrintJob.id)
    ).all()
    return [
        PrintJobView(
            id=job_id,
            status=status,
            by_staff=by_staff,
            created_at=created_at,
            ready_at=ready_at,
            credential_id=credential_id,
            error=error,
            credential_status=_credential_status(credential_status, exp, now),
        )
        for job_id, status, by_staff, created_at, ready_at, credential_id, error, credential_status, exp in rows
    ]


def _credential_status(status: str | None, exp: dt.datetime | None, now: dt.datetime) -> str | None:
    if status == CredentialStatus.ACTIVE.value and exp is not None and exp <= now:
        return EXPIRED
    return status


@dataclass(frozen=True)
class OrderRefusal:
    """Why a printed card cannot be ordered now: a message id and its parameters, translated where shown."""

    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FamilyCardPage:
    """The card page: the card (None while there is none), its printed-card orders and whether one can be ordered."""

    card: CardView | None
    prints: list[PrintJobView]
    refusal: OrderRefusal | None
    max_printed: int = MAX_PRINTED_CREDENTIALS

    @property
    def can_order(self) -> bool:
        return self.card is not None and self.refusal is None


def _household_card(session: Session, principal: Principal, *, lock: bool = False) -> tuple[Card, HouseholdAdult]:
    """The newest card of the principal's household and the principal's adult; :class:`NoCard` when there is none."""
    if principal.user_id is None:
        raise credentials.NoCard()
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
        raise credentials.NoCard()
    return row[0], row[1]


def _is_active(card: Card, city: City, now: dt.datetime) -> bool:
    return card.status == CardStatus.ACTIVE.value and card.valid_until >= city.today(now)


def _active_printed(session: Session, card_id: uuid.UUID, now: dt.datetime) -> int:
    """Printed credentials of the card that still work (a renewal leaves the old ones to expire on their own)."""
    count = session.scalar(
        select(func.count())
        .select_from(CardCredential)
        .where(
            CardCredential.card_id == card_id,
            CardCredential.kind == CredentialKind.PRINTED.value,
            CardCredential.status == CredentialStatus.ACTIVE.value,
            CardCredential.exp > now,
        )
    )
    return count or 0


def _refusal(session: Session, card: Card, city: City, now: dt.datetime) -> OrderRefusal | None:
    """The first rule an order for ``card`` would break now, or None."""
    if not _is_active(card, city, now):
        return OrderRefusal(CardNotPrintable.code, CardNotPrintable.message)
    queued = session.scalar(
        select(PrintJob.id).where(PrintJob.card_id == card.id, PrintJob.status == Status.QUEUED.value).limit(1)
    )
    if queued is not None:
        return OrderRefusal(PrintAlreadyQueued.code, PrintAlreadyQueued.message)
    if _active_printed(session, card.id, now) >= MAX_PRINTED_CREDENTIALS:
        return OrderRefusal(TooManyPrintedCards.code, TooManyPrintedCards.message, {"max": MAX_PRINTED_CREDENTIALS})
    return None


_ERRORS: Final = {cls.code: cls for cls in (CardNotPrintable, PrintAlreadyQueued, TooManyPrintedCards)}


def family_card_page(session: Session, principal: Principal, city: City, now: dt.datetime) -> FamilyCardPage:
    """The principal's card with its printed-card orders; no card yet: an empty page (the application is open)."""
    view = credentials.find_card_view(session, principal, city, now)
    if view is None:
        return FamilyCardPage(None, [], None)
    card, _adult = _household_card(session, principal)
    return FamilyCardPage(view, list_print_jobs(session, card.id, now), _refusal(session, card, city, now))


# Ordering ---------------------------------------------------------------------------------------------------


def order_printed_card(
    session: Session,
    principal: Principal,
    city: City,
    now: dt.datetime,
    *,
    card_id: uuid.UUID | None = None,
    meta: RequestMeta | None = None,
) -> uuid.UUID:
    """Queue a printed card and wake the print worker after the commit; returns the job's id.

    A family user orders for their own household's card (``card_id``, if given, must be that card); a caseworker
    or admin for the card ``card_id``.
    """
    by_staff = principal.role in STAFF_ROLES
    if by_staff:
        card = session.get(Card, card_id, with_for_update=True) if card_id is not None else None
        if card is None:
            raise NotFound()
    elif principal.role == Role.FAMILY:
        card, _adult = _household_card(session, principal, lock=True)
        if card_id is not None and card_id != card.id:
            raise NotFound()
    else:
        raise PermissionDenied()
    refusal = _refusal(session, card, city, now)
    if refusal is not None:
        raise _ERRORS[refusal.code](**refusal.params)
    job = PrintJob(
        card_id=card.id,
        status=Status.QUEUED.value,
        requested_by_id=principal.user_id,
        by_staff=by_staff,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    audit.record(
        session,
        principal,
        "print_job.order",
        "print_job",
        job.id,
        details={"card_id": str(card.id), "by_staff": by_staff},
        meta=meta,
    )
    wake_after_commit(session, PRINT_TOPIC, [job.id])
    return job.id


# Rendering (the worker) -------------------------------------------------------------------------------------


def _claim(session: Session, job_id: uuid.UUID, now: dt.datetime) -> bool:
    """Take a queued job for this transaction (row lock on PostgreSQL, the write lock on SQLite)."""
    result = cast(
        CursorResult[Any],
        session.execute(
            update(PrintJob)
            .where(PrintJob.id == job_id, PrintJob.status == Status.QUEUED.value)
            .values(attempts=PrintJob.attempts + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount == 1


def _fail(job: PrintJob, error: str, now: dt.datetime) -> str:
    job.status = Status.FAILED.value
    job.error = error
    job.updated_at = now
    log.info("print job %s failed: %s", job.id, error)
    return job.status


def _facts(city: City, card: Card, household: Household, presentation: str, now: dt.datetime) -> PrintedCardFacts:
    adults = list(household.adults)
    names = [f"{adult.first_name} {adult.last_name}".strip() for adult in adults]
    address = [
        *names[:ADDRESS_NAME_LINES],
        f"{household.street} {household.house_number}".strip(),
        f"{household.postal_code} {household.city_name}".strip(),
    ]
    # As on the card page: born children by name, oldest first; an expected child counts only in the code.
    born = sorted(
        (child for child in household.children if child.birth_date is not None),
        key=lambda child: (child.birth_date, child.position),
    )
    return PrintedCardFacts(
        city=city,
        locale=household.locale,
        presentation=presentation,
        formatted_number=format_card_number(card.number),
        holders=names,
        children=[ChildLine(child.first_name, child.birth_date) for child in born if child.birth_date is not None],
        valid_until=card.valid_until,
        address=[line for line in address if line],
        letter_date=city.today(now),
    )


def _mail_ready(session: Session, job: PrintJob, household: Household, city: City, base_url: str | None) -> None:
    link = (base_url or "").rstrip("/") + CARD_PAGE_PATH
    if job.by_staff:
        body = N_(
            "Hello %(name)s,\n\nthe city has made a printed family card of %(city)s for you. It comes "
            "to you by post. You can also download it on your card page and print it yourself:\n"
            "%(link)s\n\nPartners may ask you for an identity document together with the printed card. "
            "If you lose it, remove it on your card page: its code then stops working, and your phones "
            "keep working.\n"
        )
    else:
        body = N_(
            "Hello %(name)s,\n\nyour printed family card of %(city)s is ready. Download it on your card "
            "page and print it:\n%(link)s\n\nPartners may ask you for an identity document together "
            "with the printed card. If you lose it, remove it on your card page: its code then stops "
            "working, and your phones keep working.\n"
        )

    def text(adult: HouseholdAdult) -> tuple[str, str]:
        return i18n.gettext(N_("Your printed family card is ready")), i18n.gettext(
            body, name=adult.first_name, city=city.name, link=link
        )

    mail_household(session, household, text, dedupe=f"print:{job.id}")


def render_print_job(
    session: Session,
    job_id: uuid.UUID,
    city: City,
    secret: str,
    now: dt.datetime,
    *,
    base_url: str | None = None,
) -> str | None:
    """Make the printed card of a queued job: credential, PDF, e-mail. Returns the job's status (None: no such job).

    A job that is not queued (made, failed, or being made by another worker right now) is left alone.
    """
    if not _claim(session, job_id, now):
        return session.scalar(select(PrintJob.status).where(PrintJob.id == job_id))
    job = session.get(PrintJob, job_id, populate_existing=True)
    assert job is not None
    card = session.get(Card, job.card_id, with_for_update=True)
    if card is None or not _is_active(card, city, now):
        return _fail(job, NOT_ACTIVE_ANY_MORE, now)
    if _active_printed(session, card.id, now) >= MAX_PRINTED_CREDENTIALS:
        return _fail(job, CAP_REACHED, now)
    household = session.get(Household, card.household_id)
    assert household is not None
    adult_id = None
    if not job.by_staff and job.requested_by_id is not None:
        adult_id = session.scalar(
            select(HouseholdAdult.id).where(
                HouseholdAdult.household_id == household.id, HouseholdAdult.user_id == job.requested_by_id
            )
        )

    # Late, and serialised with every other allocation until the commit.
    list_id, index = credential_services.allocate_status_index(session, now)
    claims = credentials.card_claims(
        card,
        household,
        household.adults,
        household.children,
        now,
        timezone=city.timezone,
        status_list_id=list_id,
        status_index=index,
        device_key=None,
        lifetime=None,
    )
    key = credential_services.signing_key(session, secret)
    credential = issue_credential(claims, key)
    credential_services.record_issued(session, key.kid, claims.exp)
    row = CardCredential(
        card_id=card.id,
        adult_id=adult_id,
        kind=CredentialKind.PRINTED.value,
        device_key=None,
        device_name=None,
        status_list_id=list_id,
        status_index=index,
        kid=key.kid,
        exp=dt.datetime.fromtimestamp(claims.exp, dt.UTC),
        status=CredentialStatus.ACTIVE.value,
        created_at=now,
    )
    session.add(row)
    session.flush()

    job.pdf = render_printed_card(_facts(city, card, household, present_printed(credential), now))
    job.credential_id = row.id
    job.status = Status.READY.value
    job.error = None
    job.ready_at = now
    job.updated_at = now
    audit.record(
        session,
        None,
        "credential.print",
        "card_credential",
        row.id,
        details={"card_id": str(card.id), "print_job_id": str(job.id), "kind": row.kind},
    )
    _mail_ready(session, job, household, city, base_url)
    return job.status


def fail_print_job(session: Session, job_id: uuid.UUID, now: dt.datetime, error: str = RENDER_FAILED) -> bool:
    """Give up on a queued job that cannot be made (the worker after an unexpected error); the family may order again.

    Returns whether it changed anything.
    """
    job = session.get(PrintJob, job_id, with_for_update=True)
    if job is None or job.status != Status.QUEUED.value:
        return False
    job.attempts += 1
    _fail(job, error, now)
    return True


def queued_print_job_ids(session: Session, queued_before: dt.datetime, limit: int = 100) -> list[uuid.UUID]:
    """Jobs still queued since before ``queued_before``, oldest first: the ones whose wake-up was lost."""
    return list(
        session.scalars(
            select(PrintJob.id)
            .where(PrintJob.status == Status.QUEUED.value, PrintJob.created_at < queued_before)
            .order_by(PrintJob.created_at, PrintJob.id)
            .limit(limit)
        )
    )


# Downloading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintedCardPdf:
    filename: str
    content: bytes


def _download(session: Session, job: PrintJob | None, now: dt.datetime) -> PrintedCardPdf:
    if job is None or job.status != Status.READY.value or job.pdf is None or job.credential_id is None:
        raise PrintJobNotFound()
    row = session.execute(
        select(CardCredential.status, CardCredential.exp).where(CardCredential.id == job.credential_id)
    ).first()
    if row is None or _credential_status(row.status, row.exp, now) != CredentialStatus.ACTIVE.value:
        raise PrintJobNotFound()
    number = session.scalar(select(Card.number).where(Card.id == job.card_id)) or "card"
    return PrintedCardPdf(f"familienkarte-{number}.pdf", bytes(job.pdf))


def family_print_pdf(
    session: Session, principal: Principal, job_id: uuid.UUID, now: dt.datetime | None = None
) -> PrintedCardPdf:
    """The PDF of one of the household's printed cards while its credential is active; :class:`PrintJobNotFound`
    for anything else (another household's job included)."""
    job = session.get(PrintJob, job_id)
    if job is None or principal.user_id is None:
        raise PrintJobNotFound()
    own = session.scalar(
        select(HouseholdAdult.id)
        .join(Card, Card.household_id == HouseholdAdult.household_id)
        .where(Card.id == job.card_id, HouseholdAdult.user_id == principal.user_id)
        .limit(1)
    )
    if own is None:
        raise PrintJobNotFound()
    return _download(session, job, now or utcnow())


def staff_print_pdf(
    session: Session,
    card_id: uuid.UUID,
    job_id: uuid.UUID,
    now: dt.datetime | None = None,
    *,
    viewer: Principal | None = None,
    meta: RequestMeta | None = None,
) -> PrintedCardPdf:
    """The PDF of a printed card of ``card_id`` for staff (to post it), while its credential is active.

    With ``viewer``, the download is recorded in the audit log (the card shows the family's names)."""
    job = session.get(PrintJob, job_id)
    if job is None or job.card_id != card_id:
        raise PrintJobNotFound()
    pdf = _download(session, job, now or utcnow())
    if viewer is not None:
        audit.record(
            session, viewer, "card.print_downloaded", "print_job", job.id, details={"card_id": str(card_id)}, meta=meta
        )
    return pdf
