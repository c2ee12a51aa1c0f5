"""Statistics of verifications at the till, written in batches outside the till's request.

Every verification (partner, location, reason code, presentation, time; no card, no person) is handed to the
process's :class:`VerificationLog`, which keeps it in memory and writes what it holds in one multi-row INSERT, in a
transaction of its own, every :data:`FLUSH_INTERVAL` seconds or as soon as :data:`BATCH_SIZE` events are waiting.
The verify request itself writes nothing: its transaction only reads. Each write also adds one
``verifications.recorded`` outbox event (the hours the batch touched) for the statistics, in the same transaction.

How it runs: a daemon thread with its own small synchronous engine (one connection) on the same database. A thread
rather than an asyncio task because the log is made before any event loop runs (``create_app``), because a flush is
then an ordinary blocking call that a test, the shutdown hook or the flusher itself can make from any thread
(``flush()``), and because one INSERT every half second costs the web process's event loop nothing. The thread
starts with the first event, so a process that never verifies has none.

The trade-off: when a web process is killed hard (SIGKILL, power loss) the events of at most the last
:data:`FLUSH_INTERVAL` seconds are lost from the statistics. A normal shutdown writes everything held
(``close()``, called by ``Runtime.close``). Redemptions are never affected: each is written in its own transaction
by its request, and this log plays no part in it.

An event the database refuses (its partner or location was deleted in between) is dropped with a warning; the
others of its batch are written. While the database is unavailable the events stay in memory and are written once
it is back; at most :data:`MAX_PENDING` are kept, above that the oldest are dropped and the number dropped is logged
as a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from familienkarte.db import make_sync_engine
from familienkarte.events.stats import write_verifications

log = logging.getLogger(__name__)

# Seconds between two writes while events come in; also the most a hard kill loses.
FLUSH_INTERVAL: Final = 0.5
# Events that make the flusher write at once, and the most rows in one INSERT.
BATCH_SIZE: Final = 500
# Events held while the database is unavailable; above this the oldest are dropped.
MAX_PENDING: Final = 100_000


@dataclass(frozen=True)
class VerificationRecord:
    """One verification at a till, as the statistics keep it."""

    partner_id: uuid.UUID
    location_id: uuid.UUID
    reason: str
    presentation: str | None
    at: dt.datetime

    def row(self) -> dict[str, Any]:
        """The event as a row of ``verification_events`` (a shallow dict: ``asdict`` deep-copies every value)."""
        return {
            "partner_id": self.partner_id,
            "location_id": self.location_id,
            "reason": self.reason,
            "presentation": self.presentation,
            "at": self.at,
        }


class VerificationLog:
    """The process's buffer of verification events and its background writer (see the module)."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = FLUSH_INTERVAL,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._engine = engine
        self._interval = interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: deque[VerificationRecord] = deque()
        self._lock = threading.Lock()  # guards _pending, _dropped and _thread
        self._flushing = threading.Lock()  # one write at a time, in order
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._failing = False  # the last write failed (guarded by _flushing)

    @classmethod
    def for_database(
        cls,
        database_url: str,
        *,
        interval: float = FLUSH_INTERVAL,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
    ) -> VerificationLog:
        """A log with an engine of its own: one connection is all the flusher needs; pre-ping notices a database
        that went away in between."""
        if make_url(database_url).get_backend_name() == "sqlite":
            engine = make_sync_engine(database_url)
        else:
            engine = make_sync_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
        return cls(engine, interval=interval, batch_size=batch_size, max_pending=max_pending)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def record(self, event: VerificationRecord) -> None:
        """Keep ``event`` for the next write; never blocks on the database."""
        with self._lock:
            self._pending.append(event)
            self._drop_over_cap()
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="verification-log", daemon=True)
                self._thread.start()
            full = len(self._pending) >= self._batch_size
        if full:
            self._wake.set()

    def _drop_over_cap(self) -> None:
        while len(self._pending) > self._max_pending:
            self._pending.popleft()
            self._dropped += 1

    def _report_dropped(self) -> None:
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            log.warning(
                "verification statistics: %d events dropped (more than %d held while the database was unavailable)",
                dropped,
                self._max_pending,
            )

    def flush(self) -> int:
        """Write every event held when called, in batches of at most ``batch_size`` rows; returns the number written.

        Events that arrive meanwhile wait for the next flush: draining until nothing is held would, under a steady
        stream of scans, write a transaction for every few events and keep the thread busy taking the interpreter
        from the tills' requests (measured: half the CPU of a verification).

        When the database refuses, the events not written stay held (the oldest first) and the error is logged;
        the next flush tries again. Never raises for a database error.
        """
        written = 0
        with self._flushing:
            with self._lock:
                left = len(self._pending)
            while left > 0:
                with self._lock:
                    batch = [self._pending.popleft() for _ in range(min(self._batch_size, left, len(self._pending)))]
                left -= len(batch)
                if not batch:
                    break
                try:
                    with self._engine.begin() as conn:
                        write_verifications(conn, [event.row() for event in batch])
                except IntegrityError:
                    # Not an outage: an event the database refuses (its partner or location deleted meanwhile)
                    # must not hold back the others. Written one by one; the refused ones are dropped.
                    written += self._write_one_by_one(batch)
                    continue
                except Exception:
                    with self._lock:
                        self._pending.extendleft(reversed(batch))
                        self._drop_over_cap()
                    if not self._failing:  # once per outage, not twice a second
                        self._failing = True
                        log.warning(
                            "verification statistics: cannot write %d events now; kept for the next try",
                            len(batch),
                            exc_info=True,
                        )
                    break
                if self._failing:
                    self._failing = False
                    log.warning("verification statistics: the database takes them again")
                written += len(batch)
        self._report_dropped()
        return written

    def _write_one_by_one(self, batch: list[VerificationRecord]) -> int:
        written = refused = 0
        for index, event in enumerate(batch):
            try:
                with self._engine.begin() as conn:
                    write_verifications(conn, [event.row()])
            except IntegrityError:
                refused += 1
            except Exception:
                with self._lock:  # the database went away in between: the rest waits for the next try
                    self._pending.extendleft(reversed(batch[index:]))
                    self._drop_over_cap()
                break
            else:
                written += 1
        if refused:
            log.warning(
                "verification statistics: %d events refused by the database (partner or location gone)", refused
            )
        return written

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        """Stop the flusher and write everything held (a last try; what the database refuses now is lost)."""
        with self._lock:
            thread, self._thread = self._thread, None
        self._stopped.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)
        self.flush()
        with self._lock:
            lost = len(self._pending)
        if lost:
            log.warning("verification statistics: %d events not written at shutdown (database unavailable)", lost)
        self._engine.dispose()
