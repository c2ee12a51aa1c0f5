"""The partners' monthly report: on the first of each month, each owner of an active partner gets the figures of
the month before by e-mail (HTML and plain text, in the owner's language) with the same figures as a PDF.

Same figures as the statistics page. The report is the page's figures (:func:`partner_view.partner_statistics`
called for the owner), so the numbers, the suppression and the labels cannot differ from what the owner sees in
the portal; the PDF (:mod:`familienkarte.statistics.partner_report_pdf`) prints them, and the portal offers the
same PDF for every month it shows (:func:`report_pdf`).

Once per owner and month. Each e-mail has the dedupe key ``partner-report:<partner>:<owner>:<YYYY-MM>``: a second
run, a redelivered task or the CLI sends nothing twice, and an owner who joined after the run gets theirs from
the next run for the same month. A key already queued is skipped before anything is counted or drawn.

Who gets it. Partners with the status ``approved`` that existed before the month ended, and each of their active
owners (cashiers work the till and do not see statistics). There is no setting for an owner to opt out of the
report; it goes to the owners' own addresses only.

A month without redemptions. The owner still gets a short e-mail saying so (with the card checks, if any) and no
PDF: a report that silently does not come cannot be told from one that was lost, and a month in which no family
used the benefits is itself what a partner needs to know to decide about its offers.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.identity import ACTIVE_PARTNER_STATUS, principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.city import City
from familienkarte.errors import N_
from familienkarte.mail.html import linkify, render
from familienkarte.mail.services import Attachment, is_queued, queue_email
from familienkarte.partners.models import Partner
from familienkarte.statistics.dashboard import month_label, number
from familienkarte.statistics.partner_report_pdf import period_line, render_partner_report, shown, suppression_note
from familienkarte.statistics.partner_view import (
    Listing,
    PartnerStatistics,
    StatisticsPage,
    last_complete_month,
    partner_statistics,
    statistics_page,
)
from familienkarte.statistics.rollups import month_range
from familienkarte.statistics.suppression import Suppressed

log = logging.getLogger("familienkarte.statistics")

KEY_PREFIX: Final = "partner-report"
PDF_TYPE: Final = "application/pdf"
STATISTICS_PATH: Final = "/partner/statistics"


def report_key(partner_id: uuid.UUID, owner_id: uuid.UUID, month: dt.date) -> str:
    return f"{KEY_PREFIX}:{partner_id}:{owner_id}:{month:%Y-%m}"


def report_month(today: dt.date) -> dt.date:
    """The month reported on ``today`` (the city's date): the last complete one."""
    return last_complete_month(today)


def parse_month(value: str) -> dt.date:
    """A month written YYYY-MM as its first day; ValueError for anything else."""
    if len(value) != len("2026-07") or value[4] != "-":
        raise ValueError(f"{value!r} is not a month like 2026-07")
    return dt.date(int(value[:4]), int(value[5:]), 1)


def pdf_filename(month: dt.date) -> str:
    return f"familienkarte-{month:%Y-%m}.pdf"


def partners_to_report(session: Session, city: City, month: dt.date) -> list[uuid.UUID]:
    """The active partners that existed before ``month`` ended, in a stable order."""
    _start, end = month_range(month, city.timezone)
    rows = session.scalars(
        select(Partner.id)
        .where(Partner.status == ACTIVE_PARTNER_STATUS, Partner.created_at < end)
        .order_by(Partner.created_at, Partner.id)
    )
    return list(rows)


def _owners(session: Session, partner_id: uuid.UUID) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.partner_id == partner_id, User.role == Role.PARTNER_OWNER.value, User.is_active.is_(True))
            .order_by(User.created_at, User.id)
        )
    )


@dataclass(frozen=True)
class ReportRun:
    """What one partner's run did: e-mails queued now, and owners whose report for the month was queued before."""

    queued: int
    already: int


def has_redemptions(stats: PartnerStatistics) -> bool:
    """Whether the month had any redemption (a hidden total is a small number, not zero)."""
    total = stats.by_benefit.total.redemptions
    return isinstance(total, Suppressed) or total > 0


