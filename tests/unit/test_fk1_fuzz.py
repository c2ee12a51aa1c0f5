"""Whatever a camera or a keyboard delivers, the verifier answers with a reason code and never raises;
and no change to a valid code makes it pass."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from familienkarte.credentials.fk1 import Reason, verify_presentation
from familienkarte.credentials.jwks import keys_from_jwks
from familienkarte.credentials.status_list import StatusList, status_lookup
from tests.vectors.make_fk1_vectors import VECTORS_PATH

VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
KEYS = keys_from_jwks(VECTORS["jwks"])
LOOKUP = status_lookup({int(i): StatusList.decode(encoded) for i, encoded in VECTORS["status_lists"].items()})
VALID = [case["presentation"] for case in VECTORS["cases"] if case["expected"] == "ok"]
PRESENTATION_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:=+/ "
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def verify(text: str) -> Reason:
    result = verify_presentation(text, KEYS, VECTORS["now"], LOOKUP)
    assert result.reason in set(Reason)
    return result.reason


@FUZZ
@given(st.text(max_size=2100))
def test_arbitrary_text(text: str) -> None:
    verify(text)


@FUZZ
@given(st.text(alphabet=PRESENTATION_CHARACTERS, max_size=600))
def test_text_that_looks_like_a_code(text: str) -> None:
    assert verify("FK1:" + text) != Reason.OK


@FUZZ
@given(st.binary(max_size=600))
def test_binary_garbage_behind_the_prefix(data: bytes) -> None:
    verify("FK1:" + data.decode("latin-1"))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    original = draw(st.sampled_from(VALID))
    text = original
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "swap_parts"]))
        character = draw(st.sampled_from(PRESENTATION_CHARACTERS))
        if kind == "replace" and position < len(text):
            text = text[:position] + character + text[position + 1 :]
        elif kind == "insert":
            text = text[:position] + character + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + 1 :]
        elif kind == "truncate":
            text = text[:position]
        elif kind == "swap_parts":
            parts = text.split(".")
            if len(parts) > 1:
                i, j = draw(st.integers(0, len(parts) - 1)), draw(st.integers(0, len(parts) - 1))
                parts[i], parts[j] = parts[j], parts[i]
                text = ".".join(parts)
    return original, text


@FUZZ
@given(mutated())
def test_a_changed_valid_code_never_passes(pair: tuple[str, str]) -> None:
    original, text = pair
    reason = verify(text)
    if text != original:
        assert reason != Reason.OK
