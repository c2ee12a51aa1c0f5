"""The catalogue's URL parameters: what is accepted, and that every bad value is refused naming its parameter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from familienkarte.benefits import rules
from familienkarte.catalogue.services import CatalogueQuery, read_family_form, read_query
from familienkarte.errors import InvalidInput

DISTRICTS = ("Innenstadt", "Ehrenfeld")


def refused(params: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        read_query(params, districts=DISTRICTS)
    return {error.field: error.message % error.params if error.params else error.message for error in info.value.errors}


def test_no_parameters_mean_everything_newest_first() -> None:
    assert read_query({}, districts=DISTRICTS) == CatalogueQuery()


def test_empty_values_from_the_form_mean_any() -> None:
    query = read_query(
        {"category": "", "district": " ", "kind": "", "age": "", "q": "", "sort": "", "page": ""}, districts=DISTRICTS
    )
    assert query == CatalogueQuery()


def test_good_values_are_read() -> None:
    query = read_query(
        {
            "category": "culture",
            "district": "Ehrenfeld",
            "kind": "free_entry",
            "age": "6",
            "q": "  zoo  tiere ",
            "sort": "distance",
            "lat": "50.94",
            "lon": "6.96",
            "page": "3",
            "per_page": "100",
            "lang": "en",
        },
        districts=DISTRICTS,
    )
    assert query.category == "culture"
    assert query.district == "Ehrenfeld"
    assert query.kind == "free_entry"
    assert query.age == 6
    assert query.words == ["zoo", "tiere"]
    assert (query.sort, query.lat, query.lon) == ("distance", 50.94, 6.96)
    assert (query.page, query.per_page) == (3, 100)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "casino"}, "category"),
        ({"kind": "free_beer"}, "kind"),
        ({"district": "Atlantis"}, "district"),
        ({"age": "-1"}, "age"),
        ({"age": "27"}, "age"),
        ({"age": "six"}, "age"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"sort": "price"}, "sort"),
        ({"sort": "distance"}, "sort"),
        ({"lat": "91", "lon": "6"}, "lat"),
        ({"lat": "50", "lon": "-181"}, "lon"),
        ({"lat": "nan", "lon": "6"}, "lat"),
        ({"lat": "50"}, "lon"),
        ({"lon": "6"}, "lat"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_a_bad_value_is_refused_naming_its_parameter(params: dict[str, Any], field: str) -> None:
    assert field in refused(params)


def test_distance_without_a_position_says_what_is_missing() -> None:
    message = refused({"sort": "distance"})["sort"]
    assert "lat" in message
    assert "lon" in message


def test_every_bad_value_is_reported_at_once() -> None:
    assert set(refused({"category": "x", "age": "99", "page": "-2"})) == {"category", "age", "page"}


def test_links_keep_the_filters_and_change_only_the_page() -> None:
    query = read_query({"category": "sport", "age": "4", "q": "Schwimmen", "page": "2"}, districts=DISTRICTS)
    assert query.url("/benefits") == "/benefits?category=sport&q=Schwimmen&age=4&page=2"
    assert query.url("/benefits", 1) == "/benefits?category=sport&q=Schwimmen&age=4"
    assert CatalogueQuery().url("/benefits") == "/benefits"


TODAY = dt.date(2026, 5, 15)


def test_the_finder_form_makes_children_of_the_given_ages() -> None:
    family = read_family_form({"adults": "2", "children": "3, 7;0", "tier": "1"}, TODAY)
    assert family.adults == 2
    assert rules.ages(family, TODAY) == [0, 3, 7]
    assert family.entitled


def test_the_finder_form_without_tier_is_not_entitled() -> None:
    assert not read_family_form({"adults": "1", "children": ""}, TODAY).entitled


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"children": "3"}, "adults"),
        ({"adults": "0"}, "adults"),
        ({"adults": "11"}, "adults"),
        ({"adults": "two"}, "adults"),
        ({"adults": "1", "children": "27"}, "children"),
        ({"adults": "1", "children": "-1"}, "children"),
        ({"adults": "1", "children": "3.5"}, "children"),
        ({"adults": "1", "children": ",".join(["1"] * 13)}, "children"),
    ],
)
def test_the_finder_form_refuses_bad_values(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        read_family_form(params, TODAY)
    assert [error.field for error in info.value.errors] == [field]
