"""The sizes CREDENTIAL.md promises: the codes stay small enough to scan quickly from a screen or a card."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from familienkarte.credentials.card_numbers import new_card_number
from familienkarte.credentials.fk1 import (
    CredentialClaims,
    IssuerKey,
    encode_device_key,
    issue_credential,
    present_phone,
    present_printed,
)
from familienkarte.credentials.qr import qr_svg, qr_version

NOW = 1767225600
LONGEST_KID = IssuerKey.generate("k" * 8)
DEVICE = ec.generate_private_key(ec.SECP256R1())
# A 9-character card number, three children, a 6-digit status index, a 10-digit expiry.
CARD = CredentialClaims(sub=new_card_number(), exp=NOW + 10 * 365 * 86400, a=2, c=(201503, 201807, 202201), s=999999)


@pytest.mark.parametrize("claims", [CARD, dataclasses.replace(CARD, e=1)], ids=["plain", "with_entitlement"])
def test_printed_code_fits_260_characters_and_qr_version_11_at_m(claims: CredentialClaims) -> None:
    presentation = present_printed(issue_credential(claims, LONGEST_KID))
    assert len(presentation) <= 260
    assert qr_version(presentation, "M") <= 11


@pytest.mark.parametrize("claims", [CARD, dataclasses.replace(CARD, e=1)], ids=["plain", "with_entitlement"])
def test_phone_code_fits_420_characters_and_qr_version_16_at_m(claims: CredentialClaims) -> None:
    phone = dataclasses.replace(claims, k=encode_device_key(DEVICE.public_key()))
    presentation = present_phone(issue_credential(phone, LONGEST_KID), NOW, DEVICE)
    assert len(presentation) <= 420
    assert qr_version(presentation, "M") <= 16


def test_versions_grow_with_error_correction() -> None:
    text = present_printed(issue_credential(CARD, LONGEST_KID))
    versions = [qr_version(text, level) for level in ("L", "M", "Q", "H")]
    assert versions == sorted(versions)
    assert versions[0] < versions[-1]


def test_svg_for_screens() -> None:
    svg = qr_svg("FK1:example", "M")
    assert svg.startswith("<svg")
    assert "viewBox" in svg
    assert "<path" in svg
    assert qr_svg("FK1:example", "H") != svg
    with pytest.raises(ValueError, match="error correction"):
        qr_svg("FK1:example", "X")  # type: ignore[arg-type]
