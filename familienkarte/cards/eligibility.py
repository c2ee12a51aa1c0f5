"""Eligibility rules and card validity as pure functions: no database, no clock, no web.

Every refusal carries a machine-readable reason code and a message id (translated where it is shown), and the
form field it concerns, so that a family sees the reason next to what they typed.

Ages are counted on calendar dates in the city's time zone (the caller passes "today" there). A child born on
29 February turns a year older on 1 March in years without that day (as German law counts it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from familienkarte.city import EligibilityRules
from familienkarte.errors import N_

EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class ChildFacts:
    first_name: str
    birth_date: dt.date | None = None
    expected_date: dt.date | None = None
    has_disability: bool = False

    @property
    def expected(self) -> bool:
        return self.birth_date is None


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    field: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class EligibilityResult:
    refusals: tuple[Refusal, ...]

    @property
    def eligible(self) -> bool:
        return not self.refusals

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.refusals]


def anniversary(start: dt.date, years: int) -> dt.date:
    """The date ``years`` after ``start``; 29 February becomes 1 March in a year without it."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return dt.date(start.year + years, 3, 1)


def add_months(start: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the last day of that month when it is shorter."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Completed years on ``day``."""
    years = day.year - birth_date.year
    return years if anniversary(birth_date, years) <= day else years - 1


def age_limit(rules: EligibilityRules, child: ChildFacts) -> int:
    return rules.disability_age_limit if child.has_disability else rules.child_age_limit


def eligible_until(rules: EligibilityRules, child: ChildFacts) -> dt.date:
    """The last day this child makes the family eligible: the day before it reaches its age limit.

    An expected child counts from its expected date, as if born that day.
    """
    born = child.birth_date or child.expected_date
    assert born is not None
    return anniversary(born, age_limit(rules, child)) - dt.timedelta(days=1)


def _child_field(index: int, name: str) -> str:
    return f"child-{index}-{name}"


def child_date_refusal(rules: EligibilityRules, index: int, child: ChildFacts, today: dt.date) -> Refusal | None:
    """A date that cannot be right for this child, whatever the other children."""
    date_field = _child_field(index, "birth_date")
    if child.birth_date is not None:
        if child.birth_date > today:
            return Refusal(
                "birth_date_in_future",
                N_("The date of birth lies in the future. For a child not yet born, tick “expected child”."),
                date_field,
            )
        if child.birth_date < EARLIEST_BIRTH_DATE:
            return Refusal("birth_date_too_early", N_("Please check the date of birth: it is before 1900."), date_field)
        return None
    expected = child.expected_date
    assert expected is not None
    if not rules.expected_children_count:
        return Refusal(
            "expected_child_not_counted",
            N_("In this city an expected child does not count yet. Please apply after the birth."),
            date_field,
        )
    if expected < today:
        return Refusal(
            "expected_date_in_past",
            N_("The expected date has passed. If the child is born, enter its date of birth and untick “expected”."),
            date_field,
        )
    latest = add_months(today, rules.expected_max_months)
    if expected > latest:
        return Refusal(
            "expected_date_too_far",
            N_("The expected date may be at most %(months)s months from today."),
            date_field,
            {"months": rules.expected_max_months},
        )
    return None


def check_eligibility(
    rules: EligibilityRules,
    *,
    adults: int,
    children: Sequence[ChildFacts],
    today: dt.date,
    main_residence: bool,
) -> EligibilityResult:
    """Every rule the application fails, in form order; none means the household is eligible on ``today``.

    Rules: 1 to ``max_adults`` adults; main residence in the city (when the city requires it); every child's date
    plausible; at least one child under its age limit on ``today`` (a child with a disability up to the higher
    limit; an expected child counts when the city says so and its date is at most ``expected_max_months`` ahead).
    """
    refusals: list[Refusal] = []
    if adults < 1:
        refusals.append(Refusal("no_adult", N_("Please enter at least one adult."), "adult-0-first_name"))
    elif adults > rules.max_adults:
        refusals.append(
            Refusal(
                "too_many_adults",
                N_("A card can have at most %(max)s adults."),
                "adults",
                {"max": rules.max_adults},
            )
        )
    if rules.main_residence_required and not main_residence:
        refusals.append(
            Refusal(
                "main_residence_missing",
                N_("The family card is for families whose main residence is in the city. Please confirm it."),
                "main_residence",
            )
        )
    if not children:
        refusals.append(Refusal("no_children", N_("Please enter at least one child."), "children"))
        return EligibilityResult(tuple(refusals))
    plausible = []
    for index, child in enumerate(children):
        problem = child_date_refusal(rules, index, child, today)
        if problem:
            refusals.append(problem)
        else:
            plausible.append(child)
    if plausible and not any(eligible_until(rules, child) >= today for child in plausible):
        refusals.append(
            Refusal(
                "no_eligible_child",
                N_(
                    "No child is under %(limit)s (or under %(disability_limit)s with a disability), "
                    "so the family card cannot be issued."
                ),
                "children",
                {"limit": rules.child_age_limit, "disability_limit": rules.disability_age_limit},
            )
        )
    return EligibilityResult(tuple(refusals))


def card_valid_until(
    rules: EligibilityRules, children: Sequence[ChildFacts], issue_date: dt.date, cap_years: int
) -> dt.date:
    """The last day a card issued on ``issue_date`` is valid.

    The card lasts as long as any child keeps the family eligible: until the day before the youngest child turns
    the age limit (an expected child counted from its expected date). A child with a disability keeps it up to
    its own higher limit, so when that child ages out after the youngest, the card runs to that later day:
    whichever child ages out last decides. The result is capped at ``cap_years`` after the issue date (the day
    before that anniversary), so that every family confirms its details again in time.
    """
    ends = [eligible_until(rules, child) for child in children]
    cap = anniversary(issue_date, cap_years) - dt.timedelta(days=1)
    return min(max(ends), cap) if ends else issue_date
