"""Gettext in templates: the same output as jinja2's newstyle callables, in the reader's language, escaped alike;
and the remembered number and date formats keep languages apart."""

from __future__ import annotations

import datetime as dt

import pytest
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

from familienkarte import i18n
from familienkarte.benefits.rules import LocalText
from familienkarte.i18n import use_locale
from familienkarte.template_gettext import install_gettext
from familienkarte.web.templating import local_text

# Messages of the German catalogue: with variables, without, with markup of their own, a plural.
SOURCE = (
    '{{ _("Places") }}|'
    '{{ _("District: %(district)s", district=district) }}|'
    '{{ _("About %(partner)s", partner=partner) }}|'
    '{{ _("A text that no catalogue has, 100%% sure") }}|'
    '{{ ngettext("%(num)s benefit you may use", "%(num)s benefits you may use", count) }}|'
    '{{ ngettext("Show all %(num)s benefit in this category", "Show all %(num)s benefits in this category", 1) }}|'
    "{% trans %}Places{% endtrans %}"
)
VALUES = {"district": "<Nippes & Ehrenfeld>", "partner": 'Zoo "Köln"', "count": 3}


def environment(ours: bool) -> Environment:
    env = Environment(
        loader=DictLoader({"page.html": SOURCE}),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
    )
    if ours:
        install_gettext(env, i18n.current_locale)
    else:

        def translate(message: str) -> str:
            return i18n.translations(i18n.current_locale()).gettext(message)

        def ntranslate(singular: str, plural: str, n: int) -> str:
            return i18n.translations(i18n.current_locale()).ngettext(singular, plural, n)

        env.install_gettext_callables(translate, ntranslate, newstyle=True)  # type: ignore[attr-defined]
    return env


@pytest.mark.parametrize("locale", ["de", "en", "tr"])
def test_the_output_is_jinjas_own_in_every_language(locale: str) -> None:
    ours, jinjas = environment(True), environment(False)
    with use_locale(locale):
        # Twice: the second call finds the remembered translations.
        first = ours.get_template("page.html").render(VALUES)
        again = ours.get_template("page.html").render(VALUES)
        expected = jinjas.get_template("page.html").render(VALUES)
    assert first == again == expected


def test_variables_are_escaped_and_the_language_follows_the_reader() -> None:
    env = environment(True)
    with use_locale("de"):
        german = env.get_template("page.html").render(VALUES).split("|")
    with use_locale("en"):
        english = env.get_template("page.html").render(VALUES).split("|")
    assert german[0] == "Orte"
    assert english[0] == "Places"
    assert german[1] == "Stadtteil: &lt;Nippes &amp; Ehrenfeld&gt;"
    assert "Zoo &#34;Köln&#34;" in german[2]
    assert german[3] == english[3] == "A text that no catalogue has, 100% sure"
    assert german[4].startswith("3 ")
    assert english[4] == "3 benefits you may use"


def test_remembered_formats_keep_languages_apart() -> None:
    day = dt.date(2026, 7, 3)
    with use_locale("de"):
        german = (i18n.format_currency(500), i18n.format_percent(20), i18n.format_date(day), i18n.format_number(1.5))
    with use_locale("en"):
        english = (i18n.format_currency(500), i18n.format_percent(20), i18n.format_date(day), i18n.format_number(1.5))
    with use_locale("de"):
        assert (i18n.format_currency(500), i18n.format_date(day)) == (german[0], german[2])
    assert german == ("5,00\xa0€", "20\xa0%", "03.07.2026", "1,5")
    assert english == ("€5.00", "20%", "Jul 3, 2026", "1.5")


def test_a_partner_text_in_german_for_another_reader_says_so_and_is_escaped() -> None:
    with use_locale("en"):
        shown = local_text(LocalText("<Eintritt> frei", "de", True))
        own = local_text(LocalText("<Free> entry", "en", False))
    assert shown == '<span lang="de">&lt;Eintritt&gt; frei</span> <span class="fallback-note">(in German)</span>'
    assert own == "&lt;Free&gt; entry"
