"""Whatever a camera or a keyboard delivers, the verifier answers with a reason code and never raises;
and no change to a valid code makes it pass.

Beyond random text: every single-character change and every truncation of the shared vectors' valid codes;
tokens validly signed by the test-only keys around headers that try the known JOSE tricks (``alg`` none or HS256,
``kid`` paths, ``crit``, ``typ``, embedded keys) and around claims of every JSON type; status indexes and list ids
out of range; huge, deeply nested and non-ASCII input; and the status list token, whose reader may raise only
``StatusListError``. Every property is checked against the contract's table (CREDENTIAL.md), not against the
verifier's code. Hypothesis runs derandomised and without its example database, so CI tries the same inputs
every time.

One change to a valid code does pass, and it is harmless: ECDSA signatures come in pairs, ``(r, s)`` and
``(r, n - s)``, both valid for the same message (JWS and WebCrypto accept both). The twin of a printed code names
the same card with the same claims, so it grants nothing the original does not; the twin of a phone credential
fails the device proof, which signs the credential's signature text (:func:`test_the_ecdsa_twin_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from familienkarte.credentials.fk1 import (
    MAX_PRESENTATION_LENGTH,
    IssuerKey,
    JWSError,
    Reason,
    b64url_decode,
    b64url_encode,
    public_jwk,
    verify_jws,
    verify_presentation,
)
from familienkarte.credentials.jwks import keys_from_jwks
from familienkarte.credentials.status_list import (
    MAX_ENTRIES,
    StatusList,
    StatusListError,
    status_lookup,
    verify_status_list_token,
)
from tests.vectors.make_fk1_vectors import (
    _P256_N,
    ISSUER_1,
    ISSUER_2,
    NOW,
    UNPUBLISHED,
    VECTORS_PATH,
    _signed,
)

VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
KEYS = keys_from_jwks(VECTORS["jwks"])
LISTS = {int(i): StatusList.decode(encoded) for i, encoded in VECTORS["status_lists"].items()}
LOOKUP = status_lookup(LISTS)
VALID = [case["presentation"] for case in VECTORS["cases"] if case["expected"] == "ok"]
PRESENTATION_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:=+/ "
FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


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


# --- structured changes of the valid vectors -------------------------------------------------------------------

CASES = {case["name"]: case["presentation"] for case in VECTORS["cases"]}
OK_PRINTED, OK_PHONE = CASES["ok_printed"], CASES["ok_phone"]
# Characters a camera might misread or a person might type instead; non-ASCII lookalikes included.
REPLACEMENTS = ("A", "-", "_", ".", "=", "0", " ", "é", "Ａ", "١", "\u200b", "\x00")


@pytest.mark.parametrize("name", ["ok_printed", "ok_phone", "ok_entitlement_and_list_2", "ok_start_of_validity_passed"])
def test_every_single_character_change_of_a_valid_code_fails(name: str) -> None:
    original = CASES[name]
    for position, character in enumerate(original):
        variants = [original[:position] + original[position + 1 :], original[:position] + "A" + original[position:]]
        variants += [original[:position] + r + original[position + 1 :] for r in REPLACEMENTS if r != character]
        for text in variants:
            assert verify(text) != Reason.OK, (position, text)


@pytest.mark.parametrize("name", ["ok_printed", "ok_phone"])
def test_every_truncation_and_every_appended_part_fails(name: str) -> None:
    original = CASES[name]
    for end in range(len(original)):
        assert verify(original[:end]) != Reason.OK, end
    for tail in (".", "..", ".0", ".0.AAAA", "=", "==", "\n", "\r\n", " ", "\x00", "#", "?x=1", ".é"):
        assert verify(original + tail) != Reason.OK, tail


def test_huge_input_is_malformed_without_being_parsed() -> None:
    for size in (MAX_PRESENTATION_LENGTH + 1, 1 << 20, 16 << 20):
        assert verify(OK_PRINTED + "A" * (size - len(OK_PRINTED))) == Reason.MALFORMED
        assert verify("FK1:" + "." * size) == Reason.MALFORMED


@pytest.mark.parametrize("value", [None, b"FK1:", 42, ["FK1:"], {"FK1": ""}], ids=repr)
def test_a_presentation_that_is_not_text_is_malformed(value: object) -> None:
    assert verify(value) == Reason.MALFORMED  # type: ignore[arg-type]


def test_deeply_nested_json_is_malformed() -> None:
    credential = OK_PRINTED.removeprefix("FK1:").split(".")
    for nested in (b"[" * 1400, b'{"a":' * 280 + b"1" + b"}" * 280, b'{"alg":' * 300):
        part = b64url_encode(nested)
        assert verify("FK1:" + ".".join([part, *credential[1:]])) == Reason.MALFORMED
        assert verify("FK1:" + ".".join([credential[0], part, credential[2]])) == Reason.MALFORMED
    # The status list token reader takes megabytes: a nesting far beyond the recursion limit is refused, not raised.
    deep = b64url_encode(b"[" * 200_000)
    with pytest.raises(JWSError):
        verify_jws(f"{deep}.{deep}.AAAA", KEYS)


@pytest.mark.parametrize(
    "t", ["١٧٦٧٢٢٥٥٩٥", "１７６７２２５５９５", "1767225595\u200b", " 1767225595", "1_767_225_595"]
)
def test_t_in_other_digits_or_with_separators_is_malformed(t: str) -> None:
    credential, _t, proof = OK_PHONE.rsplit(".", 2)
    assert verify(f"{credential}.{t}.{proof}") == Reason.MALFORMED


# --- validly signed tokens around hostile headers and claims ---------------------------------------------------

PRINTED_PAYLOAD: dict[str, Any] = json.loads(b64url_decode(OK_PRINTED.removeprefix("FK1:").split(".")[1]))
HEADER_1 = {"alg": "ES256", "kid": "test-k1"}
ATTACKER = IssuerKey.generate("evil")
SIGNERS = {"test-k1": ISSUER_1, "test-k2": ISSUER_2, "test-k9": UNPUBLISHED, "evil": ATTACKER}
KID_TRICKS = [
    "../test-k1",
    "test-k1/../test-k1",
    "./test-k1",
    "/test-k1",
    "test-k1\x00",
    "test-k1\n",
    "test-k1 ",
    " test-k1",
    "TEST-K1",
    "test\u2010k1",
    "tеst-k1",
    "%74est-k1",
    "test-k1;",
    "",
    "*",
    "test-k1" * 50,
    "https://evil.example/jwks.json#test-k1",
]
ALGS = ["ES256", "none", "None", "NONE", "HS256", "RS256", "PS256", "ES384", "ES512", "EdDSA", "es256", "ES256 ", ""]


def sign_raw(header: Any, payload: Any, key: IssuerKey, *, alg_signature: str = "ES256") -> str:
    """A presentation whose header and payload are exactly these JSON values, signed with ``key``'s ES256 key
    (or, for ``alg_signature`` HS256 and none, the classic confusions: HMAC under the public key, no signature)."""
    if alg_signature == "ES256":
        return "FK1:" + _signed(header, payload, key)
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(payload).encode())}"
    if alg_signature == "none":
        return f"FK1:{signing_input}."
    secret = key.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return f"FK1:{signing_input}.{b64url_encode(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def expected_for_header(header: object, signer: str, alg_signature: str) -> Reason:
    """What CREDENTIAL.md's table says for a token with this header over a valid printed payload."""
    if not isinstance(header, dict) or "typ" in header or "crit" in header:
        return Reason.MALFORMED
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not isinstance(kid, str):
        return Reason.MALFORMED
    if kid not in KEYS:
        return Reason.UNKNOWN_KEY
    if alg != "ES256" or alg_signature != "ES256" or signer != kid:
        return Reason.BAD_SIGNATURE
    return Reason.OK


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
HEADER_EXTRAS = st.dictionaries(
    st.sampled_from(["typ", "crit", "jku", "jwk", "x5u", "x5c", "b64", "zip", "cty", "enc", "kid2", "alg2"]),
    JSON_VALUES | st.just({"kty": "EC", "crv": "P-256"}),
    max_size=3,
)


