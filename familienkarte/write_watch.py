"""Notice, in this process, writes to the rows a per-process cache remembers, so that the cache forgets at once.

A :class:`WriteWatch` keeps a generation number that changes whenever a session of this process flushes or executes
a write that the watch cares about, and again when that session commits (a reader that looked up the old row while
the write was under way must not keep it). A cache stores the generation it looked up at and trusts an entry only
while the generation is the same. Writes made by other processes are not seen: a cache's time to live bounds those.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

# Whether a bulk statement (an UPDATE, DELETE or INSERT executed through a session) writes what is watched.
StatementTest = Callable[[ORMExecuteState], bool]


def writes_tables(names: frozenset[str]) -> StatementTest:
    """A :data:`StatementTest` for statements on one of the tables ``names`` (an association table such as
    ``benefit_locations`` included, which no mapped class stands for)."""

    def test(state: ORMExecuteState) -> bool:
        table = getattr(state.statement, "table", None)
        return getattr(table, "name", None) in names

    return test


class WriteWatch:
    def __init__(self, name: str, classes: tuple[type[Any], ...], statement: StatementTest) -> None:
        self._classes = classes
        self._statement = statement
        self._touched = f"familienkarte.write_watch.{name}"
        self._lock = threading.Lock()
        self._changes = itertools.count(1)
        self._generation = 0
        event.listen(Session, "after_flush", self._after_flush)
        event.listen(Session, "do_orm_execute", self._on_execute)
        event.listen(Session, "after_commit", self._after_commit)
        event.listen(Session, "after_rollback", self._after_rollback)

    def generation(self) -> int:
        """A number that changes whenever what is watched was written in this process."""
        return self._generation

    def forget_all(self) -> None:
        """Make every cache that relies on this watch forget what it remembers."""
        with self._lock:
            self._generation = next(self._changes)

    def _touches(self, objects: Any) -> bool:
        return any(isinstance(obj, self._classes) for obj in objects)

    def _after_flush(self, session: Session, _flush: UOWTransaction) -> None:
        if self._touches(session.new) or self._touches(session.dirty) or self._touches(session.deleted):
            session.info[self._touched] = True
            self.forget_all()

    def _on_execute(self, state: ORMExecuteState) -> None:
        if (state.is_update or state.is_delete or state.is_insert) and self._statement(state):
            state.session.info[self._touched] = True
            self.forget_all()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(self._touched, False):
            self.forget_all()

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(self._touched, None)
