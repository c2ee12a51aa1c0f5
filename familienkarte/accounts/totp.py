"""Time-based one-time codes (RFC 6238) for the staff's second factor, and the secret's encryption at rest.

The secret is encrypted with a key derived from the deployment secret (``familienkarte.secretbox``), so a copy of
the database alone does not let anyone produce codes. A code is accepted once: the step it belongs to is stored
and codes of that step or an earlier one are refused afterwards.
"""

from __future__ import annotations

import base64
import hmac
import time

import pyotp
import qrcode
import qrcode.image.svg

from familienkarte import secretbox
from familienkarte.secretbox import SecretUnreadable as SecretUnreadable  # where the services catch it

ISSUER = "Familienkarte"
DIGITS = 6
# One step either side of now: clocks of phones drift, and typing a code takes time.
DRIFT_STEPS = 1
# The label of the key derived for TOTP secrets; changing it makes every stored secret unreadable.
SECRETBOX_PURPOSE = "familienkarte totp secret v1"


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt_secret(secret_key: str, secret: str) -> bytes:
    return secretbox.encrypt(secret_key, SECRETBOX_PURPOSE, secret.encode())


def decrypt_secret(secret_key: str, stored: bytes) -> str:
    """The secret; raises ``SecretUnreadable`` when the deployment secret changed since it was set up."""
    return secretbox.decrypt(secret_key, SECRETBOX_PURPOSE, stored).decode()


def clean_code(code: str) -> str:
    """What people type, without the spaces and dashes some apps show in the middle."""
    return "".join(ch for ch in code if not ch.isspace() and ch != "-")


def matching_step(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step the code belongs to, or None when it is wrong or was used already."""
    code = clean_code(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS)
    current = int(totp.timecode(time.time() if now is None else now))
    found = None
    # Compare against every candidate so that the time taken does not tell which step matched.
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and (last_step is None or step > last_step):
            found = step
    return found


def provisioning_uri(secret: str, account_name: str, issuer: str = ISSUER) -> str:
    return str(pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(name=account_name, issuer_name=issuer))


def qr_data_uri(text: str) -> str:
    """The text as a QR code on white with its quiet zone, as an SVG image in a data: URI.

    Rendered here, so that no outside service ever sees the secret.
    """
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage, border=4)
    svg: bytes = image.to_string(encoding="utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
