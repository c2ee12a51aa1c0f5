"""Encryption at rest with a key derived from the deployment secret (``FK_SECRET_KEY``).

Secrets the service must read back (staff TOTP secrets, the issuer's private signing keys) are stored as Fernet
tokens (AES-128-CBC with HMAC-SHA256, authenticated). The Fernet key is derived from the deployment secret with
HKDF-SHA256 and a ``purpose`` label, so each kind of secret has a key of its own: a value copied from one
column into another does not decrypt, and a copy of the database alone reveals none of them.

Changing the deployment secret makes everything stored before unreadable; :class:`SecretUnreadable` says so.
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted: the deployment secret changed since it was stored, or it was altered."""


@cache
def _fernet(secret_key: str, purpose: str) -> Fernet:
    if not secret_key:
        raise ValueError("the deployment secret is empty")
    if not purpose:
        raise ValueError("a purpose label is required")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, purpose: str, plaintext: bytes) -> bytes:
    """The encrypted form of ``plaintext`` (a new random IV each time, so equal inputs give different outputs)."""
    return _fernet(secret_key, purpose).encrypt(plaintext)


def decrypt(secret_key: str, purpose: str, stored: bytes) -> bytes:
    """The plaintext of ``stored``; raises :class:`SecretUnreadable` for a wrong secret, purpose or altered value."""
    try:
        return _fernet(secret_key, purpose).decrypt(bytes(stored))
    except InvalidToken:
        raise SecretUnreadable() from None
