"""When the reminder is due, when renewal is open, what a renewal gives, and that beat runs the expiry tasks."""

from __future__ import annotations

import datetime as dt

import pytest

from familienkarte.cards.eligibility import ChildFacts
from familienkarte.cards.expiry import (
    RENEWAL_GRACE_DAYS,
    RenewalState,
    reminder_due,
    reminder_from,
    renewal_closes,
    renewal_state,
    renewed_until,
)
from familienkarte.city import load_city
from workers.schedule import BEAT_SCHEDULE

END = dt.date(2027, 3, 1)
KOELN = load_city("koeln")


@pytest.mark.parametrize(
    ("days_before", "due"),
    [(61, False), (60, True), (1, True), (0, True), (-1, False)],
)
def test_the_reminder_is_due_from_60_days_before_until_the_last_day(days_before: int, due: bool) -> None:
    assert reminder_due(END, END - dt.timedelta(days=days_before), 60) is due


def test_the_window_follows_the_configured_days() -> None:
    assert reminder_from(END, 14) == dt.date(2027, 2, 15)
    assert not reminder_due(END, dt.date(2027, 2, 14), 14)
    assert reminder_due(END, dt.date(2027, 2, 15), 14)


@pytest.mark.parametrize(
    ("status", "today", "state"),
    [
        ("active", END - dt.timedelta(days=61), RenewalState.NOT_YET),
        ("active", END - dt.timedelta(days=60), RenewalState.OPEN),
        ("active", END + dt.timedelta(days=3), RenewalState.OPEN),
        ("expired", END + dt.timedelta(days=RENEWAL_GRACE_DAYS), RenewalState.OPEN),
        ("expired", END + dt.timedelta(days=RENEWAL_GRACE_DAYS + 1), RenewalState.TOO_LATE),
        ("suspended", END - dt.timedelta(days=10), RenewalState.SUSPENDED),
        ("revoked", END - dt.timedelta(days=10), RenewalState.REVOKED),
    ],
)
def test_renewal_opens_with_the_reminder_and_closes_a_year_after_the_end(
    status: str, today: dt.date, state: RenewalState
) -> None:
    assert renewal_state(status, END, today, 60) is state


def test_renewal_closes_on_the_same_day_a_year_later_or_the_29th_of_february() -> None:
    assert renewal_closes(dt.date(2025, 6, 30)) == dt.date(2026, 6, 30)
    # 2028 is a leap year: 365 days after 1 March 2027.
    assert renewal_closes(END) == dt.date(2028, 2, 29)


def test_a_renewal_gives_the_validity_of_a_card_issued_that_day() -> None:
    today = dt.date(2026, 11, 23)
    young = ChildFacts("Mia", dt.date(2020, 5, 4))
    # Capped at six years from the renewal.
    assert renewed_until(KOELN, [young], today) == dt.date(2032, 11, 22)
    # Or the day before the youngest turns 18, when that comes first.
    teen = ChildFacts("Tom", dt.date(2010, 5, 4))
    assert renewed_until(KOELN, [teen], today) == dt.date(2028, 5, 3)
    # A child with a disability keeps the family eligible up to 27.
    assert renewed_until(KOELN, [ChildFacts("Lea", dt.date(2004, 1, 10), has_disability=True)], today) == dt.date(
        2031, 1, 9
    )


@pytest.mark.parametrize("task", ["cards.send_expiry_reminders", "cards.expire_cards"])
def test_beat_runs_the_expiry_tasks_hourly_and_a_missed_run_expires(task: str) -> None:
    entry = BEAT_SCHEDULE[task]
    assert entry["task"] == task
    assert entry["schedule"] == 3600.0
    assert 0 < entry["options"]["expires"] < entry["schedule"]
