"""Importing GTFS stops into the database: all at once or not at all, through the service and the command."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.cli import SHOWN_BAD_ROWS, main
from familienkarte.partners.models import TransitStop
from familienkarte.transit import nearest_stops
from familienkarte.transit_import import import_stops
from tests.helpers import cli_env

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "gtfs" / "stops.txt"
HEADER = "stop_id,stop_name,stop_lat,stop_lon,location_type\n"


def stops_file(tmp_path: Path, *rows: str, name: str = "stops.txt") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def stored(db: Callable[[], Session]) -> dict[str, tuple[str, float, float]]:
    with db() as session:
        return {s.stop_id: (s.name, s.latitude, s.longitude) for s in session.scalars(select(TransitStop))}


def test_the_example_file_is_imported(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        report = import_stops(session, EXAMPLE)
    assert report.ok
    assert (report.stops, report.stations, report.skipped, report.replaced) == (6, 1, 1, 0)
    stops = stored(db)
    assert len(stops) == 7
    assert stops["ex-suelz"] == ("Beispielweg Sülz", 50.9216, 6.9211)
    assert "ex-dom-e1" not in stops


def test_a_new_file_replaces_every_stop(db: Callable[[], Session], tmp_path: Path) -> None:
    first = stops_file(tmp_path, "a,Alter Halt,50.90,6.90,0", "b,Bleibt,50.91,6.91,0", name="first.txt")
    second = stops_file(tmp_path, "b,Bleibt umbenannt,50.92,6.92,0", "c,Neu,50.93,6.93,1", name="second.txt")
    with db() as session, session.begin():
        import_stops(session, first)
    with db() as session, session.begin():
        report = import_stops(session, second)
    assert (report.stops, report.stations, report.replaced) == (1, 1, 2)
    assert stored(db) == {"b": ("Bleibt umbenannt", 50.92, 6.92), "c": ("Neu", 50.93, 6.93)}


def test_a_file_with_a_bad_row_changes_nothing(db: Callable[[], Session], tmp_path: Path) -> None:
    with db() as session, session.begin():
        import_stops(session, EXAMPLE)
    before = stored(db)
    bad = stops_file(tmp_path, "n1,Neu,50.9,6.9,0", "n2,Kaputt,abc,6.9,0", "n3,Neu,50.9,6.9,0")
    with db() as session, session.begin():
        report = import_stops(session, bad)
    assert not report.ok
    assert [(p.line, p.column) for p in report.problems] == [(3, "stop_lat")]
    assert stored(db) == before


def test_a_file_without_the_required_columns_changes_nothing(db: Callable[[], Session], tmp_path: Path) -> None:
    with db() as session, session.begin():
        import_stops(session, EXAMPLE)
    before = stored(db)
    bad = tmp_path / "stops.txt"
    bad.write_text("stop_id,stop_name\nx,Halt\n", encoding="utf-8")
    with db() as session, session.begin():
        report = import_stops(session, bad)
    assert [p.message for p in report.problems] == [
        "The header lacks the column(s) stop_lat, stop_lon; a stops.txt needs stop_id, stop_name, stop_lat, stop_lon."
    ]
    assert stored(db) == before


def test_the_nearest_stops_come_from_the_imported_file(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        import_stops(session, EXAMPLE)
    with db() as session:
        # A few steps from the invented "Beispielstraße Zoo".
        found = nearest_stops(session, 50.9585, 6.9755)
    assert [stop.name for stop in found][:1] == ["Beispielstraße Zoo"]
    assert found[0].distance_m < 100
    assert found[0].walk_minutes == 1


def test_many_stops_are_imported_in_one_go(db: Callable[[], Session], tmp_path: Path) -> None:
    rows = [f"s{i},Halt {i},{50 + i / 10000:.4f},{6.9 + i / 10000:.4f},0" for i in range(2500)]
    with db() as session, session.begin():
        report = import_stops(session, stops_file(tmp_path, *rows))
    assert report.imported == 2500
    assert len(stored(db)) == 2500


# The command ------------------------------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, migrated_db: str) -> Iterator[Callable[..., Result]]:
    """``familienkarte ...`` in this process on the test database; logging is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    env = cli_env(tmp_path / "var", migrated_db)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    yield invoke
    root.handlers[:], root.level = handlers, level


