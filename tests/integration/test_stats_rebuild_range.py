"""Rebuilding a range of days (a first build, a backfill): one run at a time, or the runs' days and months on
several connections with the weekly figures after them (PostgreSQL; SQLite always goes one by one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from familienkarte.cli import main
from familienkarte.db import is_postgresql
from familienkarte.events.models import StatsDirty
from familienkarte.statistics import rollups
from familienkarte.statistics.models import (
    StatsBuild,
    StatsCards,
    StatsFamilies,
    StatsPartnerMonthReasons,
    StatsPartnerMonths,
)
from familienkarte.statistics.rollups import (
    ROLLUP_TABLES,
    WEEK_ROLLUP_TABLES,
    WEEKS_MARK,
    rebuild_dirty,
    rebuild_range,
    weeks_mark,
)
from tests.helpers import Place, cli_env, make_place
from tests.integration.test_statistics_rollups import KOELN, card, local, redemption, rows, verification

Factory = Callable[[], Session]
FIRST, LAST = dt.date(2026, 6, 1), dt.date(2026, 8, 31)
NOW = dt.datetime(2026, 9, 2, 8, tzinfo=dt.UTC)
COUNTED = (*ROLLUP_TABLES, StatsCards, StatsFamilies, StatsPartnerMonths, StatsPartnerMonthReasons)


@pytest.fixture
def place(db: Factory) -> Place:
    return make_place(db)


def facts(db: Factory, place: Place) -> None:
    """Three months of facts, with weeks that cross from June into July and from July into August."""
    days = [dt.date(2026, 6, 2), dt.date(2026, 6, 30), dt.date(2026, 7, 1), dt.date(2026, 7, 31), dt.date(2026, 8, 1)]
    for number, day in enumerate(days):
        redemption(db, place, f"A{number:08d}", local(day, 10), quantity=number + 1)
        redemption(db, place, "B00000001", local(day, 11), benefit=place.sport, location=place.outskirts)
        verification(db, place, "ok", local(day, 10))
        verification(db, place, "revoked" if number % 2 else "stale", local(day, 12), place.outskirts)
    redemption(db, place, "C00000001", local(dt.date(2026, 7, 15), 9), voided=True)
    card(db, "Innenstadt", "K00000001", local(dt.date(2026, 6, 10), 9))
    card(db, "Porz", "K00000002", local(dt.date(2026, 7, 20), 9), status="revoked", changed_at=local(FIRST, 9))


def counted(db: Factory) -> list[list[tuple[Any, ...]]]:
    return [rows(db, table) for table in COUNTED]


def forget(db: Factory) -> None:
    with db() as s, s.begin():
        for table in (*COUNTED, StatsBuild, StatsDirty):
            s.execute(delete(table))


def marks(db: Factory) -> list[str]:
    with db() as s:
        return list(s.scalars(select(StatsDirty.period).order_by(StatsDirty.period)))


def test_the_runs_counted_at_once_give_the_rows_of_a_build_one_run_at_a_time(db: Factory, place: Place) -> None:
    facts(db, place)
    done: list[tuple[dt.date, dt.date]] = []
    together = rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=3, progress=lambda a, b: done.append((a, b)))
    at_once = counted(db)
    with db() as s:
        postgres = is_postgresql(s)
    if postgres:
        assert sorted(done) == [
            (FIRST, dt.date(2026, 6, 30)),
            (dt.date(2026, 7, 1), dt.date(2026, 7, 31)),
            (dt.date(2026, 8, 1), LAST),
        ]
    else:
        assert len(done) == 92  # SQLite: a run is one day, rebuilt whole in its transaction
    assert len(together.days) == 92
    assert together.months == (FIRST, dt.date(2026, 7, 1), dt.date(2026, 8, 1))
    assert marks(db) == []
    with db() as s:
        assert s.get(StatsBuild, "2026-07-15") is not None
        assert s.get(StatsBuild, "2026-08") is not None

    forget(db)
    one_by_one = rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=1)
    assert one_by_one == together
    assert counted(db) == at_once
    # Something was counted in every kind of table the check compares.
    assert all(at_once[COUNTED.index(table)] for table in (*ROLLUP_TABLES[:8], StatsCards, StatsFamilies))


def test_the_runs_counted_at_once_over_rows_built_before_give_the_same_rows(db: Factory, place: Place) -> None:
    facts(db, place)
    rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=1)
    before = counted(db)
    redemption(db, place, "D00000001", local(dt.date(2026, 6, 30), 15))
    rebuild_range(db, KOELN, dt.date(2026, 6, 15), dt.date(2026, 7, 10), NOW, jobs=2)
    again = counted(db)
    assert again != before

    forget(db)
    rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=1)
    assert counted(db) == again


def test_a_range_that_stops_half_way_is_finished_by_rebuild_dirty(
    db: Factory, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db() as s:
        if not is_postgresql(s):
            pytest.skip("SQLite rebuilds a range one run at a time, each whole in its transaction")
    facts(db, place)
    rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=1)
    expected = counted(db)
    forget(db)

    original = rollups._rebuild_month

    def july_fails(session: Session, city: Any, month: dt.date, now: dt.datetime, families: bool = True) -> None:
        if month == dt.date(2026, 7, 1):
            raise RuntimeError("the connection went away")
        original(session, city, month, now, families)

    monkeypatch.setattr(rollups, "_rebuild_month", july_fails)
    with pytest.raises(RuntimeError, match="went away"):
        rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=2)
    left = marks(db)
    # July's days and month wait, and so do the weeks from the first day's Monday on.
    assert weeks_mark(FIRST) in left
    assert weeks_mark(FIRST) == f"{WEEKS_MARK}20260601"
    assert "2026-07-15" in left
    assert "2026-07" in left
    assert counted(db) != expected

    monkeypatch.setattr(rollups, "_rebuild_month", original)
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, NOW)
    assert marks(db) == []
    assert counted(db) == expected


def test_a_range_whose_weeks_did_not_finish_has_them_written_afresh_by_rebuild_dirty(
    db: Factory, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db() as s:
        if not is_postgresql(s):
            pytest.skip("SQLite rebuilds a range one run at a time, each whole in its transaction")
    facts(db, place)
    rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=1)
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, NOW)  # the first run: from now on only marks say what to rebuild
    # A fact the stored running totals do not hold yet, weeks after the range's first Monday.
    redemption(db, place, "D00000001", local(dt.date(2026, 7, 31), 15), quantity=3)

    def weeks_fail(session: Session, days: Any) -> None:
        raise RuntimeError("the connection went away")

    monkeypatch.setattr(rollups, "rebuild_weeks", weeks_fail)
    with pytest.raises(RuntimeError, match="went away"):
        rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=2)
    # Every run finished and cleared its marks: only the weeks wait.
    assert marks(db) == [weeks_mark(FIRST)]

    monkeypatch.undo()
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, NOW)
    assert marks(db) == []
    repaired = counted(db)
    forget(db)
    rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=1)
    assert repaired == counted(db)


def test_a_weeks_mark_alone_makes_rebuild_dirty_count_the_weeks_again(db: Factory, place: Place) -> None:
    facts(db, place)
    rebuild_range(db, KOELN, FIRST, LAST, NOW, jobs=1)
    expected = counted(db)
    with db() as s, s.begin():
        for table in WEEK_ROLLUP_TABLES:
            s.execute(delete(table))
        s.add(StatsDirty(period=weeks_mark(dt.date(2026, 6, 3)), marked_at=NOW))
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, NOW)
    assert marks(db) == []
    assert counted(db) == expected


def test_the_command_line_counts_months_at_once_and_refuses_jobs_without_a_range(
    db: Factory, place: Place, migrated_db: str, tmp_path: Path
) -> None:
    facts(db, place)
    env = cli_env(tmp_path, migrated_db)
    runner = CliRunner()
    built = runner.invoke(
        main, ["stats", "rebuild", "--from", "2026-06-01", "--to", "2026-08-31", "--jobs", "2"], env=env
    )
    assert built.exit_code == 0, built.output
    assert "92 days (2026-06-01 to 2026-08-31) and 3 months" in built.stdout
    # Each run as it is done: a month on PostgreSQL, a day on SQLite.
    assert "2026-07-31 to 2026-07-31" in built.stderr or "2026-07-01 to 2026-07-31" in built.stderr
    assert marks(db) == []

    for arguments, named in (
        (["--jobs", "2"], "--jobs goes with --from and --to"),
        (["--day", "2026-07-01", "--jobs", "2"], "--jobs goes with --from and --to"),
        (["--from", "2026-06-01", "--to", "2026-06-02", "--jobs", "0"], "--jobs"),
        (["--from", "2026-06-01", "--to", "2026-06-02", "--jobs", "many"], "--jobs"),
    ):
        refused = runner.invoke(main, ["stats", "rebuild", *arguments], env=env)
        assert refused.exit_code == 2, (arguments, refused.output)
        assert named in refused.output, refused.output
