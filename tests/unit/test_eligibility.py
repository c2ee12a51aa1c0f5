"""Eligibility rules and card validity: pure functions, many small cases."""

from __future__ import annotations

import datetime as dt

import pytest

from familienkarte.cards.eligibility import (
    ChildFacts,
    add_months,
    age_on,
    anniversary,
    card_valid_until,
    check_eligibility,
)
from familienkarte.city import EligibilityRules

RULES = EligibilityRules()
TODAY = dt.date(2026, 11, 23)


def born(y: int, m: int, d: int, disability: bool = False) -> ChildFacts:
    return ChildFacts("Kind", birth_date=dt.date(y, m, d), has_disability=disability)


def expected(y: int, m: int, d: int) -> ChildFacts:
    return ChildFacts("", expected_date=dt.date(y, m, d))


def codes(*children: ChildFacts, adults: int = 1, main_residence: bool = True, rules: EligibilityRules = RULES):
    result = check_eligibility(rules, adults=adults, children=children, today=TODAY, main_residence=main_residence)
    assert result.eligible == (not result.codes)
    return result.codes


# -- ages ---------------------------------------------------------------------------------------------------------


def test_age_counts_completed_years() -> None:
    assert age_on(dt.date(2008, 11, 23), TODAY) == 18
    assert age_on(dt.date(2008, 11, 24), TODAY) == 17


def test_leap_day_children_age_on_the_first_of_march() -> None:
    assert anniversary(dt.date(2008, 2, 29), 18) == dt.date(2026, 3, 1)
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 17
    assert age_on(dt.date(2008, 2, 29), dt.date(2026, 3, 1)) == 18


def test_add_months_keeps_the_day_or_takes_the_last_of_the_month() -> None:
    assert add_months(dt.date(2026, 11, 23), 10) == dt.date(2027, 9, 23)
    assert add_months(dt.date(2026, 12, 31), 2) == dt.date(2027, 2, 28)


# -- children -------------------------------------------------------------------------------------------------------


def test_one_young_child_is_enough() -> None:
    assert codes(born(2020, 1, 1)) == []


def test_a_child_turning_18_today_no_longer_counts() -> None:
    assert codes(born(2008, 11, 23)) == ["no_eligible_child"]


def test_a_child_turning_18_tomorrow_still_counts() -> None:
    assert codes(born(2008, 11, 24)) == []


def test_an_adult_child_with_a_young_sibling_counts() -> None:
    assert codes(born(2000, 1, 1), born(2015, 5, 5)) == []


def test_a_child_with_a_disability_counts_up_to_27() -> None:
    assert codes(born(2000, 1, 1, disability=True)) == []
    assert codes(born(1999, 11, 24, disability=True)) == []
    assert codes(born(1999, 11, 23, disability=True)) == ["no_eligible_child"]


def test_a_disability_does_not_help_beyond_27() -> None:
    assert codes(born(1990, 1, 1, disability=True)) == ["no_eligible_child"]


def test_no_children_is_refused() -> None:
    assert codes() == ["no_children"]


def test_a_child_born_in_the_future_is_refused_unless_expected() -> None:
    assert codes(born(2027, 1, 1)) == ["birth_date_in_future"]
    assert codes(expected(2027, 1, 1)) == []


def test_born_today_is_fine() -> None:
    assert codes(born(2026, 11, 23)) == []


def test_a_birth_date_before_1900_is_refused() -> None:
    assert codes(born(1899, 12, 31)) == ["birth_date_too_early"]


def test_an_absurd_date_beside_a_good_child_names_only_the_absurd_one() -> None:
    assert codes(born(2020, 1, 1), born(1850, 1, 1)) == ["birth_date_too_early"]


def test_the_refusal_points_at_the_childs_date_field() -> None:
    result = check_eligibility(
        RULES, adults=1, children=[born(2020, 1, 1), born(2030, 1, 1)], today=TODAY, main_residence=True
    )
    assert [r.field for r in result.refusals] == ["child-1-birth_date"]


# -- expected children ----------------------------------------------------------------------------------------------


def test_an_expected_child_alone_counts() -> None:
    assert codes(expected(2027, 3, 1)) == []