def test_the_command_imports_and_says_what_it_did(run: Callable[..., Result], db: Callable[[], Session]) -> None:
    result = run("transit", "import", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"Imported 6 stops and 1 station from {EXAMPLE}, replacing the 0 stops imported before; "
        "skipped 1 entrance and other points inside stations."
    )
    assert len(stored(db)) == 7


def test_the_command_lists_the_first_bad_rows_and_counts_the_rest(
    run: Callable[..., Result], db: Callable[[], Session], tmp_path: Path
) -> None:
    run("transit", "import", str(EXAMPLE))
    before = stored(db)
    rows = ["ok,Gut,50.9,6.9,0", "ok,Doppelt,50.9,6.9,0"] + [f"b{i},,50.9,6.9,0" for i in range(SHOWN_BAD_ROWS + 4)]
    result = run("transit", "import", str(stops_file(tmp_path, *rows)))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert (
        lines[0]
        == f"familienkarte: {tmp_path / 'stops.txt'} was not imported; the stops are unchanged. Correct the file:"
    )
    assert lines[1] == "  line 3: stop_id: The id 'ok' is already used on line 2."
    assert lines[2] == "  line 4: stop_name: The stop has no name."
    assert len(lines) == 1 + SHOWN_BAD_ROWS + 1
    assert lines[-1] == "  ... and 5 more"
    assert stored(db) == before


def test_the_command_puts_all_problems_of_a_row_on_its_line(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("transit", "import", str(stops_file(tmp_path, ",,north,east,0")))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1:] == [
        "  line 2: stop_id: The stop has no id; stop_name: The stop has no name; "
        "stop_lat: 'north' is not a number (decimal degrees with a point, such as 50.9413); "
        "stop_lon: 'east' is not a number (decimal degrees with a point, such as 50.9413)."
    ]


def test_the_command_names_missing_columns(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "stops.txt"
    path.write_text("\ufeffstop_id,stop_name,lat,lon\n", encoding="utf-8")
    result = run("transit", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1] == (
        "  line 1: The header lacks the column(s) stop_lat, stop_lon; a stops.txt needs stop_id, stop_name, "
        "stop_lat, stop_lon."
    )


def test_the_command_refuses_a_missing_file_in_one_line(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("transit", "import", str(tmp_path / "stop.txt"))
    assert result.exit_code == 2
    assert result.stderr == f"familienkarte: Cannot read {tmp_path / 'stop.txt'}: there is no such file.\n"


def test_the_command_refuses_an_unmigrated_database(run: Callable[..., Result], tmp_path: Path) -> None:
    # ``run`` puts logging back afterwards; this database is not the test database.
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(
        main,
        ["transit", "import", str(EXAMPLE)],
        env={"FK_ENV": "test", "FK_DATA_DIR": str(tmp_path / "var"), "FK_DATABASE_URL": empty, "FK_REDIS_URL": None},
    )
    assert result.exit_code == 2
    assert "familienkarte db upgrade" in result.stderr


def test_the_command_reads_a_gtfs_feed_zip_and_refuses_a_zip_bomb(
    run: Callable[..., Result], db: Callable[[], Session], tmp_path: Path
) -> None:
    feed = tmp_path / "gtfs.zip"
    with zipfile.ZipFile(feed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("agency.txt", "agency_id,agency_name\n1,Beispielverkehr\n")
        archive.writestr("stops.txt", EXAMPLE.read_bytes())
    result = run("transit", "import", str(feed))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Imported 6 stops and 1 station from {feed}")
    before = stored(db)
    assert len(before) == 7
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("stops.txt", HEADER + "s1,Halt,50.9,6.9,0\n" * 3_000_000)
    result = run("transit", "import", str(bomb))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1] == (
        "  stops.txt in the zip file unpacks to more than 50 MB, the limit for a stops.txt."
    )
    assert stored(db) == before
