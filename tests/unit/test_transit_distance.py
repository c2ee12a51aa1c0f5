"""Distances and walking times for the stops near a partner's location."""

from __future__ import annotations

import pytest

from familienkarte.transit import distance_m, walking


def test_known_distances_in_koeln() -> None:
    # Cologne Cathedral to the Hauptbahnhof's main entrance: about 150 m as the crow flies.
    assert distance_m(50.9413, 6.9583, 50.9429, 6.9587) == pytest.approx(180, abs=30)
    # Dom to Deutz station across the Rhine: about 1.2 km.
    assert distance_m(50.9413, 6.9583, 50.9405, 6.9746) == pytest.approx(1145, rel=0.05)
    assert distance_m(50.0, 7.0, 50.0, 7.0) == 0


def test_walking_time_is_rounded_up_and_never_zero() -> None:
    assert walking(0) == (0, 1)
    metres, minutes = walking(500)
    assert metres == 650
    assert minutes == 9
