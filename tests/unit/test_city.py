"""The city configuration: the shipped cities load, and every mistake in a file is one line naming file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from familienkarte.city import CITIES_DIR, load_city, parse_city
from familienkarte.settings import ConfigError, load_settings

KOELN_DISTRICTS = {
    "Innenstadt",
    "Rodenkirchen",
    "Lindenthal",
    "Ehrenfeld",
    "Nippes",
    "Chorweiler",
    "Porz",
    "Kalk",
    "Mülheim",
}
HAMM_DISTRICTS = {"Hamm-Mitte", "Uentrop", "Rhynern", "Pelkum", "Herringen", "Bockum-Hövel", "Heessen"}


def koeln_data() -> dict[str, Any]:
    with (CITIES_DIR / "koeln.toml").open("rb") as fh:
        return tomllib.load(fh)


def problem(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_city("my.toml", data, "my")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("my.toml: ")
    return message


def test_koeln_is_the_default_with_its_nine_districts() -> None:
    city = load_city(load_settings({"FK_ENV": "test"}).city)
    assert city.name == "Köln"
    assert set(city.districts) == KOELN_DISTRICTS
    assert str(city.timezone) == "Europe/Berlin"
    assert city.eligibility.max_adults == 2
    assert city.eligibility.child_age_limit == 18
    assert city.eligibility.disability_age_limit == 27
    assert city.auto_approve is False
    assert city.tier is not None
    assert city.tier.name("de") == "KölnPass"
    assert all("50667" <= code <= "51149" for code in city.postal_codes)
    assert city.districts_of("51105") == ("Kalk", "Porz")
    assert city.districts_of("50667") == ("Innenstadt",)
    assert city.districts_of("10115") == ()


def test_hamm_has_its_seven_districts_and_no_tier() -> None:
    city = load_city("hamm")
    assert set(city.districts) == HAMM_DISTRICTS
    assert city.tier is None
    assert all("59063" <= code <= "59077" for code in city.postal_codes)


def test_a_city_file_of_ones_own_by_path(tmp_path: Path) -> None:
    path = tmp_path / "town.toml"
    path.write_text((CITIES_DIR / "hamm.toml").read_text(encoding="utf-8").replace('"Hamm"', '"Hammtown"', 1))
    settings = load_settings({"FK_ENV": "test", "FK_DATA_DIR": str(tmp_path), "FK_CITY": str(path)})
    assert load_city(settings.city).name == "Hammtown"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("berlin", "FK_CITY: berlin: neither a shipped city (hamm, koeln) nor the path of a .toml file"),
        ("/nowhere/city.toml", "FK_CITY: /nowhere/city.toml: cannot be read"),
    ],
)
def test_fk_city_names_itself_in_the_error(tmp_path: Path, raw: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"FK_ENV": "test", "FK_DATA_DIR": str(tmp_path), "FK_CITY": raw})
    assert str(info.value).startswith(expected)


def test_a_broken_toml_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "Köln"\nthis is not toml\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings({"FK_ENV": "test", "FK_DATA_DIR": str(tmp_path), "FK_CITY": str(path)})
    assert str(info.value).startswith(f"FK_CITY: {path}: not valid TOML")


def test_a_missing_key() -> None:
    data = koeln_data()
    del data["timezone"]
    assert problem(data) == "my.toml: timezone: missing"


def test_an_unknown_key_suggests_the_right_one() -> None:
    data = koeln_data()
    data["eligibility"]["max_adult"] = 3
    assert problem(data) == "my.toml: eligibility.max_adult: unknown key (did you mean max_adults?)"


def test_an_unknown_time_zone() -> None:
    data = koeln_data()
    data["timezone"] = "Europe/Köln"
    assert problem(data) == "my.toml: timezone: unknown time zone 'Europe/Köln'"


def test_a_wrong_type() -> None:
    data = koeln_data()
    data["auto_approve"] = "yes"
    assert problem(data) == "my.toml: auto_approve: expected true or false, got 'yes'"


def test_a_number_out_of_range() -> None:
    data = koeln_data()
    data["card_validity_years"] = 0
    assert problem(data) == "my.toml: card_validity_years: must be between 1 and 30, got 0"


def test_a_postal_code_in_an_unknown_district() -> None:
    data = koeln_data()
    data["postal_codes"]["50667"] = ["Altstadt"]
    assert problem(data) == "my.toml: postal_codes.50667: 'Altstadt' is not one of the districts"


def test_a_malformed_postal_code() -> None:
    data = koeln_data()
    data["postal_codes"]["5066"] = ["Innenstadt"]
    assert problem(data) == "my.toml: postal_codes.5066: a postal code is five digits"


def test_a_district_without_postal_code() -> None:
    data = koeln_data()
    data["districts"].append("Bonn")
    assert problem(data) == "my.toml: postal_codes: no postal code lies in the district 'Bonn'"


def test_a_language_without_catalogue() -> None:
    data = koeln_data()
    data["languages"] = ["de", "xx"]
    assert problem(data).startswith("my.toml: languages: 'xx' has no catalogue")


def test_a_tier_pattern_that_is_no_regular_expression() -> None:
    data = koeln_data()
    data["tier"]["number_pattern"] = "[0-9"
    assert problem(data).startswith("my.toml: tier.number_pattern: not a regular expression")


def test_a_tier_needs_a_german_name() -> None:
    data = koeln_data()
    data["tier"]["names"] = {"en": "CityPass"}
    assert problem(data) == "my.toml: tier.names.de: missing"


def test_disability_limit_not_below_child_limit() -> None:
    data = koeln_data()
    data["eligibility"]["disability_age_limit"] = 16
    assert problem(data) == "my.toml: eligibility.disability_age_limit: must not be below child_age_limit"


def test_the_privacy_notice_is_a_url() -> None:
    data = koeln_data()
    data["privacy_url"] = "datenschutz.html"
    assert problem(data) == "my.toml: privacy_url: expected an http(s):// URL, got 'datenschutz.html'"


def test_eligibility_defaults_apply_when_the_table_is_left_out() -> None:
    data = koeln_data()
    del data["eligibility"]
    city = parse_city("my.toml", data, "my")
    assert city.eligibility.max_adults == 2
    assert city.eligibility.expected_children_count is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([50.9], "expected [latitude, longitude] in decimal degrees, got [50.9]"),
        (["50.9", "6.9"], "expected [latitude, longitude] in decimal degrees, got ['50.9', '6.9']"),
        ([95.0, 6.9], "latitude -90 to 90 and longitude -180 to 180, got [95.0, 6.9]"),
    ],
)
def test_the_map_centre_is_a_pair_of_coordinates(value: Any, message: str) -> None:
    data = koeln_data()
    data["map_center"] = value
    assert problem(data) == f"my.toml: map_center: {message}"


def test_maps_open_on_the_city_centre() -> None:
    city = load_city("koeln")
    assert city.map_center == pytest.approx((50.94, 6.96), abs=0.01)
    assert city.map_zoom == 12


def test_the_void_window_is_fifteen_minutes_unless_the_city_says_otherwise() -> None:
    assert load_city("koeln").void_window.total_seconds() == 15 * 60
    data = koeln_data()
    del data["void_window_minutes"]
    assert parse_city("my.toml", data, "my").void_window.total_seconds() == 15 * 60
    data["void_window_minutes"] = 5
    assert parse_city("my.toml", data, "my").void_window.total_seconds() == 5 * 60
    data["void_window_minutes"] = 0
    assert problem(data) == "my.toml: void_window_minutes: must be between 1 and 1440, got 0"


def test_the_suppression_threshold_is_five_unless_the_city_says_otherwise() -> None:
    assert load_city("hamm").suppression_threshold == 5
    data = koeln_data()
    del data["suppression_threshold"]
    assert parse_city("my.toml", data, "my").suppression_threshold == 5
    data["suppression_threshold"] = 10
    assert parse_city("my.toml", data, "my").suppression_threshold == 10
    data["suppression_threshold"] = 0
    assert problem(data) == "my.toml: suppression_threshold: must be between 1 and 100, got 0"
