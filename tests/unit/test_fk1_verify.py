"""Issuing and verifying FK1 credentials: the exact format, an independent JOSE library, and the verifier's edges."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from familienkarte.credentials.fk1 import (
    CredentialClaims,
    IssuerKey,
    Reason,
    b64url_decode,
    b64url_encode,
    decode_device_key,
    encode_device_key,
    issue_credential,
    present_phone,
    present_printed,
    proof_message,
    public_jwk,
    verify_es256,
    verify_presentation,
)
from familienkarte.credentials.jwks import issuer_key_from_jwk, jwks, keys_by_kid, keys_from_jwks

NOW = 1767225600
KEY = IssuerKey.generate("k1")
OTHER_KEY = IssuerKey.generate("k2")
KEYS = keys_by_kid([KEY.public_only(), OTHER_KEY.public_only()])
DEVICE = ec.generate_private_key(ec.SECP256R1())
CLAIMS = CredentialClaims(sub="32BZ25XZV", exp=NOW + 86400, a=2, c=(201503, 201807, 202201), s=7)
PHONE_CLAIMS = dataclasses.replace(CLAIMS, s=8, k=encode_device_key(DEVICE.public_key()))


def all_valid(list_id: int, index: int) -> int:
    return 0


def verify(text: str, now: float = NOW, **options: float):
    return verify_presentation(text, KEYS, now, all_valid, **options)


def _segments(credential: str) -> tuple[bytes, bytes]:
    header, payload, _ = credential.split(".")
    return b64url_decode(header), b64url_decode(payload)


def test_header_is_exactly_alg_and_kid_and_json_is_compact() -> None:
    header, payload = _segments(issue_credential(CLAIMS, KEY))
    assert header == b'{"alg":"ES256","kid":"k1"}'
    assert payload == b'{"sub":"32BZ25XZV","exp":1767312000,"a":2,"c":[201503,201807,202201],"s":7}'


def test_optional_claims_appear_only_when_they_differ_from_their_defaults() -> None:
    claims = dataclasses.replace(PHONE_CLAIMS, e=1, l=3, nbf=NOW - 10)
    payload = json.loads(_segments(issue_credential(claims, KEY))[1])
    assert payload == {**claims.to_payload(), "e": 1, "l": 3, "nbf": NOW - 10, "k": PHONE_CLAIMS.k}
    assert CredentialClaims.from_payload(payload) == claims


@pytest.mark.parametrize("claims", [CLAIMS, PHONE_CLAIMS, dataclasses.replace(CLAIMS, e=1, l=2, nbf=NOW)])
@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_credentials_verify_with_an_independent_jose_library_against_the_published_jwks(
    claims: CredentialClaims, key: IssuerKey
) -> None:
    published = json.loads(json.dumps(jwks([KEY, OTHER_KEY])))
    token = jwt.decode(issue_credential(claims, key), KeySet.import_key_set(published), algorithms=["ES256"])
    assert token.header == {"alg": "ES256", "kid": key.kid}
    assert token.claims == claims.to_payload()


def test_the_independent_library_refuses_a_changed_claim() -> None:
    header, _, signature = issue_credential(CLAIMS, KEY).split(".")
    forged = f"{header}.{b64url_encode(json.dumps({**CLAIMS.to_payload(), 'a': 5}).encode())}.{signature}"
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, KeySet.import_key_set(json.loads(json.dumps(jwks([KEY])))), algorithms=["ES256"])


def test_printed_and_phone_presentations_verify_with_their_claims() -> None:
    printed = verify(present_printed(issue_credential(CLAIMS, KEY)))
    assert (printed.reason, printed.presentation_kind, printed.claims, printed.kid) == (
        Reason.OK,
        "printed",
        CLAIMS,
        "k1",
    )
    assert printed.ok
    phone = verify(present_phone(issue_credential(PHONE_CLAIMS, OTHER_KEY), NOW - 3, DEVICE))
    assert (phone.reason, phone.presentation_kind, phone.claims, phone.t) == (Reason.OK, "phone", PHONE_CLAIMS, NOW - 3)


def test_the_proof_signs_the_credential_signature_part_and_t() -> None:
    credential = issue_credential(PHONE_CLAIMS, KEY)
    presentation = present_phone(credential, NOW, DEVICE)
    t, p = presentation.split(".")[3:]
    assert t == str(NOW)
    message = f"{credential.split('.')[2]}.{NOW}".encode("ascii")
    assert proof_message(credential, NOW) == message
    assert verify_es256(DEVICE.public_key(), b64url_decode(p), message)


def test_claims_are_returned_only_once_the_issuer_signature_verifies() -> None:
    header, _, signature = issue_credential(CLAIMS, KEY).split(".")
    forged = f"FK1:{header}.{b64url_encode(json.dumps({**CLAIMS.to_payload(), 'a': 5}).encode())}.{signature}"
    assert verify(forged).claims is None
    expired = verify(present_printed(issue_credential(dataclasses.replace(CLAIMS, exp=NOW - 3600), KEY)))
    assert expired.reason == Reason.EXPIRED
    assert expired.claims is not None


def test_staleness_and_clock_tolerance_are_configurable() -> None:
    presentation = present_phone(issue_credential(PHONE_CLAIMS, KEY), NOW - 100, DEVICE)
    assert verify(presentation).reason == Reason.STALE
    assert verify(presentation, stale_after=120).reason == Reason.OK
    at_expiry = present_printed(issue_credential(dataclasses.replace(CLAIMS, exp=NOW), KEY))
    assert verify(at_expiry).reason == Reason.OK
    assert verify(at_expiry, leeway=0).reason == Reason.EXPIRED
    assert verify(at_expiry, now=NOW - 0.5, leeway=0).reason == Reason.OK


def test_the_status_lookup_gets_list_and_index() -> None:
    seen: list[tuple[int, int]] = []

    def lookup(list_id: int, index: int) -> int:
        seen.append((list_id, index))
        return 2

    claims = dataclasses.replace(CLAIMS, l=4, s=99)
    result = verify_presentation(present_printed(issue_credential(claims, KEY)), KEYS, NOW, lookup)
    assert (result.reason, seen) == (Reason.SUSPENDED, [(4, 99)])


@pytest.mark.parametrize("value", [None, b"FK1:abc", 42, ["FK1:"], "FK1:" + "A" * 10**6])
def test_anything_that_is_not_a_short_string_is_malformed(value: object) -> None:
    assert verify(value).reason == Reason.MALFORMED  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": ""},
        {"sub": "A" * 33},
        {"exp": -1},
        {"exp": 2**53},
        {"a": 100},
        {"c": (201500,)},
        {"c": (189912,)},
        {"c": tuple([201503] * 33)},
        {"e": -1},
        {"s": 2**31},
        {"k": "not base64url!"},
        {"k": b64url_encode(b"\x04" + bytes(32))},
        {"nbf": -5},
    ],
)
def test_issuing_refuses_claims_the_verifier_would_call_malformed(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        issue_credential(dataclasses.replace(CLAIMS, **changes), KEY)  # type: ignore[arg-type]


def test_issuing_needs_the_private_half() -> None:
    with pytest.raises(ValueError, match="private"):
        issue_credential(CLAIMS, KEY.public_only())


def test_device_keys_travel_as_33_byte_compressed_points() -> None:
    public_key = DEVICE.public_key()
    k = encode_device_key(public_key)
    assert len(b64url_decode(k)) == 33
    assert len(k) == 44
    assert encode_device_key(public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)) == k
    assert decode_device_key(k).public_numbers() == public_key.public_numbers()
    with pytest.raises(ValueError, match="33-byte"):
        decode_device_key(b64url_encode(public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)))
    with pytest.raises(ValueError, match="P-256"):
        encode_device_key(ec.generate_private_key(ec.SECP384R1()).public_key())


def test_public_jwk_and_jwks() -> None:
    jwk = public_jwk(KEY)
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"], jwk["kid"]) == ("EC", "P-256", "ES256", "sig", "k1")
    assert all("d" not in entry for entry in jwks([KEY])["keys"])
    back = keys_from_jwks(jwks([KEY, OTHER_KEY]))
    assert set(back) == {"k1", "k2"}
    assert back["k1"].private_key is None
    assert back["k1"].public_key.public_numbers() == KEY.public_key.public_numbers()


def test_jwks_reading_skips_foreign_keys_and_refuses_broken_ones() -> None:
    foreign = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed"}
    assert set(keys_from_jwks({"keys": [public_jwk(KEY), foreign]})) == {"k1"}
    broken = {**public_jwk(KEY), "y": public_jwk(OTHER_KEY)["y"]}
    with pytest.raises(ValueError, match="not on the curve"):
        keys_from_jwks({"keys": [broken]})
    with pytest.raises(ValueError, match="twice"):
        keys_by_kid([KEY, KEY])


def test_issuer_key_rules() -> None:
    with pytest.raises(ValueError, match="kid"):
        IssuerKey.generate("too-long-kid")
    private = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        IssuerKey("k3", private, private.public_key())
    with pytest.raises(ValueError, match="belong"):
        IssuerKey("k3", KEY.private_key, OTHER_KEY.public_key)


def test_a_private_jwk_round_trips() -> None:
    assert KEY.private_key is not None
    numbers = KEY.private_key.private_numbers()
    jwk = {**public_jwk(KEY), "d": b64url_encode(numbers.private_value.to_bytes(32, "big"))}
    loaded = issuer_key_from_jwk(jwk)
    assert verify(present_printed(issue_credential(CLAIMS, loaded))).reason == Reason.OK
