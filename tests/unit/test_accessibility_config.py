"""The accessibility statement's configuration in the city file: the shipped cities carry one, and every mistake is
one line naming the file and the key."""

from __future__ import annotations

import datetime as dt

import pytest

from familienkarte.city import Conformity, load_city, parse_city
from tests.unit.test_city import koeln_data, problem


@pytest.mark.parametrize("name", ["koeln", "hamm"])
def test_the_shipped_cities_publish_a_complete_statement(name: str) -> None:
    statement = load_city(name).accessibility
    assert statement.body.startswith("Stadt ")
    assert statement.conformity is Conformity.PARTIAL
    assert statement.known_issues, "a partly accessible site lists what is not accessible"
    assert all(issue.text("de") and issue.text("en") != issue.text("de") for issue in statement.known_issues)
    assert statement.prepared_on <= statement.reviewed_on
    assert "@" in statement.feedback.email
    assert statement.feedback.phone
    assert len(statement.feedback.address) >= 2
    assert statement.enforcement.url.startswith("https://")
    assert "Ombudsstelle" in statement.enforcement.name


def test_a_known_issue_falls_back_to_german_and_says_so() -> None:
    data = koeln_data()
    data["accessibility"]["known_issues"] = [{"de": "Die Karte ist nicht barrierefrei."}]
    issue = parse_city("my.toml", data, "my").accessibility.known_issues[0]
    assert issue.text("en") == "Die Karte ist nicht barrierefrei."
    assert issue.is_translated("de")
    assert not issue.is_translated("en")


def test_a_fully_accessible_site_lists_no_issues() -> None:
    data = koeln_data()
    data["accessibility"]["conformity"] = "full"
    del data["accessibility"]["known_issues"]
    assert parse_city("my.toml", data, "my").accessibility.conformity is Conformity.FULL


def test_the_statement_is_required() -> None:
    data = koeln_data()
    del data["accessibility"]
    assert problem(data) == "my.toml: accessibility: missing"


@pytest.mark.parametrize("key", ["feedback", "enforcement"])
def test_a_missing_contact_or_enforcement_body_is_named(key: str) -> None:
    data = koeln_data()
    del data["accessibility"][key]
    assert problem(data) == f"my.toml: accessibility.{key}: missing"


@pytest.mark.parametrize("key", ["name", "email", "phone", "address"])
def test_every_part_of_the_feedback_contact_is_required(key: str) -> None:
    data = koeln_data()
    del data["accessibility"]["feedback"][key]
    assert problem(data) == f"my.toml: accessibility.feedback.{key}: missing"


@pytest.mark.parametrize("value", ["barrierefreiheit", "a@b", "@stadt.example", "a b@stadt.example"])
def test_the_feedback_address_must_be_an_email_address(value: str) -> None:
    data = koeln_data()
    data["accessibility"]["feedback"]["email"] = value
    assert problem(data) == f"my.toml: accessibility.feedback.email: expected an e-mail address, got {value!r}"


def test_an_empty_phone_number_is_refused() -> None:
    data = koeln_data()
    data["accessibility"]["feedback"]["phone"] = "  "
    assert problem(data) == "my.toml: accessibility.feedback.phone: must not be empty"


def test_the_conformity_is_one_of_three() -> None:
    data = koeln_data()
    data["accessibility"]["conformity"] = "mostly"
    assert problem(data) == "my.toml: accessibility.conformity: expected one of full, partial, none, got 'mostly'"


def test_dates_are_toml_dates() -> None:
    data = koeln_data()
    data["accessibility"]["prepared_on"] = "23.11.2026"
    assert problem(data) == ("my.toml: accessibility.prepared_on: expected a date such as 2026-01-31, got '23.11.2026'")
    data["accessibility"]["prepared_on"] = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    assert problem(data) == (
        "my.toml: accessibility.prepared_on: expected a date such as 2026-01-31, got 2026-11-23T12:00:00+00:00"
    )


def test_the_review_is_not_before_the_statement() -> None:
    data = koeln_data()
    data["accessibility"]["prepared_on"] = dt.date(2026, 11, 23)
    data["accessibility"]["reviewed_on"] = dt.date(2026, 1, 2)
    assert problem(data) == "my.toml: accessibility.reviewed_on: 2026-01-02 is before prepared_on (2026-11-23)"


def test_known_issues_match_the_conformity() -> None:
    data = koeln_data()
    data["accessibility"]["conformity"] = "full"
    assert problem(data) == "my.toml: accessibility.known_issues: must be empty when conformity is full"
    data = koeln_data()
    data["accessibility"]["known_issues"] = []
    assert problem(data) == (
        "my.toml: accessibility.known_issues: must list the parts that are not accessible when conformity is partial"
    )


def test_a_known_issue_needs_german_and_only_offered_languages() -> None:
    data = koeln_data()
    data["accessibility"]["known_issues"] = [{"en": "The map is not accessible."}]
    assert problem(data) == "my.toml: accessibility.known_issues.1.de: missing"
    data["accessibility"]["known_issues"] = [{"de": "Die Karte.", "fr": "La carte."}]
    offered = ", ".join(data["languages"])
    assert problem(data) == f"my.toml: accessibility.known_issues.1.fr: not one of the city's languages ({offered})"
    data["accessibility"]["known_issues"] = ["Die Karte."]
    assert problem(data) == 'my.toml: accessibility.known_issues: entry 1: expected a table such as { de = "…" }'


def test_the_enforcement_body_has_a_web_address() -> None:
    data = koeln_data()
    data["accessibility"]["enforcement"]["url"] = "www.lbbp.nrw.de"
    assert problem(data) == "my.toml: accessibility.enforcement.url: expected an http(s):// URL, got 'www.lbbp.nrw.de'"


def test_a_misspelt_key_is_refused() -> None:
    data = koeln_data()
    data["accessibility"]["feedback"]["emial"] = "x@stadt.example"
    assert problem(data) == "my.toml: accessibility.feedback.emial: unknown key (did you mean email?)"
