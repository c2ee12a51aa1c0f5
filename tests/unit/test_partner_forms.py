"""Reading partner forms: opening hours, one location, the website address, texts per language."""

from __future__ import annotations

from typing import Any

import pytest

from familienkarte import i18n
from familienkarte.city import load_city
from familienkarte.errors import InvalidInput
from familienkarte.partners.services import (
    DESCRIPTION_MAX,
    HoursProblem,
    parse_day_hours,
    parse_website,
    read_location,
    read_texts,
)

CITY = load_city("koeln")


# Opening hours --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("", []),
        ("   ", []),
        ("09:00-12:30", [["09:00", "12:30"]]),
        ("9:00 - 12:30, 14:00-18:00", [["09:00", "12:30"], ["14:00", "18:00"]]),
        ("14:00-18:00; 09:00-12:30", [["09:00", "12:30"], ["14:00", "18:00"]]),
        ("10:00\u201316:00", [["10:00", "16:00"]]),
        ("18:00-24:00", [["18:00", "24:00"]]),
        ("00:00-24:00", [["00:00", "24:00"]]),
        ("09:00-12:00, 12:00-14:00", [["09:00", "12:00"], ["12:00", "14:00"]]),
    ],
)
def test_opening_hours_are_read(typed: str, stored: list[list[str]]) -> None:
    assert parse_day_hours(typed) == stored


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("25:00-26:00", "is not a time of day"),
        ("09:00-10:75", "is not a time of day"),
        ("24:00-24:00", "is not a time of day"),
        ("12:00-09:00", "ends before it begins"),
        ("09:00-09:00", "ends before it begins"),
        ("09:00-13:00, 12:00-14:00", "overlap"),
        ("09:00-18:00, 10:00-11:00", "overlap"),
        ("9-12", "please write the times"),
        ("09:00", "please write the times"),
        ("09:00-12:00-15:00", "please write the times"),
        ("09:00-12:00,", "please write the times"),
        ("morgens", "please write the times"),
        ("0900-1200", "please write the times"),
        ("09:00-10:00, 10:00-11:00, 11:00-12:00, 12:00-13:00, 13:00-14:00, 14:00-15:00, 15:00-16:00", "at most"),
    ],
)
def test_impossible_opening_hours_are_refused(typed: str, words: str) -> None:
    with pytest.raises(HoursProblem) as refused:
        parse_day_hours(typed)
    assert words in refused.value.message % {"day": "Monday", "time": "x", "range": "x", "max": 6}


def _location(**fields: str) -> dict[str, str]:
    form = {"name": "Kasse Nord", "street": "Riehler Straße", "house_number": "173", "postal_code": "50735"}
    form.update(fields)
    return form


def _refused(form: dict[str, str]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        read_location(form, CITY)
    return {e.field: i18n.gettext(e.message, **e.params) for e in refused.value.errors}


def test_a_location_is_read_with_district_hours_and_accessibility() -> None:
    form = _location(
        **{
            "latitude": "50,95854",
            "longitude": "6.97316",
            "hours-mon": "09:00-18:00",
            "hours-sat": "10:00-12:00, 13:00-16:00",
            "hours_note-de": "An Feiertagen geschlossen.",
            "hours_note-en": "",
            "access-step_free": "on",
            "access-baby_changing": "on",
            "access-unknown": "on",
            "access_note-en": "Ramp at the side entrance.",
            "phone": "+49 221 5601-0",
        }
    )
    location = read_location(form, CITY)
    assert location.district == "Nippes"
    assert (location.latitude, location.longitude) == (50.95854, 6.97316)
    assert location.opening_hours == {"mon": [["09:00", "18:00"]], "sat": [["10:00", "12:00"], ["13:00", "16:00"]]}
    assert location.hours_note == {"de": "An Feiertagen geschlossen."}
    assert location.accessibility == ["step_free", "baby_changing"]
    assert location.accessibility_note == {"en": "Ramp at the side entrance."}
    assert location.phone == "+49 221 5601-0"


def test_location_fields_carry_the_prefix() -> None:
    form = {f"location-{k}": v for k, v in _location(**{"hours-tue": "12:00-11:00"}).items()}
    with pytest.raises(InvalidInput) as refused:
        read_location(form, CITY, prefix="location-")
    assert [e.field for e in refused.value.errors] == ["location-hours-tue"]


def test_each_wrong_location_field_is_named() -> None:
    errors = _refused({"house_number": "abc", "postal_code": "1234", "phone": "call me", "hours-wed": "8-9"})
    assert set(errors) == {"name", "street", "house_number", "postal_code", "phone", "hours-wed"}


def test_a_bad_weekday_names_the_weekday_in_the_readers_language() -> None:
    with i18n.use_locale("en"):
        errors = _refused(_location(**{"hours-fri": "25:00-26:00", "hours-sun": "14:00-13:00"}))
    assert errors["hours-fri"] == "Friday: 25:00 is not a time of day."
    assert errors["hours-sun"].startswith("Sunday: ")


def test_a_postal_code_outside_the_city_is_refused() -> None:
    with i18n.use_locale("en"):
        assert "not in Köln" in _refused(_location(postal_code="10115"))["postal_code"]
    assert "nicht in Köln" in _refused(_location(postal_code="10115"))["postal_code"]


def test_a_postal_code_in_several_districts_needs_a_choice() -> None:
    errors = _refused(_location(postal_code="50668"))
    assert "Innenstadt, Nippes" in errors["district"]
    assert read_location(_location(postal_code="50668", district="Nippes"), CITY).district == "Nippes"
    assert "district" in _refused(_location(postal_code="50668", district="Porz"))


def test_a_district_that_does_not_match_a_single_one_is_refused() -> None:
    assert "Nippes" in _refused(_location(district="Porz"))["district"]


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        ({"latitude": "50.9"}, "longitude"),
        ({"longitude": "6.9"}, "latitude"),
        ({"latitude": "91", "longitude": "6.9"}, "latitude"),
        ({"latitude": "50.9", "longitude": "-181"}, "longitude"),
        ({"latitude": "nan", "longitude": "6.9"}, "latitude"),
        ({"latitude": "inf", "longitude": "6.9"}, "latitude"),
        ({"latitude": "1e2", "longitude": "6.9"}, "latitude"),
        ({"latitude": "north", "longitude": "6.9"}, "latitude"),
    ],
)
def test_coordinates_both_or_neither_and_in_range(fields: dict[str, str], wrong: str) -> None:
    assert list(_refused(_location(**fields))) == [wrong]


