"""The benefit form: every field's checks and messages, money as partners type it, texts kept as typed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from familienkarte.benefits import fields
from familienkarte.benefits.services import form_of, parse_money, read_benefit
from familienkarte.errors import InvalidInput

TODAY = dt.date(2030, 5, 10)
HERE = uuid.UUID("00000000-0000-4000-8000-000000000001")
THERE = uuid.UUID("00000000-0000-4000-8000-000000000002")
ELSEWHERE = uuid.UUID("00000000-0000-4000-8000-000000000099")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def valid(**overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "title-de": "Freier Eintritt für Kinder",
        "category": "culture",
        "kind": "free_entry",
        "value": "",
        f"location-{HERE}": "on",
        **{f"weekday-{day}": "on" for day in DAYS},
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def read(form: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"locations": {HERE, THERE}, "today": TODAY, "languages": ("de", "en")}
    options.update(kwargs)
    return read_benefit(form, **options)


def errors_of(form: dict[str, str], **kwargs: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    with pytest.raises(InvalidInput) as refused:
        read(form, **kwargs)
    return {error.field: (error.message, error.params) for error in refused.value.errors}


def message(form: dict[str, str], field: str, **kwargs: Any) -> str:
    found = errors_of(form, **kwargs)
    assert field in found, found
    text, params = found[field]
    return text % params if params else text


# --- the whole content ---------------------------------------------------------------------------------------


def test_a_minimal_form_gives_the_full_content() -> None:
    content = read(valid())
    assert set(content) == set(fields.CONTENT_KEYS)
    assert content == {
        "category": "culture",
        "kind": "free_entry",
        "value": None,
        "title": {"de": "Freier Eintritt für Kinder"},
        "description": {},
        "conditions": {},
        "valid_from": None,
        "valid_until": None,
        "weekdays": 0b1111111,
        "min_children": 0,
        "child_age_min": None,
        "child_age_max": None,
        "requires_entitlement": False,
        "limit_count": None,
        "limit_period": None,
        "total_quota": None,
        "max_quantity": 1,
        "location_ids": [str(HERE)],
    }


def test_a_full_form_gives_every_value() -> None:
    content = read(
        valid(
            **{
                "title-en": "Free entry for children",
                "description-de": "Zeile eins\r\n\r\n\r\n\r\nZeile  zwei  ",
                "conditions-en": "Show the card.",
                f"location-{THERE}": "on",
                "weekday-sun": None,
            },
            kind="special_price",
            value="4,50",
            valid_from="2030-06-01",
            valid_until="31.12.2030",
            min_children="2",
            child_age_min="3",
            child_age_max="12",
            requires_entitlement="on",
            limit_count="2",
            limit_period="month",
            total_quota="100",
            max_quantity="4",
        )
    )
    assert content["title"] == {"de": "Freier Eintritt für Kinder", "en": "Free entry for children"}
    assert content["description"] == {"de": "Zeile eins\n\nZeile zwei"}
    assert content["conditions"] == {"en": "Show the card."}
    assert (content["kind"], content["value"]) == ("special_price", 450)
    assert (content["valid_from"], content["valid_until"]) == ("2030-06-01", "2030-12-31")
    assert content["weekdays"] == 0b0111111
    assert (content["min_children"], content["child_age_min"], content["child_age_max"]) == (2, 3, 12)
    assert content["requires_entitlement"] is True
    assert (content["limit_count"], content["limit_period"], content["total_quota"]) == (2, "month", 100)
    assert content["max_quantity"] == 4
    assert content["location_ids"] == sorted([str(HERE), str(THERE)])


def test_the_edit_form_reads_back_to_the_same_content() -> None:
    original = read(
        valid(
            **{"title-en": "Free", "description-de": "A\n\nB"},
            kind="amount_off",
            value="5.5",
            valid_until="2030-12-31",
            child_age_max="10",
            limit_count="1",
            limit_period="week",
            requires_entitlement="on",
        )
    )
    assert read(form_of(original)) == original


# --- texts ------------------------------------------------------------------------------------------------------


def test_a_german_title_is_needed() -> None:
    form = valid(**{"title-de": "   ", "title-en": "Only English"})
    assert message(form, "title-de") == "Please enter a title in German."


@pytest.mark.parametrize(
    ("name", "limit"), [("title-de", 120), ("title-en", 120), ("description-de", 2000), ("conditions-en", 1000)]
)
def test_texts_have_a_length_limit(name: str, limit: int) -> None:
    assert read(valid(**{name: "x" * limit}))  # exactly the limit is fine
    assert message(valid(**{name: "x" * (limit + 1)}), name) == f"Please use at most {limit} characters here."


def test_control_characters_are_refused() -> None:
    assert message(valid(**{"title-de": "Eintritt\x07frei"}), "title-de") == (
        "This field contains characters that cannot be used."
    )
    assert message(valid(**{"description-de": "a\x00b"}), "description-de")


def test_html_is_kept_as_text() -> None:
    html = '<script>alert("x")</script> <b>Fett</b> & mehr'
    content = read(valid(**{"title-de": html, "description-de": html, "conditions-de": html}))
    assert content["title"]["de"] == html
    assert content["description"]["de"] == html
    assert content["conditions"]["de"] == html


def test_only_the_citys_languages_are_read() -> None:
    content = read(valid(**{"title-en": "English", "title-xx": "Unknown"}), languages=("de",))
    assert content["title"] == {"de": "Freier Eintritt für Kinder"}
    later = read(valid(**{"title-ar": "عرض"}), languages=("de", "en", "ar"))
    assert later["title"]["ar"] == "عرض"


# --- category, kind and value ----------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["", "zoo", "CULTURE"])
def test_an_unknown_category_is_refused(category: str) -> None:
    assert message(valid(category=category), "category") == "Please choose a category from the list."


@pytest.mark.parametrize("kind", ["", "half_price", "<b>"])
def test_an_unknown_kind_is_refused(kind: str) -> None:
    assert message(valid(kind=kind), "kind") == "Please choose the kind of benefit from the list."


@pytest.mark.parametrize(("typed", "percent"), [("1", 1), ("20", 20), ("20 %", 20), ("20%", 20), ("100", 100)])
def test_a_percentage(typed: str, percent: int) -> None:
    assert read(valid(kind="percent_off", value=typed))["value"] == percent


@pytest.mark.parametrize("typed", ["0", "101", "-5", "12.5", "zwanzig", "1e2"])
def test_an_impossible_percentage_is_refused(typed: str) -> None:
    assert message(valid(kind="percent_off", value=typed), "value") == "Please enter a percentage from 1 to 100."


def test_a_percentage_is_needed_for_percent_off() -> None:
    assert message(valid(kind="percent_off", value=""), "value") == "Please enter the percentage."


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("5", 500),
        ("5,50", 550),
        ("5.50", 550),
        ("5,5", 550),
        ("0,01", 1),
        ("5 €", 500),
        ("€5.00", 500),
        ("10000", 1_000_000),
        (" 7,05 ", 705),
    ],
)
def test_money_as_partners_type_it(typed: str, cents: int) -> None:
    assert parse_money(typed) == cents
    assert read(valid(kind="amount_off", value=typed))["value"] == cents


@pytest.mark.parametrize("typed", ["", "abc", "5,555", "1.000,00", "-5", "5,-"])
def test_money_that_is_no_amount(typed: str) -> None:
    assert parse_money(typed) is None


@pytest.mark.parametrize("kind", ["amount_off", "special_price"])
@pytest.mark.parametrize("typed", ["0", "0,00", "10000,01", "20000", "-1", "fünf", "1.000,00"])
def test_an_impossible_amount_is_refused(kind: str, typed: str) -> None:
    assert message(valid(kind=kind, value=typed), "value") == (
        "Please enter an amount in euros from 0.01 to 10,000, for example 5.50."
    )


@pytest.mark.parametrize("kind", ["amount_off", "special_price"])
def test_an_amount_is_needed(kind: str) -> None:
    assert message(valid(kind=kind, value=" "), "value") == "Please enter the amount in euros."


@pytest.mark.parametrize("kind", ["free_entry", "two_for_one", "voucher", "other"])
def test_kinds_without_a_value_refuse_one(kind: str) -> None:
    assert read(valid(kind=kind, value=""))["value"] is None
    assert message(valid(kind=kind, value="10"), "value") == (
        "This kind of benefit has no value. Please leave the field empty."
    )


# --- locations --------------------------------------------------------------------------------------------------


def test_at_least_one_location() -> None:
    form = valid(**{f"location-{HERE}": None})
    assert message(form, "locations") == "Please choose at least one location where the benefit applies."
    assert message(valid(**{f"location-{HERE}": ""}), "locations")


@pytest.mark.parametrize("key", [f"location-{ELSEWHERE}", "location-not-a-uuid"])
def test_a_location_not_the_partners_own_is_unknown(key: str) -> None:
    assert message(valid(**{key: "on"}), "locations") == (
        "One of the chosen locations is unknown. Please choose from the list."
    )


def test_locations_named_in_one_column() -> None:
    content = read(valid(**{f"location-{HERE}": None}, location_ids=f"{THERE}, {HERE}"))
    assert content["location_ids"] == sorted([str(HERE), str(THERE)])


# --- dates and weekdays ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["valid_from", "valid_until"])
@pytest.mark.parametrize("typed", ["31.02.2031", "2031-13-01", "morgen", "2031/01/01"])
def test_a_date_must_be_real(name: str, typed: str) -> None:
    assert message(valid(**{name: typed}), name) == "Please enter a real date, for example 24.12.2026."


@pytest.mark.parametrize("typed", ["1999-12-31", "2041-01-01", "9999-12-31"])
def test_an_absurd_date_is_refused(typed: str) -> None:
    assert message(valid(valid_from=typed), "valid_from") == "Please enter a date between 2000 and 2040."


def test_the_last_day_not_before_the_first() -> None:
    form = valid(valid_from="2030-07-01", valid_until="2030-06-30")
    assert message(form, "valid_until") == "The last day cannot be before the first day."
    assert read(valid(valid_from="2030-07-01", valid_until="2030-07-01"))["valid_until"] == "2030-07-01"


def test_a_new_last_day_not_in_the_past() -> None:
    assert message(valid(valid_until="2030-05-09"), "valid_until") == "The last day cannot be in the past."
    assert read(valid(valid_until="2030-05-10"))["valid_until"] == "2030-05-10"
    # A benefit that has this last day already keeps it when changed otherwise.
    kept = read(valid(valid_until="2030-05-09"), current_until=dt.date(2030, 5, 9))
    assert kept["valid_until"] == "2030-05-09"
    assert message(valid(valid_until="2030-05-08"), "valid_until", current_until=dt.date(2030, 5, 9))


def test_a_first_day_in_the_past_is_fine() -> None:
    assert read(valid(valid_from="2030-01-01"))["valid_from"] == "2030-01-01"


def test_at_least_one_weekday() -> None:
    form = valid(**{f"weekday-{day}": None for day in DAYS})
    assert message(form, "weekdays") == "Please choose at least one weekday."
    only_weekend = valid(**{f"weekday-{day}": None for day in DAYS[:5]})
    assert read(only_weekend)["weekdays"] == 0b1100000


# --- who may use it -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("min_children", 0, 10),
        ("child_age_min", 0, 26),
        ("child_age_max", 0, 26),
        ("limit_count", 1, 100),
        ("total_quota", 1, 1_000_000),
        ("max_quantity", 1, 20),
    ],
)
def test_numbers_have_their_range(name: str, low: int, high: int) -> None:
    extra = {"limit_period": "day"} if name == "limit_count" else {}
    assert read(valid(**{name: str(low)}, **extra))[name] == low
    assert read(valid(**{name: str(high)}, **extra))[name] == high
    expected = f"Please enter a whole number from {low} to {high}."
    for typed in (str(low - 1), str(high + 1), "-1", "2.5", "zwei", "99999999999"):
        assert message(valid(**{name: typed}, **extra), name) == expected, typed


def test_empty_numbers_take_their_defaults() -> None:
    content = read(valid(min_children="", max_quantity="", total_quota=""))
    assert (content["min_children"], content["max_quantity"], content["total_quota"]) == (0, 1, None)


def test_the_age_range_in_order() -> None:
    assert message(valid(child_age_min="12", child_age_max="6"), "child_age_max") == (
        "The highest age cannot be below the lowest age."
    )
    assert read(valid(child_age_min="6", child_age_max="6"))["child_age_max"] == 6
    assert read(valid(child_age_min="6"))["child_age_max"] is None


@pytest.mark.parametrize(("typed", "expected"), [("on", True), ("", False), ("off", False)])
def test_the_entitlement_checkbox(typed: str, expected: bool) -> None:
    assert read(valid(requires_entitlement=typed))["requires_entitlement"] is expected


# --- how often ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["day", "week", "month", "year", "ever"])
def test_a_limit_per_card(period: str) -> None:
    content = read(valid(limit_count="3", limit_period=period))
    assert (content["limit_count"], content["limit_period"]) == (3, period)


def test_a_limit_needs_count_and_period() -> None:
    assert message(valid(limit_count="3"), "limit_period") == "Please choose the period the limit counts in."
    assert message(valid(limit_period="week"), "limit_count") == (
        "Please enter how often a card may use the benefit in this period."
    )
    assert message(valid(limit_count="3", limit_period="fortnight"), "limit_period") == (
        "Please choose a period from the list."
    )


def test_every_wrong_field_is_named_at_once() -> None:
    form = valid(
        **{"title-de": "", f"location-{HERE}": None},
        category="zoo",
        kind="percent_off",
        value="0",
        valid_until="gestern",
        min_children="11",
        max_quantity="0",
    )
    assert set(errors_of(form)) == {
        "title-de",
        "category",
        "value",
        "locations",
        "valid_until",
        "min_children",
        "max_quantity",
    }
