"""A short memory of authenticated partner API keys, so that a busy till's requests skip the key's lookup.

A POS system sends the same key with every scan; looking it up costs a transaction of its own (the key, its
partner) on every request. The web process's :class:`ApiKeyCache` (one per app, in ``AuthMiddleware``) keeps the
principal of a key that authenticated for :data:`TTL_SECONDS`, keyed by a hash of the whole token (another secret
with the same prefix never matches).

How long a change takes to reach a till:

- A change made in this process (revoking a key, suspending or rejecting a partner, any write of an ``ApiKey``
  or ``Partner`` through a database session, also bulk ``UPDATE``/``DELETE``) forgets every remembered key at once,
  and again when that transaction commits.
- A change made in another process (another web worker, a worker, the command line) reaches this one within
  :data:`TTL_SECONDS`: a revoked key or a suspended partner's key works at most that much longer there.
- ``last_used_at`` is written on the lookups, so at most every minute plus :data:`TTL_SECONDS`.

Only successful authentications are remembered: a wrong or revoked key is looked up every time, as before.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Final

from sqlalchemy.orm import ORMExecuteState

from familienkarte.accounts.models import ApiKey
from familienkarte.accounts.principal import Principal
from familienkarte.partners.models import Partner
from familienkarte.write_watch import WriteWatch

TTL_SECONDS: Final = 10.0
MAX_ENTRIES: Final = 10_000
# Execution option of a write that changes nothing authentication depends on (the key's last use).
NOT_AUTH_RELEVANT: Final = "familienkarte_not_auth_relevant"
_WATCHED: Final = (ApiKey, Partner)


def _writes_keys(state: ORMExecuteState) -> bool:
    if state.is_insert or state.execution_options.get(NOT_AUTH_RELEVANT):
        return False
    return any(issubclass(mapper.class_, _WATCHED) for mapper in state.all_mappers)


_watch = WriteWatch("api_keys", _WATCHED, _writes_keys)
# A number that changes whenever keys or partners were written in this process.
generation = _watch.generation
# Make every cache of this process forget what it remembers (a key or a partner changed).
forget_all = _watch.forget_all


def _now() -> float:
    return time.monotonic()


class ApiKeyCache:
    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] | None = None) -> None:
        self._ttl = ttl
        # Looked up at each call, so that a test can move the module's clock.
        self._clock = clock or (lambda: _now())
        self._entries: dict[bytes, tuple[float, int, Principal]] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, seen, principal = entry
        if seen != generation() or expires <= self._clock():
            self._entries.pop(key, None)
            return None
        return principal

    def put(self, token: str, principal: Principal, looked_up_at: int) -> None:
        """Remember ``principal`` for ``token``, unless keys or partners changed since ``looked_up_at`` (the
        :func:`generation` read before the lookup): what was read may be out of date already."""
        if looked_up_at != generation():
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[self._key(token)] = (self._clock() + self._ttl, looked_up_at, principal)
