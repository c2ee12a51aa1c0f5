"""The benefit cards pages draw through ``CardDrawer``: the macro's own HTML, kept per language and card, and a
changed card, another language or an edited template is drawn anew, never taken from what was kept."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from jinja2 import DictLoader, Environment

from familienkarte.benefits.rules import LocalText
from familienkarte.benefits.views import BenefitCard, LocationLine
from familienkarte.i18n import use_locale
from familienkarte.web import templating
from familienkarte.web.templating import CARD_TEMPLATE, CardDrawer, make_environment

CARD = BenefitCard(
    id=uuid.UUID(int=7),
    partner_id=uuid.UUID(int=8),
    partner_name="Zoo <Köln>",
    title=LocalText("Freier Eintritt", "de", fallback=True),
    description=LocalText("", "de", fallback=False),
    conditions=LocalText("Nur mit Ausweis & Karte", "de", fallback=False),
    category="culture",
    category_label="Kultur",
    kind="free_entry",
    offer="Freier Eintritt",
    who=("Für Kinder von 3 bis 12 Jahren",),
    when=("Montag bis Freitag",),
    limit=None,
    locations=(LocationLine(uuid.UUID(int=9), "Haupteingang", "Riehler Str. 173", "Nippes"),),
)


def drawer_of(env: Environment) -> CardDrawer:
    drawer = env.globals["benefit_card"]
    assert isinstance(drawer, CardDrawer)
    return drawer


def macro_html(env: Environment, card: BenefitCard) -> str:
    """What the macro itself draws, without the drawer."""
    return str(env.get_template(CARD_TEMPLATE).module.benefit_card(card))  # type: ignore[attr-defined]


@pytest.mark.parametrize("locale", ["de", "en", "ar"])
def test_a_card_is_the_macros_own_html_first_and_when_kept(locale: str) -> None:
    env = make_environment()
    drawer = drawer_of(env)
    with use_locale(locale):
        first, again, expected = drawer(CARD), drawer(CARD), macro_html(env, CARD)
    assert str(first) == str(again) == expected
    assert "Zoo &lt;Köln&gt;" in expected
    assert "Haupteingang" in expected


def test_another_language_draws_its_own_labels() -> None:
    env = make_environment()
    drawer = drawer_of(env)
    with use_locale("de"):
        german = str(drawer(CARD))
    with use_locale("en"):
        english = str(drawer(CARD))
    # The card's fallback note and its "Conditions" label are the reader's language, not the first one drawn.
    assert "Bedingungen" in german
    assert "Conditions" in english
    assert "in German" in english
    assert "in German" not in german


def test_a_changed_card_is_drawn_anew() -> None:
    env = make_environment()
    drawer = drawer_of(env)
    changed = dataclasses.replace(
        CARD,
        partner_name="Aquarium",
        locations=(*CARD.locations, LocationLine(uuid.UUID(int=10), "Nebeneingang", "Am Zoo 1", None)),
    )
    with use_locale("de"):
        drawer(CARD)
        html = str(drawer(changed))
    assert "Aquarium" in html
    assert "Nebeneingang" in html
    assert "Zoo &lt;Köln&gt;" not in html


def test_an_edited_template_is_drawn_anew() -> None:
    sources = {CARD_TEMPLATE: "{% macro benefit_card(b) %}one {{ b.partner_name }}{% endmacro %}"}
    loader = DictLoader(sources)
    env = make_environment(reload=True)
    env.loader = loader
    drawer = CardDrawer(env)
    with use_locale("de"):
        assert str(drawer(CARD)) == "one Zoo &lt;Köln&gt;"
        sources[CARD_TEMPLATE] = "{% macro benefit_card(b) %}two {{ b.partner_name }}{% endmacro %}"
        assert str(drawer(CARD)) == "two Zoo &lt;Köln&gt;"


def test_the_kept_cards_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "CARDS_KEPT", 3)
    env = make_environment()
    drawer = CardDrawer(env)
    with use_locale("de"):
        for number in range(10):
            card = dataclasses.replace(CARD, id=uuid.UUID(int=100 + number))
            assert f"benefit-{card.id}" in str(drawer(card))
            assert len(drawer._kept) <= 3
