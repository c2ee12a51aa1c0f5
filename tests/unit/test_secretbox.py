"""Encryption at rest with the deployment secret: round trip, refusals, and the TOTP secrets stored before."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from familienkarte import secretbox
from familienkarte.accounts import totp

SECRET = "the deployment secret of a test, 32+ characters long"
PURPOSE = "familienkarte test secret v1"
PLAINTEXT = b"-----BEGIN PRIVATE KEY-----\nnot really a key, but as sensitive\n-----END PRIVATE KEY-----\n"


def test_round_trip() -> None:
    stored = secretbox.encrypt(SECRET, PURPOSE, PLAINTEXT)
    assert secretbox.decrypt(SECRET, PURPOSE, stored) == PLAINTEXT
    assert secretbox.decrypt(SECRET, PURPOSE, memoryview(stored).tobytes()) == PLAINTEXT


def test_the_stored_form_shows_nothing_of_the_plaintext_and_differs_each_time() -> None:
    first = secretbox.encrypt(SECRET, PURPOSE, PLAINTEXT)
    second = secretbox.encrypt(SECRET, PURPOSE, PLAINTEXT)
    assert first != PLAINTEXT
    assert b"PRIVATE KEY" not in first
    assert PLAINTEXT[28:44] not in first
    assert first != second  # a random IV each time: equal secrets cannot be recognised in the database


@pytest.mark.parametrize(
    ("secret", "purpose"),
    [
        (SECRET + "!", PURPOSE),  # the deployment secret changed
        (SECRET, "familienkarte other secret v1"),  # a value copied from another column
    ],
)
def test_another_secret_or_purpose_cannot_read_it(secret: str, purpose: str) -> None:
    stored = secretbox.encrypt(SECRET, PURPOSE, PLAINTEXT)
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.decrypt(secret, purpose, stored)


def test_an_altered_value_is_refused() -> None:
    stored = secretbox.encrypt(SECRET, PURPOSE, PLAINTEXT)
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.decrypt(SECRET, PURPOSE, stored[:-1] + bytes([stored[-1] ^ 1]))
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.decrypt(SECRET, PURPOSE, b"garbage")


def test_an_empty_secret_or_purpose_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        secretbox.encrypt("", PURPOSE, PLAINTEXT)
    with pytest.raises(ValueError, match="purpose"):
        secretbox.encrypt(SECRET, "", PLAINTEXT)


def test_totp_secrets_stored_before_the_shared_module_still_decrypt() -> None:
    # Made exactly as the TOTP module made them on its own: HKDF-SHA256 with its label, then Fernet.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"familienkarte totp secret v1").derive(
        SECRET.encode()
    )
    stored_before = Fernet(base64.urlsafe_b64encode(key)).encrypt(b"JBSWY3DPEHPK3PXP")

    assert totp.decrypt_secret(SECRET, stored_before) == "JBSWY3DPEHPK3PXP"
    assert secretbox.decrypt(SECRET, totp.SECRETBOX_PURPOSE, totp.encrypt_secret(SECRET, "ABC")) == b"ABC"
    with pytest.raises(totp.SecretUnreadable):
        totp.decrypt_secret(SECRET + "!", stored_before)
