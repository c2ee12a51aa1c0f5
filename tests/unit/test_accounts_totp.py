"""One-time codes: the window around now, single use, and the secret's encryption at rest."""

from __future__ import annotations

import base64

import pyotp
import pytest

from familienkarte.accounts import totp

NOW = 1_800_000_000.0
KEY = "a deployment secret of at least thirty-two characters"


@pytest.fixture
def secret() -> str:
    return totp.new_secret()


def code_at(secret: str, when: float) -> str:
    return str(pyotp.TOTP(secret).at(when))


def test_current_code_matches_its_step(secret: str) -> None:
    step = totp.matching_step(secret, code_at(secret, NOW), None, now=NOW)
    assert step == int(NOW // 30)


@pytest.mark.parametrize("offset", [-30, 30])
def test_neighbouring_steps_are_accepted(secret: str, offset: int) -> None:
    assert totp.matching_step(secret, code_at(secret, NOW + offset), None, now=NOW) == int((NOW + offset) // 30)


@pytest.mark.parametrize("offset", [-90, 90, 3600])
def test_codes_further_away_are_refused(secret: str, offset: int) -> None:
    code = code_at(secret, NOW + offset)
    if code in {code_at(secret, NOW + d) for d in (-30, 0, 30)}:
        pytest.skip("the codes of two steps happen to be equal")
    assert totp.matching_step(secret, code, None, now=NOW) is None


def test_a_used_step_and_earlier_ones_are_refused(secret: str) -> None:
    current = int(NOW // 30)
    code = code_at(secret, NOW)
    assert totp.matching_step(secret, code, current - 1, now=NOW) == current
    assert totp.matching_step(secret, code, current, now=NOW) is None
    assert totp.matching_step(secret, code_at(secret, NOW - 30), current, now=NOW) is None


@pytest.mark.parametrize("typed", ["12345", "1234567", "abcdef", "", "12 34 5x"])
def test_malformed_codes_are_refused(secret: str, typed: str) -> None:
    assert totp.matching_step(secret, typed, None, now=NOW) is None


def test_spaces_and_dashes_in_a_code_are_ignored(secret: str) -> None:
    code = code_at(secret, NOW)
    assert totp.matching_step(secret, f" {code[:3]} {code[3:]}", None, now=NOW) is not None
    assert totp.matching_step(secret, f"{code[:3]}-{code[3:]}", None, now=NOW) is not None


def test_secret_round_trips_and_is_not_stored_in_clear(secret: str) -> None:
    stored = totp.encrypt_secret(KEY, secret)
    assert secret.encode() not in stored
    assert totp.decrypt_secret(KEY, stored) == secret
    # A fresh nonce each time: the same secret never looks the same twice.
    assert totp.encrypt_secret(KEY, secret) != stored


def test_another_deployment_secret_cannot_read_it(secret: str) -> None:
    stored = totp.encrypt_secret(KEY, secret)
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt_secret(KEY + "!", stored)
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt_secret(KEY, stored[:-1] + bytes([stored[-1] ^ 1]))


def test_qr_code_is_an_svg_data_uri_of_the_provisioning_uri(secret: str) -> None:
    uri = totp.provisioning_uri(secret, "staff@example.org")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    assert "issuer=Familienkarte" in uri
    image = totp.qr_data_uri(uri)
    prefix = "data:image/svg+xml;base64,"
    assert image.startswith(prefix)
    svg = base64.b64decode(image[len(prefix) :])
    assert svg.startswith(b"<svg") or b"<svg" in svg[:200]
    assert b"<path" in svg
