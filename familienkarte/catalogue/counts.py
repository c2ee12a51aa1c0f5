"""Counts over the whole catalogue and the map's places, remembered by a web process for a few seconds.

A catalogue page lists 20 benefits but says how many match ("1,234 offers"), and the finder says how many of each
category a family may use. Those counts read every visible benefit: about 3 ms for the catalogue's count and 9 ms
for the finder's tally at 20,000 benefits on PostgreSQL, where the rest of the page's queries take under 2 ms and
cost the same with 20 benefits. They change only when a benefit, a partner or a location changes, or a day passes.

So a process remembers them (``CatalogueCounts``, in ``Session.info`` under ``CATALOGUE_COUNTS``; the runtime puts
one there for the web process) for ``seconds``:

- the catalogue's number of matches per query (filters, words, language, day), and
- the visible benefits' conditions (children, ages, tier, end, category) with how many benefits share each and the
  newest few of each category, from which the finder works out every family's tally and overview in Python (a few
  thousand groups however many benefits: see :func:`familienkarte.catalogue.services.visible_conditions`), and
  which benefits come up next for each family (up to ``MAX_ENTRIES`` families, the oldest dropped first), and
- the map: the order of its places, the places of each page of its list and its markers (the GeoJSON: half a second
  and 5 MB at 8,000 places, loaded by every visit of the map), and the open data file of all benefits (2.5 s and
  12 MB at 20,000 benefits, free for anyone to ask for).

The finder's overview also remembers the cards it shows (per language and list of benefits), but asks afresh on
every view which of them are still visible: a benefit paused or ended leaves it at once. The catalogue's and the
partner pages' cards are always read afresh.

A change of a benefit, partner or location made in this process (an ORM flush of one of them, or an UPDATE, DELETE
or INSERT of their tables or of ``benefit_locations`` through a session) makes every process-local
``CatalogueCounts`` forget what it holds, at once and again when the transaction commits
(:class:`familienkarte.write_watch.WriteWatch`, as for the point of sale's memory). A change made by another process
is seen after at most ``seconds`` (default 30, ``FK_CATALOGUE_CACHE_SECONDS``; 0 turns this off): a count may then be
off by that change for that long, and a text on the finder's cards, while the benefits listed are those still
visible; the map's list and markers show such a change together, after that long.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final, TypeVar

from sqlalchemy.orm import Session

from familienkarte.benefits.models import Benefit, benefit_locations
from familienkarte.partners.models import Location, Partner
from familienkarte.write_watch import WriteWatch, writes_tables

# The key of the process's CatalogueCounts in Session.info (familienkarte.runtime puts it there).
CATALOGUE_COUNTS: Final = "familienkarte.catalogue_counts"
# Queries with words give many different counts: the oldest are dropped beyond this many.
MAX_ENTRIES: Final = 512

_CATALOGUE_CLASSES: Final = (Benefit, Partner, Location)
_CATALOGUE_TABLES: Final = frozenset(
    {Benefit.__tablename__, Partner.__tablename__, Location.__tablename__, benefit_locations.name}
)

T = TypeVar("T")

# A number that changes whenever benefits, partners, locations or their links were written in this process.
_watch = WriteWatch("catalogue_counts", _CATALOGUE_CLASSES, writes_tables(_CATALOGUE_TABLES))


class CatalogueCounts:
    """Values computed from the catalogue, each remembered for ``seconds`` unless the catalogue changes in this
    process first."""

    def __init__(self, seconds: float, *, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._held: OrderedDict[Hashable, tuple[float, int, Any]] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value remembered for ``key``, or ``compute()`` (remembered from now on)."""
        if self.seconds <= 0:
            return compute()
        now, generation = self._clock(), _watch.generation()
        held = self._held.get(key)
        if held is not None and held[0] > now and held[1] == generation:
            self._held.move_to_end(key)
            return held[2]  # type: ignore[no-any-return]
        value = compute()
        self._held[key] = (now + self.seconds, generation, value)
        self._held.move_to_end(key)
        while len(self._held) > self.max_entries:
            self._held.popitem(last=False)
        return value


def remembered(session: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or its value remembered by the session's process (none in ``Session.info``: always
    computed, as in a worker or a script)."""
    counts = session.info.get(CATALOGUE_COUNTS)
    if counts is None:
        return compute()
    return counts.get(key, compute)  # type: ignore[no-any-return]


# Every CatalogueCounts of this process forgets what it remembers (the catalogue changed).
forget_all = _watch.forget_all

__all__ = ["CATALOGUE_COUNTS", "CatalogueCounts", "forget_all", "remembered"]
