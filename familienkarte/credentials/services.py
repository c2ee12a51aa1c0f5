"""Issuer keys and status lists in the database: rotation, the published keys, status entries and their tokens.

The signing and the formats are in the pure core (``familienkarte.credentials``); this module stores what it
needs and enforces the rules of CREDENTIAL.md:

- One key is active and signs; ``rotate_key`` makes a new one active. A key stays published (in the JWKS) until
  the latest ``exp`` of anything it signed has passed, plus the verifiers' clock tolerance: ``record_issued``
  keeps that ``last_exp`` up to date, so a credential never outlives its key. Private keys are stored only
  encrypted with the deployment secret (``familienkarte.secretbox``).
- Every credential gets a status entry of its own (``allocate_status_index``). Its position is chosen by a keyed
  pseudo-random permutation of the list's indexes, so an index is unique, reveals nothing about when the
  credential was issued (draft-ietf-oauth-status-list, privacy considerations), and allocation costs the same
  at any fill level. A list takes new entries until it is 90 % full; then the next list opens.
- ``set_status`` changes an entry and marks the list dirty (``version`` ahead of ``token_version``); the signed
  token is regenerated after the commit by the worker (woken at once, and by beat every minute) or, whichever
  comes first, by the next download: a list is never served with a change missing.

A web process remembers the published keys and the status lists it read for a moment (:class:`VerifierCache`,
handed to its sessions through ``Session.info``; nothing is remembered elsewhere): see the class for how soon a
change counts.

Concurrency: creating or rotating a key and allocating a status entry take an exclusive lock until the
transaction ends (a PostgreSQL advisory lock, one for keys and one for lists; on SQLite, the database's write
lock, taken by a write that changes nothing). Status entries are changed under a row lock on PostgreSQL and
the same write lock on SQLite. The signing key is read without a lock: ``record_issued`` keeps a key published
even if it was rotated out while a credential was being signed with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import logging
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
)
from sqlalchemy import CursorResult, event, func, or_, select, update
from sqlalchemy.orm import Session

from familienkarte import secretbox
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.audit.services import record
from familienkarte.credentials import status_list as status_list_core
from familienkarte.credentials.errors import (
    IssuerKeyUnreadable,
    StatusAlreadyRevoked,
    StatusEntryNotFound,
    StatusListNotFound,
)
from familienkarte.credentials.fk1 import DEFAULT_LEEWAY, IssuerKey, StatusLookup
from familienkarte.credentials.models import IssuerKeyRecord, StatusListRecord
from familienkarte.credentials.status_list import REVOKED, SUSPENDED, VALID, StatusList
from familienkarte.db import is_postgresql, serialise, sqlite_write_lock, utcnow
from familienkarte.outbox_wake import wake_after_commit

log = logging.getLogger("familienkarte.credentials")
T = TypeVar("T")

# Keys ---------------------------------------------------------------------------------------------------------

KID_LENGTH: Final = 4
KID_ALPHABET: Final = string.ascii_letters + string.digits + "-_"
# The label of the encryption key derived for private issuer keys; changing it makes every stored key unreadable.
SECRETBOX_PURPOSE: Final = "familienkarte issuer key v1"
# A key stays published this long after the last exp it signed: the verifiers' clock tolerance.
PUBLISH_LEEWAY: Final = dt.timedelta(seconds=DEFAULT_LEEWAY)

# Status lists ---------------------------------------------------------------------------------------------------

STATUS_LIST_SIZE: Final = 1 << 17  # 131,072 entries (32 KiB), indexes of at most 6 digits in the QR code
FULL_PERCENT: Final = 90
# Claims of the status list token: clients fetch again after ttl; offline, the token counts until exp.
TOKEN_TTL: Final = 300
TOKEN_LIFETIME: Final = 24 * 3600
# A clean list is signed again once its token is this old, so a download always has most of a day to run.
TOKEN_MAX_AGE: Final = dt.timedelta(hours=1)
STATUS_LIST_PATH: Final = "/api/v1/status-lists/{list_id}"
# The wake-up topic of changed lists (familienkarte.outbox_wake); the ids are list ids.
STATUS_LISTS_TOPIC: Final = "credentials.status_lists"
STATUSES: Final = (VALID, REVOKED, SUSPENDED)
_MAX_LIST_ID: Final = 2**31 - 1
_FEISTEL_ROUNDS: Final = 6

# PostgreSQL advisory lock ids ("FK" and a number), one per thing serialised.
_KEYS_LOCK: Final = 0x464B_0001
_LISTS_LOCK: Final = 0x464B_0002


def _exclusive(session: Session, lock_id: int) -> None:
    serialise(session, lock_id, StatusListRecord)


# What verifiers remember ------------------------------------------------------------------------------------------

# How long a web process verifies with the keys and status entries it read, when nothing changed in it.
KEYS_CACHE_SECONDS: Final = 10.0
STATUS_CACHE_SECONDS: Final = 5.0
# The key of the process's VerifierCache in Session.info (familienkarte.runtime puts it there).
VERIFIER_CACHE: Final = "familienkarte.verifier_cache"
_CHANGED: Final = "familienkarte.verifier_cache.changed"

# Changes whenever an issuer key or a status entry was changed in this process: what was remembered before is
# forgotten.
_changes = itertools.count(1)
_generation = 0


def _verifiers_forget() -> None:
    global _generation
    _generation = next(_changes)


def _forget_after_commit(session: Session) -> None:
    """Keys or status entries change in this transaction: every VerifierCache of this process forgets what it
    remembers now and again when the transaction commits (a verification in between may read the old state)."""
    _verifiers_forget()
    if not session.info.get(_CHANGED):
        session.info[_CHANGED] = True
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _verifiers_forget()


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def _monotonic() -> float:
    return time.monotonic()


@dataclass(frozen=True)
class _Remembered(Generic[T]):
    value: T
    until: float
    generation: int


class VerifierCache:
    """What a web process's verifications read on every scan: the published keys and the status lists.

    - The published keys are kept :data:`KEYS_CACHE_SECONDS`. A code signed by a key made active by another
      process (``familienkarte keys rotate``) makes the verifier read the keys again at once; a key that stops
      being published stays up to that much longer, which changes nothing: everything it signed has expired by then.
    - A status list is kept whole :data:`STATUS_CACHE_SECONDS`. A card revoked or suspended in another process
      (another web worker, a worker, the command line) is refused here within that time. An index beyond the
      remembered list and a list not remembered yet are read at once, so a new credential verifies at once.
    - Any change of a key or a status entry in this process (``rotate_key``, ``set_status``, ...) makes every
      cache of the process forget everything at once, and again when its transaction commits.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or (lambda: _monotonic())
        self._keys: _Remembered[list[IssuerKey]] | None = None
        self._lists: dict[int, _Remembered[tuple[int, bytes]]] = {}

    def _fresh(self, entry: _Remembered[T] | None) -> T | None:
        if entry is None or entry.generation != _generation or entry.until <= self._clock():
            return None
        return entry.value

    def keys(self) -> list[IssuerKey] | None:
        return self._fresh(self._keys)

    def remember_keys(self, keys: list[IssuerKey], generation: int) -> None:
        if generation == _generation:
            self._keys = _Remembered(keys, self._clock() + KEYS_CACHE_SECONDS, generation)

    def status_list(self, list_id: int) -> tuple[int, bytes] | None:
        """(size, bits) of a remembered list."""
        return self._fresh(self._lists.get(list_id))

    def remember_status_list(self, list_id: int, size: int, bits: bytes, generation: int) -> None:
        if generation == _generation:
            self._lists[list_id] = _Remembered((size, bits), self._clock() + STATUS_CACHE_SECONDS, generation)


