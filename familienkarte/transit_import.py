"""The import of public transport stops from a GTFS ``stops.txt`` (``familienkarte transit import FILE``).

The file replaces every stop at once: it is read and checked completely first, and only a file without a single
bad row is written, in the caller's transaction, so a failed import leaves the previous stops as they were. The
report names every problem with its line (the header is line 1) and column, so that the person importing can fix
the file in one go. Stops (``location_type`` 0 or empty) and stations (1) are imported; entrances, generic
nodes and boarding areas (2, 3, 4) are points inside a station that families do not look for, and are skipped.

The file may also be the GTFS feed itself, a zip file: only its ``stops.txt`` is read, in memory, never unpacked to
disk. A feed comes from outside, so the zip file is refused when it holds too many files, a name that would lead
out of a folder (``../``, ``/etc``), a ``stops.txt`` that unpacks to more than the limit or far more than its packed
size (a zip bomb), or a ``stops.txt`` that is itself a zip file.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from familienkarte.db import utcnow
from familienkarte.partners.models import TransitStop

MAX_BYTES: Final = 50 * 1024 * 1024
# A GTFS feed (a zip file) holds a few dozen files, and compressed CSV text is rarely a tenth of its size; a zip
# file beyond these limits is not a feed but an attack (a zip bomb, or a directory walk for someone who unpacks it).
MAX_FEED_BYTES: Final = 1024 * 1024 * 1024
MAX_ZIP_MEMBERS: Final = 1000
MAX_COMPRESSION_RATIO: Final = 100
ZIP_MAGIC: Final = b"PK\x03\x04"
STOPS_FILE: Final = "stops.txt"
REQUIRED_COLUMNS: Final = ("stop_id", "stop_name", "stop_lat", "stop_lon")
STOP_TYPES: Final = {"": "stop", "0": "stop", "1": "station"}
# Entrance or exit, generic node, boarding area: parts of a station, not places to walk to.
SKIPPED_TYPES: Final = frozenset({"2", "3", "4"})
# The lengths of TransitStop's columns.
MAX_ID_LENGTH: Final = 64
MAX_NAME_LENGTH: Final = 200
_INSERT_BATCH: Final = 1000


@dataclass(frozen=True)
class ImportProblem:
    """Something wrong with the file: ``line`` and ``column`` are None for problems of the whole file."""

    message: str
    line: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class ImportReport:
    """What an import did. With problems, nothing was changed and the counts are those the file would give."""

    stops: int = 0
    stations: int = 0
    skipped: int = 0
    replaced: int = 0
    problems: list[ImportProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def imported(self) -> int:
        return self.stops + self.stations

    @property
    def bad_lines(self) -> list[int]:
        """The lines with problems, in order, each once."""
        return sorted({p.line for p in self.problems if p.line is not None})


@dataclass(frozen=True)
class Stop:
    stop_id: str
    name: str
    latitude: float
    longitude: float
    station: bool


def import_stops(session: Session, source: str | Path | BinaryIO, *, max_bytes: int = MAX_BYTES) -> ImportReport:
    """Replace every transit stop with those of the GTFS ``stops.txt`` at ``source`` (a path or a binary file).

    Returns the report; when it has problems, the database was not touched."""
    stops, skipped, problems = read_stops(source, max_bytes=max_bytes)
    stations = sum(1 for stop in stops if stop.station)
    if problems:
        return ImportReport(stops=len(stops) - stations, stations=stations, skipped=skipped, problems=problems)
    replaced = session.scalar(select(func.count()).select_from(TransitStop)) or 0
    session.execute(delete(TransitStop))
    now = utcnow()
    rows = [
        {"stop_id": s.stop_id, "name": s.name, "latitude": s.latitude, "longitude": s.longitude, "imported_at": now}
        for s in stops
    ]
    for start in range(0, len(rows), _INSERT_BATCH):
        session.execute(insert(TransitStop), rows[start : start + _INSERT_BATCH])
    session.flush()
    return ImportReport(stops=len(stops) - stations, stations=stations, skipped=skipped, replaced=replaced)


def read_stops(
    source: str | Path | BinaryIO, *, max_bytes: int = MAX_BYTES
) -> tuple[list[Stop], int, list[ImportProblem]]:
    """The stops and stations of the file, the number of rows skipped, and every problem found."""
    data, problem = _read(source, max_bytes)
    if problem is not None:
        return [], 0, [problem]
    return parse_stops(data)


def _read(source: str | Path | BinaryIO, max_bytes: int) -> tuple[bytes, ImportProblem | None]:
    """The bytes of the stops.txt at ``source``, which is either that file or a GTFS feed (a zip file) holding it."""
    too_large = ImportProblem(f"The file is larger than {_size(max_bytes)}, the limit for a stops.txt.")
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            with path.open("rb") as handle:
                if handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC:
                    return _read_feed(handle, path.stat().st_size, max_bytes)
                if path.stat().st_size > max_bytes:
                    return b"", too_large
                handle.seek(0)
                data = handle.read(max_bytes + 1)
        except OSError as exc:
            return b"", ImportProblem(f"Cannot read the file: {exc.strerror or exc}.")
    else:
        data = source.read(max_bytes + 1)
        if data.startswith(ZIP_MAGIC):
            # A stream cannot seek: the zip file is read into memory, up to the feed's limit.
            data += source.read(MAX_FEED_BYTES + 1 - len(data))
            return _read_feed(io.BytesIO(data), len(data), max_bytes)
    if len(data) > max_bytes:
        return b"", too_large
    return data, None


def _unsafe_name(name: str) -> bool:
    """A member name that would be written outside the folder it is unpacked in."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":") or "\x00" in name


