"""The shared FK1 test vectors: each presentation gives its expected reason, in the committed file and when the
vectors are built afresh. The browser verifier is tested against the same committed file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from familienkarte.credentials.fk1 import Reason, present_phone, verify_presentation
from familienkarte.credentials.jwks import issuer_key_from_jwk, jwks, keys_from_jwks
from familienkarte.credentials.status_list import StatusList, status_lookup, verify_status_list_token
from tests.vectors import make_fk1_vectors as generator

COMMITTED: dict[str, Any] = json.loads(generator.VECTORS_PATH.read_text(encoding="utf-8"))


def _verify(vectors: dict[str, Any], presentation: str, now: float | None = None):
    lists = {int(list_id): StatusList.decode(encoded) for list_id, encoded in vectors["status_lists"].items()}
    return verify_presentation(
        presentation,
        keys_from_jwks(vectors["jwks"]),
        vectors["now"] if now is None else now,
        status_lookup(lists),
        stale_after=vectors["stale_after"],
        leeway=vectors["leeway"],
    )


@pytest.mark.parametrize("case", COMMITTED["cases"], ids=[case["name"] for case in COMMITTED["cases"]])
def test_committed_vector_gives_its_expected_reason(case: dict[str, Any]) -> None:
    result = _verify(COMMITTED, case["presentation"])
    assert result.reason == case["expected"]
    assert result.presentation_kind == case["kind"]


def test_every_reason_code_has_a_vector() -> None:
    assert {case["expected"] for case in COMMITTED["cases"]} == set(Reason)


def test_the_attacks_named_in_the_acceptance_criteria_are_refused() -> None:
    expected = {
        "bad_signature_alg_none": "bad_signature",
        "bad_signature_hs256_public_key_pem_as_secret": "bad_signature",
        "bad_signature_swapped_kid": "bad_signature",
        "bad_signature_changed_claim": "bad_signature",
        "bad_proof_changed_t": "bad_proof",
        "bad_proof_other_device": "bad_proof",
        "presentation_missing": "presentation_missing",
        "stale_91s_old": "stale",
        "expired": "expired",
        "not_yet_valid": "not_yet_valid",
        "revoked": "revoked",
        "suspended": "suspended",
    }
    by_name = {case["name"]: case for case in COMMITTED["cases"]}
    for name, reason in expected.items():
        assert by_name[name]["expected"] == reason
        assert _verify(COMMITTED, by_name[name]["presentation"]).reason == reason


def test_case_names_are_unique() -> None:
    names = [case["name"] for case in COMMITTED["cases"]]
    assert len(names) == len(set(names))


def test_freshly_built_vectors_give_their_expected_reasons() -> None:
    fresh = generator.build_vectors()
    results = {case["name"]: _verify(fresh, case["presentation"]).reason for case in fresh["cases"]}
    assert results == {case["name"]: case["expected"] for case in fresh["cases"]}
    assert [case["name"] for case in fresh["cases"]] == [case["name"] for case in COMMITTED["cases"]]


def test_committed_keys_are_the_fixed_test_only_keys() -> None:
    assert COMMITTED["jwks"] == jwks([generator.ISSUER_1, generator.ISSUER_2])
    assert COMMITTED["now"] == generator.NOW
    for jwk in COMMITTED["test_only_issuer_private_keys"] + COMMITTED["test_only_device_private_keys"]:
        key = issuer_key_from_jwk(jwk)
        assert key.private_key is not None
    devices = {jwk["kid"]: jwk for jwk in COMMITTED["test_only_device_private_keys"]}
    assert devices["test-d1"] == generator.private_jwk("test-d1", generator.DEVICE_1)
    assert devices["test-d2"] == generator.private_jwk("test-d2", generator.DEVICE_2)


def test_the_test_device_key_draws_a_code_that_verifies_and_goes_stale_after_91_seconds() -> None:
    ok_phone = next(case for case in COMMITTED["cases"] if case["name"] == "ok_phone")["presentation"]
    credential = ".".join(ok_phone.removeprefix("FK1:").split(".")[:3])
    jwk = next(jwk for jwk in COMMITTED["test_only_device_private_keys"] if jwk["kid"] == "test-d1")
    device = issuer_key_from_jwk(jwk).private_key
    assert device is not None
    now = COMMITTED["now"] + 1000
    presentation = present_phone(credential, now, device)
    assert _verify(COMMITTED, presentation, now).reason == Reason.OK
    assert _verify(COMMITTED, presentation, now + 91).reason == Reason.STALE


def test_status_list_tokens_in_the_vectors_verify_and_match_the_lists() -> None:
    keys = keys_from_jwks(COMMITTED["jwks"])
    for list_id, token in COMMITTED["status_list_tokens"].items():
        verified = verify_status_list_token(
            token, keys, COMMITTED["now"], expected_sub=generator.STATUS_LIST_URL.format(list_id)
        )
        assert verified.status_list == StatusList.decode(COMMITTED["status_lists"][list_id])
