"""Uploads built to hurt: every one is refused with a message that names the field (or the file, line and column),
and none crashes the service, fills its memory or slips something into what is stored.

Logos (partners.logos), the partner import's CSV files (partners.csv_import) and the GTFS stops import
(transit_import)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.errors import InvalidInput
from familienkarte.partners import csv_import
from familienkarte.partners.csv_import import LOCATIONS, PARTNERS, RowError
from familienkarte.partners.logos import MAX_BYTES, MAX_PIXELS, process_logo
from familienkarte.transit_import import (
    MAX_COMPRESSION_RATIO,
    MAX_ZIP_MEMBERS,
    ImportProblem,
    read_stops,
)
from tests.unit.test_csv_import import CITY, LOCATION, PARTNER, STAFF, files, read, table, where
from tests.unit.test_logos import _png_declaring, decoded, image_bytes, refusal
from tests.unit.test_transit_import import HEADER

# Derandomised and without the example database: every run, in CI too, tries the same inputs.
FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
TOO_MANY_PIXELS = "too many pixels"
NOT_AN_IMAGE = "not a PNG, JPEG or WebP image"
DAMAGED = "cannot be read"


# --- logos ---------------------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def real_png_bomb(width: int, height: int) -> bytes:
    """A complete, valid greyscale PNG of the given size whose pixels (all black) compress to almost nothing."""
    row = b"\x00" + b"\x00" * width  # filter byte, then one byte per pixel
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) claims the given size."""
    raw = bytearray(image_bytes("JPEG", size=(8, 8)))
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(raw)


def webp_declaring(width: int, height: int) -> bytes:
    """An extended WebP (VP8X) whose canvas claims the given size (at most 16384 on each side)."""
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + canvas
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_a_50000_by_50000_png_of_a_few_bytes_is_refused_by_its_header() -> None:
    bomb = _png_declaring(50_000, 50_000)
    assert len(bomb) < 100
    assert TOO_MANY_PIXELS in refusal(bomb)


def test_a_complete_png_bomb_is_refused_before_its_pixels_are_unpacked() -> None:
    # A real image: decoding it would succeed (and take 30 MB); the limit is 25 megapixels.
    bomb = real_png_bomb(6_000, 5_000)
    assert len(bomb) < 100_000
    assert MAX_PIXELS < 6_000 * 5_000
    assert TOO_MANY_PIXELS in refusal(bomb)


@pytest.mark.parametrize(
    "make",
    [lambda: jpeg_declaring(60_000, 60_000), lambda: webp_declaring(16_384, 16_384)],
    ids=["jpeg", "webp"],
)
def test_jpeg_and_webp_bombs_are_refused_by_their_header(make: Callable[[], bytes]) -> None:
    assert TOO_MANY_PIXELS in refusal(make())


def test_the_size_limit_is_checked_before_the_image_is_opened() -> None:
    # A bomb header padded past 2 MB: the size refusal comes first, so nothing was decoded.
    oversized = _png_declaring(100_000, 100_000) + b"\x00" * MAX_BYTES
    assert "at most 2 MB" in refusal(oversized)


HOSTILE_FILES = {
    "svg with a script": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<script>alert(document.cookie)</script><rect width="64" height="64"/></svg>',
    "html renamed to .png": b"<!DOCTYPE html><html><body><script>fetch('/api/v1/me')</script></body></html>",
    "pdf": b"%PDF-1.7\n1 0 obj<</Type/Catalog/Pages 2 0 R/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n",
    "bmp": image_bytes("BMP"),
    "tiff": image_bytes("TIFF"),
    "ico": image_bytes("ICO", size=(32, 32)),
    "a zip file": b"PK\x03\x04" + b"\x00" * 200,
    "png signature and text": b"\x89PNG\r\n\x1a\n<script>alert(1)</script>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_files_that_are_not_png_jpeg_or_webp_are_refused(name: str) -> None:
    message = refusal(HOSTILE_FILES[name])
    assert NOT_AN_IMAGE in message or DAMAGED in message


def test_an_animated_gif_with_many_frames_is_refused() -> None:
    frames = [Image.new("P", (16, 16), index % 256) for index in range(300)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=10, loop=0)
    assert NOT_AN_IMAGE in refusal(out.getvalue())


def test_an_animated_png_with_many_frames_is_refused() -> None:
    frames = [Image.new("RGB", (16, 16), (index % 256, 0, 0)) for index in range(300)]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:], duration=10)
    assert "Animated images" in refusal(out.getvalue())


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("kept", [0.1, 0.5, 0.9])
def test_a_truncated_image_is_refused(fmt: str, kept: float) -> None:
    raw = image_bytes(fmt, size=(300, 200))
    message = refusal(raw[: int(len(raw) * kept)])
    assert DAMAGED in message or NOT_AN_IMAGE in message


