"""Usage limits: the periods' boundaries in the city's time zone, and the arithmetic of uses left."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from familienkarte.benefits.models import LimitPeriod
from familienkarte.redemptions.limits import left, period_start

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("period", "now", "start"),
    [
        # 23:30 UTC on 31 Dec is already 1 January in Berlin: a new day, month and year there.
        (LimitPeriod.DAY, utc(2026, 12, 31, 23, 30), utc(2026, 12, 31, 23, 0)),
        (LimitPeriod.MONTH, utc(2026, 12, 31, 23, 30), utc(2026, 12, 31, 23, 0)),
        (LimitPeriod.YEAR, utc(2026, 12, 31, 23, 30), utc(2026, 12, 31, 23, 0)),
        # 22:30 UTC on 31 Dec is still the old year in Berlin.
        (LimitPeriod.YEAR, utc(2026, 12, 31, 22, 30), utc(2025, 12, 31, 23, 0)),
        (LimitPeriod.MONTH, utc(2026, 12, 31, 22, 30), utc(2026, 11, 30, 23, 0)),
        # A week starts on Monday: Sunday 29 Nov 2026 belongs to the week of Monday 23 Nov.
        (LimitPeriod.WEEK, utc(2026, 11, 29, 12, 0), utc(2026, 11, 22, 23, 0)),
        (LimitPeriod.WEEK, utc(2026, 11, 29, 23, 0), utc(2026, 11, 29, 23, 0)),
        # Summer time: midnight in Berlin is 22:00 UTC; the day the clocks change still starts at midnight.
        (LimitPeriod.DAY, utc(2026, 7, 1, 21, 59), utc(2026, 6, 30, 22, 0)),
        (LimitPeriod.DAY, utc(2026, 3, 29, 12, 0), utc(2026, 3, 28, 23, 0)),
        (LimitPeriod.MONTH, utc(2026, 4, 15, 0, 0), utc(2026, 3, 31, 22, 0)),
    ],
)
def test_a_period_starts_at_local_midnight(period: LimitPeriod, now: dt.datetime, start: dt.datetime) -> None:
    assert period_start(period, now, BERLIN) == start


def test_ever_has_no_start_and_unknown_periods_are_refused() -> None:
    assert period_start("ever", utc(2026, 1, 1), BERLIN) is None
    with pytest.raises(ValueError, match="fortnight"):
        period_start("fortnight", utc(2026, 1, 1), BERLIN)


def test_the_start_is_never_after_now_and_the_previous_instant_is_another_period() -> None:
    now = utc(2026, 5, 1, 0, 0)
    for period in (LimitPeriod.DAY, LimitPeriod.WEEK, LimitPeriod.MONTH, LimitPeriod.YEAR):
        start = period_start(period, now, BERLIN)
        assert start is not None
        assert start <= now
        assert period_start(period, start, BERLIN) == start
        assert period_start(period, start - dt.timedelta(microseconds=1), BERLIN) != start


def test_uses_left() -> None:
    assert left(None, 5) is None
    assert left(3, 0) == 3
    assert left(3, 2) == 1
    assert left(3, 3) == 0
    # More than allowed (uploaded offline redemptions) is still nothing left, never negative.
    assert left(1, 4) == 0
