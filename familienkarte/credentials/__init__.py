"""Credentials: issuer keys and JWKS, the FK1 credential format, status lists, card numbers and QR images.

The format modules (fk1, status_list, jwks, card_numbers, qr) are pure: no database, no web framework, the same
rules as the browser's static/js/fk1.js. ``models``, ``services`` and ``api`` keep the issuer keys and status
lists in the database and publish them.
"""

from familienkarte.credentials.card_numbers import (
    format_card_number,
    is_valid_card_number,
    new_card_number,
    normalize_card_number,
)
from familienkarte.credentials.fk1 import (
    CredentialClaims,
    IssuerKey,
    Reason,
    VerificationResult,
    decode_device_key,
    encode_device_key,
    issue_credential,
    present_phone,
    present_printed,
    public_jwk,
    verify_presentation,
)
from familienkarte.credentials.jwks import issuer_key_from_jwk, jwks, keys_by_kid, keys_from_jwks
from familienkarte.credentials.qr import qr_svg, qr_version
from familienkarte.credentials.status_list import (
    StatusList,
    StatusListError,
    StatusListToken,
    status_list_token,
    status_lookup,
    verify_status_list_token,
)

__all__ = [
    "CredentialClaims",
    "IssuerKey",
    "Reason",
    "StatusList",
    "StatusListError",
    "StatusListToken",
    "VerificationResult",
    "decode_device_key",
    "encode_device_key",
    "format_card_number",
    "is_valid_card_number",
    "issue_credential",
    "issuer_key_from_jwk",
    "jwks",
    "keys_by_kid",
    "keys_from_jwks",
    "new_card_number",
    "normalize_card_number",
    "present_phone",
    "present_printed",
    "public_jwk",
    "qr_svg",
    "qr_version",
    "status_list_token",
    "status_lookup",
    "verify_presentation",
    "verify_status_list_token",
]
