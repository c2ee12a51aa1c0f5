"""Day and hour buckets in the city's time zone: the ranges both databases select, and SQLite's fixed offsets."""

from __future__ import annotations

import datetime as dt
import sqlite3
from zoneinfo import ZoneInfo

import pytest

from familienkarte.statistics.rollups import day_range, day_segments, local_day, month_range

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def test_a_redemption_at_2330_utc_on_a_summer_day_counts_on_the_next_local_day() -> None:
    instant = utc(2026, 7, 1, 23, 30)
    assert local_day(instant, BERLIN) == dt.date(2026, 7, 2)
    start, end = day_range(dt.date(2026, 7, 2), BERLIN)
    assert start <= instant < end
    assert (start, end) == (utc(2026, 7, 1, 22), utc(2026, 7, 2, 22))


def test_a_winter_day_starts_at_2300_utc() -> None:
    assert day_range(dt.date(2026, 1, 15), BERLIN) == (utc(2026, 1, 14, 23), utc(2026, 1, 15, 23))


@pytest.mark.parametrize(
    ("day", "hours", "switch", "offsets"),
    [
        # Clocks go forward at 02:00 CET (01:00 UTC): 23 hours.
        (dt.date(2026, 3, 29), 23, utc(2026, 3, 29, 1), (60, 120)),
        # Clocks go back at 03:00 CEST (01:00 UTC): 25 hours.
        (dt.date(2026, 10, 25), 25, utc(2026, 10, 25, 1), (120, 60)),
    ],
)
def test_the_days_the_clocks_change_have_23_and_25_hours_in_two_offset_ranges(
    day: dt.date, hours: int, switch: dt.datetime, offsets: tuple[int, int]
) -> None:
    start, end = day_range(day, BERLIN)
    assert end - start == dt.timedelta(hours=hours)
    first, second = day_segments(day, BERLIN)
    assert (first.start, first.end, second.start, second.end) == (start, switch, switch, end)
    assert (first.offset, second.offset) == tuple(dt.timedelta(minutes=m) for m in offsets)


def test_an_ordinary_day_is_one_range_of_one_offset() -> None:
    (only,) = day_segments(dt.date(2026, 7, 2), BERLIN)
    assert only.end - only.start == dt.timedelta(hours=24)
    assert only.offset == dt.timedelta(hours=2)


@pytest.mark.parametrize("day", [dt.date(2026, 3, 29), dt.date(2026, 7, 2), dt.date(2026, 10, 25)])
def test_sqlites_hour_with_the_ranges_offset_is_the_local_hour_for_every_minute_of_the_day(day: dt.date) -> None:
    """What the SQL on SQLite computes (strftime with a fixed offset per range) agrees with the zone database."""
    conn = sqlite3.connect(":memory:")
    try:
        for segment in day_segments(day, BERLIN):
            minutes = int(segment.offset.total_seconds() // 60)
            instant = segment.start
            while instant < segment.end:
                stored = instant.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores it on SQLite
                (hour,) = conn.execute(
                    "SELECT CAST(strftime('%H', ?, ?) AS INTEGER)", (stored, f"{minutes:+d} minutes")
                ).fetchone()
                assert hour == instant.astimezone(BERLIN).hour, instant
                assert local_day(instant, BERLIN) == day
                instant += dt.timedelta(minutes=7)
    finally:
        conn.close()


def test_a_month_runs_from_local_midnight_to_local_midnight() -> None:
    assert month_range(dt.date(2026, 10, 1), BERLIN) == (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))
    assert month_range(dt.date(2026, 12, 1), BERLIN) == (utc(2026, 11, 30, 23), utc(2026, 12, 31, 23))


def test_a_zone_with_a_half_hour_offset_splits_its_change_day_at_the_right_second() -> None:
    adelaide = ZoneInfo("Australia/Adelaide")
    first, second = day_segments(dt.date(2026, 4, 5), adelaide)  # back from +10:30 to +09:30 at 03:00 local
    assert (first.offset, second.offset) == (dt.timedelta(hours=10, minutes=30), dt.timedelta(hours=9, minutes=30))
    assert second.start == utc(2026, 4, 4, 16, 30)
    assert second.end - first.start == dt.timedelta(hours=25)