def _read_feed(handle: BinaryIO, size: int, max_bytes: int) -> tuple[bytes, ImportProblem | None]:
    """The stops.txt of a GTFS feed, read from the zip file in memory after checking the zip file's shape."""

    def refuse(message: str) -> tuple[bytes, ImportProblem]:
        return b"", ImportProblem(message)

    if size > MAX_FEED_BYTES:
        return refuse(f"The zip file is larger than {_size(MAX_FEED_BYTES)}, the limit for a GTFS feed.")
    try:
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                return refuse(
                    f"The zip file holds {len(members)} files; a GTFS feed has at most {MAX_ZIP_MEMBERS}. "
                    "Please use the feed as its publisher offers it."
                )
            unsafe = next((m.filename for m in members if _unsafe_name(m.filename)), None)
            if unsafe is not None:
                return refuse(
                    f"The zip file holds a file named {unsafe!r}, which points outside the feed's folder; "
                    "it was not read."
                )
            stops = [m for m in members if m.filename == STOPS_FILE]
            if not stops:
                nested = next((m.filename for m in members if m.filename.lower().endswith(".zip")), None)
                hint = f" It holds another zip file, {nested!r}: unpack that one first." if nested else ""
                return refuse(f"The zip file has no {STOPS_FILE} at its top level.{hint}")
            if len(stops) > 1:
                return refuse(f"The zip file holds {STOPS_FILE} {len(stops)} times; it must hold it once.")
            member = stops[0]
            if member.flag_bits & 0x1:
                return refuse(f"{STOPS_FILE} in the zip file is encrypted; please use an unencrypted feed.")
            if member.file_size > max_bytes:
                return refuse(
                    f"{STOPS_FILE} in the zip file unpacks to more than {_size(max_bytes)}, the limit for a stops.txt."
                )
            if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
                return refuse(
                    f"{STOPS_FILE} in the zip file unpacks to more than {MAX_COMPRESSION_RATIO} times its packed size; "
                    "a real feed does not, so it was not read."
                )
            with archive.open(member) as stream:
                # The zip module stops at the declared size and checks the CRC, so a lying header fails here.
                data = stream.read(max_bytes + 1)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
    ) as exc:
        detail = f" ({exc})" if str(exc) else ""
        return refuse(f"The zip file is damaged or packed in a way that cannot be read{detail}.")
    if len(data) > max_bytes:
        return refuse(
            f"{STOPS_FILE} in the zip file unpacks to more than {_size(max_bytes)}, the limit for a stops.txt."
        )
    if data.startswith(ZIP_MAGIC):
        return refuse(f"{STOPS_FILE} in the zip file is itself a zip file; please unpack it first.")
    return data, None


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MB" if count >= 1024 * 1024 else f"{count} bytes"


