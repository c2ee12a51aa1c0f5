"""Write tests/vectors/fk1.json, the shared FK1 test vectors: ``.venv/bin/python -m tests.vectors.make_fk1_vectors``.

The keys are derived from fixed labels and the clock is fixed, so every run builds the same cases. ECDSA
signatures are randomised, though, so each run writes different (equally valid) presentations: the file is
generated once and committed, and the Python and browser verifiers are both tested against the committed file.

Every key here is a TEST-ONLY key, published in this repository: never use one outside tests.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from familienkarte.credentials.card_numbers import new_card_number
from familienkarte.credentials.fk1 import (
    CredentialClaims,
    IssuerKey,
    b64url_decode,
    b64url_encode,
    encode_device_key,
    issue_credential,
    present_phone,
    present_printed,
    sign_es256,
)
from familienkarte.credentials.jwks import jwks
from familienkarte.credentials.status_list import StatusList, status_list_token

VECTORS_PATH = Path(__file__).with_name("fk1.json")

NOW = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400
STALE_AFTER = 90
LEEWAY = 60
STATUS_LIST_URL = "https://familienkarte.example/api/v1/status-lists/{}"

# The order of the P-256 group.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _test_only_private_key(label: str) -> ec.EllipticCurvePrivateKey:
    seed = int.from_bytes(hashlib.sha256(f"familienkarte fk1 test-only key: {label}".encode()).digest(), "big")
    return ec.derive_private_key(seed % (_P256_N - 1) + 1, ec.SECP256R1())


ISSUER_1 = IssuerKey.from_private_key("test-k1", _test_only_private_key("issuer 1"))
ISSUER_2 = IssuerKey.from_private_key("test-k2", _test_only_private_key("issuer 2"))
UNPUBLISHED = IssuerKey.from_private_key("test-k9", _test_only_private_key("issuer 9, never published"))
DEVICE_1 = _test_only_private_key("device 1")
DEVICE_2 = _test_only_private_key("device 2")


def private_jwk(kid: str, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.private_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.public_numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.public_numbers.y.to_bytes(32, "big")),
        "d": b64url_encode(numbers.private_value.to_bytes(32, "big")),
        "kid": kid,
    }


def status_lists() -> dict[int, StatusList]:
    """List 1: index 3 revoked, 4 suspended, 5 holds the undefined value 3, 6 revoked, 7 suspended.
    List 2: index 1 revoked, the rest valid."""
    first = StatusList(64)
    for index, status in {3: 1, 4: 2, 5: 3, 6: 1, 7: 2}.items():
        first.set(index, status)
    second = StatusList(16)
    second.set(1, 1)
    return {1: first, 2: second}


def _json_b64(value: Any) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _parts(credential: str) -> list[str]:
    return credential.split(".")


def _payload(credential: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(b64url_decode(_parts(credential)[1]))
    return value


def _with_payload(credential: str, payload: dict[str, Any]) -> str:
    """The same header and signature over a changed payload."""
    header, _, signature = _parts(credential)
    return f"{header}.{_json_b64(payload)}.{signature}"


def _sign_segments(header: str, payload: str, sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{b64url_encode(sign(signing_input.encode()))}"


def _raw_token(header: Any, payload: Any, sign: Callable[[bytes], bytes]) -> str:
    return _sign_segments(_json_b64(header), _json_b64(payload), sign)


def _es256(key: IssuerKey) -> Callable[[bytes], bytes]:
    private_key = key.private_key
    assert private_key is not None
    return lambda data: sign_es256(private_key, data)


def _signed(header: Any, payload: Any, key: IssuerKey = ISSUER_1) -> str:
    """A token signed with a real ES256 key, whatever its header and claims say."""
    return _raw_token(header, payload, _es256(key))


def _phone_with(credential: str, t: str, p: str) -> str:
    return f"FK1:{credential}.{t}.{p}"


def build_vectors() -> dict[str, Any]:
    rng = random.Random(20260101)
    card = new_card_number(rng)
    other_card = new_card_number(rng)
    device_1 = encode_device_key(DEVICE_1.public_key())
    device_2 = encode_device_key(DEVICE_2.public_key())
    children = (201503, 201807, 202201)
    header_1 = {"alg": "ES256", "kid": ISSUER_1.kid}

    printed = CredentialClaims(sub=card, exp=NOW + 365 * DAY, a=2, c=children, s=0)
    phone = dataclasses.replace(printed, exp=NOW + 30 * DAY, s=1, k=device_1)

    def issue(claims: CredentialClaims, key: IssuerKey = ISSUER_1) -> str:
        return issue_credential(claims, key)

    printed_credential = issue(printed)
    phone_credential = issue(phone)
    ok_printed = present_printed(printed_credential)
    ok_phone = present_phone(phone_credential, NOW - 5, DEVICE_1)
    _, _, _, ok_t, ok_p = ok_phone.removeprefix("FK1:").split(".")
    signature_part = _parts(phone_credential)[2]
    public_pem = ISSUER_1.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    public_point = ISSUER_1.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    printed_payload = _payload(printed_credential)

    def hs256(secret: bytes) -> Callable[[bytes], bytes]:
        return lambda data: hmac.new(secret, data, hashlib.sha256).digest()

    def claims_variant(**changes: Any) -> dict[str, Any]:
        return {**printed_payload, **changes}

    def without(name: str) -> dict[str, Any]:
        return {key: value for key, value in printed_payload.items() if key != name}

    # A compressed point whose x has no y on P-256, found deterministically.
    not_on_curve = next(
        bytes([2]) + x.to_bytes(32, "big") for x in range(1, 100) if not _on_curve(bytes([2]) + x.to_bytes(32, "big"))
    )
    signature_bytes = b64url_decode(_parts(printed_credential)[2])
    non_canonical_signature = _parts(printed_credential)[2][:-1] + _flip_unused_bits(_parts(printed_credential)[2][-1])

    cases: list[tuple[str, str, str, str]] = []

    def case(name: str, expected: str, presentation: str, description: str) -> None:
        cases.append((name, expected, presentation, description))

    # ok
    case("ok_printed", "ok", ok_printed, "a printed card")
    case("ok_phone", "ok", ok_phone, "a phone code drawn 5 s ago")
    case("ok_phone_t_90s_old", "ok", present_phone(phone_credential, NOW - 90, DEVICE_1), "t exactly 90 s old")
    case("ok_phone_t_90s_ahead", "ok", present_phone(phone_credential, NOW + 90, DEVICE_1), "t 90 s ahead")
    case(
        "ok_second_published_key",
        "ok",
        present_printed(issue(dataclasses.replace(printed, s=2), ISSUER_2)),
        "signed by the other published key",
    )
    case(
        "ok_entitlement_and_list_2",
        "ok",
        present_printed(issue(dataclasses.replace(printed, e=1, l=2, s=3))),
        "e=1 and l=2; index 3 is valid in list 2 (it is revoked in list 1)",
    )
    case(
        "ok_start_of_validity_passed",
        "ok",
        present_printed(issue(dataclasses.replace(printed, nbf=NOW - 30 * DAY))),
        "nbf in the past",
    )
    case(
        "ok_start_of_validity_within_leeway",
        "ok",
        present_printed(issue(dataclasses.replace(printed, nbf=NOW + LEEWAY))),
        "nbf 60 s ahead: within the clock tolerance",
    )
    case(
        "ok_expiry_within_leeway",
        "ok",
        present_printed(issue(dataclasses.replace(printed, exp=NOW - LEEWAY + 1))),
        "exp passed 59 s ago: within the clock tolerance",
    )
    case(
        "ok_explicit_defaults",
        "ok",
        "FK1:" + _signed(header_1, {**printed_payload, "e": 0, "l": 1}),
        "e=0 and l=1 written out",
    )
    case(
        "ok_unknown_claim_ignored",
        "ok",
        "FK1:" + _signed(header_1, {**printed_payload, "x": "future"}),
        "claims the verifier does not know are ignored",
    )

    # malformed: the outer form
    case("malformed_empty", "malformed", "", "empty text")
    case("malformed_prefix_only", "malformed", "FK1:", "only the prefix")
    case("malformed_no_prefix", "malformed", printed_credential, "a credential without FK1:")
    case("malformed_other_version", "malformed", "FK2:" + printed_credential, "another format version")
    case("malformed_lower_case_prefix", "malformed", "fk1:" + printed_credential, "the prefix is case-sensitive")
    case("malformed_leading_space", "malformed", " " + ok_printed, "a space before the prefix")
    case("malformed_trailing_newline", "malformed", ok_printed + "\n", "a newline at the end")
    case("malformed_two_parts", "malformed", "FK1:" + ".".join(_parts(printed_credential)[:2]), "two parts")
    case("malformed_four_parts", "malformed", ok_printed + "." + ok_t, "four parts")
    case("malformed_six_parts", "malformed", ok_phone + "." + ok_t, "six parts")
    for length, expected in ((2048, "ok"), (2049, "malformed")):
        case(
            f"{expected}_length_{length}",
            expected,
            _padded_presentation(header_1, printed_payload, length),
            f"{length} characters (an unknown claim fills the space): the limit is 2048",
        )
    case("malformed_non_ascii", "malformed", ok_printed[:-1] + "é", "a non-ASCII character")
    # malformed: base64url and JSON
    case(
        "malformed_base64_not_url_safe",
        "malformed",
        "FK1:" + printed_credential.replace(_parts(printed_credential)[2], base64.b64encode(signature_bytes).decode()),
        "the signature in standard base64 with padding",
    )
    case("malformed_padding", "malformed", ok_printed + "==", "base64url with padding")
    case(
        "malformed_base64_non_canonical",
        "malformed",
        "FK1:" + ".".join([*_parts(printed_credential)[:2], non_canonical_signature]),
        "the signature's last character has non-zero unused bits",
    )
    case(
        "malformed_header_not_json",
        "malformed",
        "FK1:" + ".".join([b64url_encode(b"alg=ES256"), *_parts(printed_credential)[1:]]),
        "the header is not JSON",
    )
    case(
        "malformed_header_array",
        "malformed",
        "FK1:" + _signed(["ES256", ISSUER_1.kid], printed_payload),
        "the header is a JSON array",
    )
    case(
        "malformed_payload_not_json",
        "malformed",
        "FK1:" + _sign_segments(_json_b64(header_1), b64url_encode(b"{sub:1}"), _es256(ISSUER_1)),
        "the payload is not JSON",
    )
    nan_payload = json.dumps({**printed_payload, "exp": float("nan")}, separators=(",", ":")).encode()
    case(
        "malformed_payload_nan",
        "malformed",
        "FK1:" + _sign_segments(_json_b64(header_1), b64url_encode(nan_payload), _es256(ISSUER_1)),
        "exp is NaN (not JSON, though some parsers accept it)",
    )
    # malformed: header members
    case("malformed_no_kid", "malformed", "FK1:" + _signed({"alg": "ES256"}, printed_payload), "no kid")
    case("malformed_no_alg", "malformed", "FK1:" + _signed({"kid": ISSUER_1.kid}, printed_payload), "no alg")
    case(
        "malformed_kid_not_string",
        "malformed",
        "FK1:" + _signed({"alg": "ES256", "kid": 1}, printed_payload),
        "kid is a number",
    )
    case(
        "malformed_header_typ",
        "malformed",
        "FK1:" + _signed({**header_1, "typ": "JWT"}, printed_payload),
        "credentials have no typ",
    )
    case(
        "malformed_header_crit",
        "malformed",
        "FK1:" + _signed({**header_1, "crit": ["exp"]}, printed_payload),
        "no critical extension is understood",
    )
    # malformed: claims (validly signed, still refused)
    for claim in ("sub", "exp", "a", "c", "s"):
        case(f"malformed_missing_{claim}", "malformed", "FK1:" + _signed(header_1, without(claim)), f"no {claim}")
    for name, changes, description in (
        ("exp_string", {"exp": str(NOW + DAY)}, "exp is a string"),
        ("exp_float", {"exp": float(NOW + DAY)}, "exp is a JSON number with a fraction part"),
        ("exp_negative", {"exp": -1}, "exp is negative"),
        ("a_boolean", {"a": True}, "a is a boolean"),
        ("c_not_list", {"c": 201503}, "c is not a list"),
        ("c_bad_month", {"c": [201513]}, "c holds month 13"),
        ("s_negative", {"s": -1}, "s is negative"),
        ("l_null", {"l": None}, "l is null"),
        ("sub_with_space", {"sub": "ABC DEF GH"}, "sub is not a plain card number"),
        ("k_wrong_length", {"k": b64url_encode(b"\x02" + b"\x00" * 31)}, "k is 32 bytes"),
        ("k_uncompressed", {"k": b64url_encode(b"\x04" + b"\x01" * 32)}, "k does not start with 02 or 03"),
    ):
        case(f"malformed_{name}", "malformed", "FK1:" + _signed(header_1, claims_variant(**changes)), description)
    # malformed: t and p
    for name, t, description in (
        ("t_plus_sign", "+" + ok_t, "t with a plus sign"),
        ("t_negative", "-" + ok_t, "t with a minus sign"),
        ("t_leading_zero", "0" + ok_t, "t with a leading zero"),
        ("t_not_decimal", "1e9", "t in exponent notation"),
        ("t_empty", "", "empty t"),
        ("t_too_long", "1" + ok_t + "0", "t with 12 digits"),
    ):
        case(f"malformed_{name}", "malformed", _phone_with(phone_credential, t, ok_p), description)
    proof = b64url_decode(ok_p)
    for name, p, description in (
        ("p_63_bytes", b64url_encode(proof[:63]), "p is 63 bytes"),
        ("p_65_bytes", b64url_encode(proof + b"\x00"), "p is 65 bytes"),
        ("p_padded", ok_p + "==", "p with padding"),
        ("p_empty", "", "empty p"),
    ):
        case(f"malformed_{name}", "malformed", _phone_with(phone_credential, ok_t, p), description)

    # unknown_key
    case(
        "unknown_key",
        "unknown_key",
        present_printed(issue(printed, UNPUBLISHED)),
        "signed by a key that is not published",
    )
    case(
        "unknown_key_alg_none",
        "unknown_key",
        "FK1:" + _raw_token({"alg": "none", "kid": "nokey"}, printed_payload, lambda _: b""),
        "the kid is checked before the algorithm",
    )

    # bad_signature
    case(
        "bad_signature_alg_none",
        "bad_signature",
        "FK1:" + _raw_token({"alg": "none", "kid": ISSUER_1.kid}, printed_payload, lambda _: b""),
        "alg none with an empty signature",
    )
    case(
        "bad_signature_hs256_public_key_pem_as_secret",
        "bad_signature",
        "FK1:" + _raw_token({"alg": "HS256", "kid": ISSUER_1.kid}, printed_payload, hs256(public_pem)),
        "HS256 keyed with the issuer's public key (PEM)",
    )
    case(
        "bad_signature_hs256_public_point_as_secret",
        "bad_signature",
        "FK1:" + _raw_token({"alg": "HS256", "kid": ISSUER_1.kid}, printed_payload, hs256(public_point)),
        "HS256 keyed with the issuer's public key (raw point)",
    )
    case(
        "bad_signature_alg_es384_label",
        "bad_signature",
        "FK1:" + _signed({"alg": "ES384", "kid": ISSUER_1.kid}, printed_payload),
        "a valid P-256 signature, but the header names another algorithm",
    )
    case(
        "bad_signature_swapped_kid",
        "bad_signature",
        "FK1:" + _signed(header_1, printed_payload, ISSUER_2),
        "signed by test-k2, header names test-k1",
    )
    case(
        "bad_signature_changed_claim",
        "bad_signature",
        "FK1:" + _with_payload(printed_credential, {**printed_payload, "a": 4}),
        "a changed from 2 to 4",
    )
    case(
        "bad_signature_changed_card_number",
        "bad_signature",
        "FK1:" + _with_payload(printed_credential, {**printed_payload, "sub": other_card}),
        "sub changed to another card number",
    )
    case(
        "bad_signature_changed_status_index",
        "bad_signature",
        "FK1:" + _with_payload(issue(dataclasses.replace(printed, s=3)), {**printed_payload, "s": 0}),
        "s of a revoked credential changed to a valid index",
    )
    case(
        "bad_signature_device_key_removed",
        "bad_signature",
        "FK1:" + _with_payload(phone_credential, {k: v for k, v in _payload(phone_credential).items() if k != "k"}),
        "k removed to pass a phone credential off as printed",
    )
    case(
        "bad_signature_device_key_replaced",
        "bad_signature",
        _phone_with(
            _with_payload(phone_credential, {**_payload(phone_credential), "k": device_2}),
            ok_t,
            b64url_encode(sign_es256(DEVICE_2, f"{signature_part}.{ok_t}".encode())),
        ),
        "k replaced by the attacker's device key, proof by that device",
    )
    case(
        "bad_signature_truncated",
        "bad_signature",
        "FK1:" + ".".join([*_parts(printed_credential)[:2], b64url_encode(signature_bytes[:63])]),
        "a 63-byte signature",
    )
    case(
        "bad_signature_zero",
        "bad_signature",
        "FK1:" + ".".join([*_parts(printed_credential)[:2], b64url_encode(bytes(64))]),
        "r = s = 0",
    )
    case(
        "bad_signature_der_encoded",
        "bad_signature",
        "FK1:" + ".".join([*_parts(printed_credential)[:2], b64url_encode(_der(signature_bytes))]),
        "the right signature, DER-encoded instead of raw r||s",
    )
    case(
        "bad_signature_from_other_credential",
        "bad_signature",
        "FK1:" + ".".join([*_parts(phone_credential)[:2], _parts(printed_credential)[2]]),
        "the signature of another credential",
    )

    # expired
    case(
        "expired",
        "expired",
        present_printed(issue(dataclasses.replace(printed, exp=NOW - DAY))),
        "exp a day ago",
    )
    case(
        "expired_at_leeway",
        "expired",
        present_printed(issue(dataclasses.replace(printed, exp=NOW - LEEWAY))),
        "exp exactly 60 s ago",
    )
    case(
        "expired_phone_also_stale",
        "expired",
        present_phone(issue(dataclasses.replace(phone, exp=NOW - DAY)), NOW - DAY, DEVICE_1),
        "expiry is checked before freshness",
    )

    # not_yet_valid
    case(
        "not_yet_valid",
        "not_yet_valid",
        present_printed(issue(dataclasses.replace(printed, nbf=NOW + 7 * DAY))),
        "nbf a week ahead",
    )
    case(
        "not_yet_valid_beyond_leeway",
        "not_yet_valid",
        present_printed(issue(dataclasses.replace(printed, nbf=NOW + LEEWAY + 1))),
        "nbf 61 s ahead",
    )

    # presentation_missing
    case(
        "presentation_missing",
        "presentation_missing",
        present_printed(phone_credential),
        "a bare copy of a phone credential, without t and p",
    )
    case(
        "presentation_missing_before_revoked",
        "presentation_missing",
        present_printed(issue(dataclasses.replace(phone, s=6))),
        "a bare copy of a revoked phone credential",
    )

    # bad_proof
    case("bad_proof_changed_t", "bad_proof", _phone_with(phone_credential, str(int(ok_t) + 1), ok_p), "t changed")
    case(
        "bad_proof_other_device",
        "bad_proof",
        present_phone(phone_credential, NOW - 5, DEVICE_2),
        "a proof by another device",
    )
    case(
        "bad_proof_flipped_bit",
        "bad_proof",
        _phone_with(phone_credential, ok_t, b64url_encode(bytes([proof[0] ^ 1]) + proof[1:])),
        "one bit of p flipped",
    )
    case(
        "bad_proof_of_other_credential",
        "bad_proof",
        _phone_with(issue(dataclasses.replace(phone, s=2)), ok_t, ok_p),
        "p of another credential bound to the same device",
    )
    case(
        "bad_proof_printed_credential_with_proof",
        "bad_proof",
        present_phone(printed_credential, NOW - 5, DEVICE_1),
        "t and p added to a credential without k",
    )
    case(
        "bad_proof_before_stale",
        "bad_proof",
        present_phone(phone_credential, NOW - DAY, DEVICE_2),
        "the proof is checked before freshness",
    )
    case(
        "bad_proof_device_key_not_on_curve",
        "bad_proof",
        present_phone(issue(dataclasses.replace(phone, k=b64url_encode(not_on_curve))), NOW, DEVICE_1),
        "k is 33 bytes but not a point on P-256",
    )

    # stale
    case("stale_91s_old", "stale", present_phone(phone_credential, NOW - 91, DEVICE_1), "t 91 s old")
    case("stale_91s_ahead", "stale", present_phone(phone_credential, NOW + 91, DEVICE_1), "t 91 s ahead")
    case("stale_t_zero", "stale", present_phone(phone_credential, 0, DEVICE_1), "t = 0")
    case(
        "stale_before_revoked",
        "stale",
        present_phone(issue(dataclasses.replace(phone, s=6)), NOW - 600, DEVICE_1),
        "freshness is checked before the status list",
    )

    # revoked and suspended
    case("revoked", "revoked", present_printed(issue(dataclasses.replace(printed, s=3))), "status 1")
    case(
        "revoked_phone",
        "revoked",
        present_phone(issue(dataclasses.replace(phone, s=6)), NOW, DEVICE_1),
        "status 1, phone",
    )
    case(
        "revoked_in_list_2",
        "revoked",
        present_printed(issue(dataclasses.replace(printed, l=2, s=1))),
        "status 1 in list 2 (index 1 is valid in list 1)",
    )
    case(
        "revoked_undefined_status",
        "revoked",
        present_printed(issue(dataclasses.replace(printed, s=5))),
        "status 3 is not defined: fail closed",
    )
    case(
        "revoked_index_outside_list",
        "revoked",
        present_printed(issue(dataclasses.replace(printed, s=100000))),
        "an index beyond the list: fail closed",
    )
    case(
        "revoked_unknown_list",
        "revoked",
        present_printed(issue(dataclasses.replace(printed, l=7))),
        "a list the verifier does not have: fail closed",
    )
    case("suspended", "suspended", present_printed(issue(dataclasses.replace(printed, s=4))), "status 2")
    case(
        "suspended_phone",
        "suspended",
        present_phone(issue(dataclasses.replace(phone, s=7)), NOW + 30, DEVICE_1),
        "status 2, phone",
    )

    lists = status_lists()
    return {
        "format": "FK1",
        "description": (
            "Shared FK1 test vectors: verify every presentation at 'now' against 'jwks' and 'status_lists' "
            "and expect 'expected'. All keys here are TEST-ONLY keys, public in this repository."
        ),
        "now": NOW,
        "stale_after": STALE_AFTER,
        "leeway": LEEWAY,
        "jwks": jwks([ISSUER_1, ISSUER_2]),
        "test_only_issuer_private_keys": [
            private_jwk(key.kid, key.private_key) for key in (ISSUER_1, ISSUER_2, UNPUBLISHED) if key.private_key
        ],
        "test_only_device_private_keys": [private_jwk("test-d1", DEVICE_1), private_jwk("test-d2", DEVICE_2)],
        "device_keys": {"test-d1": device_1, "test-d2": device_2},
        "status_lists": {str(list_id): status_list.encode() for list_id, status_list in lists.items()},
        "status_list_tokens": {
            str(list_id): status_list_token(
                status_list, ISSUER_1, STATUS_LIST_URL.format(list_id), NOW - 60, NOW + DAY, 300
            )
            for list_id, status_list in lists.items()
        },
        "cases": [
            {
                "name": name,
                "description": description,
                "presentation": presentation,
                "expected": expected,
                "kind": _kind(expected, presentation),
            }
            for name, expected, presentation, description in cases
        ],
    }


def _kind(expected: str, presentation: str) -> str | None:
    if expected == "malformed":
        return None
    return "phone" if presentation.count(".") == 4 else "printed"


def _on_curve(point: bytes) -> bool:
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        return False
    return True


def _flip_unused_bits(last: str) -> str:
    """The base64url character with the same leading bits but a non-zero unused low bit."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return alphabet[alphabet.index(last) ^ 1]


def _der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def _padded_presentation(header: dict[str, str], payload: dict[str, Any], length: int) -> str:
    """A validly signed printed presentation of exactly ``length`` characters, or of the nearest length above."""
    for filler in range(length):
        presentation = "FK1:" + _signed(header, {**payload, "x": "x" * filler})
        if len(presentation) >= length:
            return presentation
    raise AssertionError("unreachable")


def main() -> int:
    VECTORS_PATH.write_text(json.dumps(build_vectors(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