def test_an_expected_date_today_counts() -> None:
    assert codes(expected(2026, 11, 23)) == []


def test_an_expected_date_in_the_past_is_refused() -> None:
    assert codes(expected(2026, 11, 22)) == ["expected_date_in_past"]


def test_an_expected_date_at_most_ten_months_ahead() -> None:
    assert codes(expected(2027, 9, 23)) == []
    assert codes(expected(2027, 9, 24)) == ["expected_date_too_far"]


def test_a_city_may_not_count_expected_children() -> None:
    rules = EligibilityRules(expected_children_count=False)
    assert codes(expected(2027, 3, 1), rules=rules) == ["expected_child_not_counted"]


def test_an_expected_child_too_far_ahead_with_no_other_child_leaves_no_eligible_child_message_out() -> None:
    # The date is the problem, not the age: only the date is reported.
    assert codes(expected(2030, 1, 1)) == ["expected_date_too_far"]


# -- adults and residence ------------------------------------------------------------------------------------------


def test_adults_between_one_and_the_maximum() -> None:
    assert codes(born(2020, 1, 1), adults=2) == []
    assert codes(born(2020, 1, 1), adults=0) == ["no_adult"]
    assert codes(born(2020, 1, 1), adults=3) == ["too_many_adults"]


def test_a_city_may_allow_more_adults() -> None:
    assert codes(born(2020, 1, 1), adults=3, rules=EligibilityRules(max_adults=4)) == []


def test_main_residence_is_required() -> None:
    assert codes(born(2020, 1, 1), main_residence=False) == ["main_residence_missing"]


def test_a_city_may_waive_the_main_residence_rule() -> None:
    rules = EligibilityRules(main_residence_required=False)
    assert codes(born(2020, 1, 1), main_residence=False, rules=rules) == []


def test_every_failed_rule_is_reported() -> None:
    assert codes(born(2000, 1, 1), adults=3, main_residence=False) == [
        "too_many_adults",
        "main_residence_missing",
        "no_eligible_child",
    ]


def test_refusals_carry_a_message_and_parameters() -> None:
    result = check_eligibility(RULES, adults=5, children=[born(2020, 1, 1)], today=TODAY, main_residence=True)
    refusal = result.refusals[0]
    assert refusal.message % refusal.params == "A card can have at most 2 adults."


# -- card validity -------------------------------------------------------------------------------------------------


def valid_until(*children: ChildFacts, cap: int = 30, issue: dt.date = TODAY) -> dt.date:
    return card_valid_until(RULES, children, issue, cap)


def test_valid_until_the_day_before_the_youngest_turns_18() -> None:
    assert valid_until(born(2010, 5, 6), born(2014, 7, 8)) == dt.date(2032, 7, 7)


def test_the_validity_is_capped_by_the_configured_years() -> None:
    assert valid_until(born(2024, 1, 1), cap=6) == dt.date(2032, 11, 22)


def test_the_cap_does_not_matter_when_the_child_ages_out_earlier() -> None:
    assert valid_until(born(2010, 5, 6), cap=6) == dt.date(2028, 5, 5)


def test_an_expected_child_counts_from_its_expected_date() -> None:
    assert valid_until(expected(2027, 3, 1)) == dt.date(2045, 2, 28)


def test_a_child_with_a_disability_keeps_the_card_to_27_when_it_ages_out_last() -> None:
    # The older child has a disability: at 27 it ages out after its sibling turns 18.
    assert valid_until(born(2008, 1, 1, disability=True), born(2010, 1, 1)) == dt.date(2034, 12, 31)


def test_the_youngest_decides_when_it_ages_out_after_the_child_with_a_disability() -> None:
    assert valid_until(born(2000, 1, 1, disability=True), born(2020, 6, 1)) == dt.date(2038, 5, 31)


def test_a_leap_day_child_ages_out_on_the_last_of_february() -> None:
    assert valid_until(born(2012, 2, 29)) == dt.date(2030, 2, 28)


@pytest.mark.parametrize("cap", [1, 6, 10])
def test_the_cap_is_one_day_short_of_the_anniversary(cap: int) -> None:
    assert valid_until(born(2026, 1, 1), cap=cap) == dt.date(2026 + cap, 11, 22)
