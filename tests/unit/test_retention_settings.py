"""The retention period in the city file, and the horizon it gives."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from typing import Any

import pytest

from familienkarte.city import CITIES_DIR, load_city, parse_city
from familienkarte.settings import ConfigError
from familienkarte.statistics.retention import retention_horizon

KOELN = load_city("koeln")


def koeln_data(**extra: Any) -> dict[str, Any]:
    with (CITIES_DIR / "koeln.toml").open("rb") as fh:
        return tomllib.load(fh) | extra


def problem(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_city("my.toml", data, "my")
    return str(info.value)


def test_the_shipped_cities_keep_raw_facts_for_24_months_by_default() -> None:
    assert KOELN.retention_months == 24
    assert load_city("hamm").retention_months == 24


def test_a_city_may_keep_them_longer_or_as_short_as_13_months() -> None:
    assert parse_city("my.toml", koeln_data(retention_months=13), "my").retention_months == 13
    assert parse_city("my.toml", koeln_data(retention_months=60), "my").retention_months == 60


@pytest.mark.parametrize("value", [0, 6, 12, 121])
def test_a_period_too_short_for_the_yearly_limits_or_too_long_is_refused(value: int) -> None:
    message = problem(koeln_data(retention_months=value))
    assert message == f"my.toml: retention_months: must be between 13 and 120, got {value}"


@pytest.mark.parametrize("value", ["24", 24.0, True])
def test_a_period_that_is_no_whole_number_is_refused(value: Any) -> None:
    assert problem(koeln_data(retention_months=value)).startswith(
        "my.toml: retention_months: expected a whole number, got "
    )


@pytest.mark.parametrize(
    ("months", "now", "horizon"),
    [
        # Köln's day: 23:30 UTC on 30 June is 1 July in summer.
        (24, dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC), dt.date(2024, 7, 1)),
        (24, dt.datetime(2026, 7, 5, 8, tzinfo=dt.UTC), dt.date(2024, 7, 5)),
        # Across the turn of the year, and to the last day of a shorter month.
        (13, dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC), dt.date(2024, 12, 15)),
        (13, dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC), dt.date(2025, 2, 28)),
        (24, dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC), dt.date(2024, 2, 28)),
    ],
)
def test_the_horizon_is_the_same_local_day_so_many_calendar_months_before(
    months: int, now: dt.datetime, horizon: dt.date
) -> None:
    assert retention_horizon(dataclasses.replace(KOELN, retention_months=months), now) == horizon


def test_the_horizon_lies_before_the_start_of_every_limit_period_with_a_start() -> None:
    # The shortest period's horizon is more than 8 days before the first of January of the current year, every day
    # of the year: a yearly limit and the reconciliation never need a deleted fact.
    city = dataclasses.replace(KOELN, retention_months=13)
    day = dt.date(2026, 1, 1)
    while day.year == 2026:
        now = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        assert retention_horizon(city, now) <= day.replace(month=1, day=1) - dt.timedelta(days=8)
        day += dt.timedelta(days=1)