@st.composite
def hostile_headers(draw: st.DrawFn) -> tuple[Any, str, str]:
    kid = draw(st.sampled_from([*SIGNERS, *KID_TRICKS]) | JSON_SCALARS)
    alg = draw(st.sampled_from(ALGS) | JSON_SCALARS)
    header: Any = {"alg": alg, "kid": kid, **draw(HEADER_EXTRAS)}
    for name in draw(st.sets(st.sampled_from(["alg", "kid"]), max_size=1)):
        del header[name]
    if draw(st.integers(0, 20)) == 0:
        header = draw(st.sampled_from([[alg, kid], kid, alg, None, 1]))
    signer = draw(st.sampled_from(sorted(SIGNERS)))
    alg_signature = draw(st.sampled_from(["ES256", "ES256", "ES256", "none", "HS256"]))
    return header, signer, alg_signature


@FUZZ
@given(hostile_headers())
def test_a_hostile_header_gets_the_reason_the_contract_names(drawn: tuple[Any, str, str]) -> None:
    header, signer, alg_signature = drawn
    text = sign_raw(header, PRINTED_PAYLOAD, SIGNERS[signer], alg_signature=alg_signature)
    assert verify(text) == expected_for_header(header, signer, alg_signature)


@pytest.mark.parametrize("kid", KID_TRICKS)
def test_a_kid_that_only_resembles_a_published_one_is_unknown(kid: str) -> None:
    assert verify(sign_raw({"alg": "ES256", "kid": kid}, PRINTED_PAYLOAD, ISSUER_1)) == Reason.UNKNOWN_KEY


