"""The CSV import's checks: reading the files (delimiter, BOM, header, size, shape) and every row's fields, with
the line and column of each problem. The duplicate check asks the database, so the checks run on a session."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.errors import PermissionDenied
from familienkarte.partners import csv_import
from familienkarte.partners.csv_import import BENEFITS, LOCATIONS, PARTNERS, RowError

CITY = load_city("koeln")
STAFF = Principal(role=Role.PARTNER_MANAGER, user_id=uuid.uuid4(), email="clerk@example.org")
README = Path(__file__).resolve().parents[2] / "README.md"

PARTNER = {
    "partner_key": "P1",
    "name": "Zoo Köln",
    "legal_form": "gmbh",
    "category": "leisure",
    "description_de": "Tiere aus aller Welt.",
}
LOCATION = {
    "partner_key": "P1",
    "location_key": "L1",
    "name": "Haupteingang",
    "street": "Riehler Straße",
    "house_number": "173",
    "postal_code": "50667",
}
BENEFIT = {"partner_key": "P1", "location_keys": "L1", "title_de": "Kinder frei", "kind": "free_entry"}


def table(rows: Sequence[Mapping[str, str]], *, delimiter: str = ";", bom: bool = False) -> bytes:
    header = list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([row.get(name, "") for name in header] for row in rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def files(
    partners: Sequence[Mapping[str, str]] | None = None,
    locations: Sequence[Mapping[str, str]] | None = None,
    benefits: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, bytes | None]:
    return {
        PARTNERS: table(partners if partners is not None else [PARTNER]),
        LOCATIONS: table(locations if locations is not None else [LOCATION]),
        BENEFITS: table(benefits) if benefits else None,
    }


@pytest.fixture
def session(db: Callable[[], Session]) -> Iterator[Session]:
    with db() as s:
        yield s


def check(session: Session, given: Mapping[str, bytes | None]) -> list[RowError]:
    return csv_import.check_import(session, STAFF, CITY, given).errors


def where(errors: list[RowError]) -> set[tuple[str, int | None, str | None]]:
    return {(e.file, e.line, e.column) for e in errors}


def read(kind: str, raw: bytes) -> tuple[list[csv_import.Row], list[RowError]]:
    errors: list[RowError] = []
    return csv_import.read_rows(kind, raw, errors), errors


# Reading the files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", ","])
def test_the_delimiter_is_read_from_the_header(delimiter: str) -> None:
    partner = {**PARTNER, "description_de": "Tiere; Pflanzen, Aquarium"}
    rows, errors = read(PARTNERS, table([partner], delimiter=delimiter))
    assert errors == []
    assert rows[0].cells["description_de"] == "Tiere; Pflanzen, Aquarium"
    assert rows[0].line == 2


def test_a_byte_order_mark_is_ignored(session: Session) -> None:
    raw = table([PARTNER], bom=True)
    rows, errors = read(PARTNERS, raw)
    assert errors == []
    assert rows[0].cells["partner_key"] == "P1"
    assert check(session, {**files(), PARTNERS: raw}) == []


def test_a_file_without_a_header_line_is_refused() -> None:
    raw = b"P1;Zoo K\xc3\xb6ln;gmbh;leisure;Tiere\r\n"
    rows, errors = read(PARTNERS, raw)
    assert rows == []
    assert where(errors) == {(PARTNERS, 1, None)}
    assert errors[0].message.startswith("The first line must name the columns")
    assert "partner_key;name;legal_form;category;description_de" in errors[0].params["example"]


def test_unknown_and_missing_columns_are_named() -> None:
    raw = table([{"partner_key": "P1", "nmae": "Zoo", "legal_form": "gmbh", "category": "leisure"}])
    _, errors = read(PARTNERS, raw)
    assert where(errors) == {(PARTNERS, 1, "nmae"), (PARTNERS, 1, "name"), (PARTNERS, 1, "description_de")}
    unknown = next(e for e in errors if e.column == "nmae")
    assert unknown.message == "The column %(column)s is not known. Please check its name."


def test_header_names_ignore_case_and_spaces() -> None:
    raw = b"Partner_Key ; NAME;legal_form;category;description_de\r\nP1;Zoo;gmbh;leisure;Tiere\r\n"
    rows, errors = read(PARTNERS, raw)
    assert errors == []
    assert rows[0].cells["name"] == "Zoo"


def test_a_file_that_is_not_utf8_names_the_line() -> None:
    raw = table([PARTNER, {**PARTNER, "partner_key": "P2"}]).replace(
        "Zoo Köln".encode(), "Zoo K\xf6ln".encode("latin-1")
    )
    _, errors = read(PARTNERS, raw)
    assert where(errors) == {(PARTNERS, 2, None)}
    assert "UTF-8" in errors[0].message


def test_rows_with_the_wrong_number_of_cells_are_reported_and_empty_lines_skipped() -> None:
    raw = (
        b"partner_key;name;legal_form;category;description_de\r\n"
        b"P1;Zoo;gmbh;leisure;Tiere\r\n"
        b";;;;\r\n"
        b"\r\n"
        b"P2;Zoo;gmbh\r\n"
        b"P3;Zoo;gmbh;leisure;Tiere;extra\r\n"
        b"P4;Zoo;gmbh;leisure;Tiere;;\r\n"
    )
    rows, errors = read(PARTNERS, raw)
    assert [row.line for row in rows] == [2, 7]
    assert where(errors) == {(PARTNERS, 5, None), (PARTNERS, 6, None)}
    assert errors[0].params == {"cells": 3, "columns": 5}


def test_a_broken_quote_stops_the_file_with_its_line() -> None:
    raw = b'partner_key;name;legal_form;category;description_de\r\nP1;"Zoo" K;gmbh;leisure;Tiere\r\n'
    rows, errors = read(PARTNERS, raw)
    assert rows == []
    assert where(errors) == {(PARTNERS, 2, None)}


def test_line_numbers_count_lines_inside_quoted_cells() -> None:
    first = {**PARTNER, "description_de": "Erste Zeile\nzweite Zeile\ndritte Zeile"}
    rows, errors = read(PARTNERS, table([first, {**PARTNER, "partner_key": "P2"}]))
    assert errors == []
    assert [row.line for row in rows] == [2, 5]
    assert rows[0].cells["description_de"] == "Erste Zeile\nzweite Zeile\ndritte Zeile"


def test_row_and_size_limits() -> None:
    many = [{**PARTNER, "partner_key": f"P{i}"} for i in range(csv_import.MAX_ROWS + 1)]
    rows, errors = read(PARTNERS, table(many))
    assert len(rows) == csv_import.MAX_ROWS
    assert where(errors) == {(PARTNERS, csv_import.MAX_ROWS + 2, None)}
    assert errors[0].params == {"max": csv_import.MAX_ROWS}
    big = table([PARTNER]) + b"#" * csv_import.MAX_BYTES
    rows, errors = read(PARTNERS, big)
    assert rows == []
    assert where(errors) == {(PARTNERS, None, None)}
    assert errors[0].params == {"megabytes": 5}


def test_missing_files(session: Session) -> None:
    errors = check(session, {PARTNERS: None, LOCATIONS: b"", BENEFITS: None})
    assert where(errors) == {(PARTNERS, None, None), (LOCATIONS, None, None)}
    assert errors[0].params == {"file": "partners.csv"}


# Checking the rows ------------------------------------------------------------------------------------------------


def test_good_files_pass(session: Session) -> None:
    assert check(session, files(benefits=[BENEFIT])) == []


def test_every_field_error_carries_its_line_and_column(session: Session) -> None:
    partners = [
        PARTNER,
        {**PARTNER, "partner_key": "P2", "legal_form": "llc", "website": "not a website"},
        {**PARTNER, "partner_key": "P3", "description_de": "", "email": "nobody"},
    ]
    locations = [
        {**LOCATION, "hours_mon": "25:00-26:00", "latitude": "91", "longitude": "6.9"},
        {**LOCATION, "partner_key": "P2", "location_key": "L2", "postal_code": "10115"},
        {**LOCATION, "partner_key": "P3", "location_key": "L3", "accessibility": "step_free|lift"},
    ]
    benefits = [
        {**BENEFIT, "kind": "percent_off", "value": "150"},
        {**BENEFIT, "title_de": "", "weekdays": "mon|xyz", "requires_entitlement": "vielleicht"},
        {**BENEFIT, "title_de": "Später", "valid_from": "31.12.2030", "valid_until": "01.01.2030"},
    ]
    errors = check(session, files(partners, locations, benefits))
    assert where(errors) == {
        (PARTNERS, 3, "legal_form"),
        (PARTNERS, 3, "website"),
        (PARTNERS, 4, "description_de"),
        (PARTNERS, 4, "email"),
        (LOCATIONS, 2, "hours_mon"),
        (LOCATIONS, 2, "latitude"),
        (LOCATIONS, 3, "postal_code"),
        (LOCATIONS, 4, "accessibility"),
        (BENEFITS, 2, "value"),
        (BENEFITS, 3, "title_de"),
        (BENEFITS, 3, "weekdays"),
        (BENEFITS, 3, "requires_entitlement"),
        (BENEFITS, 4, "valid_until"),
    }
    access = next(e for e in errors if e.column == "accessibility")
    assert access.params["codes"] == "lift"
    # The weekday in an opening-hours message is filled in.
    hours = next(e for e in errors if e.column == "hours_mon")
    assert hours.params["day"] == "Montag"


def test_cells_that_look_like_formulas_are_plain_text(session: Session) -> None:
    formula = '=HYPERLINK("http://evil.example","klick")'
    partner = {**PARTNER, "name": formula, "description_de": "+49 und -5 @home", "phone": "+49 221 123456"}
    location = {**LOCATION, "name": "@SUM(1+1)"}
    given = files([partner], [location], [{**BENEFIT, "title_de": "-10 % für Kinder"}])
    assert check(session, given) == []
    rows, _ = read(PARTNERS, table([partner]))
    assert rows[0].cells["name"] == formula


def test_csv_written_back_neutralises_formula_cells() -> None:
    written = csv_import.write_csv(["=cmd", "name"], [["+1", "@x"], ["-2", "Zoo"], ["\tx", "a=b"]])
    assert written.startswith(b"\xef\xbb\xbf")
    back = list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline=""), delimiter=";"))
    # "-2" is a number, not a formula: it stays as it is (and reads back as the same value).
    assert back == [["'=cmd", "name"], ["'+1", "'@x"], ["-2", "Zoo"], ["'\tx", "a=b"]]


def test_the_error_report_names_file_line_and_column_and_is_safe(session: Session) -> None:
    raw = table([{**PARTNER, "=cmd|' /C calc'!A0": "x"}])
    report = csv_import.check_import(session, STAFF, CITY, {**files(), PARTNERS: raw})
    with i18n.use_locale("en"):
        written = csv_import.report_csv(report)
    back = list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert back[0] == ["File", "Line", "Column", "Problem"]
    assert back[1][:3] == ["partners.csv", "1", "'=cmd|' /C calc'!A0"]


def test_duplicate_keys_are_reported_on_the_later_line(session: Session) -> None:
    partners = [PARTNER, {**PARTNER, "name": "Aquarium"}]
    locations = [LOCATION, {**LOCATION, "street": "Zoostraße"}]
    errors = check(session, files(partners, locations))
    assert where(errors) == {(PARTNERS, 3, "partner_key"), (LOCATIONS, 3, "location_key")}
    assert errors[0].params == {"key": "P1"}


def test_a_benefit_naming_an_unknown_or_foreign_location_key(session: Session) -> None:
    partners = [PARTNER, {**PARTNER, "partner_key": "P2", "name": "Aquarium"}]
    locations = [LOCATION, {**LOCATION, "partner_key": "P2", "location_key": "L2", "street": "Zoostraße"}]
    benefits = [
        {**BENEFIT, "location_keys": "L1|L9"},
        {**BENEFIT, "location_keys": "L2", "title_de": "Anderes"},
        {**BENEFIT, "location_keys": "", "title_de": "Drittes"},
    ]
    errors = check(session, files(partners, locations, benefits))
    assert where(errors) == {
        (BENEFITS, 2, "location_keys"),
        (BENEFITS, 3, "location_keys"),
        (BENEFITS, 4, "location_keys"),
    }
    assert [e.params.get("key") for e in errors] == ["L9", "L2", None]


def test_unknown_partner_keys_and_partners_without_locations(session: Session) -> None:
    errors = check(
        session,
        files(
            [PARTNER, {**PARTNER, "partner_key": "P2", "name": "Aquarium"}],
            [LOCATION, {**LOCATION, "partner_key": "P7", "location_key": "L2"}],
            [{**BENEFIT, "partner_key": "P8"}],
        ),
    )
    assert where(errors) == {(PARTNERS, 3, "partner_key"), (LOCATIONS, 3, "partner_key"), (BENEFITS, 2, "partner_key")}


def test_benefits_with_the_same_title_and_overlapping_dates(session: Session) -> None:
    benefits = [
        {**BENEFIT, "valid_until": "31.12.2030"},
        {**BENEFIT, "title_de": "kinder  FREI", "valid_from": "01.06.2030", "valid_until": "31.12.2030"},
        {**BENEFIT, "valid_from": "01.01.2031"},
    ]
    errors = check(session, files(benefits=benefits))
    assert where(errors) == {(BENEFITS, 3, "title_de")}
    assert errors[0].params == {"line": 2}


def test_the_same_partner_twice_in_one_file(session: Session) -> None:
    partners = [PARTNER, {**PARTNER, "partner_key": "P2", "name": " zoo  köln"}]
    locations = [LOCATION, {**LOCATION, "partner_key": "P2", "location_key": "L2", "street": "riehler straße"}]
    errors = check(session, files(partners, locations))
    assert where(errors) == {(PARTNERS, 3, "name")}


def test_a_benefit_without_category_takes_the_partners(session: Session) -> None:
    assert check(session, files(benefits=[{**BENEFIT, "category": ""}])) == []
    errors = check(session, files(benefits=[{**BENEFIT, "category": "circus"}]))
    assert where(errors) == {(BENEFITS, 2, "category")}


def test_only_partner_managers_and_admins_may_import(session: Session) -> None:
    for role in (Role.CASEWORKER, Role.PARTNER_OWNER, Role.FAMILY):
        with pytest.raises(PermissionDenied):
            csv_import.check_import(session, Principal(role=role, user_id=uuid.uuid4()), CITY, files())


# The documentation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("city", ["koeln", "hamm"])
def test_the_example_files_pass_the_check(session: Session, city: str) -> None:
    examples = {kind: csv_import.example_file(f"{kind}.csv", load_city(city)) for kind in csv_import.KINDS}
    assert csv_import.check_import(session, STAFF, load_city(city), examples).errors == []


def test_the_readme_lists_every_column() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Importing partners from a spreadsheet") :]
    section = section[: section.index("\n## ", 3)]
    named = set(re.findall(r"`([a-z_]+)`", section))
    missing = [column.name for columns in csv_import.COLUMNS.values() for column in columns if column.name not in named]
    assert missing == []
    assert {f"{kind}.csv" for kind in csv_import.KINDS} <= set(re.findall(r"`([a-z]+\.csv)`", section))
