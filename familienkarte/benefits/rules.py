"""Who may use a benefit, and when: pure rules shared by the catalogue, the finder and the till.

A family is described as the till sees it in the credential (CREDENTIAL.md): the number of adults, the children's
birth year and month (``YYYYMM``; an expected child has its expected month) and the entitlement flags. Ages come
from the year and month only, the same way everywhere: a child counts as ``N`` years old from the first day of
the month in which it turns ``N``. An expected child (a month after the day asked about) has no age yet and does
not count towards a benefit's number of children or age range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from familienkarte import i18n
from familienkarte.benefits.models import ALL_WEEKDAYS

DEFAULT_LANGUAGE: Final = "de"
TIER_FLAG: Final = 1


class NotEligible(StrEnum):
    """Why a family may not use a benefit (stable codes; people see translated sentences)."""

    NOT_YET_VALID = "not_yet_valid"
    ENDED = "ended"
    WRONG_WEEKDAY = "wrong_weekday"
    TOO_FEW_CHILDREN = "too_few_children"
    NO_CHILD_OF_AGE = "no_child_of_age"
    NOT_ENTITLED = "not_entitled"


@dataclass(frozen=True)
class FamilyFacts:
    adults: int
    # Birth (or expected) year and month of each child, as YYYYMM.
    children: tuple[int, ...]
    flags: int = 0

    @property
    def entitled(self) -> bool:
        return bool(self.flags & TIER_FLAG)


@dataclass(frozen=True)
class BenefitRules:
    min_children: int = 0
    child_age_min: int | None = None
    child_age_max: int | None = None
    requires_entitlement: bool = False
    weekdays: int = ALL_WEEKDAYS
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    @property
    def has_age_range(self) -> bool:
        return self.child_age_min is not None or self.child_age_max is not None


def child_age(year_month: int, on: dt.date) -> int | None:
    """Completed years on ``on`` (the birth month counts as complete); None for a child not born by then."""
    months = on.year * 12 + (on.month - 1) - ((year_month // 100) * 12 + (year_month % 100 - 1))
    if months < 0:
        return None
    return months // 12


def ages(family: FamilyFacts, on: dt.date) -> list[int]:
    """The ages of the born children on ``on``, youngest first."""
    return sorted(age for ym in family.children if (age := child_age(ym, on)) is not None)


def year_month_for_age(age: int, on: dt.date) -> int:
    """A birth month that makes a child ``age`` on ``on``: as if it had turned ``age`` in ``on``'s month.

    For the finder, where a family gives ages, not birth dates. Such a child turns ``age + 1`` a full year after
    ``on``, the latest it can, so a benefit is never announced as coming before the child can have grown into it.
    """
    total = on.year * 12 + (on.month - 1) - age * 12
    return (total // 12) * 100 + total % 12 + 1


def weekday_bit(day: dt.date) -> int:
    return 1 << day.weekday()


def weekday_mask(days: Iterable[int]) -> int:
    """The mask of weekdays given as 0 (Monday) to 6 (Sunday)."""
    mask = 0
    for day in days:
        if not 0 <= day <= 6:
            raise ValueError(f"weekday {day} is not 0 (Monday) to 6 (Sunday)")
        mask |= 1 << day
    return mask


def weekdays_of(mask: int) -> list[int]:
    return [day for day in range(7) if mask & (1 << day)]


def _in_age_range(age: int, rules: BenefitRules) -> bool:
    low = rules.child_age_min if rules.child_age_min is not None else 0
    high = rules.child_age_max if rules.child_age_max is not None else 10**6
    return low <= age <= high


def offered_on(rules: BenefitRules, on: dt.date) -> NotEligible | None:
    """Whether the benefit is offered on that day at all (validity dates, weekdays); None when it is."""
    if rules.valid_from is not None and on < rules.valid_from:
        return NotEligible.NOT_YET_VALID
    if rules.valid_until is not None and on > rules.valid_until:
        return NotEligible.ENDED
    if not rules.weekdays & weekday_bit(on):
        return NotEligible.WRONG_WEEKDAY
    return None


def family_may_use(rules: BenefitRules, family: FamilyFacts, on: dt.date) -> NotEligible | None:
    """Whether this family meets the benefit's own conditions on ``on`` (children, ages, tier); None when it does.

    Dates and weekdays are :func:`offered_on`'s business, so that the finder can show what a family may use on
    any day.
    """
    born = ages(family, on)
    if len(born) < rules.min_children:
        return NotEligible.TOO_FEW_CHILDREN
    if rules.has_age_range and not any(_in_age_range(age, rules) for age in born):
        return NotEligible.NO_CHILD_OF_AGE
    if rules.requires_entitlement and not family.entitled:
        return NotEligible.NOT_ENTITLED
    return None


def check(rules: BenefitRules, family: FamilyFacts, on: dt.date) -> NotEligible | None:
    """The first reason the family may not use the benefit on ``on``, or None: both checks above."""
    return offered_on(rules, on) or family_may_use(rules, family, on)


def eligible_from(rules: BenefitRules, family: FamilyFacts, on: dt.date, horizon_years: int = 18) -> dt.date | None:
    """The first day after ``on`` from which the family meets the benefit's conditions because a child has grown
    into them (or been born); None when that does not happen within ``horizon_years``.

    Ages change only on the first of a month, so only those days are tried.
    """
    if family_may_use(rules, family, on) is None:
        return None
    day = dt.date(on.year + (on.month // 12), on.month % 12 + 1, 1)
    for _month in range(horizon_years * 12):
        if family_may_use(rules, family, day) is None:
            return day
        day = dt.date(day.year + (day.month // 12), day.month % 12 + 1, 1)
    return None


@dataclass(frozen=True)
class LocalText:
    """A partner's text in the reader's language, or in German (``fallback``) when it has none in theirs."""

    text: str
    language: str
    fallback: bool


def localized(texts: Mapping[str, str], locale: str) -> LocalText:
    text = (texts.get(locale) or "").strip()
    if text:
        return LocalText(text, locale, False)
    german = (texts.get(DEFAULT_LANGUAGE) or "").strip()
    if german:
        # Readers of Leichte Sprache read German: the German text is theirs, not a fallback.
        return LocalText(german, DEFAULT_LANGUAGE, i18n.base_locale(locale) != DEFAULT_LANGUAGE)
    for language, value in sorted(texts.items()):
        if value.strip():
            return LocalText(value.strip(), language, True)
    return LocalText("", locale, False)