@pytest.mark.parametrize(
    "extra",
    [
        {"jwk": public_jwk(ATTACKER)},
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"x5c": ["MIIB"]},
        {"b64": False},
        {"zip": "DEF"},
    ],
    ids=lambda extra: next(iter(extra)),
)
def test_keys_offered_in_the_header_are_never_used(extra: dict[str, Any]) -> None:
    # Signed by the attacker's key under a published kid: the embedded key or URL must not be followed.
    assert verify(sign_raw({"alg": "ES256", "kid": "test-k1", **extra}, PRINTED_PAYLOAD, ATTACKER)) == (
        Reason.BAD_SIGNATURE
    )
    # The same header signed by the real key: unknown members are ignored, like unknown claims.
    assert verify(sign_raw({"alg": "ES256", "kid": "test-k1", **extra}, PRINTED_PAYLOAD, ISSUER_1)) == Reason.OK


@pytest.mark.parametrize("member", [{"typ": "JWT"}, {"typ": "statuslist+jwt"}, {"typ": ""}, {"crit": []}])
def test_typ_and_crit_are_malformed_whatever_their_value(member: dict[str, Any]) -> None:
    assert verify(sign_raw({"alg": "ES256", "kid": "test-k1", **member}, PRINTED_PAYLOAD, ISSUER_1)) == Reason.MALFORMED


def test_a_status_list_token_is_not_a_card() -> None:
    token = VECTORS["status_list_tokens"]["1"]
    assert verify("FK1:" + token) == Reason.MALFORMED


CLAIM_NAMES = ["sub", "exp", "a", "c", "s", "e", "l", "k", "nbf"]


@FUZZ
@given(
    st.dictionaries(st.sampled_from(CLAIM_NAMES), JSON_VALUES | st.integers(-(2**64), 2**64), max_size=4),
    st.sets(st.sampled_from(CLAIM_NAMES), max_size=2),
)
def test_signed_claims_of_any_json_type_never_pass_unchecked(changes: dict[str, Any], removed: set[str]) -> None:
    payload = {name: value for name, value in {**PRINTED_PAYLOAD, **changes}.items() if name not in removed}
    result = verify_presentation(sign_raw(HEADER_1, payload, ISSUER_1), KEYS, NOW, LOOKUP)
    assert result.reason in set(Reason)
    required_missing = any(name not in payload for name in ("sub", "exp", "a", "c", "s"))
    wrong_type = any(
        name in payload and (type(payload[name]) is not int or payload[name] < 0)
        for name in ("exp", "a", "s", "e", "l", "nbf")
    )
    if required_missing or wrong_type or not isinstance(payload.get("sub"), str) or not isinstance(payload["c"], list):
        assert result.reason == Reason.MALFORMED
    if "k" in payload:
        # A phone credential needs a proof that a printed presentation cannot carry.
        assert result.reason != Reason.OK
    if result.reason != Reason.MALFORMED:
        claims = result.claims
        assert claims is not None
        assert (claims.sub, claims.exp, claims.a, list(claims.c), claims.s) == tuple(
            payload[name] for name in ("sub", "exp", "a", "c", "s")
        )


