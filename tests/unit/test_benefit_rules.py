"""Who may use a benefit and when: ages from birth months, children, tier, dates, weekdays, the finder's dates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from familienkarte.benefits.rules import (
    BenefitRules,
    FamilyFacts,
    NotEligible,
    check,
    child_age,
    eligible_from,
    family_may_use,
    localized,
    offered_on,
    weekday_mask,
    weekdays_of,
    year_month_for_age,
)

MONDAY = dt.date(2026, 11, 23)


def test_a_child_counts_a_year_older_from_the_first_of_its_birth_month() -> None:
    assert child_age(201911, dt.date(2026, 10, 31)) == 6
    assert child_age(201911, dt.date(2026, 11, 1)) == 7
    assert child_age(202612, MONDAY) is None  # expected next month
    assert child_age(202611, MONDAY) == 0


@given(st.integers(0, 26), st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
def test_the_finders_birth_month_gives_back_the_age_for_a_full_year(age: int, on: dt.date) -> None:
    year_month = year_month_for_age(age, on)
    assert child_age(year_month, on) == age
    eleven_months_on = dt.date(on.year + (on.month + 10) // 12, (on.month + 10) % 12 + 1, 1)
    assert child_age(year_month, eleven_months_on) == age
    a_year_on = dt.date(on.year + 1, on.month, 1)
    assert child_age(year_month, a_year_on) == age + 1


def test_children_ages_and_the_tier_decide() -> None:
    family = FamilyFacts(adults=2, children=(201904, 202305, 202702), flags=0)
    assert family_may_use(BenefitRules(min_children=2), family, MONDAY) is None
    # The expected child does not count yet.
    assert family_may_use(BenefitRules(min_children=3), family, MONDAY) is NotEligible.TOO_FEW_CHILDREN
    assert family_may_use(BenefitRules(child_age_min=6, child_age_max=10), family, MONDAY) is None
    assert family_may_use(BenefitRules(child_age_min=8), family, MONDAY) is NotEligible.NO_CHILD_OF_AGE
    assert family_may_use(BenefitRules(child_age_max=2), family, MONDAY) is NotEligible.NO_CHILD_OF_AGE
    assert family_may_use(BenefitRules(requires_entitlement=True), family, MONDAY) is NotEligible.NOT_ENTITLED
    entitled = FamilyFacts(adults=1, children=(201904,), flags=1)
    assert family_may_use(BenefitRules(requires_entitlement=True), entitled, MONDAY) is None


def test_dates_and_weekdays_decide_whether_it_is_offered_that_day() -> None:
    weekend = BenefitRules(weekdays=weekday_mask([5, 6]))
    assert offered_on(weekend, MONDAY) is NotEligible.WRONG_WEEKDAY
    assert offered_on(weekend, MONDAY + dt.timedelta(days=5)) is None
    window = BenefitRules(valid_from=dt.date(2026, 12, 1), valid_until=dt.date(2026, 12, 31))
    assert offered_on(window, MONDAY) is NotEligible.NOT_YET_VALID
    assert offered_on(window, dt.date(2026, 12, 31)) is None
    assert offered_on(window, dt.date(2027, 1, 1)) is NotEligible.ENDED
    # The date comes first, then the family.
    family = FamilyFacts(adults=1, children=(), flags=0)
    assert check(BenefitRules(min_children=1, valid_until=dt.date(2026, 1, 1)), family, MONDAY) is NotEligible.ENDED


def test_weekday_masks_round_trip_and_refuse_nonsense() -> None:
    assert weekdays_of(weekday_mask([0, 2, 6])) == [0, 2, 6]
    with pytest.raises(ValueError, match="weekday 7"):
        weekday_mask([7])


def test_the_finder_knows_when_a_child_grows_into_a_benefit() -> None:
    family = FamilyFacts(adults=2, children=(202203,), flags=0)  # 4 years old in November 2026
    assert eligible_from(BenefitRules(child_age_min=6), family, MONDAY) == dt.date(2028, 3, 1)
    assert eligible_from(BenefitRules(child_age_min=3), family, MONDAY) is None  # already
    assert eligible_from(BenefitRules(requires_entitlement=True), family, MONDAY) is None  # never by growing
    expecting = FamilyFacts(adults=2, children=(202702,), flags=0)
    assert eligible_from(BenefitRules(min_children=1), expecting, MONDAY) == dt.date(2027, 2, 1)


def test_partner_texts_in_the_readers_language_or_german_marked_as_such() -> None:
    texts = {"de": "Freier Eintritt", "en": "Free entry"}
    assert localized(texts, "en").text == "Free entry"
    assert not localized(texts, "en").fallback
    turkish = localized(texts, "tr")
    assert (turkish.text, turkish.language, turkish.fallback) == ("Freier Eintritt", "de", True)
    assert not localized(texts, "de").fallback
    assert localized({"de": "  "}, "de").text == ""
    arabic = localized({"de": "Freier Eintritt", "ar": "  "}, "ar")
    assert (arabic.text, arabic.language, arabic.fallback) == ("Freier Eintritt", "de", True)
    assert localized({"de": "Freier Eintritt", "ar": "دخول مجاني"}, "ar").text == "دخول مجاني"
    # Leichte Sprache is German: a partner's German text is no fallback for its readers.
    easy = localized(texts, "ls")
    assert (easy.text, easy.fallback) == ("Freier Eintritt", False)
