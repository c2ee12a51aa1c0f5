"""Leichte Sprache (easy-to-read German) for the family pages that matter most.

The four topics: what the family card is (home page), how to apply (application form and its confirmation), how
to show the card (card page) and what to do when a phone is lost (help page). Every text these pages show to a
reader of Leichte Sprache must have its easy-language entry in familienkarte/locale/ls/LC_MESSAGES/messages.po:
a text without one would fall back to the ordinary German. Texts only written for Leichte Sprache live under
familienkarte/templates/easy/, which is no family-facing source, so the other languages need not translate them.

To fill the entries: run ``make messages``, then ``python -m scripts.translations export ls --with-german``,
write the easy-language texts and import them with ``python -m scripts.translations import ls FILE.json``.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes
from jinja2.ext import GETTEXT_FUNCTIONS, extract_from_ast
from litestar import Litestar
from litestar.testing import TestClient

from familienkarte import i18n
from familienkarte.city import load_city
from familienkarte.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "familienkarte" / "templates"
EASY_TEMPLATES = TEMPLATES / "easy"

# The pages of the four topics, the templates they include and the layout around them.
TOPIC_TEMPLATES = (
    "base.html",
    "_forms.html",
    "home.html",
    "cards/apply.html",
    "cards/received.html",
    "cards/card.html",
    "help/lost_phone.html",
)
# Messages from Python that these pages show: the application form's field errors and eligibility refusals, the
# card page's errors and its note after removing a phone. A file maps to the functions and classes whose messages
# count, or to None for the whole file.
TOPIC_PYTHON: dict[str, tuple[str, ...] | None] = {
    "familienkarte/cards/services.py": ("_text", "_read_adults", "_read_children", "_read_address", "read_application"),
    "familienkarte/cards/eligibility.py": None,
    "familienkarte/cards/card_web.py": None,
    "familienkarte/errors.py": ("InvalidInput",),
    "familienkarte/cards/credentials.py": (
        "NoCard",
        "CardNotActive",
        "TooManyDevices",
        "CredentialNotFound",
        "CredentialNotActive",
    ),
}
# The marker of messages that a Python module hands to gettext later (N_) or at once (_).
PYTHON_KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}

HOW_TO_FILL = (
    "run `make messages`, then `python -m scripts.translations export ls --with-german > todo.json`, write the"
    " texts in Leichte Sprache into todo.json and run `python -m scripts.translations import ls todo.json`"
)


def catalogue(locale: str) -> Catalog:
    with i18n.catalogue_path(locale).open("rb") as fh:
        return read_po(fh, locale=i18n.base_locale(locale))


def _environment() -> Environment:
    return Environment(extensions=["jinja2.ext.i18n"], autoescape=True)


def _message_ids(message: object) -> list[str | tuple[str, ...]]:
    """A gettext call's message id: the text, or (singular, plural); a call with a non-literal text gives none."""
    if isinstance(message, str):
        return [message]
    if isinstance(message, tuple) and message and isinstance(message[0], str):
        texts = tuple(part for part in message if isinstance(part, str))
        return [texts[0] if len(texts) == 1 else texts]
    return []


def _is_easy_test(test: nodes.Node) -> bool:
    """``current_locale() == "ls"``: the condition of a block written for Leichte Sprache."""
    if not isinstance(test, nodes.Compare) or len(test.ops) != 1 or test.ops[0].op != "eq":
        return False
    call, value = test.expr, test.ops[0].expr
    return (
        isinstance(call, nodes.Call)
        and isinstance(call.node, nodes.Name)
        and call.node.name == "current_locale"
        and isinstance(value, nodes.Const)
        and value.value == i18n.EASY_LOCALE
    )


