"""FK1: the card credential, its two presentations, and the one verifier used for both.

The format is a public contract (CREDENTIAL.md). A credential is a compact JWS signed with ES256 by an issuer
key; the text in the QR code is ``FK1:`` + credential for a printed card, and ``FK1:`` + credential + ``.t.p``
for a phone, where ``p`` is the device key's signature over ``<credential signature part>.<t>``.

:func:`verify_presentation` runs the contract's steps in order and returns the first failure as a stable
:class:`Reason`. It never raises for any input text: partners scan whatever a camera reads.

Choices the contract leaves open, made here and mirrored by every other verifier through the shared vectors:

- Base64url parts are strict: the URL-safe alphabet only, no padding, and canonical (the unused low bits of the
  last character are zero). Anything else is ``malformed``.
- The header must be a JSON object with string ``alg`` and ``kid``; a header with ``typ`` (credentials have
  none, so this keeps other tokens signed by the same keys, such as status list tokens, out) or ``crit``
  (no extension is understood) is ``malformed``.
- Integer claims must be JSON integers (not ``1.0`` or ``1e3``) within the range a JavaScript number holds
  exactly; unknown claims are ignored.
- ``t`` is canonical decimal: digits only, no sign, no leading zero, at most 11 digits.
- A five-part presentation of a credential without ``k`` cannot carry a proof that verifies: ``bad_proof``.
- A status other than 0 (valid) and 2 (suspended) counts as ``revoked``: unknown values fail closed.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PREFIX: Final = "FK1:"
ALG: Final = "ES256"
MAX_PRESENTATION_LENGTH: Final = 2048
DEFAULT_STALE_AFTER: Final = 90
DEFAULT_LEEWAY: Final = 60

# The largest integer that every JSON reader, JavaScript included, keeps exact.
MAX_SAFE_INTEGER: Final = 2**53 - 1
# Bit masks and indexes stay within 31 bits so JavaScript's bitwise operators handle them.
_MAX_INDEX: Final = 2**31 - 1
_MAX_CHILDREN: Final = 32
_MAX_ADULTS: Final = 99

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KID = re.compile(r"[A-Za-z0-9_-]{1,8}")
_SUB = re.compile(r"[A-Za-z0-9_-]{1,32}")
_T = re.compile(r"0|[1-9][0-9]{0,10}")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

PresentationKind = Literal["phone", "printed"]


class Reason(StrEnum):
    """The stable reason codes of CREDENTIAL.md, in the order the steps run."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    PRESENTATION_MISSING = "presentation_missing"
    BAD_PROOF = "bad_proof"
    STALE = "stale"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    OK = "ok"


# --- base64url and ES256 -------------------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url: URL-safe alphabet, no padding, canonical. Raises ``ValueError`` otherwise."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _require_p256(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> None:
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("only P-256 keys are used")