def test_a_script_appended_to_a_real_png_is_not_stored() -> None:
    polyglot = image_bytes("PNG") + b"<script>alert('stored')</script>"
    stored = process_logo(polyglot).data
    assert b"<script>" not in stored
    assert decoded(stored).size == (64, 48)


@FUZZ
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "WEBP"]),
    changes=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_a_damaged_image_is_stored_clean_or_refused_on_the_logo_field(
    fmt: str, changes: list[tuple[float, int]]
) -> None:
    raw = bytearray(image_bytes(fmt, size=(40, 30)))
    for where_, value in changes:
        raw[int(where_ * len(raw))] = value
    refused: InvalidInput | None = None
    try:
        logo = process_logo(bytes(raw))
    except InvalidInput as exc:
        refused = exc
    if refused is not None:
        assert [e.field for e in refused.errors] == ["logo"]
    else:
        assert decoded(logo.data).format == "PNG"


# --- the partner import's CSV files --------------------------------------------------------------------------------


def english(error: RowError) -> str:
    with i18n.use_locale("en"):
        return i18n.gettext(error.message, **error.params)


@pytest.mark.parametrize(
    "raw",
    [
        image_bytes("PNG"),
        bytes(range(256)) * 64,
        "partner_key;name\r\nP1;Zoo Köln\r\n".encode("utf-16"),
        "partner_key;name\r\nP1;Zoo Köln\r\n".encode("latin-1"),
    ],
    ids=["png", "binary", "utf-16", "latin-1"],
)
def test_binary_and_wrongly_encoded_files_are_refused_with_the_file_named(raw: bytes) -> None:
    rows, errors = read(PARTNERS, raw)
    assert rows == []
    assert len(errors) == 1
    assert errors[0].file_name == "partners.csv"
    assert "not in UTF-8" in english(errors[0])