def shown_in_easy_language(source: str) -> list[str | tuple[str, ...]]:
    """The message ids a template shows to a reader of Leichte Sprache: all of them except those in the
    ``else`` branch of an ``{% if current_locale() == "ls" %}`` block."""
    tree = copy.deepcopy(_environment().parse(source))
    for branch in tree.find_all(nodes.If):
        if _is_easy_test(branch.test):
            branch.elif_, branch.else_ = [], []
    found: list[str | tuple[str, ...]] = []
    for _line, _function, message in extract_from_ast(tree, GETTEXT_FUNCTIONS):
        found.extend(_message_ids(message))
    return found


def _line_ranges(source: str, names: tuple[str, ...]) -> list[range]:
    ranges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names:
            assert node.end_lineno is not None
            ranges.append(range(node.lineno, node.end_lineno + 1))
    return ranges


def python_messages(path: str, names: tuple[str, ...] | None) -> list[str | tuple[str, ...]]:
    source = (ROOT / path).read_text(encoding="utf-8")
    ranges = None
    if names is not None:
        ranges = _line_ranges(source, names)
        assert len(ranges) == len(names), f"{path}: not all of {names} found; update TOPIC_PYTHON"
    found: list[str | tuple[str, ...]] = []
    with (ROOT / path).open("rb") as fh:
        for line, _function, message, _comments in extract_python(fh, PYTHON_KEYWORDS, [], {}):
            if ranges is not None and not any(line in lines for lines in ranges):
                continue
            found.extend(_message_ids(message))
    return found


def easy_templates() -> list[Path]:
    return sorted(EASY_TEMPLATES.glob("*.html"))


def topic_messages() -> Iterator[tuple[str, str | tuple[str, ...]]]:
    """(where, message id) for every message the four topics' pages show in Leichte Sprache."""
    for name in TOPIC_TEMPLATES:
        for message in shown_in_easy_language((TEMPLATES / name).read_text(encoding="utf-8")):
            yield f"templates/{name}", message
    for path in easy_templates():
        for message in shown_in_easy_language(path.read_text(encoding="utf-8")):
            yield f"templates/easy/{path.name}", message
    for file, names in TOPIC_PYTHON.items():
        for message in python_messages(file, names):
            yield file, message


def _key(message: str | tuple[str, ...]) -> str:
    return message if isinstance(message, str) else message[0]


# -- the catalogue -------------------------------------------------------------------------------------------


def test_the_template_reading_skips_what_only_other_languages_see() -> None:
    source = """
<h1>{{ _("Title") }}</h1>
{% if current_locale() == "ls" %}{{ _("Easy") }}{% else %}{{ _("Ordinary") }}{% endif %}
{% if current_locale() == "de" %}{{ _("German only") }}{% else %}{{ _("Others") }}{% endif %}
{% trans %}Kept{% endtrans %} {{ ngettext("%(num)s child", "%(num)s children", n) }}
"""
    assert shown_in_easy_language(source) == [
        "Title",
        "Easy",
        "German only",
        "Others",
        "Kept",
        ("%(num)s child", "%(num)s children"),
    ]


def test_the_topics_cover_the_four_pages_and_their_easy_templates() -> None:
    found = {where for where, _message in topic_messages()}
    for name in (*TOPIC_TEMPLATES, "easy/home.html", "easy/apply.html", "easy/card.html", "easy/lost_phone.html"):
        assert f"templates/{name}" in found, name
    for file in TOPIC_PYTHON:
        assert file in found, file
    # The application form's errors are among them: a mistake is explained in easy language too.
    assert "Please enter the street." in {_key(message) for _where, message in topic_messages()}


def test_every_message_of_the_four_topics_has_an_easy_language_entry() -> None:
    easy = catalogue(i18n.EASY_LOCALE)
    missing, fuzzy = [], []
    for where, message in topic_messages():
        entry = easy.get(_key(message))
        if entry is None or not i18n.is_translated(entry.string):
            missing.append(f"{where}: {_key(message)!r}")
        elif entry.fuzzy:
            fuzzy.append(f"{where}: {_key(message)!r}")
    assert missing == [], f"{len(missing)} without Leichte Sprache ({HOW_TO_FILL}):\n" + (
        "\n".join(sorted(set(missing)))
    )
    assert fuzzy == [], "fuzzy in Leichte Sprache (check, then remove the flag):\n" + "\n".join(sorted(set(fuzzy)))


