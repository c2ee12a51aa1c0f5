"""The JSON Web Key Set of the issuer keys, and reading keys back from JWKs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from familienkarte.credentials.fk1 import ALG, IssuerKey, b64url_decode, public_jwk


def jwks(keys: Iterable[IssuerKey]) -> dict[str, list[dict[str, str]]]:
    """The document served at ``/.well-known/jwks.json``: every key that may still verify a live credential."""
    return {"keys": [public_jwk(key) for key in keys]}


def keys_by_kid(keys: Iterable[IssuerKey]) -> dict[str, IssuerKey]:
    """Keys indexed by ``kid``, as :func:`~familienkarte.credentials.fk1.verify_presentation` takes them."""
    indexed: dict[str, IssuerKey] = {}
    for key in keys:
        if key.kid in indexed:
            raise ValueError(f"kid {key.kid} is used twice")
        indexed[key.kid] = key
    return indexed


def _coordinate(jwk: Mapping[str, Any], name: str) -> int:
    value = jwk.get(name)
    raw = b64url_decode(value) if isinstance(value, str) else b""
    if len(raw) != 32:
        raise ValueError(f"{name} must be base64url of 32 bytes")
    return int.from_bytes(raw, "big")


def issuer_key_from_jwk(jwk: Mapping[str, Any]) -> IssuerKey:
    """An :class:`IssuerKey` from an EC P-256 JWK with ``kid``; with ``d`` it includes the private half.

    Raises ``ValueError`` for any other key, or a point that is not on the curve.
    """
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("only EC P-256 keys are used")
    if jwk.get("alg", ALG) != ALG or jwk.get("use", "sig") != "sig":
        raise ValueError(f"only {ALG} signing keys are used")
    kid = jwk.get("kid")
    if not isinstance(kid, str):
        raise ValueError("kid is required")
    x, y = _coordinate(jwk, "x"), _coordinate(jwk, "y")
    public_key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if "d" not in jwk:
        return IssuerKey(kid, None, public_key)
    private_key = ec.derive_private_key(_coordinate(jwk, "d"), ec.SECP256R1())
    return IssuerKey(kid, private_key, public_key)


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, IssuerKey]:
    """The public keys of a JWKS, by ``kid``. Keys of another type or algorithm are skipped (forward compatibility)."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS has a list of keys")
    keys: list[IssuerKey] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError("each JWKS entry is an object")
        if entry.get("kty") != "EC" or entry.get("crv") != "P-256" or entry.get("alg", ALG) != ALG:
            continue
        keys.append(issuer_key_from_jwk({name: value for name, value in entry.items() if name != "d"}))
    return keys_by_kid(keys)