def _verifier_cache(session: Session) -> VerifierCache | None:
    cache = session.info.get(VERIFIER_CACHE)
    return cache if isinstance(cache, VerifierCache) else None


# Issuer keys ------------------------------------------------------------------------------------------------------


KeyState = Literal["active", "retired", "expired"]


@dataclass(frozen=True)
class KeyInfo:
    """One issuer key as the ``keys list`` command shows it."""

    kid: str
    state: KeyState
    created_at: dt.datetime
    activated_at: dt.datetime
    retired_at: dt.datetime | None
    last_exp: dt.datetime | None
    published: bool

    @property
    def active(self) -> bool:
        return self.state == "active"


def _new_kid(session: Session) -> str:
    while True:
        kid = "".join(secrets.choice(KID_ALPHABET) for _ in range(KID_LENGTH))
        if session.get(IssuerKeyRecord, kid) is None:
            return kid


def _public_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _create_active_key(session: Session, secret: str, now: dt.datetime) -> IssuerKeyRecord:
    key = IssuerKey.generate(_new_kid(session))
    assert key.private_key is not None
    private_der = key.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    row = IssuerKeyRecord(
        kid=key.kid,
        public_key=_public_point(key.public_key),
        private_key_encrypted=secretbox.encrypt(secret, SECRETBOX_PURPOSE, private_der),
        active=True,
        created_at=now,
        activated_at=now,
    )
    session.add(row)
    session.flush()
    _forget_after_commit(session)
    log.info("issuer key %s created and active", key.kid)
    return row