def test_easy_only_templates_are_not_family_facing() -> None:
    # Their texts exist in Leichte Sprache (and German) only; the other languages never show them.
    assert easy_templates(), "no templates under familienkarte/templates/easy"
    for path in easy_templates():
        assert not i18n.is_family_facing([(str(path.relative_to(ROOT)), 1)]), path.name
    # The lost-phone help page is read in every language.
    assert i18n.is_family_facing([("familienkarte/templates/help/lost_phone.html", 1)])


# The end of a sentence; "1. Mal" (an ordinal number) is none.
_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?:\s|$)")


@pytest.mark.parametrize("path", easy_templates(), ids=lambda p: p.name)
def test_easy_texts_are_short_sentences_one_to_a_line(path: Path) -> None:
    # Rules of Leichte Sprache: one statement per sentence, each sentence on a line of its own.
    easy = catalogue(i18n.EASY_LOCALE)
    too_long = []
    for message in shown_in_easy_language(path.read_text(encoding="utf-8")):
        entry = easy.get(_key(message))
        if entry is None or not isinstance(entry.string, str) or not entry.string:
            continue
        text = entry.string
        sentences = len(_SENTENCE_END.findall(text.rstrip() + " "))
        if sentences > 1 or len(text.split()) > 15:
            too_long.append(text)
    assert too_long == [], f"{path.name}: split these into short sentences, one per message:\n" + "\n".join(too_long)


# -- the pages -----------------------------------------------------------------------------------------------


def _easy(message: str, **params: object) -> str:
    with i18n.use_locale(i18n.EASY_LOCALE):
        return i18n.gettext(message, **params)


def _german(message: str, **params: object) -> str:
    with i18n.use_locale(i18n.DEFAULT_LOCALE):
        return i18n.gettext(message, **params)


def test_home_page_in_easy_language_says_what_the_card_is(client: TestClient[Litestar], settings: Settings) -> None:
    response = client.get("/?lang=ls")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="de"' in page
    what = _easy("The family card is a card for families with children.")
    assert what != "The family card is a card for families with children."
    assert what in page
    city = load_city(settings.city)
    assert _easy("The family lives in %(city)s.", city=city.name) in page
    # The ordinary German paragraph gives way to the easy one.
    ordinary = _german(
        "Every family with children in our city gets a free family card. Show it at museums, pools, shops and"
        " clubs and get their benefits."
    )
    assert ordinary not in page
    # The language switcher offers Leichte Sprache and marks it as the current choice.
    switcher = page.split('class="languages"', 1)[1].split("</nav>", 1)[0]
    assert re.search(r'<a href="/\?lang=ls"[^>]*aria-current="true"[^>]*>Leichte Sprache</a>', switcher), switcher
    # Ordinary German readers keep their page.
    german = client.get("/?lang=de").text
    assert ordinary in german
    assert what not in german


@pytest.mark.parametrize(
    ("path", "sentence"),
    [
        ("/apply", "Apply means: you ask the city for the card."),
        ("/help/lost-phone", "You delete the card on the lost phone."),
    ],
)
def test_topic_pages_in_easy_language(client: TestClient[Litestar], path: str, sentence: str) -> None:
    page = client.get(f"{path}?lang=ls").text
    assert '<html lang="de"' in page
    assert _easy(sentence) in page
    assert _easy(sentence) != sentence
    assert _easy(sentence) not in client.get(f"{path}?lang=de").text


def test_lost_phone_help_in_every_language_names_the_contact(client: TestClient[Litestar], settings: Settings) -> None:
    city = load_city(settings.city)
    for locale in i18n.SUPPORTED_LOCALES:
        response = client.get(f"/help/lost-phone?lang={locale}")
        assert response.status_code == 200, locale
        assert f'href="mailto:{city.contact.email}"' in response.text, locale
        assert 'href="/login/family"' in response.text, locale
