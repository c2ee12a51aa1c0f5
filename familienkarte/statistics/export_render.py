"""Writing an export table as CSV or XLSX: the same sheet in both, every text cell made safe for spreadsheets.

A sheet is: a title line, one line per filter ("From", "2026-07-01"), notes, an empty line, the header row, the
rows (the last one usually the total). Numbers stay numbers (XLSX cells of type number; CSV without thousands
separators); a hidden figure is the marker text (e.g. "< 5"); a share is a number formatted as a percentage in XLSX
and a decimal fraction in CSV.

Formula injection (CSV injection): a spreadsheet runs a text cell that begins with ``=``, ``+``, ``-`` or ``@``
(and, in some programs, a tab or carriage return followed by one) as a formula. Partner names and benefit titles
are typed by partners, so every text cell goes through :func:`neutralise`, which puts an apostrophe in front of
such a text (the one guard in :mod:`familienkarte.spreadsheets`, shared with every other CSV the service writes).
Numbers are written as numbers, never as text, so a negative number stays a number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.cell import Cell as XlsxCell
from openpyxl.styles import Font

from familienkarte.spreadsheets import neutralise

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel opens a UTF-8 CSV with umlauts correctly only when it begins with a byte order mark.
CSV_BOM: Final = "\ufeff"
# An Excel sheet name has at most 31 characters and none of these.
SHEET_NAME_MAX: Final = 31
SHEET_NAME_FORBIDDEN: Final = "[]:*?/\\"
PERCENT_FORMAT: Final = "0.0%"


@dataclass(frozen=True, slots=True)
class Share:
    """A share between 0 and 1, shown as a percentage."""

    value: float


@dataclass(frozen=True, slots=True)
class Hidden:
    """A figure hidden by the suppression rule; ``text`` is the marker in the reader's language, e.g. "< 5"."""

    text: str


Cell: TypeAlias = str | int | Share | Hidden | None


@dataclass(frozen=True)
class Sheet:
    title: str
    # (label, value) pairs stated above the table: the filters and the period.
    about: Sequence[tuple[str, str]]
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    notes: Sequence[str] = field(default_factory=tuple)


def _lines(sheet: Sheet) -> list[list[Cell]]:
    lines: list[list[Cell]] = [[sheet.title]]
    lines.extend([label, value] for label, value in sheet.about)
    lines.extend([note] for note in sheet.notes)
    lines.append([])
    return lines


def _csv_cell(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        raise TypeError("a cell is never a bool")
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, Share):
        return f"{cell.value:.4f}"
    if isinstance(cell, Hidden):
        return neutralise(cell.text)
    return neutralise(cell)


def render_csv(sheet: Sheet) -> bytes:
    """The sheet as CSV (RFC 4180: commas, CRLF, quotes where needed), UTF-8 with a byte order mark."""
    buffer = io.StringIO()
    buffer.write(CSV_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    lines: list[Sequence[Cell]] = [*_lines(sheet), list(sheet.header), *sheet.rows]
    for line in lines:
        writer.writerow([_csv_cell(cell) for cell in line])
    return buffer.getvalue().encode("utf-8")


def _xlsx_text(text: str) -> str:
    # Control characters other than tab, newline and carriage return cannot be stored in an XLSX file.
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", text))


def sheet_name(title: str) -> str:
    cleaned = "".join(" " if char in SHEET_NAME_FORBIDDEN else char for char in title).strip()
    return (cleaned or "Export")[:SHEET_NAME_MAX]


def render_xlsx(sheet: Sheet, *, created: dt.datetime | None = None) -> bytes:
    """The sheet as an XLSX workbook of one worksheet: numbers as numbers, the header row bold and frozen."""
    book = Workbook(write_only=True)
    if created is not None:
        # The workbook's properties say when the export was made.
        book.properties.created = created.replace(tzinfo=None)
        book.properties.modified = created.replace(tzinfo=None)
    worksheet = book.create_sheet(sheet_name(sheet.title))
    lines = _lines(sheet)
    worksheet.freeze_panes = f"A{len(lines) + 2}"
    bold = Font(bold=True)

    def styled(value: str, font: Font) -> XlsxCell:
        cell = WriteOnlyCell(worksheet, value=_xlsx_text(value))
        cell.font = font
        return cell

    for index, line in enumerate(lines):
        worksheet.append([styled(str(cell), bold) if index == 0 else _xlsx_value(worksheet, cell) for cell in line])
    worksheet.append([styled(text, bold) for text in sheet.header])
    for row in sheet.rows:
        worksheet.append([_xlsx_value(worksheet, cell) for cell in row])
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def _xlsx_value(worksheet: Any, cell: Cell) -> object:
    if cell is None:
        return None
    if isinstance(cell, bool):
        raise TypeError("a cell is never a bool")
    if isinstance(cell, int):
        return cell
    if isinstance(cell, Share):
        written = WriteOnlyCell(worksheet, value=cell.value)
        written.number_format = PERCENT_FORMAT
        return written
    if isinstance(cell, Hidden):
        return _xlsx_text(cell.text)
    return _xlsx_text(cell)