def sign_es256(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """An ECDSA P-256/SHA-256 signature in the raw 64-byte ``r||s`` form of JWS and WebCrypto."""
    r, s = decode_dss_signature(private_key.sign(data, _ECDSA_SHA256))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_es256(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """Check a raw ``r||s`` signature; any wrong length or value is simply ``False``."""
    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
    except (InvalidSignature, ValueError):
        return False
    return True


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(segment: str) -> dict[str, Any] | None:
    """The JSON object in a base64url segment, or ``None`` for anything else."""
    try:
        value = json.loads(b64url_decode(segment).decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


# --- keys ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuerKey:
    """An issuer key: ECDSA P-256, used as ES256. Verifiers hold only the public half."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey | None
    public_key: ec.EllipticCurvePublicKey

    def __post_init__(self) -> None:
        if not isinstance(self.kid, str) or not _KID.fullmatch(self.kid):
            raise ValueError("kid must be 1 to 8 characters of A-Z, a-z, 0-9, '-' or '_'")
        _require_p256(self.public_key)
        if self.private_key is not None:
            _require_p256(self.private_key)
            if self.private_key.public_key().public_numbers() != self.public_key.public_numbers():
                raise ValueError("the private and public key do not belong together")

    @classmethod
    def generate(cls, kid: str) -> IssuerKey:
        private_key = ec.generate_private_key(ec.SECP256R1())
        return cls(kid, private_key, private_key.public_key())

    @classmethod
    def from_private_key(cls, kid: str, private_key: ec.EllipticCurvePrivateKey) -> IssuerKey:
        return cls(kid, private_key, private_key.public_key())

    def public_only(self) -> IssuerKey:
        return IssuerKey(self.kid, None, self.public_key)


def public_jwk(key: IssuerKey) -> dict[str, str]:
    """The public JWK (RFC 7517/7518) of an issuer key, as published in the JWKS."""
    numbers = key.public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        "kid": key.kid,
        "alg": ALG,
        "use": "sig",
    }


def encode_device_key(public_key: ec.EllipticCurvePublicKey | bytes) -> str:
    """The ``k`` claim: base64url of the 33-byte compressed point of a device's P-256 public key.

    Accepts a key object or an encoded point (the 65-byte uncompressed form WebCrypto exports as ``raw``, or the
    33-byte compressed form). Raises ``ValueError`` for anything that is not a point on P-256.
    """
    if isinstance(public_key, bytes):
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    _require_p256(public_key)
    return b64url_encode(public_key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint))


def decode_device_key(k: str) -> ec.EllipticCurvePublicKey:
    """The device public key in a ``k`` claim. Raises ``ValueError`` if it is not a compressed P-256 point."""
    raw = b64url_decode(k)
    if len(raw) != 33 or raw[0] not in (2, 3):
        raise ValueError("k must be a 33-byte compressed point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


# --- claims --------------------------------------------------------------------------------------------------


def _is_int(value: object, low: int = 0, high: int = MAX_SAFE_INTEGER) -> TypeGuard[int]:
    return type(value) is int and low <= value <= high


def _is_year_month(value: object) -> bool:
    return _is_int(value, 190001, 999912) and 1 <= value % 100 <= 12


@dataclass(frozen=True)
class CredentialClaims:
    """The claims of an FK1 credential; see CREDENTIAL.md for their meaning.

    - ``sub``: the card number.
    - ``exp``: expiry, unix seconds.
    - ``a``: number of adults; ``c``: children's birth year and month as ``YYYYMM``, oldest first.
    - ``s``: index in status list ``l`` (omitted from the token when it is 1).
    - ``e``: entitlement bit mask (omitted when 0).
    - ``k``: phone credentials only, the device key (see :func:`encode_device_key`).
    - ``nbf``: the card's start of validity, if it has one ("not before", RFC 7519 section 4.1.5, unix seconds).
      It drives the ``not_yet_valid`` step; omitted when ``None``.
    """

    sub: str
    exp: int
    a: int
    c: tuple[int, ...]
    s: int
    e: int = 0
    l: int = 1  # noqa: E741  (the claim name is fixed by the contract)
    k: str | None = None
    nbf: int | None = None

    def problem(self) -> str | None:
        """What makes these claims unfit for a credential, or ``None`` if they are fine."""
        if not isinstance(self.sub, str) or not _SUB.fullmatch(self.sub):
            return "sub must be 1 to 32 characters of A-Z, a-z, 0-9, '-' or '_'"
        if not _is_int(self.exp):
            return "exp must be a non-negative integer"
        if self.nbf is not None and not _is_int(self.nbf):
            return "nbf must be a non-negative integer"
        if not _is_int(self.a, 0, _MAX_ADULTS):
            return f"a must be an integer from 0 to {_MAX_ADULTS}"
        if not isinstance(self.c, tuple | list) or len(self.c) > _MAX_CHILDREN:
            return f"c must be a list of at most {_MAX_CHILDREN} entries"
        if not all(_is_year_month(child) for child in self.c):
            return "c must hold YYYYMM integers"
        if not _is_int(self.e, 0, _MAX_INDEX):
            return "e must be a non-negative 31-bit integer"
        if not _is_int(self.s, 0, _MAX_INDEX):
            return "s must be a non-negative 31-bit integer"
        if not _is_int(self.l, 0, _MAX_INDEX):
            return "l must be a non-negative 31-bit integer"
        if self.k is not None:
            try:
                raw = b64url_decode(self.k) if isinstance(self.k, str) else b""
            except ValueError:
                raw = b""
            if len(raw) != 33 or raw[0] not in (2, 3):
                return "k must be base64url of a 33-byte compressed P-256 point"
        return None

    def to_payload(self) -> dict[str, Any]:
        """The JWT claims set, with defaults left out to keep the QR code small."""
        payload: dict[str, Any] = {"sub": self.sub, "exp": self.exp}
        if self.nbf is not None:
            payload["nbf"] = self.nbf
        payload["a"] = self.a
        payload["c"] = list(self.c)
        if self.e != 0:
            payload["e"] = self.e
        payload["s"] = self.s
        if self.l != 1:
            payload["l"] = self.l
        if self.k is not None:
            payload["k"] = self.k
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> CredentialClaims | None:
        """Claims from a decoded JWT claims set, or ``None`` if a required claim is missing or a value is wrong."""
        if not all(name in payload for name in ("sub", "exp", "a", "c", "s")):
            return None
        if any(name in payload and payload[name] is None for name in ("e", "l", "k", "nbf")):
            return None
        children = payload["c"]
        if not isinstance(children, list):
            return None
        claims = cls(
            sub=payload["sub"],
            exp=payload["exp"],
            a=payload["a"],
            c=tuple(children),
            s=payload["s"],
            e=payload.get("e", 0),
            l=payload.get("l", 1),
            k=payload.get("k"),
            nbf=payload.get("nbf"),
        )
        return None if claims.problem() is not None else claims


# --- issuing and presenting ----------------------------------------------------------------------------------


def encode_jws(payload: Mapping[str, Any], key: IssuerKey, extra_header: Mapping[str, str] | None = None) -> str:
    """A compact JWS over compact JSON, header ``{"alg":"ES256","kid":...}`` plus ``extra_header``."""
    if key.private_key is None:
        raise ValueError(f"issuer key {key.kid} has no private half")
    header = {"alg": ALG, "kid": key.kid, **(extra_header or {})}
    signing_input = b64url_encode(_json_bytes(header)) + "." + b64url_encode(_json_bytes(payload))
    signature = sign_es256(key.private_key, signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)


def issue_credential(claims: CredentialClaims, key: IssuerKey) -> str:
    """Sign the claims into an FK1 credential (compact JWS, no ``typ``). Raises ``ValueError`` for bad claims."""
    problem = claims.problem()
    if problem is not None:
        raise ValueError(problem)
    return encode_jws(claims.to_payload(), key)


def present_printed(credential: str) -> str:
    """The QR text of a printed card."""
    return PREFIX + credential


def proof_message(credential: str, t: int | str) -> bytes:
    """The bytes a device signs: ``<credential signature part>.<t>`` in ASCII."""
    return f"{credential.rsplit('.', 1)[-1]}.{t}".encode("ascii")


def present_phone(credential: str, t: int, device_private_key: ec.EllipticCurvePrivateKey) -> str:
    """The QR text a phone shows at unix time ``t``, signed with its device key."""
    if not _is_int(t):
        raise ValueError("t must be a non-negative integer")
    _require_p256(device_private_key)
    p = b64url_encode(sign_es256(device_private_key, proof_message(credential, t)))
    return f"{PREFIX}{credential}.{t}.{p}"


# --- verifying -----------------------------------------------------------------------------------------------


StatusLookup = Callable[[int, int], int]
"""``status_lookup(l, s)``: the status list entry of index ``s`` in list ``l`` (0 valid, 1 revoked, 2 suspended).
It must not raise; a lookup that cannot answer should return 1 (fail closed)."""


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of a verification.

    ``claims`` are set only once the issuer signature has verified, so they are never attacker-chosen values;
    a result such as ``expired`` or ``revoked`` still carries them, for the scanner to show which card it was.
    ``presentation_kind`` is ``"phone"`` for five parts, ``"printed"`` for three, ``None`` when malformed.
    ``t`` is the phone's drawing time for phone presentations.
    """

    reason: Reason
    claims: CredentialClaims | None = None
    presentation_kind: PresentationKind | None = None
    kid: str | None = None
    t: int | None = None

    @property
    def ok(self) -> bool:
        return self.reason is Reason.OK


@dataclass(frozen=True)
class _Parsed:
    alg: str
    kid: str
    claims: CredentialClaims
    signing_input: bytes
    signature: bytes
    signature_part: str
    t: int | None
    t_text: str | None
    proof: bytes | None


def _parse(text: object) -> _Parsed | None:
    """Step one: the structure of a presentation, or ``None`` if it is malformed."""
    if not isinstance(text, str) or len(text) > MAX_PRESENTATION_LENGTH or not text.startswith(PREFIX):
        return None
    parts = text[len(PREFIX) :].split(".")
    if len(parts) not in (3, 5):
        return None
    header_part, payload_part, signature_part = parts[:3]
    header = _json_object(header_part)
    payload = _json_object(payload_part)
    if header is None or payload is None:
        return None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or not isinstance(kid, str) or "typ" in header or "crit" in header:
        return None
    claims = CredentialClaims.from_payload(payload)
    if claims is None:
        return None
    try:
        signature = b64url_decode(signature_part)
    except ValueError:
        return None
    t: int | None = None
    t_text: str | None = None
    proof: bytes | None = None
    if len(parts) == 5:
        t_text, proof_part = parts[3], parts[4]
        if not _T.fullmatch(t_text):
            return None
        try:
            proof = b64url_decode(proof_part)
        except ValueError:
            return None
        if len(proof) != 64:
            return None
        t = int(t_text)
    return _Parsed(
        alg=alg,
        kid=kid,
        claims=claims,
        signing_input=f"{header_part}.{payload_part}".encode("ascii"),
        signature=signature,
        signature_part=signature_part,
        t=t,
        t_text=t_text,
        proof=proof,
    )


def _proof_verifies(parsed: _Parsed) -> bool:
    if parsed.claims.k is None or parsed.proof is None or parsed.t_text is None:
        return False
    try:
        device_key = decode_device_key(parsed.claims.k)
    except ValueError:
        return False
    message = f"{parsed.signature_part}.{parsed.t_text}".encode("ascii")
    return verify_es256(device_key, parsed.proof, message)


def verify_presentation(
    text: str,
    keys_by_kid: Mapping[str, IssuerKey],
    now: float,
    status_lookup: StatusLookup,
    *,
    stale_after: float = DEFAULT_STALE_AFTER,
    leeway: float = DEFAULT_LEEWAY,
) -> VerificationResult:
    """Verify the text of a scanned or typed FK1 code; the first failing step of CREDENTIAL.md wins.

    ``now`` is unix seconds; ``leeway`` is the clock tolerance for ``exp`` and ``nbf``; a phone code drawn more
    than ``stale_after`` seconds before or after ``now`` is ``stale``.
    """
    parsed = _parse(text)
    if parsed is None:
        return VerificationResult(Reason.MALFORMED)
    kind: PresentationKind = "printed" if parsed.t is None else "phone"

    def fail(reason: Reason, claims: CredentialClaims | None = None) -> VerificationResult:
        return VerificationResult(reason, claims, kind, parsed.kid, parsed.t)

    key = keys_by_kid.get(parsed.kid)
    if key is None:
        return fail(Reason.UNKNOWN_KEY)
    if parsed.alg != ALG or not verify_es256(key.public_key, parsed.signature, parsed.signing_input):
        return fail(Reason.BAD_SIGNATURE)
    claims = parsed.claims
    if now >= claims.exp + leeway:
        return fail(Reason.EXPIRED, claims)
    if claims.nbf is not None and claims.nbf > now + leeway:
        return fail(Reason.NOT_YET_VALID, claims)
    if parsed.t is None:
        if claims.k is not None:
            return fail(Reason.PRESENTATION_MISSING, claims)
    else:
        if not _proof_verifies(parsed):
            return fail(Reason.BAD_PROOF, claims)
        if abs(now - parsed.t) > stale_after:
            return fail(Reason.STALE, claims)
    status = status_lookup(claims.l, claims.s)
    if status == 0:
        return fail(Reason.OK, claims)
    if status == 2:
        return fail(Reason.SUSPENDED, claims)
    return fail(Reason.REVOKED, claims)


# --- generic compact JWS verification (status list tokens) ---------------------------------------------------


class JWSError(ValueError):
    """A compact JWS that is not an ES256 token from a known issuer key."""


def verify_jws(
    token: str, keys_by_kid: Mapping[str, IssuerKey], *, max_length: int = 8 * 1024 * 1024
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact ES256 JWS signed by one of ``keys_by_kid``. Raises :class:`JWSError`."""
    if not isinstance(token, str) or len(token) > max_length:
        raise JWSError("not a token")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWSError("a compact JWS has three parts")
    header = _json_object(parts[0])
    payload = _json_object(parts[1])
    if header is None or payload is None:
        raise JWSError("header and payload must be base64url JSON objects")
    if "crit" in header:
        raise JWSError("no critical header extension is understood")
    kid = header.get("kid")
    key = keys_by_kid.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise JWSError("unknown key")
    try:
        signature = b64url_decode(parts[2])
    except ValueError:
        raise JWSError("signature is not base64url") from None
    if header.get("alg") != ALG or not verify_es256(key.public_key, signature, f"{parts[0]}.{parts[1]}".encode()):
        raise JWSError("bad signature")
    return header, payload
