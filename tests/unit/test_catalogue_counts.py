"""The catalogue's remembered counts: how long they are kept and when they are forgotten."""

from __future__ import annotations

import itertools

from familienkarte.catalogue import counts
from familienkarte.catalogue.counts import CatalogueCounts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counter() -> itertools.count[int]:
    return itertools.count(1)


def test_a_value_is_remembered_for_its_seconds_and_then_computed_again() -> None:
    clock, computed = Clock(), counter()
    held = CatalogueCounts(30, clock=clock)
    assert held.get("total", lambda: next(computed)) == 1
    clock.now += 29.9
    assert held.get("total", lambda: next(computed)) == 1
    clock.now += 0.2
    assert held.get("total", lambda: next(computed)) == 2


def test_keys_are_remembered_apart() -> None:
    held = CatalogueCounts(30, clock=Clock())
    assert held.get(("matches", "sport"), lambda: 3) == 3
    assert held.get(("matches", "culture"), lambda: 7) == 7
    assert held.get(("matches", "sport"), lambda: 99) == 3


def test_zero_seconds_computes_every_time() -> None:
    computed = counter()
    held = CatalogueCounts(0, clock=Clock())
    assert [held.get("total", lambda: next(computed)) for _ in range(3)] == [1, 2, 3]


def test_beyond_the_limit_the_least_recently_used_value_is_dropped() -> None:
    computed = counter()
    held = CatalogueCounts(30, max_entries=2, clock=Clock())
    held.get("a", lambda: next(computed))
    held.get("b", lambda: next(computed))
    held.get("a", lambda: next(computed))  # "a" used last: "b" goes first
    held.get("c", lambda: next(computed))
    assert held.get("a", lambda: -1) == 1
    assert held.get("b", lambda: -1) == -1


def test_a_change_of_the_catalogue_in_the_process_forgets_everything() -> None:
    computed = counter()
    held = CatalogueCounts(30, clock=Clock())
    other = CatalogueCounts(30, clock=Clock())
    held.get("total", lambda: next(computed))
    other.get("total", lambda: 10)
    counts.forget_all()
    assert held.get("total", lambda: next(computed)) == 2
    assert other.get("total", lambda: 11) == 11


def test_a_value_computed_while_the_catalogue_changed_is_not_kept() -> None:
    held = CatalogueCounts(30, clock=Clock())

    def changed_meanwhile() -> int:
        counts.forget_all()
        return 1

    assert held.get("total", changed_meanwhile) == 1
    assert held.get("total", lambda: 2) == 2
