"""A benefit as families see it: the one view model behind the catalogue, the partner page and the partner's
preview of a draft, so that the preview shows exactly what families will see."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from familienkarte import i18n
from familienkarte.benefits.models import ALL_WEEKDAYS, BenefitKind
from familienkarte.benefits.rules import LocalText, localized, weekdays_of
from familienkarte.errors import N_
from familienkarte.partners.vocabulary import CATEGORIES, WEEKDAYS

KIND_LABELS: dict[str, str] = {
    BenefitKind.PERCENT_OFF.value: N_("Percent off"),
    BenefitKind.AMOUNT_OFF.value: N_("Amount off"),
    BenefitKind.FREE_ENTRY.value: N_("Free entry"),
    BenefitKind.SPECIAL_PRICE.value: N_("Special price"),
    BenefitKind.TWO_FOR_ONE.value: N_("Two for one"),
    BenefitKind.VOUCHER.value: N_("Voucher"),
    BenefitKind.OTHER.value: N_("Other"),
}
PERIOD_LABELS: dict[str, str] = {
    "day": N_("per day"),
    "week": N_("per week"),
    "month": N_("per month"),
    "year": N_("per year"),
    "ever": N_("in total"),
}


def offer_line(kind: str, value: int | None) -> str:
    """The offer in a few words in the current language: "20 % off", "5,00 € off", "Free entry"."""
    if kind == BenefitKind.PERCENT_OFF.value and value is not None:
        return i18n.gettext(N_("%(percent)s off"), percent=i18n.format_percent(value))
    if kind == BenefitKind.AMOUNT_OFF.value and value is not None:
        return i18n.gettext(N_("%(amount)s off"), amount=i18n.format_currency(value))
    if kind == BenefitKind.SPECIAL_PRICE.value and value is not None:
        return i18n.gettext(N_("Special price %(amount)s"), amount=i18n.format_currency(value))
    return i18n.gettext(KIND_LABELS.get(kind, N_("Other")))


def who_line(min_children: int, age_min: int | None, age_max: int | None, requires_entitlement: bool) -> list[str]:
    """Who may use it, in sentences of the current language (never naming the tier: only that one is needed)."""
    lines = []
    if min_children > 1:
        lines.append(i18n.ngettext("With at least %(num)s child", "With at least %(num)s children", min_children))
    if age_min is not None and age_max is not None:
        lines.append(i18n.gettext(N_("For children aged %(min)s to %(max)s"), min=age_min, max=age_max))
    elif age_min is not None:
        lines.append(i18n.gettext(N_("For children from %(min)s years"), min=age_min))
    elif age_max is not None:
        lines.append(i18n.gettext(N_("For children up to %(max)s years"), max=age_max))
    if requires_entitlement:
        lines.append(i18n.gettext(N_("Only with the city's additional entitlement on the card")))
    return lines


def when_line(weekdays: int, valid_from: dt.date | None, valid_until: dt.date | None) -> list[str]:
    lines = []
    if weekdays != ALL_WEEKDAYS:
        names = [i18n.gettext(list(WEEKDAYS.values())[day]) for day in weekdays_of(weekdays)]
        lines.append(i18n.gettext(N_("On %(days)s"), days=", ".join(names)))
    if valid_from and valid_until:
        lines.append(
            i18n.gettext(
                N_("From %(start)s to %(end)s"), start=i18n.format_date(valid_from), end=i18n.format_date(valid_until)
            )
        )
    elif valid_from:
        lines.append(i18n.gettext(N_("From %(start)s"), start=i18n.format_date(valid_from)))
    elif valid_until:
        lines.append(i18n.gettext(N_("Until %(end)s"), end=i18n.format_date(valid_until)))
    return lines


@dataclass(frozen=True)
class LocationLine:
    id: uuid.UUID
    name: str
    address: str
    district: str | None


@dataclass(frozen=True)
class BenefitCard:
    """Everything the benefit card template (``benefits/_card.html``) prints, already in the reader's language."""

    id: uuid.UUID | None
    partner_id: uuid.UUID
    partner_name: str
    title: LocalText
    description: LocalText
    conditions: LocalText
    category: str
    category_label: str
    kind: str
    offer: str
    who: tuple[str, ...]
    when: tuple[str, ...]
    limit: str | None
    locations: tuple[LocationLine, ...]


def benefit_card(
    *,
    benefit_id: uuid.UUID | None,
    partner_id: uuid.UUID,
    partner_name: str,
    fields: Mapping[str, Any],
    locations: Sequence[LocationLine],
    locale: str,
) -> BenefitCard:
    """The card of a benefit from its fields (a ``Benefit``'s columns, or a draft's pending values by name), in
    ``locale``, which must be the current gettext language as well."""
    limit = None
    if fields.get("limit_count") and fields.get("limit_period"):
        limit = i18n.ngettext(
            "Per card: %(num)s time %(period)s",
            "Per card: %(num)s times %(period)s",
            int(fields["limit_count"]),
            period=i18n.gettext(PERIOD_LABELS.get(fields["limit_period"], "")),
        )
    category = str(fields.get("category") or "other")
    return BenefitCard(
        id=benefit_id,
        partner_id=partner_id,
        partner_name=partner_name,
        title=localized(fields.get("title") or {}, locale),
        description=localized(fields.get("description") or {}, locale),
        conditions=localized(fields.get("conditions") or {}, locale),
        category=category,
        category_label=i18n.gettext(CATEGORIES.get(category, N_("Other"))),
        kind=str(fields.get("kind") or BenefitKind.OTHER.value),
        offer=offer_line(str(fields.get("kind") or ""), fields.get("value")),
        who=tuple(
            who_line(
                int(fields.get("min_children") or 0),
                fields.get("child_age_min"),
                fields.get("child_age_max"),
                bool(fields.get("requires_entitlement")),
            )
        ),
        when=tuple(
            when_line(int(fields.get("weekdays") or ALL_WEEKDAYS), fields.get("valid_from"), fields.get("valid_until"))
        ),
        limit=limit,
        locations=tuple(locations),
    )