def send_partner_report(
    session: Session, city: City, partner_id: uuid.UUID, month: dt.date, *, base_url: str, today: dt.date
) -> ReportRun:
    """Queue the report of ``month`` to every active owner of the partner who has not had it; idempotent."""
    partner = session.get(Partner, partner_id)
    if partner is None or partner.status != ACTIVE_PARTNER_STATUS:
        return ReportRun(0, 0)
    queued = already = 0
    for owner in _owners(session, partner_id):
        key = report_key(partner_id, owner.id, month)
        if is_queued(session, key):
            already += 1
            continue
        locale = owner.locale or i18n.DEFAULT_LOCALE
        with i18n.use_locale(locale):
            stats = partner_statistics(session, principal_for_user(owner), city, month, today=today)
            message = report_message(stats, city, base_url=base_url)
            attachments = [Attachment(pdf_filename(month), PDF_TYPE, render_partner_report(stats, city, locale))]
            queue_email(
                session,
                to=owner.email,
                subject=message.subject,
                body_text=message.text,
                body_html=message.html,
                dedupe_key=key,
                attachments=attachments if has_redemptions(stats) else (),
            )
        queued += 1
    if queued:
        log.info("queued %d monthly report(s) of %s for partner %s", queued, f"{month:%Y-%m}", partner_id)
    return ReportRun(queued, already)


# --- the e-mail ---


@dataclass(frozen=True)
class ReportMessage:
    subject: str
    text: str
    html: str


def _text_listing(title: str, listing: Listing) -> list[str]:
    gettext = i18n.gettext
    lines = [f"{title}:"]
    for row in [*listing.rows, listing.total]:
        lines.append(
            "- "
            + gettext(
                N_("%(label)s: redemptions %(redemptions)s, quantity %(quantity)s"),
                label=row.label,
                redemptions=shown(row.redemptions),
                quantity=shown(row.quantity),
            )
        )
    return lines


def report_message(stats: PartnerStatistics, city: City, *, base_url: str) -> ReportMessage:
    """Subject, plain text and HTML of the report e-mail, in the current locale (that of the figures' labels)."""
    gettext = i18n.gettext
    month = month_label(stats.month)
    link = f"{base_url}{STATISTICS_PATH}?month={stats.month:%Y-%m}"
    subject = gettext(N_("Your family card figures for %(month)s"), month=month)
    active = has_redemptions(stats)
    if active:
        intro = gettext(
            N_(
                "here are the figures of %(partner)s for %(month)s: how families used your benefits with the "
                "family card of %(city)s."
            ),
            partner=stats.partner_name,
            month=month,
            city=city.name,
        )
    else:
        intro = gettext(
            N_("in %(month)s, no benefit of %(partner)s was redeemed with the family card of %(city)s."),
            partner=stats.partner_name,
            month=month,
            city=city.name,
        )
    checks = gettext(N_("Card checks at your locations: %(count)s"), count=number(stats.verifications_total))
    hidden = any(listing.hidden for listing in (stats.by_benefit, stats.by_location))
    note = suppression_note(stats.threshold) if hidden else ""
    attached = gettext(N_("The attached PDF has all figures, also per week of the month."))
    portal = gettext(N_("You find the figures of every month in the partner portal: %(link)s"), link=link)
    advice = gettext(
        N_("Families find your benefits in the catalogue. Please check that they are published and up to date.")
    )
    closing = gettext(N_("Kind regards,\n%(sender)s"), sender=city.contact.name)

    blocks = [gettext(N_("Hello,")), intro]
    if active:
        blocks.append("\n".join(_text_listing(gettext(N_("Redemptions per benefit")), stats.by_benefit)))
        blocks.append("\n".join(_text_listing(gettext(N_("Redemptions per location")), stats.by_location)))
    blocks.append(checks)
    if active:
        blocks += [note, attached] if note else [attached]
    else:
        blocks.append(advice)
    blocks += [portal, closing]
    text = "\n\n".join(blocks) + "\n"

    html = render(
        "mail/partner_report.html",
        locale=i18n.current_locale(),
        subject=subject,
        title=city.name,
        stats=stats,
        active=active,
        intro=intro,
        period=period_line(stats),
        checks=checks,
        note=note,
        attached=attached,
        advice=advice,
        portal=linkify(portal),
        closing=closing.split("\n"),
        shown=shown,
    )
    return ReportMessage(subject, text, html)


# --- the PDF in the portal ---


@dataclass(frozen=True)
class ReportFile:
    filename: str
    content: bytes


def report_pdf(
    session: Session, principal: Principal, city: City, params: Mapping[str, Any], *, today: dt.date
) -> ReportFile | StatisticsPage:
    """The owner's PDF for the month asked for (``?month=YYYY-MM``, the months the page offers), in the reader's
    language: the figures of the statistics page for the same parameters, drawn. Refuses anyone but an owner; for a
    bad month it returns the page itself, with the message at the field ``month``."""
    page = statistics_page(session, principal, city, params, today=today)
    if page.statistics is None:
        return page
    content = render_partner_report(page.statistics, city, i18n.current_locale())
    return ReportFile(pdf_filename(page.statistics.month), content)