@FUZZ
@given(
    st.integers(0, 2**31 - 1) | st.integers(0, 80) | st.sampled_from([2**31 - 1, 2**31 - 2, 63, 64, 65, 15, 16]),
    st.integers(0, 5) | st.sampled_from([2**31 - 1]),
)
def test_a_status_index_or_list_outside_the_lists_counts_as_revoked(index: int, list_id: int) -> None:
    payload = {**PRINTED_PAYLOAD, "s": index, "l": list_id}
    reason = verify(sign_raw(HEADER_1, payload, ISSUER_1))
    status_list = LISTS.get(list_id)
    status = 1 if status_list is None or index >= status_list.size else status_list.get(index)
    assert reason == {0: Reason.OK, 2: Reason.SUSPENDED}.get(status, Reason.REVOKED)


@pytest.mark.parametrize("index", [2**31, 2**53 - 1, 2**53, 2**63, -1])
def test_a_status_index_beyond_31_bits_is_malformed(index: int) -> None:
    assert verify(sign_raw(HEADER_1, {**PRINTED_PAYLOAD, "s": index}, ISSUER_1)) == Reason.MALFORMED


def test_the_ecdsa_twin_signature() -> None:
    """See the module docstring: the twin of a printed code is the same card; the twin of a phone credential fails."""
    n = _P256_N  # the order of the P-256 group

    def twin(credential: str) -> str:
        header, payload, signature = credential.split(".")
        raw = b64url_decode(signature)
        s = int.from_bytes(raw[32:], "big")
        return f"{header}.{payload}.{b64url_encode(raw[:32] + (n - s).to_bytes(32, 'big'))}"

    printed = verify_presentation(OK_PRINTED, KEYS, NOW, LOOKUP)
    printed_twin = verify_presentation("FK1:" + twin(OK_PRINTED.removeprefix("FK1:")), KEYS, NOW, LOOKUP)
    assert printed_twin.reason == Reason.OK
    assert printed_twin.claims == printed.claims
    credential, t, proof = OK_PHONE.removeprefix("FK1:").rsplit(".", 2)
    assert verify(f"FK1:{twin(credential)}.{t}.{proof}") == Reason.BAD_PROOF


# --- status lists and their tokens -----------------------------------------------------------------------------


@FUZZ
@given(JSON_VALUES | st.dictionaries(st.sampled_from(["bits", "lst"]), JSON_VALUES | st.text(max_size=40)))
def test_any_status_list_object_is_read_or_refused_with_status_list_error(obj: Any) -> None:
    try:
        decoded = StatusList.decode(obj)
    except StatusListError:
        return
    assert obj["bits"] == 2
    assert 0 < decoded.size <= MAX_ENTRIES


def test_a_status_list_that_inflates_beyond_the_cap_is_refused() -> None:
    bomb = b64url_encode(zlib.compress(b"\x00" * (64 << 20), 9))
    assert len(bomb) < 200_000
    with pytest.raises(StatusListError):
        StatusList.decode({"bits": 2, "lst": bomb})


STATUS_TOKEN = VECTORS["status_list_tokens"]["1"]


@FUZZ
@given(st.integers(0, len(STATUS_TOKEN) - 1), st.sampled_from(["A", "_", ".", "", "é", "=="]), st.booleans())
def test_a_changed_status_list_token_is_refused_with_status_list_error(
    position: int, character: str, truncate: bool
) -> None:
    token = STATUS_TOKEN[:position] if truncate else STATUS_TOKEN[:position] + character + STATUS_TOKEN[position + 1 :]
    if token == STATUS_TOKEN:
        return
    with pytest.raises(StatusListError):
        verify_status_list_token(token, KEYS, NOW)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["sub", "iat", "exp", "ttl", "status_list"]), JSON_VALUES | st.integers(-(2**70), 2**70)
    ),
    st.sampled_from(["statuslist+jwt", "JWT", None]),
)
def test_a_signed_status_list_token_with_any_claims_never_raises_anything_else(
    payload: dict[str, Any], typ: str | None
) -> None:
    header = {**HEADER_1, **({"typ": typ} if typ else {})}
    token = _signed(header, payload, ISSUER_1)
    try:
        read = verify_status_list_token(token, KEYS, NOW)
    except StatusListError:
        return
    assert typ == "statuslist+jwt"
    assert read.sub == payload["sub"] != ""
    assert type(read.iat) is int
    assert read.exp is None or read.exp + 60 > NOW
