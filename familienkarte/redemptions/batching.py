"""Till requests of one web process that need the database at the same moment share one transaction.

:class:`RedemptionBatcher` writes redemptions together; :class:`CardRowLoader` reads the rows of scanned cards
the process does not remember, for every scan waiting, in one statement.

A redemption costs its web process far more for its transaction (a session, BEGIN, the insert, the audit entry and
the statistics event flushed by the ORM, COMMIT, each a round trip through the event loop) than for anything
else. At a busy time many requests wait for a database connection at once; :class:`RedemptionBatcher` lets them
wait for one transaction instead: the first request to arrive starts a writer, which takes every redemption
waiting (at most :data:`MAX_BATCH`), runs them one after the other in one transaction and hands each request its
own result. Redemptions that arrive meanwhile form the next batch. A till alone is not slowed down: its
redemption is a batch of one, written at once.

What stays as it was, one redemption at a time:

- **Rules and limits.** Each redemption runs the same service call, in order, on the same session: a later one
  sees the earlier ones of its batch (their rows, the locks they took), so limits and quotas hold within a batch as
  between batches and between processes.
- **A refusal** (a :class:`~familienkarte.errors.DomainError`: the card is stale, the limit is reached, ...) is
  that request's answer alone. A service refuses before it writes anything; a refusal that comes after its
  redemption wrote something would leave half a redemption in the batch, so the batch is then given up (next
  point).
- **Any other failure** (the database refuses a statement, the commit fails) rolls back the whole batch, and every
  redemption of it runs again in a transaction of its own, as without batching: the one that failed fails alone.
  Only a database that cannot be reached at all fails the whole batch at once: each request answers 503 without
  waiting for a connection attempt of its own.
- **Idempotency.** The same nonce twice in one batch: the second finds the first (the same transaction) and
  answers as a replay.

Latency: a redemption waits at most for the batch before it and its own; the batch size bounds both.

Locks: a batch holds the locks of its redemptions with a limit or a quota until it commits. Two web processes'
batches that take two such locks in opposite orders wait for each other; PostgreSQL detects that after its
``deadlock_timeout`` (1 s) and aborts one, whose redemptions then run alone (the failure rule above). A till may
so wait a second in that rare case; no redemption is lost or counted twice.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from sqlalchemy.orm import Session

from familienkarte.db import Tx
from familienkarte.errors import DomainError, Unavailable
from familienkarte.redemptions.memory import PointOfSaleMemory

T = TypeVar("T")

# Redemptions in one transaction at most: bounds the wait of the last one in a batch.
MAX_BATCH: Final = 32
# Card rows read in one statement at most.
MAX_CARDS: Final = 64
# Counted by each write of a redemption in a session (familienkarte.redemptions.services.insert_redemption).
WRITES_KEY: Final = "fk_redemption_writes"


class _Wrote(Exception):
    """A redemption refused after it wrote: the batch cannot keep the others' work without its half."""


class _Waiting(Generic[T]):
    __slots__ = ("call", "context", "future")

    def __init__(self, call: Callable[[Session], T], future: asyncio.Future[T]) -> None:
        self.call = call
        # Each call runs in its own request's context (its request id in the log lines, its language).
        self.context = contextvars.copy_context()
        self.future = future

    def __call__(self, session: Session) -> T:
        return self.context.run(self.call, session)


class RedemptionBatcher:
    """One per web process (``familienkarte.runtime``); see the module."""

    def __init__(self, tx: Tx, max_batch: int = MAX_BATCH) -> None:
        self._tx = tx
        self._max_batch = max_batch
        self._waiting: deque[_Waiting[Any]] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def run(self, call: Callable[[Session], T]) -> T:
        """``call`` (a redemption's service call) in a transaction shared with the redemptions waiting with it."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(call, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(self._max_batch, len(self._waiting)))]
            try:
                outcomes = await self._tx.run(functools.partial(_each, batch=batch))
            except Unavailable as down:
                # The database cannot be reached: every request of the batch says so at once (503), rather than
                # each waiting for its own connection attempt to time out.
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(copy.copy(down))  # each request raises its own
                continue
            except Exception:
                # The whole batch was rolled back: each on its own, as without batching.
                for waiting in batch:
                    await _alone(self._tx, waiting)
                continue
            for waiting, (value, refused) in zip(batch, outcomes, strict=True):
                if waiting.future.done():  # the request was given up meanwhile (the till disconnected)
                    continue
                if refused is not None:
                    waiting.future.set_exception(refused)
                else:
                    waiting.future.set_result(value)


def _each(session: Session, batch: list[_Waiting[Any]]) -> list[tuple[Any, DomainError | None]]:
    outcomes: list[tuple[Any, DomainError | None]] = []
    # The audit entries and statistics events of the batch are flushed together at the commit; the redemptions
    # themselves are written by Core statements, which every later call of the batch sees.
    with session.no_autoflush:
        for waiting in batch:
            new, writes = len(session.new), session.info.get(WRITES_KEY, 0)
            try:
                outcomes.append((waiting(session), None))
            except DomainError as refused:
                if len(session.new) != new or session.info.get(WRITES_KEY, 0) != writes:
                    raise _Wrote() from refused
                outcomes.append((None, refused))
    return outcomes


async def _alone(tx: Tx, waiting: _Waiting[Any]) -> None:
    try:
        value = await tx.run(waiting)
    except Exception as exc:  # handed to the request, which raises it as it would have without batching
        if not waiting.future.done():
            waiting.future.set_exception(exc)
    else:
        if not waiting.future.done():
            waiting.future.set_result(value)


class CardRowLoader:
    """The rows of scanned cards the web process does not remember (a card's id and end of validity), read for
    all the scans waiting at the same moment in one statement of one transaction, and remembered
    (:meth:`PointOfSaleMemory.load_cards`).

    Without it each such scan ran its whole verification again in a transaction of its own. In a city most scans
    are a card's first in a minute, so this is the common path there, not the exception."""

    def __init__(self, tx: Tx, memory: PointOfSaleMemory, max_batch: int = MAX_CARDS) -> None:
        self._tx = tx
        self._memory = memory
        self._max_batch = max_batch
        self._waiting: deque[tuple[str, asyncio.Future[bool]]] = deque()
        self._reader: asyncio.Task[None] | None = None

    async def load(self, number: str) -> bool:
        """Read and remember the card ``number``'s row; False when that failed (the caller reads it on its own)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((number, future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        return await future

    async def _read(self) -> None:
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(self._max_batch, len(self._waiting)))]
            numbers = {number for number, _future in batch}
            try:
                await self._tx.run(functools.partial(self._memory.load_cards, numbers=numbers))
                loaded = True
            except Exception:  # each scan then reads on its own, as without this loader, and fails as it would
                loaded = False
            for _number, future in batch:
                if not future.done():
                    future.set_result(loaded)