def parse_stops(data: bytes) -> tuple[list[Stop], int, list[ImportProblem]]:
    """The stops and stations of a ``stops.txt``, the number of rows skipped, and every problem found."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], 0, [ImportProblem("The file is not UTF-8 text (GTFS files are UTF-8).", line=line)]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], 0, [ImportProblem(f"The header cannot be read as CSV: {exc}.", line=1)]
    if not header or not any(cell.strip() for cell in header):
        return [], 0, [ImportProblem("The file is empty: a stops.txt starts with a header line of column names.")]
    columns = [cell.strip() for cell in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        return [], 0, [ImportProblem(_missing_columns(missing), line=1)]
    wanted = (*REQUIRED_COLUMNS, "location_type")
    index: dict[str, int] = {name: columns.index(name) for name in wanted if name in columns}

    stops: list[Stop] = []
    skipped = 0
    problems: list[ImportProblem] = []
    first_line: dict[str, int] = {}
    previous_end = reader.line_num
    try:
        for cells in reader:
            line = previous_end + 1
            previous_end = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            row: dict[str, str] = {name: (cells[i].strip() if i < len(cells) else "") for name, i in index.items()}
            kind = row.get("location_type", "")
            if kind in SKIPPED_TYPES:
                skipped += 1
                continue
            stop, row_problems = _stop(row, line, first_line)
            problems.extend(row_problems)
            if stop is not None:
                stops.append(stop)
    except csv.Error as exc:
        problems.append(ImportProblem(f"The line cannot be read as CSV: {exc}.", line=previous_end + 1))
    return stops, skipped, problems


def _missing_columns(missing: Iterable[str]) -> str:
    names = ", ".join(missing)
    return f"The header lacks the column(s) {names}; a stops.txt needs {', '.join(REQUIRED_COLUMNS)}."


def _stop(row: dict[str, str], line: int, first_line: dict[str, int]) -> tuple[Stop | None, list[ImportProblem]]:
    problems: list[ImportProblem] = []

    def bad(column: str, message: str) -> None:
        problems.append(ImportProblem(message, line=line, column=column))

    kind = row.get("location_type", "")
    if kind not in STOP_TYPES:
        bad("location_type", f"Unknown location type {kind!r} (0 to 4).")
    stop_id = row["stop_id"]
    if not stop_id:
        bad("stop_id", "The stop has no id.")
    elif len(stop_id) > MAX_ID_LENGTH:
        bad("stop_id", f"The id is longer than {MAX_ID_LENGTH} characters.")
    elif stop_id in first_line:
        bad("stop_id", f"The id {stop_id!r} is already used on line {first_line[stop_id]}.")
    else:
        first_line[stop_id] = line
    name = row["stop_name"]
    if not name:
        bad("stop_name", "The stop has no name.")
    elif len(name) > MAX_NAME_LENGTH:
        bad("stop_name", f"The name is longer than {MAX_NAME_LENGTH} characters.")
    latitude = _coordinate(row["stop_lat"], 90, "stop_lat", bad)
    longitude = _coordinate(row["stop_lon"], 180, "stop_lon", bad)
    if problems or latitude is None or longitude is None:
        return None, problems
    return Stop(stop_id, name, latitude, longitude, STOP_TYPES[kind] == "station"), problems


def _coordinate(raw: str, limit: int, column: str, report: Callable[[str, str], None]) -> float | None:
    if not raw:
        report(column, "The coordinate is missing.")
        return None
    try:
        value = float(raw)
    except ValueError:
        report(column, f"{raw!r} is not a number (decimal degrees with a point, such as 50.9413).")
        return None
    if not math.isfinite(value) or not -limit <= value <= limit:
        report(column, f"{raw} is out of range (-{limit} to {limit}).")
        return None
    return value
