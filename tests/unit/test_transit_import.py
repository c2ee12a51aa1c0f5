"""Reading a GTFS stops.txt: what is imported, what is skipped, and every kind of bad row named by line and column."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from familienkarte.transit_import import MAX_BYTES, ImportProblem, parse_stops, read_stops

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "gtfs" / "stops.txt"
HEADER = "stop_id,stop_name,stop_lat,stop_lon,location_type"


def parse(text: str) -> tuple[list[str], int, list[ImportProblem]]:
    stops, skipped, problems = parse_stops(text.encode("utf-8"))
    return [stop.stop_id for stop in stops], skipped, problems


def where(problems: list[ImportProblem]) -> list[tuple[int | None, str | None]]:
    return [(p.line, p.column) for p in problems]


def test_the_example_file_has_stops_and_a_station_and_skips_the_entrance() -> None:
    stops, skipped, problems = read_stops(EXAMPLE)
    assert problems == []
    assert skipped == 1
    by_id = {stop.stop_id: stop for stop in stops}
    assert len(by_id) == 7
    assert "ex-dom-e1" not in by_id
    assert by_id["ex-dom"].station
    assert not by_id["ex-zoo"].station
    # A quoted name with a comma, umlauts, and an empty location type (a stop).
    assert by_id["ex-neumarkt"].name == "Beispielmarkt, Innenstadt"
    assert by_id["ex-suelz"].name == "Beispielweg Sülz"
    assert (by_id["ex-zoo"].latitude, by_id["ex-zoo"].longitude) == (50.9581, 6.9752)


@pytest.mark.parametrize("location_type", ["", "0", "1"])
def test_stops_and_stations_are_imported(location_type: str) -> None:
    ids, skipped, problems = parse(f"{HEADER}\ns1,Halt,50.9,6.9,{location_type}\n")
    assert (ids, skipped, problems) == (["s1"], 0, [])


@pytest.mark.parametrize("location_type", ["2", "3", "4"])
def test_entrances_nodes_and_boarding_areas_are_skipped_even_without_coordinates(location_type: str) -> None:
    ids, skipped, problems = parse(f"{HEADER}\ns1,Halt,50.9,6.9,0\ne1,Eingang,,,{location_type}\n")
    assert (ids, skipped, problems) == (["s1"], 1, [])


def test_the_location_type_column_is_optional_and_columns_may_come_in_any_order() -> None:
    ids, skipped, problems = parse("stop_lon,stop_name,stop_id,stop_lat\n6.9,Halt,s1,50.9\n")
    assert (ids, skipped, problems) == (["s1"], 0, [])


def test_a_byte_order_mark_and_windows_line_ends_are_read() -> None:
    data = f"\ufeff{HEADER}\r\ns1,Haltestelle Köln,50.9,6.9,0\r\n".encode()
    stops, _skipped, problems = parse_stops(data)
    assert problems == []
    assert [(s.stop_id, s.name) for s in stops] == [("s1", "Haltestelle Köln")]


def test_spaces_around_values_and_blank_lines_are_ignored() -> None:
    ids, _skipped, problems = parse(f"{HEADER}\n\n s1 , Halt , 50.9 , 6.9 , 0 \n\n")
    assert (ids, problems) == (["s1"], [])


def test_missing_columns_are_one_problem_of_the_file_naming_them() -> None:
    _ids, _skipped, problems = parse("stop_id,stop_name,latitude,longitude\ns1,Halt,50.9,6.9\n")
    assert len(problems) == 1
    assert problems[0].column is None
    assert "stop_lat, stop_lon" in problems[0].message


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_an_empty_file_is_refused(text: str) -> None:
    _ids, _skipped, problems = parse(text)
    assert len(problems) == 1
    assert "empty" in problems[0].message


def test_text_that_is_not_utf8_is_refused_with_its_line() -> None:
    data = f"{HEADER}\ns1,Halt,50.9,6.9,0\n".encode() + "s2,Straße,50.9,6.9,0\n".encode("latin-1")
    _stops, _skipped, problems = parse_stops(data)
    assert where(problems) == [(3, None)]
    assert "UTF-8" in problems[0].message


BAD_ROWS = {
    "empty id": (",Halt,50.9,6.9,0", "stop_id", "no id"),
    "id too long": ("x" * 65 + ",Halt,50.9,6.9,0", "stop_id", "longer than 64"),
    "empty name": ("s9,,50.9,6.9,0", "stop_name", "no name"),
    "name too long": ("s9," + "n" * 201 + ",50.9,6.9,0", "stop_name", "longer than 200"),
    "latitude not a number": ("s9,Halt,fifty,6.9,0", "stop_lat", "not a number"),
    "latitude with a decimal comma": ('s9,Halt,"50,9",6.9,0', "stop_lat", "not a number"),
    "latitude missing": ("s9,Halt,,6.9,0", "stop_lat", "missing"),
    "latitude out of range": ("s9,Halt,91,6.9,0", "stop_lat", "out of range"),
    "latitude not finite": ("s9,Halt,nan,6.9,0", "stop_lat", "out of range"),
    "longitude not a number": ("s9,Halt,50.9,east,0", "stop_lon", "not a number"),
    "longitude out of range": ("s9,Halt,50.9,-180.5,0", "stop_lon", "out of range"),
    "longitude infinite": ("s9,Halt,50.9,inf,0", "stop_lon", "out of range"),
    "unknown location type": ("s9,Halt,50.9,6.9,7", "location_type", "Unknown location type"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_each_bad_row_is_named_by_line_and_column(case: str) -> None:
    row, column, words = BAD_ROWS[case]
    ids, _skipped, problems = parse(f"{HEADER}\ns1,Gut,50.9,6.9,0\n{row}\ns2,Gut,50.8,6.8,0\n")
    assert where(problems) == [(3, column)]
    assert words in problems[0].message
    assert ids == ["s1", "s2"]


def test_a_duplicate_id_names_the_line_it_was_first_used_on() -> None:
    _ids, _skipped, problems = parse(f"{HEADER}\ns1,A,50.9,6.9,0\ns2,B,50.9,6.9,0\ns1,C,50.8,6.8,1\n")
    assert where(problems) == [(4, "stop_id")]
    assert "line 2" in problems[0].message


def test_every_problem_of_every_row_is_listed() -> None:
    text = f"{HEADER}\n,,x,y,9\ns1,Gut,50.9,6.9,0\ns2,,50.9,200,\n"
    _ids, _skipped, problems = parse(text)
    assert where(problems) == [
        (2, "location_type"),
        (2, "stop_id"),
        (2, "stop_name"),
        (2, "stop_lat"),
        (2, "stop_lon"),
        (4, "stop_name"),
        (4, "stop_lon"),
    ]


def test_a_row_that_spans_lines_is_named_by_its_first_line() -> None:
    text = f'{HEADER}\ns1,"Halt\nmit Umbruch",50.9,6.9,0\ns2,Halt,abc,6.9,0\n'
    _ids, _skipped, problems = parse(text)
    assert where(problems) == [(4, "stop_lat")]


def test_a_short_row_lacks_its_values() -> None:
    _ids, _skipped, problems = parse(f"{HEADER}\ns1,Halt\n")
    assert where(problems) == [(2, "stop_lat"), (2, "stop_lon")]


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "stops.txt"
    with big.open("wb") as handle:  # sparse: the size without writing 50 MB
        handle.write(f"{HEADER}\n".encode())
        handle.truncate(MAX_BYTES + 1)
    stops, _skipped, problems = read_stops(big)
    assert stops == []
    assert len(problems) == 1
    assert "larger than 50 MB" in problems[0].message


def test_the_limit_holds_for_an_open_file_and_a_file_at_the_limit_is_read() -> None:
    data = f"{HEADER}\ns1,Halt,50.9,6.9,0\n".encode()
    _stops, _skipped, problems = read_stops(io.BytesIO(data), max_bytes=len(data) - 1)
    assert len(problems) == 1
    assert "larger than" in problems[0].message
    stops, _skipped, problems = read_stops(io.BytesIO(data), max_bytes=len(data))
    assert (len(stops), problems) == (1, [])


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    _stops, _skipped, problems = read_stops(tmp_path / "nowhere.txt")
    assert len(problems) == 1
    assert "Cannot read" in problems[0].message
