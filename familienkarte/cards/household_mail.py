"""E-mail to every adult of a household, each in the household's language."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.cards.models import Household, HouseholdAdult
from familienkarte.mail.services import queue_email

# Subject and plain-text body for one adult; called with the household's language active.
MailText = Callable[[HouseholdAdult], tuple[str, str]]


def mail_household(session: Session, household: Household, text: MailText, *, dedupe: str | None = None) -> int:
    """Queue one e-mail to each adult with an address (an erased adult has none); returns how many.

    With ``dedupe``, each adult's e-mail gets the key ``<dedupe>:<adult id>``: a repeated call (a task run again
    after a crash) queues nothing twice.
    """
    sent = 0
    with i18n.use_locale(household.locale):
        for adult in household.adults:
            if not adult.email:
                continue
            subject, body = text(adult)
            key = f"{dedupe}:{adult.id}" if dedupe else None
            queue_email(session, to=adult.email, subject=subject, body_text=body, dedupe_key=key)
            sent += 1
    return sent
