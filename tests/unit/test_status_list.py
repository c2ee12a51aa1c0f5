"""Status lists per the IETF Token Status List draft: bit order, encoding, and the signed status list token."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import zlib

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from familienkarte.credentials.fk1 import (
    CredentialClaims,
    IssuerKey,
    Reason,
    b64url_decode,
    b64url_encode,
    issue_credential,
    present_printed,
    verify_presentation,
)
from familienkarte.credentials.jwks import jwks, keys_by_kid
from familienkarte.credentials.status_list import (
    REVOKED,
    STATUS_LIST_TYP,
    SUSPENDED,
    VALID,
    StatusList,
    StatusListError,
    status_list_token,
    status_lookup,
    verify_status_list_token,
)

NOW = 1767225600
KEY = IssuerKey.generate("k1")
KEYS = keys_by_kid([KEY.public_only()])
URL = "https://familienkarte.example/api/v1/status-lists/1"


def test_entry_zero_sits_in_the_low_bits_of_byte_zero() -> None:
    status_list = StatusList(8)
    status_list.set(0, 1)
    status_list.set(1, 2)
    assert status_list.to_bytes()[0] == 0b1001
    assert status_list.to_bytes()[1] == 0


def test_the_two_bit_example_of_the_draft() -> None:
    status_list = StatusList(12)
    for index, status in enumerate([1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]):
        status_list.set(index, status)
    assert status_list.to_bytes() == bytes([0xC9, 0x44, 0xF9])


def test_encode_decode_round_trip() -> None:
    rng = random.Random(7)
    status_list = StatusList(1000)
    statuses = [rng.choice([VALID, VALID, VALID, REVOKED, SUSPENDED]) for _ in range(1000)]
    for index, status in enumerate(statuses):
        status_list.set(index, status)
    encoded = status_list.encode()
    assert encoded["bits"] == 2
    assert "=" not in encoded["lst"]
    assert zlib.decompress(b64url_decode(encoded["lst"])) == status_list.to_bytes()
    decoded = StatusList.decode(json.loads(json.dumps(encoded)))
    assert decoded == status_list
    assert [decoded.get(index) for index in range(1000)] == statuses


def test_setting_an_entry_leaves_its_neighbours() -> None:
    status_list = StatusList(8)
    for index in range(8):
        status_list.set(index, 3)
    status_list.set(5, 0)
    assert [status_list.get(index) for index in range(8)] == [3, 3, 3, 3, 3, 0, 3, 3]


def test_sizes_and_ranges() -> None:
    assert len(StatusList(1).to_bytes()) == 1
    assert len(StatusList(5).to_bytes()) == 2
    status_list = StatusList(10)
    with pytest.raises(IndexError):
        status_list.get(10)
    with pytest.raises(IndexError):
        status_list.set(-1, 1)
    with pytest.raises(ValueError, match="2-bit status"):
        status_list.set(0, 4)
    with pytest.raises(ValueError, match="holds 1 to"):
        StatusList(0)
    assert status_list.lookup(10) == REVOKED
    assert StatusList.decode(status_list.encode()).size == 12  # rounded up to whole bytes


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {"bits": 1, "lst": b64url_encode(zlib.compress(b"\x00"))},
        {"bits": "2", "lst": b64url_encode(zlib.compress(b"\x00"))},
        {"bits": True, "lst": b64url_encode(zlib.compress(b"\x00"))},
        {"bits": 2},
        {"bits": 2, "lst": base64.urlsafe_b64encode(zlib.compress(b"\x00\x00")).decode()},  # padded
        {"bits": 2, "lst": b64url_encode(b"not zlib")},
        {"bits": 2, "lst": b64url_encode(zlib.compress(b"\x00")[:-2])},  # truncated
        {"bits": 2, "lst": b64url_encode(zlib.compress(b"\x00") + b"extra")},
        {"bits": 2, "lst": b64url_encode(zlib.compress(b""))},
        {"bits": 2, "lst": b64url_encode(zlib.compress(bytes(5 * 1024 * 1024), 9))},  # inflates past the cap
    ],
)
def test_decode_refuses_what_is_not_a_usable_list(obj: object) -> None:
    with pytest.raises(StatusListError):
        StatusList.decode(obj)


def test_lookup_fails_closed_for_unknown_lists_and_indexes() -> None:
    first = StatusList(8)
    first.set(2, SUSPENDED)
    lookup = status_lookup({1: first})
    assert [lookup(1, 0), lookup(1, 2), lookup(1, 8), lookup(2, 0)] == [VALID, SUSPENDED, REVOKED, REVOKED]


def test_status_list_token_has_the_draft_shape_and_verifies() -> None:
    status_list = StatusList(64)
    status_list.set(3, REVOKED)
    token = status_list_token(status_list, KEY, URL, NOW, NOW + 86400, 300)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "ES256", "kid": "k1", "typ": STATUS_LIST_TYP}
    assert STATUS_LIST_TYP == "statuslist+jwt"
    independent = jwt.decode(token, KeySet.import_key_set(json.loads(json.dumps(jwks([KEY])))), algorithms=["ES256"])
    assert independent.claims == {
        "sub": URL,
        "iat": NOW,
        "exp": NOW + 86400,
        "ttl": 300,
        "status_list": status_list.encode(),
    }
    verified = verify_status_list_token(token, KEYS, NOW + 10, expected_sub=URL)
    assert (verified.sub, verified.iat, verified.exp, verified.ttl) == (URL, NOW, NOW + 86400, 300)
    assert verified.status_list == status_list


def test_status_list_token_refusals() -> None:
    token = status_list_token(StatusList(8), KEY, URL, NOW, NOW + 3600, 300)
    with pytest.raises(StatusListError, match="expired"):
        verify_status_list_token(token, KEYS, NOW + 3600 + 60)
    with pytest.raises(StatusListError, match="another list"):
        verify_status_list_token(token, KEYS, NOW, expected_sub=URL.replace("/1", "/2"))
    with pytest.raises(StatusListError, match="unknown key"):
        verify_status_list_token(token, keys_by_kid([IssuerKey.generate("k2")]), NOW)
    other_key_same_kid = IssuerKey.generate("k1")
    with pytest.raises(StatusListError, match="signature"):
        verify_status_list_token(token, keys_by_kid([other_key_same_kid]), NOW)
    credential = issue_credential(CredentialClaims(sub="32BZ25XZV", exp=NOW + 60, a=1, c=(202001,), s=0), KEY)
    with pytest.raises(StatusListError, match="typ"):
        verify_status_list_token(credential, KEYS, NOW)
    with pytest.raises(StatusListError):
        verify_status_list_token("not a token", KEYS, NOW)


def test_a_status_list_token_is_never_accepted_as_a_card() -> None:
    token = status_list_token(StatusList(8), KEY, URL, NOW, NOW + 3600, 300)
    assert verify_presentation(present_printed(token), KEYS, NOW, lambda _l, _s: 0).reason == Reason.MALFORMED


def test_revocation_reaches_a_verifier_through_a_fresh_list() -> None:
    claims = CredentialClaims(sub="32BZ25XZV", exp=NOW + 86400, a=2, c=(201503,), s=5)
    presentation = present_printed(issue_credential(claims, KEY))
    other = present_printed(issue_credential(dataclasses.replace(claims, s=6), KEY))
    status_list = StatusList(64)

    def verify(text: str, token: str) -> Reason:
        fresh = verify_status_list_token(token, KEYS, NOW)
        return verify_presentation(text, KEYS, NOW, status_lookup({1: fresh.status_list})).reason

    assert verify(presentation, status_list_token(status_list, KEY, URL, NOW, NOW + 60, 60)) == Reason.OK
    status_list.set(5, REVOKED)
    token = status_list_token(status_list, KEY, URL, NOW, NOW + 60, 60)
    assert verify(presentation, token) == Reason.REVOKED
    assert verify(other, token) == Reason.OK
