"""How the exact figures of a range are read from the running totals and the day rows (``coarse.exact_of``)."""

from __future__ import annotations

import datetime as dt

from familienkarte.statistics import coarse

D = dt.date


def bounds(start: dt.date, end: dt.date, final: dt.date) -> coarse.Bounds:
    parts = coarse.split(start, end)
    assert parts is not None
    stored = coarse.monday(final)

    def clamp(pair: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
        return min(pair[0], stored), min(pair[1], stored)

    return coarse.Bounds(clamp(parts.inner), clamp(parts.outer), parts.edges, stored, final)


def test_whole_weeks_only_read_the_running_totals() -> None:
    # Monday 2026-10-05 to Sunday 2026-10-25: three whole weeks.
    exact = coarse.exact_of(bounds(D(2026, 10, 5), D(2026, 10, 25), D(2026, 10, 31)))
    assert exact == coarse.Exact((D(2026, 9, 28), D(2026, 10, 19)), (), ())


def test_a_range_up_to_the_last_day_with_facts_reads_its_last_week_whole() -> None:
    # Up to Wednesday 2026-10-28, the last day with facts: the week's Thursday to Sunday have none.
    exact = coarse.exact_of(bounds(D(2026, 10, 5), D(2026, 10, 28), D(2026, 10, 28)))
    assert exact == coarse.Exact((D(2026, 9, 28), D(2026, 10, 26)), (), ())


def test_a_short_edge_is_read_from_its_days() -> None:
    # Friday 2026-10-02 to Sunday: 3 days inside, 4 outside (Monday to Thursday).
    exact = coarse.exact_of(bounds(D(2026, 10, 2), D(2026, 10, 25), D(2026, 10, 31)))
    assert exact == coarse.Exact((D(2026, 9, 28), D(2026, 10, 19)), ((D(2026, 10, 2), D(2026, 10, 4)),), ())


def test_a_long_edge_is_its_week_less_the_days_outside() -> None:
    # Tuesday 2026-09-29 to Sunday (6 days inside) and Monday 2026-10-26 to Friday (5 days inside, 2 outside).
    exact = coarse.exact_of(bounds(D(2026, 9, 29), D(2026, 10, 30), D(2026, 11, 8)))
    assert exact == coarse.Exact(
        (D(2026, 9, 21), D(2026, 10, 26)),
        (),
        ((D(2026, 9, 28), D(2026, 9, 28)), (D(2026, 10, 31), D(2026, 11, 1))),
    )


def test_days_outside_the_range_without_facts_are_not_read() -> None:
    # The last edge, Monday 2026-10-26 to Tuesday, has 5 days outside; facts end on the Wednesday: one day less.
    exact = coarse.exact_of(bounds(D(2026, 10, 5), D(2026, 10, 27), D(2026, 10, 28)))
    assert exact == coarse.Exact((D(2026, 9, 28), D(2026, 10, 26)), (), ((D(2026, 10, 28), D(2026, 10, 28)),))


def test_weeks_after_the_last_stored_one_are_clamped() -> None:
    # Facts end on Sunday 2026-10-18; the range runs on into weeks without any.
    exact = coarse.exact_of(bounds(D(2026, 10, 5), D(2026, 11, 10), D(2026, 10, 18)))
    assert exact == coarse.Exact((D(2026, 9, 28), D(2026, 10, 12)), (), ())
