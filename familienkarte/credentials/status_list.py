"""Status lists: which credentials are revoked or suspended, per the IETF Token Status List draft.

Two bits per credential (0 valid, 1 revoked, 2 suspended), entry 0 in the least significant bits of byte 0,
DEFLATE-compressed in the zlib format and base64url-encoded (``{"bits": 2, "lst": ...}``). The list travels as
a JWT with header ``typ: statuslist+jwt``, signed with an issuer key, so offline scanners can cache it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from familienkarte.credentials.fk1 import (
    DEFAULT_LEEWAY,
    IssuerKey,
    JWSError,
    StatusLookup,
    b64url_decode,
    b64url_encode,
    encode_jws,
    verify_jws,
)

BITS: Final = 2
VALID: Final = 0
REVOKED: Final = 1
SUSPENDED: Final = 2
STATUS_LIST_TYP: Final = "statuslist+jwt"

# 16 Mi entries (4 MiB uncompressed) is far beyond any city; the cap keeps a hostile list from inflating.
MAX_ENTRIES: Final = 1 << 24
_MAX_BYTES: Final = MAX_ENTRIES * BITS // 8
_PER_BYTE: Final = 8 // BITS
_MASK: Final = (1 << BITS) - 1


class StatusListError(ValueError):
    """An encoded status list or status list token that cannot be used."""


class StatusList:
    """A fixed-size list of 2-bit statuses, all valid at first."""

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        if type(size) is not int or not 0 < size <= MAX_ENTRIES:
            raise ValueError(f"a status list holds 1 to {MAX_ENTRIES} entries")
        self._size = size
        self._data = bytearray(-(-size // _PER_BYTE))

    @property
    def size(self) -> int:
        return self._size

    def _position(self, index: int) -> tuple[int, int]:
        if type(index) is not int or not 0 <= index < self._size:
            raise IndexError(f"status index {index!r} is outside 0..{self._size - 1}")
        return index // _PER_BYTE, (index % _PER_BYTE) * BITS

    def get(self, index: int) -> int:
        byte, shift = self._position(index)
        return (self._data[byte] >> shift) & _MASK

    def set(self, index: int, status: int) -> None:
        if type(status) is not int or not 0 <= status <= _MASK:
            raise ValueError(f"a {BITS}-bit status is 0 to {_MASK}")
        byte, shift = self._position(index)
        self._data[byte] = (self._data[byte] & ~(_MASK << shift) & 0xFF) | (status << shift)

    def lookup(self, index: int) -> int:
        """Like :meth:`get`, but an index outside the list counts as revoked (fail closed) instead of raising."""
        try:
            return self.get(index)
        except IndexError:
            return REVOKED

    def to_bytes(self) -> bytes:
        return bytes(self._data)

    @classmethod
    def from_bytes(cls, data: bytes) -> StatusList:
        """A list over the given bytes; its size is four entries per byte."""
        if not 0 < len(data) <= _MAX_BYTES:
            raise StatusListError("a status list has 1 byte to 4 MiB")
        status_list = cls(len(data) * _PER_BYTE)
        status_list._data[:] = data
        return status_list

    def encode(self) -> dict[str, Any]:
        """The ``status_list`` object: ``{"bits": 2, "lst": base64url(zlib(bytes))}``."""
        return {"bits": BITS, "lst": b64url_encode(zlib.compress(self._data, 9))}

    @classmethod
    def decode(cls, obj: object) -> StatusList:
        """The list in a ``status_list`` object. The size is rounded up to whole bytes (four entries each).

        Raises :class:`StatusListError` for anything else, including lists that would inflate beyond the cap.
        """
        if not isinstance(obj, Mapping):
            raise StatusListError("status_list must be an object")
        bits, lst = obj.get("bits"), obj.get("lst")
        if type(bits) is not int or bits != BITS:
            raise StatusListError(f"only {BITS}-bit status lists are used")
        if not isinstance(lst, str):
            raise StatusListError("lst must be a string")
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(b64url_decode(lst), _MAX_BYTES + 1)
        except (ValueError, zlib.error) as exc:
            raise StatusListError("lst is not base64url of zlib data") from exc
        if not inflater.eof or inflater.unused_data or len(data) > _MAX_BYTES:
            raise StatusListError("lst is truncated, followed by other data, or too large")
        return cls.from_bytes(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return self._size == other._size and self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StatusList(size={self._size})"


def status_lookup(lists: Mapping[int, StatusList]) -> StatusLookup:
    """A ``status_lookup(l, s)`` for :func:`~familienkarte.credentials.fk1.verify_presentation`.

    A list id that is not known, or an index outside its list, counts as revoked: fail closed.
    """

    def lookup(list_id: int, index: int) -> int:
        status_list = lists.get(list_id)
        return REVOKED if status_list is None else status_list.lookup(index)

    return lookup


@dataclass(frozen=True)
class StatusListToken:
    """The verified content of a status list token."""

    sub: str
    iat: int
    exp: int | None
    ttl: int | None
    status_list: StatusList


def status_list_token(status_list: StatusList, key: IssuerKey, sub_url: str, iat: int, exp: int, ttl: int) -> str:
    """The signed status list JWT: header ``typ: statuslist+jwt``; claims ``sub``, ``iat``, ``exp``, ``ttl``."""
    if not sub_url:
        raise ValueError("sub must be the list's URL")
    if not 0 <= iat < exp or ttl < 0:
        raise ValueError("iat must be before exp, and ttl must not be negative")
    payload = {"sub": sub_url, "iat": iat, "exp": exp, "ttl": ttl, "status_list": status_list.encode()}
    return encode_jws(payload, key, {"typ": STATUS_LIST_TYP})


def _optional_int(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None and name not in payload:
        return None
    if type(value) is not int or value < 0:
        raise StatusListError(f"{name} must be a non-negative integer")
    return value


def verify_status_list_token(
    token: str,
    keys_by_kid: Mapping[str, IssuerKey],
    now: float,
    *,
    expected_sub: str | None = None,
    leeway: float = DEFAULT_LEEWAY,
) -> StatusListToken:
    """Check a status list token: ES256 by a known key, ``typ`` statuslist+jwt, not expired, ``sub`` as expected.

    Raises :class:`StatusListError` (also for a bad signature or an unknown key).
    """
    try:
        header, payload = verify_jws(token, keys_by_kid)
    except JWSError as exc:
        raise StatusListError(str(exc)) from exc
    if header.get("typ") != STATUS_LIST_TYP:
        raise StatusListError(f"typ must be {STATUS_LIST_TYP}")
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise StatusListError("sub must be the list's URL")
    if expected_sub is not None and sub != expected_sub:
        raise StatusListError("the token is for another list")
    iat = _optional_int(payload, "iat")
    if iat is None:
        raise StatusListError("iat is required")
    exp = _optional_int(payload, "exp")
    ttl = _optional_int(payload, "ttl")
    if exp is not None and now >= exp + leeway:
        raise StatusListError("the status list token has expired")
    if "status_list" not in payload:
        raise StatusListError("status_list is required")
    return StatusListToken(sub, iat, exp, ttl, StatusList.decode(payload["status_list"]))
