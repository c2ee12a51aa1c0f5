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
Item = TypeVar("Item")
R = TypeVar("R")

# Redemptions in one transaction at most: bounds the wait of the last one in a batch.
MAX_BATCH: Final = 32
# Card rows read in one statement at most.
MAX_CARDS: Final = 64
# Counted by each write of a redemption in a session (familienkarte.redemptions.services.insert_redemption).
WRITES_KEY: Final = "fk_redemption_writes"


class _Wrote(Exception):
    """A redemption refused after it wrote: the batch cannot keep the others' work without its half."""


class _Batches(Generic[Item, R]):
    """Items waiting at the same moment, handed to :meth:`_handle` in batches of at most ``max_batch``, one batch
    at a time, by a task started when an item arrives and none runs, and ended when none waits. Each item's
    future is settled by ``_handle``."""

    def __init__(self, max_batch: int) -> None:
        self._max_batch = max_batch
        self._waiting: deque[tuple[Item, asyncio.Future[R]]] = deque()
        self._task: asyncio.Task[None] | None = None

    async def _submit(self, item: Item) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            await self._handle([self._waiting.popleft() for _ in range(min(self._max_batch, len(self._waiting)))])

    async def _handle(self, batch: list[tuple[Item, asyncio.Future[R]]]) -> None:
        raise NotImplementedError


def _settle(future: asyncio.Future[T], value: T | None = None, error: BaseException | None = None) -> None:
    """Give ``future`` its outcome, unless its request was given up meanwhile (the till disconnected)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)  # type: ignore[arg-type]


class _Call:
    """A redemption's service call, run in its own request's context (its request id in the log lines, its
    language) wherever the batch runs it."""

    __slots__ = ("call", "context")

    def __init__(self, call: Callable[[Session], Any]) -> None:
        self.call = call
        self.context = contextvars.copy_context()

    def __call__(self, session: Session) -> Any:
        return self.context.run(self.call, session)


class RedemptionBatcher(_Batches[_Call, Any]):
    """One per web process (``familienkarte.runtime``); see the module."""

    def __init__(self, tx: Tx, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch)
        self._tx = tx

    async def run(self, call: Callable[[Session], T]) -> T:
        """``call`` (a redemption's service call) in a transaction shared with the redemptions waiting with it."""
        result: T = await self._submit(_Call(call))
        return result

    async def _handle(self, batch: list[tuple[_Call, asyncio.Future[Any]]]) -> None:
        try:
            outcomes = await self._tx.run(functools.partial(_each, calls=[call for call, _future in batch]))
        except Unavailable as down:
            # The database cannot be reached: every request of the batch says so at once (503), rather than each
            # waiting for its own connection attempt to time out.
            for _call, future in batch:
                _settle(future, error=copy.copy(down))  # each request raises its own
        except Exception:
            # The whole batch was rolled back: each on its own, as without batching.
            for call, future in batch:
                await _alone(self._tx, call, future)
        else:
            for (_call, future), (value, refused) in zip(batch, outcomes, strict=True):
                _settle(future, value, refused)


def _each(session: Session, calls: list[_Call]) -> list[tuple[Any, DomainError | None]]:
    outcomes: list[tuple[Any, DomainError | None]] = []
    # The audit entries and statistics events of the batch are flushed together at the commit; the redemptions
    # themselves are written by Core statements, which every later call of the batch sees.
    with session.no_autoflush:
        for call in calls:
            new, writes = len(session.new), session.info.get(WRITES_KEY, 0)
            try:
                outcomes.append((call(session), None))
            except DomainError as refused:
                if len(session.new) != new or session.info.get(WRITES_KEY, 0) != writes:
                    raise _Wrote() from refused
                outcomes.append((None, refused))
    return outcomes


async def _alone(tx: Tx, call: _Call, future: asyncio.Future[Any]) -> None:
    try:
        value = await tx.run(call)
    except Exception as exc:  # handed to the request, which raises it as it would have without batching
        _settle(future, error=exc)
    else:
        _settle(future, value)


class CardRowLoader(_Batches[str, bool]):
    """The rows of scanned cards the web process does not remember (a card's id and end of validity), read for
    all the scans waiting at the same moment in one statement of one transaction, and remembered
    (:meth:`PointOfSaleMemory.load_cards`).

    Without it each such scan ran its whole verification again in a transaction of its own. In a city most scans
    are a card's first in a minute, so this is the common path there, not the exception."""

    def __init__(self, tx: Tx, memory: PointOfSaleMemory, max_batch: int = MAX_CARDS) -> None:
        super().__init__(max_batch)
        self._tx = tx
        self._memory = memory

    async def load(self, number: str) -> bool:
        """Read and remember the card ``number``'s row; False when that failed (the caller reads it on its own)."""
        return await self._submit(number)

    async def _handle(self, batch: list[tuple[str, asyncio.Future[bool]]]) -> None:
        numbers = {number for number, _future in batch}
        try:
            await self._tx.run(functools.partial(self._memory.load_cards, numbers=numbers))
            loaded = True
        except Exception:  # each scan then reads on its own, as without this loader, and fails as it would
            loaded = False
        for _number, future in batch:
            _settle(future, loaded)