def test_a_file_over_5_mb_is_refused_before_it_is_read() -> None:
    rows, errors = read(PARTNERS, b"\x00\xff" * (csv_import.MAX_BYTES // 2 + 1))
    assert rows == []
    assert [english(e) for e in errors] == ["The file is larger than 5 MB."]


def test_a_cell_over_the_csv_length_limit_names_its_line() -> None:
    raw = table([PARTNER, {**PARTNER, "partner_key": "P2", "description_de": "x" * 200_000}, PARTNER])
    rows, errors = read(PARTNERS, raw)
    assert len(rows) == 1
    assert where(errors) == {(PARTNERS, 3, None)}
    assert "longer than 131072 characters" in english(errors[0])


def test_a_quotation_mark_that_is_never_closed_names_its_line() -> None:
    raw = table([PARTNER]) + b'P2;"Zoo' + b"x" * 200_000 + b"\r\n"
    _rows, errors = read(PARTNERS, raw)
    assert where(errors) == {(PARTNERS, 3, None)}
    assert "quotation mark is not closed" in english(errors[0])


def test_long_cells_within_the_csv_limit_are_refused_on_their_column(db: Callable[[], Session]) -> None:
    partner = {**PARTNER, "name": "Zoo " * 10_000, "partner_key": "K" * 10_000}
    with db() as session:
        errors = csv_import.check_import(session, STAFF, CITY, files([partner])).errors
    messages = {(e.column, english(e)) for e in errors if e.file == PARTNERS}
    assert ("name", "Please use at most 200 characters here.") in messages
    assert ("partner_key", "Please use at most 64 characters here.") in messages


@pytest.mark.parametrize(("column", "value"), [("name", "Zoo\x00Köln"), ("partner_key", "P\x001")])
def test_nul_bytes_and_control_characters_are_refused_on_their_column(
    db: Callable[[], Session], column: str, value: str
) -> None:
    partner = {**PARTNER, column: value}
    location = {**LOCATION, "partner_key": partner["partner_key"]}
    with db() as session:
        errors = csv_import.check_import(session, STAFF, CITY, files([partner], [location])).errors
    refused = [e for e in errors if e.column == column]
    assert refused
    assert all(e.line == 2 for e in refused)
    assert "characters that cannot be used" in english(refused[0])


def test_a_header_of_a_million_separators_is_refused_on_line_1() -> None:
    rows, errors = read(PARTNERS, b";" * 1_000_000 + b"\r\nP1;Zoo\r\n")
    assert rows == []
    assert where(errors) == {(PARTNERS, 1, None)}
    assert "must name the columns" in english(errors[0])


def test_a_row_with_a_million_cells_is_refused_on_its_line() -> None:
    raw = table([PARTNER]) + b"P2" + b";x" * 1_000_000 + b"\r\n"
    rows, errors = read(PARTNERS, raw)
    assert len(rows) == 1
    assert where(errors) == {(PARTNERS, 3, None)}
    assert "1000001 cells" in english(errors[0])


def test_more_rows_than_the_limit_are_refused_even_with_empty_lines_between() -> None:
    raw = table([PARTNER]) + b"P2;Zoo;gmbh;leisure;Tiere\r\n\r\n" * csv_import.MAX_ROWS
    rows, errors = read(PARTNERS, raw)
    assert len(rows) == csv_import.MAX_ROWS
    assert [english(e) for e in errors] == [f"The file has more than {csv_import.MAX_ROWS} rows. Please split it."]


@FUZZ
@given(st.sampled_from([PARTNERS, LOCATIONS]), st.binary(max_size=2000))
def test_any_bytes_are_read_or_refused_with_the_file_named(kind: str, raw: bytes) -> None:
    errors: list[RowError] = []
    csv_import.read_rows(kind, raw, errors)
    for error in errors:
        assert error.file == kind
        assert english(error)


# --- GTFS stops: stops.txt or the feed as a zip file ----------------------------------------------------------------

STOPS = f"{HEADER}\ns1,Halt Neumarkt,50.9,6.9,0\ns2,Halt Dom,50.94,6.95,1\n".encode()


def zipped(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def problems_of(data: bytes, tmp_path: Path, **limits: int) -> list[ImportProblem]:
    """The problems of ``data`` read as an open file and as a path; both ways must say the same."""
    _stops, _skipped, from_stream = read_stops(io.BytesIO(data), **limits)
    path = tmp_path / "feed.zip"
    path.write_bytes(data)
    _stops, _skipped, from_path = read_stops(path, **limits)
    assert from_stream == from_path
    return from_path


def only_message(problems: list[ImportProblem]) -> str:
    assert len(problems) == 1
    assert problems[0].line is None
    return problems[0].message


def test_the_stops_of_a_gtfs_feed_zip_are_read(tmp_path: Path) -> None:
    feed = zipped({"agency.txt": b"agency_id,agency_name\n1,KVB\n", "stops.txt": STOPS, "routes.txt": b"route_id\n"})
    path = tmp_path / "gtfs.zip"
    path.write_bytes(feed)
    stops, skipped, problems = read_stops(path)
    assert (problems, skipped) == ([], 0)
    assert [(s.stop_id, s.name, s.station) for s in stops] == [("s1", "Halt Neumarkt", False), ("s2", "Halt Dom", True)]


def test_a_zip_bomb_is_refused_by_its_unpacked_size(tmp_path: Path) -> None:
    # 60 MB of one repeated line pack into about 60 kB.
    bomb = zipped({"stops.txt": STOPS + b"s3,Halt,50.9,6.9,0\n" * 3_200_000})
    assert len(bomb) < 200_000
    assert "unpacks to more than 50 MB" in only_message(problems_of(bomb, tmp_path))


def test_a_zip_bomb_below_the_size_limit_is_refused_by_its_compression_ratio(tmp_path: Path) -> None:
    bomb = zipped({"stops.txt": STOPS + b" " * 5_000_000})
    message = only_message(problems_of(bomb, tmp_path))
    assert f"more than {MAX_COMPRESSION_RATIO} times its packed size" in message


def test_a_zip_whose_header_understates_the_unpacked_size_is_refused(tmp_path: Path) -> None:
    honest = zipped({"stops.txt": STOPS * 10})
    # Rewrite the declared size in both headers to 10 bytes: the real data is longer.
    lying = bytearray(honest)
    local = lying.index(b"PK\x03\x04")
    lying[local + 22 : local + 26] = struct.pack("<I", 10)
    central = lying.index(b"PK\x01\x02")
    lying[central + 24 : central + 28] = struct.pack("<I", 10)
    message = only_message(problems_of(bytes(lying), tmp_path))
    assert "damaged" in message


@pytest.mark.parametrize("name", ["../stops.txt", "../../etc/cron.d/x", "/etc/passwd", "feed/../../x", "C:evil.txt"])
def test_a_zip_with_a_name_that_leads_out_of_its_folder_is_refused(name: str, tmp_path: Path) -> None:
    feed = zipped({"stops.txt": STOPS, name: b"x"})
    message = only_message(problems_of(feed, tmp_path))
    assert "points outside the feed's folder" in message
    assert repr(name) in message


def test_a_zip_inside_a_zip_is_not_unpacked(tmp_path: Path) -> None:
    inner = zipped({"stops.txt": STOPS})
    message = only_message(problems_of(zipped({"gtfs.zip": inner}), tmp_path))
    assert "no stops.txt at its top level" in message
    assert "'gtfs.zip': unpack that one first" in message
    message = only_message(problems_of(zipped({"stops.txt": inner}), tmp_path))
    assert "stops.txt in the zip file is itself a zip file" in message


def test_a_zip_with_too_many_files_is_refused(tmp_path: Path) -> None:
    feed = zipped({"stops.txt": STOPS, **{f"f{i}.txt": b"" for i in range(MAX_ZIP_MEMBERS)}}, method=zipfile.ZIP_STORED)
    assert f"a GTFS feed has at most {MAX_ZIP_MEMBERS}" in only_message(problems_of(feed, tmp_path))


def test_a_zip_without_stops_txt_or_with_it_twice_is_refused(tmp_path: Path) -> None:
    assert "no stops.txt at its top level." in only_message(problems_of(zipped({"feed/stops.txt": STOPS}), tmp_path))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("stops.txt", STOPS)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("stops.txt", STOPS)
    assert "holds stops.txt 2 times" in only_message(problems_of(out.getvalue(), tmp_path))


def test_a_huge_stops_txt_in_a_stored_zip_is_refused_by_its_size(tmp_path: Path) -> None:
    feed = zipped({"stops.txt": STOPS + b"s3,Halt,50.9,6.9,0\n" * 1000}, method=zipfile.ZIP_STORED)
    message = only_message(problems_of(feed, tmp_path, max_bytes=10_000))
    assert "unpacks to more than 10000 bytes" in message


@pytest.mark.parametrize("kept", [0.1, 0.5, 0.9])
def test_a_truncated_zip_is_refused(kept: float, tmp_path: Path) -> None:
    feed = zipped({"stops.txt": STOPS})
    message = only_message(problems_of(feed[: int(len(feed) * kept)], tmp_path))
    assert "damaged" in message


@FUZZ
@given(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6))
def test_a_damaged_feed_is_read_or_refused_never_a_crash(changes: list[tuple[float, int]]) -> None:
    raw = bytearray(zipped({"agency.txt": b"agency_id\n1\n", "stops.txt": STOPS}))
    for where_, value in changes:
        raw[int(where_ * len(raw))] = value
    stops, skipped, problems = read_stops(io.BytesIO(bytes(raw)))
    assert problems or stops or skipped
    assert all(problem.message for problem in problems)