def _active_kid(session: Session) -> str | None:
    return session.scalar(select(IssuerKeyRecord.kid).where(IssuerKeyRecord.active.is_(True)))


def ensure_active_key(session: Session, secret: str, now: dt.datetime | None = None) -> str:
    """The kid of the active key; a new key is made (and is active) when there is none yet."""
    kid = _active_kid(session)
    if kid is not None:
        return kid
    _exclusive(session, _KEYS_LOCK)
    kid = _active_kid(session)  # another transaction may have made one while this one waited
    if kid is not None:
        return kid
    return _create_active_key(session, secret, now or utcnow()).kid


def rotate_key(
    session: Session,
    secret: str,
    *,
    actor: Principal | None = None,
    meta: RequestMeta | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Make a new key the active one and return its kid; the previous key is retired but stays published
    until the last credential it signed has expired. Recorded in the audit log (``actor`` None: the system)."""
    now = now or utcnow()
    _exclusive(session, _KEYS_LOCK)
    old = session.scalar(
        select(IssuerKeyRecord)
        .where(IssuerKeyRecord.active.is_(True))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if old is not None:
        old.active = None
        old.retired_at = now
        session.flush()  # before the new key: at most one key may be active at any moment
        _forget_after_commit(session)
    new = _create_active_key(session, secret, now)
    record(
        session,
        actor,
        "issuer_key.rotated",
        "issuer_key",
        new.kid,
        details={"retired_kid": old.kid if old is not None else None},
        meta=meta,
    )
    return new.kid


def _decrypt(row: IssuerKeyRecord, secret: str) -> IssuerKey:
    try:
        der = secretbox.decrypt(secret, SECRETBOX_PURPOSE, row.private_key_encrypted)
        private_key = load_der_private_key(der, password=None)
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise ValueError("not an EC key")
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(row.public_key))
        # Also refuses a private key that does not belong to the row's public key.
        return IssuerKey(row.kid, private_key, public_key)
    except (secretbox.SecretUnreadable, ValueError) as exc:
        log.error(
            "issuer key %s cannot be decrypted (%s): FK_SECRET_KEY differs from the one it was made with; "
            "restore it, or run `familienkarte keys rotate`",
            row.kid,
            type(exc).__name__,
        )
        raise IssuerKeyUnreadable() from None


def signing_key(session: Session, secret: str) -> IssuerKey:
    """The active key with its private half, to sign with (made when there is none yet).

    Raises :class:`IssuerKeyUnreadable` when the deployment secret is not the one it was encrypted with.
    """
    kid = ensure_active_key(session, secret)
    row = session.get(IssuerKeyRecord, kid, populate_existing=True)
    assert row is not None
    return _decrypt(row, secret)


def record_issued(session: Session, kid: str, exp: int) -> None:
    """Note that the key ``kid`` signed something valid until ``exp`` (unix seconds): it stays published until then.

    Call it in the transaction that stores the credential. One UPDATE that only ever raises the value, so
    concurrent issuers never lower it.
    """
    exp_at = dt.datetime.fromtimestamp(exp, dt.UTC)
    result = cast(
        CursorResult[Any],
        session.execute(
            update(IssuerKeyRecord)
            .where(IssuerKeyRecord.kid == kid)
            .where(or_(IssuerKeyRecord.last_exp.is_(None), IssuerKeyRecord.last_exp < exp_at))
            .values(last_exp=exp_at)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount == 0 and session.get(IssuerKeyRecord, kid) is None:
        raise ValueError(f"unknown issuer key {kid}")


def _published_clause(now: dt.datetime) -> Any:
    return or_(IssuerKeyRecord.active.is_(True), IssuerKeyRecord.last_exp > now - PUBLISH_LEEWAY)


def published_keys(session: Session, now: dt.datetime, *, fresh: bool = False) -> list[IssuerKey]:
    """The public keys for the JWKS: the active key, and every retired key that signed something still valid.

    Remembered for a moment in a web process (:class:`VerifierCache`); ``fresh`` reads them again at once (a code
    names a key this process does not know yet: another process may just have rotated)."""
    cache = _verifier_cache(session)
    if cache is None:
        return _published_keys(session, now)
    keys = None if fresh else cache.keys()
    if keys is None:
        generation = _generation
        keys = _published_keys(session, now)
        cache.remember_keys(keys, generation)
    return list(keys)


def _published_keys(session: Session, now: dt.datetime) -> list[IssuerKey]:
    rows = session.execute(
        select(IssuerKeyRecord.kid, IssuerKeyRecord.public_key)
        .where(_published_clause(now))
        .order_by(IssuerKeyRecord.activated_at.desc(), IssuerKeyRecord.kid)
    )
    return [
        IssuerKey(kid, None, ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(point)))
        for kid, point in rows
    ]


def list_keys(session: Session, now: dt.datetime) -> list[KeyInfo]:
    """Every key, newest first: active, retired (still published) or expired (no longer published)."""
    rows = session.execute(
        select(
            IssuerKeyRecord.kid,
            IssuerKeyRecord.active,
            IssuerKeyRecord.created_at,
            IssuerKeyRecord.activated_at,
            IssuerKeyRecord.retired_at,
            IssuerKeyRecord.last_exp,
        ).order_by(IssuerKeyRecord.activated_at.desc(), IssuerKeyRecord.kid)
    )
    keys = []
    for kid, active, created_at, activated_at, retired_at, last_exp in rows:
        published = bool(active) or (last_exp is not None and last_exp > now - PUBLISH_LEEWAY)
        state: KeyState = "active" if active else "retired" if published else "expired"
        keys.append(KeyInfo(kid, state, created_at, activated_at, retired_at, last_exp, published))
    return keys


# Status index permutation -----------------------------------------------------------------------------------------


def _half_bits(size: int) -> int:
    return max(1, ((size - 1).bit_length() + 1) // 2)


def _round_value(key: bytes, round_number: int, value: int, mask: int) -> int:
    digest = hmac.new(key, bytes([round_number]) + value.to_bytes(4, "big"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & mask


def _feistel(key: bytes, half: int, x: int, *, inverse: bool = False) -> int:
    mask = (1 << half) - 1
    left, right = x >> half, x & mask
    if not inverse:
        for round_number in range(_FEISTEL_ROUNDS):
            left, right = right, left ^ _round_value(key, round_number, right, mask)
    else:
        for round_number in reversed(range(_FEISTEL_ROUNDS)):
            left, right = right ^ _round_value(key, round_number, left, mask), left
    return (left << half) | right


def permuted_index(key: bytes, size: int, n: int, *, inverse: bool = False) -> int:
    """The n-th position of a keyed permutation of ``range(size)`` (or, with ``inverse``, which n lands at ``n``).

    A balanced Feistel network on the smallest even number of bits that covers ``size``, with HMAC-SHA256 as
    round function; values outside ``range(size)`` are walked on (cycle walking), which keeps it a permutation.
    """
    if not 0 <= n < size:
        raise ValueError("n is outside the list")
    half = _half_bits(size)
    x = n
    while True:
        x = _feistel(key, half, x, inverse=inverse)
        if x < size:
            return x


# Status lists -----------------------------------------------------------------------------------------------------


def status_list_url(base_url: str, list_id: int) -> str:
    """The list's own URL: the ``sub`` of its token, and where it is downloaded."""
    return base_url.rstrip("/") + STATUS_LIST_PATH.format(list_id=list_id)


def _capacity(size: int) -> int:
    return size * FULL_PERCENT // 100


def allocate_status_index(session: Session, now: dt.datetime | None = None) -> tuple[int, int]:
    """A new, never used status entry ``(list id, index)`` for a credential, valid (0) until changed.

    Unique under concurrent transactions on PostgreSQL and SQLite: allocations are serialised until the
    caller's transaction ends, so call it late in the transaction that stores the credential.
    """
    _exclusive(session, _LISTS_LOCK)
    current = session.execute(
        select(StatusListRecord.id, StatusListRecord.size, StatusListRecord.allocated, StatusListRecord.index_key)
        .order_by(StatusListRecord.id.desc())
        .limit(1)
    ).first()
    if current is not None and current.allocated < _capacity(current.size):
        session.execute(
            update(StatusListRecord)
            .where(StatusListRecord.id == current.id)
            .values(allocated=StatusListRecord.allocated + 1)
            .execution_options(synchronize_session=False)
        )
        return current.id, permuted_index(bytes(current.index_key), current.size, current.allocated)
    list_id = 1 if current is None else current.id + 1
    index_key = secrets.token_bytes(32)
    now = now or utcnow()
    session.add(
        StatusListRecord(
            id=list_id,
            size=STATUS_LIST_SIZE,
            bits=bytes(STATUS_LIST_SIZE // 4),
            allocated=1,
            index_key=index_key,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    log.info("status list %d opened", list_id)
    return list_id, permuted_index(index_key, STATUS_LIST_SIZE, 0)


def set_status(session: Session, list_id: int, index: int, status: int, *, now: dt.datetime | None = None) -> bool:
    """Set a status entry: 0 valid, 1 revoked, 2 suspended. Returns whether it changed.

    Revocation is final (:class:`StatusAlreadyRevoked` for any other status afterwards); an index never handed
    out is :class:`StatusEntryNotFound`. A change marks the list for a new token and wakes the worker after the
    commit.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    if type(list_id) is not int or not 1 <= list_id <= _MAX_LIST_ID:
        raise StatusListNotFound()
    if not is_postgresql(session):
        sqlite_write_lock(session, StatusListRecord)
    row = session.scalar(
        select(StatusListRecord)
        .where(StatusListRecord.id == list_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise StatusListNotFound()
    if type(index) is not int or not 0 <= index < row.size:
        raise StatusEntryNotFound()
    if permuted_index(bytes(row.index_key), row.size, index, inverse=True) >= row.allocated:
        raise StatusEntryNotFound()
    entries = StatusList.from_bytes(bytes(row.bits))
    current = entries.get(index)
    if current == status:
        return False
    if current == REVOKED:
        raise StatusAlreadyRevoked()
    entries.set(index, status)
    row.bits = entries.to_bytes()
    row.version = row.version + 1
    row.updated_at = now or utcnow()
    _forget_after_commit(session)
    wake_after_commit(session, STATUS_LISTS_TOPIC, [list_id])
    return True


def status_lookup(session: Session) -> StatusLookup:
    """A ``status_lookup(l, s)`` for ``verify_presentation`` that reads the entries of this session's database.

    Reads one byte per entry, not the whole list; in a web process the whole list, remembered for a moment
    (:class:`VerifierCache`). An unknown list or index counts as revoked (fail closed); a database error is
    raised, so that a verifier answers "try again", not "revoked".
    """
    seen: dict[tuple[int, int], int] = {}
    cache = _verifier_cache(session)

    def remembered(list_id: int, index: int) -> int:
        assert cache is not None
        entry = cache.status_list(list_id)
        if entry is None or index >= entry[0]:
            generation = _generation
            row = session.execute(
                select(StatusListRecord.size, StatusListRecord.bits).where(StatusListRecord.id == list_id)
            ).first()
            if row is None:
                return REVOKED
            entry = (row.size, bytes(row.bits))
            cache.remember_status_list(list_id, row.size, entry[1], generation)
        size, bits = entry
        byte, shift = divmod(index, 4)
        if index >= size or byte >= len(bits):
            return REVOKED
        return (bits[byte] >> (shift * 2)) & 0b11

    def lookup(list_id: int, index: int) -> int:
        if not 1 <= list_id <= _MAX_LIST_ID or not 0 <= index <= _MAX_LIST_ID:
            return REVOKED
        if cache is not None:
            return remembered(list_id, index)
        if (list_id, index) not in seen:
            byte, shift = divmod(index, 4)
            row = session.execute(
                select(StatusListRecord.size, func.substr(StatusListRecord.bits, byte + 1, 1)).where(
                    StatusListRecord.id == list_id
                )
            ).first()
            if row is None or index >= row[0] or not row[1]:
                seen[(list_id, index)] = REVOKED
            else:
                seen[(list_id, index)] = (bytes(row[1])[0] >> (shift * 2)) & 0b11
        return seen[(list_id, index)]

    return lookup


def refresh_status_list_token(session: Session, list_id: int, secret: str, base_url: str, now: dt.datetime) -> str:
    """Sign the list as it is now into a status list token (``typ: statuslist+jwt``) and keep it in the row.

    Claims: ``sub`` the list's URL, ``iat`` now, ``exp`` 24 hours later, ``ttl`` 300 seconds. The signing key
    stays published until that ``exp``.
    """
    row = session.scalar(
        select(StatusListRecord).where(StatusListRecord.id == list_id).execution_options(populate_existing=True)
    )
    if row is None:
        raise StatusListNotFound()
    key = signing_key(session, secret)
    iat = int(now.timestamp())
    exp = iat + TOKEN_LIFETIME
    token = status_list_core.status_list_token(
        StatusList.from_bytes(bytes(row.bits)), key, status_list_url(base_url, list_id), iat, exp, TOKEN_TTL
    )
    # The version read with the bits: a change committed meanwhile leaves the list dirty, and it is signed again.
    row.token = token
    row.token_version = row.version
    row.token_iat = dt.datetime.fromtimestamp(iat, dt.UTC)
    row.token_exp = dt.datetime.fromtimestamp(exp, dt.UTC)
    record_issued(session, key.kid, exp)
    return token


def _needs_token_clause(now: dt.datetime) -> Any:
    return or_(
        StatusListRecord.token.is_(None),
        StatusListRecord.token_version.is_(None),
        StatusListRecord.token_version != StatusListRecord.version,
        StatusListRecord.token_iat.is_(None),
        StatusListRecord.token_iat <= now - TOKEN_MAX_AGE,
    )


def status_list_token(session: Session, list_id: int, secret: str, base_url: str, now: dt.datetime) -> str:
    """The list's token as served: the cached one, or a new one when the list changed since, or the cached one
    is missing or an hour old. Unknown list: :class:`StatusListNotFound`."""
    if not 1 <= list_id <= _MAX_LIST_ID:
        raise StatusListNotFound()
    row = session.execute(
        select(StatusListRecord.token, _needs_token_clause(now).label("stale")).where(StatusListRecord.id == list_id)
    ).first()
    if row is None:
        raise StatusListNotFound()
    if row.token is not None and not row.stale:
        return str(row.token)
    return refresh_status_list_token(session, list_id, secret, base_url, now)


def refresh_due_status_lists(session: Session, secret: str, base_url: str, now: dt.datetime) -> list[int]:
    """Sign every list that changed since its token, or whose token is missing or an hour old; their ids."""
    due: Sequence[int] = session.scalars(
        select(StatusListRecord.id).where(_needs_token_clause(now)).order_by(StatusListRecord.id)
    ).all()
    for list_id in due:
        refresh_status_list_token(session, list_id, secret, base_url, now)
    return list(due)