def test_no_coordinates_is_fine() -> None:
    location = read_location(_location(), CITY)
    assert (location.latitude, location.longitude) == (None, None)
    assert location.opening_hours == {}


# Website ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://www.koelnerzoo.de", "https://www.koelnerzoo.de"),
        ("http://example.org/path?x=1", "http://example.org/path?x=1"),
        ("www.example.org", "https://www.example.org"),
        ("  https://bücherei-köln.de  ", "https://bücherei-köln.de"),
    ],
)
def test_website_addresses_are_accepted(typed: str, stored: str) -> None:
    assert parse_website(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "javascript:alert(1)",
        "ftp://example.org",
        "https://",
        "https://localhost",
        "https://user:pw@example.org",
        "https://exa mple.org",
        "data:text/html,<script>",
        "https://example.org:99999",
        "example",
        "https://" + "a" * 300 + ".de",
    ],
)
def test_other_addresses_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match=r"Please"):
        parse_website(typed)


# Texts per language -------------------------------------------------------------------------------------------------


def test_texts_are_read_per_supported_language() -> None:
    errors: list[Any] = []
    form = {"description-de": "  Hallo\r\nWelt ", "description-en": "Hello", "description-xx": "ignored"}
    texts = read_texts(form, "description", errors, maximum=DESCRIPTION_MAX, german_missing="needed")
    assert texts == {"de": "Hallo\nWelt", "en": "Hello"}
    assert errors == []


def test_german_may_be_required_and_other_languages_stay_optional() -> None:
    errors: list[Any] = []
    texts = read_texts({"description-en": "Hello"}, "description", errors, maximum=10, german_missing="needed")
    assert texts == {"en": "Hello"}
    assert [(e.field, e.message) for e in errors] == [("description-de", "needed")]


def test_texts_over_the_limit_or_with_control_characters_are_refused() -> None:
    errors: list[Any] = []
    form = {"description-de": "x" * (DESCRIPTION_MAX + 1), "description-en": "bell\x07"}
    read_texts(form, "description", errors, maximum=DESCRIPTION_MAX)
    assert [e.field for e in errors] == ["description-de", "description-en"]
    assert errors[0].params == {"max": DESCRIPTION_MAX}


def test_html_in_texts_is_kept_as_plain_text() -> None:
    errors: list[Any] = []
    texts = read_texts({"description-de": "<script>alert(1)</script>"}, "description", errors, maximum=100)
    assert texts == {"de": "<script>alert(1)</script>"}


def test_every_supported_language_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "SUPPORTED_LOCALES", ("de", "en", "tr", "ar"))
    errors: list[Any] = []
    form = {"description-tr": "Merhaba", "description-ar": "مرحبا", "description-de": "Hallo"}
    assert read_texts(form, "description", errors, maximum=100) == form_texts(form)


def form_texts(form: dict[str, str]) -> dict[str, str]:
    return {key.split("-", 1)[1]: value for key, value in form.items()}
