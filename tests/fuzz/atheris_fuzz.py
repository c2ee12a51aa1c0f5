"""Coverage-guided fuzzing of the parsers that read what strangers send, with atheris (libFuzzer for Python).

Not part of the test suite (atheris is not a dependency, and a fuzzing run has no natural end); the hypothesis tests
in tests/unit/test_fk1_fuzz.py and tests/unit/test_hostile_uploads.py check the same properties deterministically.
Run one target for a while, for example before a release or after changing a parser::

    .venv/bin/pip install atheris        # a wheel for CPython 3.11 on Linux x86-64
    .venv/bin/python -m tests.fuzz.atheris_fuzz fk1 -max_total_time=300
    .venv/bin/python -m tests.fuzz.atheris_fuzz logo -max_total_time=300 -rss_limit_mb=2048

Targets: ``fk1`` (verify_presentation), ``status-list`` (the status list token and its list), ``logo``
(process_logo), ``csv`` (the partner import's reader), ``gtfs`` (stops.txt or a GTFS zip file). Any argument after
the target goes to libFuzzer (``-help=1`` lists them; ``-runs=N`` stops after N inputs); without a corpus folder
the run starts from a few real files in a new temporary folder. A crash is a failure:
libFuzzer stops, prints the exception and writes the input to ``crash-*``; add that input to the hypothesis tests.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGETS = ("fk1", "status-list", "logo", "csv", "gtfs")


def _fk1_target() -> Callable[[bytes], None]:
    from familienkarte.credentials.fk1 import Reason, verify_presentation
    from familienkarte.credentials.jwks import keys_from_jwks
    from familienkarte.credentials.status_list import StatusList, status_lookup
    from tests.vectors.make_fk1_vectors import ISSUER_1, VECTORS_PATH, _signed

    vectors: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    keys = keys_from_jwks(vectors["jwks"])
    lookup = status_lookup({int(i): StatusList.decode(e) for i, e in vectors["status_lists"].items()})
    presentations = [case["presentation"] for case in vectors["cases"]]
    valid = {case["presentation"] for case in vectors["cases"] if case["expected"] == "ok"}
    reasons = set(Reason)
    atheris = importlib.import_module("atheris")

    def check(text: str) -> Reason:
        reason = verify_presentation(text, keys, vectors["now"], lookup).reason
        if reason not in reasons:
            raise AssertionError(f"unknown reason {reason!r}")
        return reason

    def one_input(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        mode = provider.ConsumeIntInRange(0, 2)
        if mode == 0:
            check("FK1:" + provider.ConsumeUnicodeNoSurrogates(2100))
        elif mode == 1:
            # A shared vector with a few bytes changed: deep into the verifier's later steps.
            original = presentations[provider.ConsumeIntInRange(0, len(presentations) - 1)]
            text = bytearray(original.encode("utf-8"))
            for _ in range(provider.ConsumeIntInRange(1, 4)):
                if text:
                    text[provider.ConsumeIntInRange(0, len(text) - 1)] = provider.ConsumeInt(1) & 0xFF
            changed = text.decode("utf-8", "replace")
            if check(changed) == Reason.OK and changed not in valid:
                raise AssertionError(f"a changed code passed: {changed!r}")
        else:
            # Validly signed JSON of any shape: the header and claim checks behind the signature.
            try:
                header = json.loads(provider.ConsumeUnicodeNoSurrogates(200))
                payload = json.loads(provider.ConsumeUnicodeNoSurrogates(600))
            except (ValueError, RecursionError):
                return
            check("FK1:" + _signed(header, payload, ISSUER_1))

    return one_input


def _status_list_target() -> Callable[[bytes], None]:
    from familienkarte.credentials.jwks import keys_from_jwks
    from familienkarte.credentials.status_list import StatusList, StatusListError, verify_status_list_token
    from tests.vectors.make_fk1_vectors import ISSUER_1, VECTORS_PATH, _signed

    vectors: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    keys = keys_from_jwks(vectors["jwks"])
    atheris = importlib.import_module("atheris")

    def one_input(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        try:
            if provider.ConsumeBool():
                verify_status_list_token(provider.ConsumeUnicodeNoSurrogates(4096), keys, vectors["now"])
                return
            try:
                payload = json.loads(provider.ConsumeUnicodeNoSurrogates(4096))
            except (ValueError, RecursionError):
                return
            if provider.ConsumeBool() and isinstance(payload, dict):
                StatusList.decode(payload)
            else:
                token = _signed({"alg": "ES256", "kid": "test-k1", "typ": "statuslist+jwt"}, payload, ISSUER_1)
                verify_status_list_token(token, keys, vectors["now"])
        except StatusListError:
            pass

    return one_input


def _logo_target() -> Callable[[bytes], None]:
    from familienkarte.errors import InvalidInput
    from familienkarte.partners.logos import process_logo

    def one_input(data: bytes) -> None:
        try:
            process_logo(data)
        except InvalidInput as refused:
            if [e.field for e in refused.errors] != ["logo"]:
                raise

    return one_input


def _csv_target() -> Callable[[bytes], None]:
    from familienkarte.partners import csv_import

    def one_input(data: bytes) -> None:
        errors: list[csv_import.RowError] = []
        kind = csv_import.KINDS[data[0] % len(csv_import.KINDS)] if data else csv_import.PARTNERS
        csv_import.read_rows(kind, data[1:], errors)

    return one_input


def _gtfs_target() -> Callable[[bytes], None]:
    from familienkarte.transit_import import read_stops

    def one_input(data: bytes) -> None:
        read_stops(io.BytesIO(data))

    return one_input


def _seeds(target: str) -> list[bytes]:
    """Real inputs for libFuzzer to start from (it mutates them), so the run reaches past the first checks at once."""
    if target == "logo":
        from PIL import Image

        seeds = []
        for fmt in ("PNG", "JPEG", "WEBP"):
            out = io.BytesIO()
            Image.new("RGB", (24, 16), (200, 30, 40)).save(out, format=fmt)
            seeds.append(out.getvalue())
        return seeds
    if target == "csv":
        from familienkarte.city import load_city
        from familienkarte.partners import csv_import

        city = load_city("koeln")
        return [bytes([index]) + csv_import.example_csv(kind, city) for index, kind in enumerate(csv_import.KINDS)]
    if target == "gtfs":
        stops = (Path(__file__).resolve().parents[1] / "data" / "gtfs" / "stops.txt").read_bytes()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("agency.txt", b"agency_id,agency_name\n1,Example\n")
            archive.writestr("stops.txt", stops)
        return [stops, out.getvalue()]
    return []


FACTORIES: dict[str, Callable[[], Callable[[bytes], None]]] = {
    "fk1": _fk1_target,
    "status-list": _status_list_target,
    "logo": _logo_target,
    "csv": _csv_target,
    "gtfs": _gtfs_target,
}


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in FACTORIES:
        sys.exit(f"usage: python -m tests.fuzz.atheris_fuzz {{{','.join(TARGETS)}}} [libFuzzer options]")
    try:
        atheris = importlib.import_module("atheris")
    except ImportError:
        sys.exit("atheris is not installed: .venv/bin/pip install atheris")
    with atheris.instrument_imports(include=["familienkarte"]):
        one_input = FACTORIES[argv[1]]()
    options = argv[2:]
    if not any(not option.startswith("-") for option in options):
        # No corpus folder given: start from the seeds, in a folder that libFuzzer may add to.
        corpus = Path(tempfile.mkdtemp(prefix=f"fk-fuzz-{argv[1]}-"))
        for index, seed in enumerate(_seeds(argv[1])):
            (corpus / f"seed-{index}").write_bytes(seed)
        options.append(str(corpus))
    if not any(option.startswith("-max_len=") for option in options):
        options.append("-max_len=65536")
    atheris.Setup([argv[0], *options], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
