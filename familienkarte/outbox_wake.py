"""Wake a worker right after a commit, without making the committing code wait for the broker.

A service that leaves work for a worker in its transaction (a row to send, a list to re-sign) calls
``wake_after_commit(session, topic, ids)``. If and only if that transaction commits, the ids are handed to the
waker installed for the topic (``set_waker``); a rollback forgets them. The waker is called on the committing
thread (in the web: the event loop), so it must not block: :class:`BackgroundWaker` wraps a blocking publisher
and runs it on a thread of its own.

A wake-up is best effort by design. A topic without a waker (tests, a bare ``uvicorn``), a full queue or a broker
that is down only costs the immediate start: every topic also has a periodic task (beat) that finds the work
in the database, and the work itself is idempotent.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("familienkarte.outbox_wake")

Waker = Callable[[Sequence[Any]], None]

_PENDING_KEY = "fk_outbox_wake_pending"
_wakers: dict[str, Waker] = {}


def set_waker(topic: str, waker: Waker | None) -> Waker | None:
    """Install the function told about ids committed under ``topic`` (None removes it); returns the previous one."""
    previous = _wakers.pop(topic, None)
    if waker is not None:
        _wakers[topic] = waker
    return previous


def wake_after_commit(session: Session, topic: str, ids: Iterable[Hashable]) -> None:
    """Hand ``ids`` to the topic's waker once (and only if) the session's transaction commits."""
    pending: dict[str, list[Hashable]] = session.info.setdefault(_PENDING_KEY, {})
    bucket = pending.setdefault(topic, [])
    for item in ids:
        if item not in bucket:
            bucket.append(item)


# Listened to on every session once, rather than on each session that wakes: adding a listener to a session costs
# more than the rest of a till's redemption around it. Sessions that wake nothing pay a dictionary lookup.
@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if _PENDING_KEY not in session.info:
        return
    pending: dict[str, list[Hashable]] = session.info.pop(_PENDING_KEY, {})
    for topic, ids in pending.items():
        waker = _wakers.get(topic)
        if not ids or waker is None:
            continue
        try:
            waker(ids)
        except Exception:
            # The commit has happened; nothing may undo the impression that it did. The periodic task catches up.
            log.exception("waker for %s failed", topic)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


class BackgroundWaker:
    """Calls ``publish`` with the ids handed in, on a thread of its own, so the caller never waits for it.

    Ids that arrive while a publish runs are handed over together (without repeats) in the next one, so a burst
    of commits costs few messages. The queue is bounded and a full queue drops the wake-up; a failing ``publish``
    (broker down) is logged and forgotten: the topic's periodic task does the work anyway.
    """

    def __init__(self, publish: Callable[[Sequence[Any]], None], name: str = "waker", maxsize: int = 1000) -> None:
        self._publish = publish
        self._name = name
        self._maxsize = maxsize
        self._queue: queue.Queue[list[Any]] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def __call__(self, ids: Sequence[Any]) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(list(ids))
        except queue.Full:
            log.warning("%s: wake-up queue full; the periodic task will handle %d item(s)", self._name, len(ids))

    def _ensure_thread(self) -> None:
        # A forked child inherits the object but not the thread: start one per process.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._queue = queue.Queue(self._maxsize)
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _take_batch(self) -> tuple[list[Any], int]:
        batch = list(self._queue.get())
        taken = 1
        while True:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                return batch, taken
            taken += 1
            batch.extend(item for item in more if item not in batch)

    def _run(self) -> None:
        while True:
            ids, taken = self._take_batch()
            try:
                self._publish(ids)
            except Exception as exc:
                log.info("%s: could not wake the worker (%s); the periodic task will handle it", self._name, exc)
            finally:
                for _ in range(taken):
                    self._queue.task_done()

    def join(self) -> None:
        """Wait until every wake-up handed in so far was published or given up (tests, shutdown)."""
        self._queue.join()
