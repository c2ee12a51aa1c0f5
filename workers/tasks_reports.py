"""Report tasks (queue ``stats``): the partners' monthly report e-mail with its PDF.

Beat runs ``stats.send_partner_reports`` on the first of each month; it fans out one ``stats.send_partner_report``
per active partner, so that one partner's failure is retried alone and a big city's PDFs are drawn in parallel.
Both are idempotent (each e-mail has a dedupe key per partner, owner and month), hence ``acks_late``: a worker
killed mid-run leaves the message to run again, and what was queued before is not queued twice. Two copies of
the same partner's task running at once collide on that key; the loser rolls back and its retry finds the
e-mail queued.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from familienkarte.city import load_city
from familienkarte.db import utcnow
from familienkarte.statistics.partner_report import parse_month, partners_to_report, report_month
from familienkarte.statistics.partner_report import send_partner_report as queue_partner_report
from workers.celery_app import DATABASE_ERRORS, current_settings, register, task_session
from workers.tasks_stats import RETRY


@register("stats.send_partner_reports", **RETRY)
def send_partner_reports(month: str | None = None) -> int:
    """Queue one report task per active partner for ``month`` (YYYY-MM; default: the last complete month)."""
    city = load_city(current_settings().city)
    chosen = parse_month(month) if month else report_month(city.today(utcnow()))
    with task_session() as session:
        partner_ids = partners_to_report(session, city, chosen)
    for partner_id in partner_ids:
        send_partner_report.delay(str(partner_id), f"{chosen:%Y-%m}")
    return len(partner_ids)


@register("stats.send_partner_report", **{**RETRY, "autoretry_for": (*DATABASE_ERRORS, IntegrityError)})
def send_partner_report(partner_id: str, month: str) -> int:
    """Queue the month's report to each owner of one partner who has not had it; returns how many were queued."""
    settings = current_settings()
    city = load_city(settings.city)
    with task_session() as session:
        run = queue_partner_report(
            session,
            city,
            uuid.UUID(partner_id),
            parse_month(month),
            base_url=settings.base_url,
            today=city.today(utcnow()),
        )
    return run.queued
