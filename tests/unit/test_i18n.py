"""Languages: complete catalogues, no text that escapes translation, the reader's language from the browser.

A German reader must never meet an English sentence: every text in the code and the templates goes through
gettext, and the German catalogue translates every one of them. After adding or changing a text, run
``make messages`` and translate the new entries in ``familienkarte/locale/de/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from familienkarte import i18n
from familienkarte.i18n import gettext, negotiate, use_locale

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "familienkarte" / "locale"
TEMPLATE_DIRS = (ROOT / "familienkarte" / "templates", ROOT / "partner_portal" / "templates")
# Catalogues that must translate every message. The English msgids are the English text.
COMPLETE_LOCALES = ("de",)
SKIPPED_DIRS = {"node_modules", "var", "tests", "__pycache__"}
HOW_TO_FIX = "run `make messages` and translate the new entries in familienkarte/locale/de/LC_MESSAGES/messages.po"
HOW_TO_TRANSLATE = (
    "run `make messages`, then `python -m scripts.translations export {locale} --family --with-german > todo.json`,"
    " translate the entries of todo.json and run `python -m scripts.translations import {locale} todo.json`"
)


def catalogue(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def _key(message: str | Sequence[str]) -> str:
    return message if isinstance(message, str) else message[0]


def _is_translated(string: str | Sequence[str] | None) -> bool:
    """Translated, including every plural form."""
    return i18n.is_translated(string)


_WORD = re.compile(r"[^\W\d_]{2,}")


def _has_letters(text: str) -> bool:
    """A word in it: two letters or more. A lone letter-like sign such as ℹ is an icon, not text."""
    return _WORD.search(text) is not None


# -- catalogues ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_every_offered_language_has_a_catalogue(locale: str) -> None:
    assert (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").is_file(), locale


@pytest.mark.parametrize("locale", COMPLETE_LOCALES)
def test_required_catalogue_has_no_untranslated_message(locale: str) -> None:
    untranslated = [_key(m.id) for m in catalogue(locale) if m.id and not _is_translated(m.string)]
    assert untranslated == [], f"{len(untranslated)} untranslated in {locale}: {untranslated}; {HOW_TO_FIX}"


@pytest.mark.parametrize("locale", i18n.FAMILY_REQUIRED_LOCALES)
def test_family_language_translates_every_family_facing_message(locale: str) -> None:
    # A family reading Arabic must not meet an English sentence on its pages or in its e-mails.
    family = [m for m in catalogue(locale) if m.id and i18n.is_family_facing(m.locations)]
    assert len(family) > 100, "the family-facing set (i18n.FAMILY_SOURCES) matches almost nothing"
    missing = [_key(m.id) for m in family if m.fuzzy or not _is_translated(m.string)]
    assert missing == [], (
        f"{len(missing)} family-facing messages untranslated or fuzzy in {locale}: {missing}; "
        + HOW_TO_TRANSLATE.format(locale=locale)
    )


def test_family_facing_means_a_source_location_in_a_family_file() -> None:
    assert i18n.is_family_facing([("familienkarte/templates/cards/apply.html", 12)])
    assert i18n.is_family_facing([("familienkarte/templates/staff/home.html", 3), ("familienkarte/errors.py", 40)])
    assert i18n.is_family_facing([("familienkarte/templates/accounts/family_login.html", 1)])
    # Families land on the sign-in page too (it sends them to their e-mailed link); the second factor is staff's.
    assert i18n.is_family_facing([("familienkarte/templates/accounts/login.html", 1)])
    assert i18n.is_family_facing([("familienkarte/templates/accounts/password_forgot.html", 1)])
    assert not i18n.is_family_facing([("familienkarte/templates/accounts/login_totp.html", 1)])
    assert not i18n.is_family_facing([("partner_portal/templates/partner/start.html", 1)])
    assert not i18n.is_family_facing([("familienkarte/templates/mail/partner_report.html", 1)])
    assert not i18n.is_family_facing([])
    # Every pattern still names a file: a renamed template must not silently leave the family-facing set.
    for pattern in i18n.FAMILY_SOURCES:
        assert list(ROOT.glob(pattern.replace("/*", "/**/*") if pattern.endswith("/*") else pattern)), pattern


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_untranslated_plural_forms_fall_back_instead_of_showing_nothing(locale: str) -> None:
    # Babel would compile an untranslated plural as empty forms; the reader gets the fallback or the English text.
    for message in catalogue(locale):
        if message.id and not isinstance(message.id, str) and not _is_translated(message.string):
            singular, plural = message.id[0], message.id[1]
            for n in (1, 2, 5):
                assert i18n.translations(locale).ngettext(singular, plural, n).strip(), (locale, singular, n)


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_no_catalogue_has_a_fuzzy_message(locale: str) -> None:
    # A fuzzy entry is a guess by the merge tool; it is never shown, so the reader would get English.
    fuzzy = [_key(m.id) for m in catalogue(locale) if m.id and m.fuzzy]
    assert fuzzy == [], f"fuzzy in {locale} (check the translation, then remove the fuzzy flag): {fuzzy}"


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_translations_keep_their_placeholders(locale: str) -> None:
    # A translation that drops or renames %(minutes)s would break the page that shows it.
    problems = [(_key(m.id), [str(e) for e in errors]) for m, errors in catalogue(locale).check()]
    assert problems == []


def extracted_messages() -> Iterator[tuple[str, int, str | tuple[str, ...], str | None]]:
    """Every translatable text in the code and the templates, found with the same rules as `make messages`."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)  # type: ignore[no-untyped-call]

    def wanted(path: str) -> bool:
        name = os.path.basename(path)
        return not name.startswith(".") and name not in SKIPPED_DIRS

    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, directory_filter=wanted
    ):
        yield filename, lineno, message, context


def test_extraction_finds_texts_in_code_and_templates() -> None:
    # Guards the check below against a babel.cfg that silently matches nothing.
    files = {filename for filename, _line, _message, _context in extracted_messages()}
    assert any(name.endswith(".py") for name in files)
    assert any(name.endswith(".html") for name in files)


def test_every_text_in_code_and_templates_is_translated_to_german() -> None:
    german = catalogue("de")
    missing = []
    for filename, lineno, message, context in extracted_messages():
        entry = german.get(_key(message), context=context)
        if entry is None or not _is_translated(entry.string) or entry.fuzzy:
            missing.append(f"{filename}:{lineno}: {_key(message)!r}")
    assert missing == [], f"texts without a German translation ({HOW_TO_FIX}):\n" + "\n".join(missing)


def test_german_is_the_default_and_english_falls_back_to_the_source_text() -> None:
    assert i18n.DEFAULT_LOCALE == "de"
    with use_locale("de"):
        assert gettext("Sign in") == "Anmelden"
        assert gettext("Too many attempts. Please wait %(minutes)s minutes and try again.", minutes=3) == (
            "Zu viele Versuche. Bitte warten Sie 3 Minuten und versuchen Sie es dann noch einmal."
        )
    with use_locale("en"):
        assert gettext("Sign in") == "Sign in"


# -- Python: messages for people are marked for translation -------------------------------------------------

PYTHON_PACKAGES = ("familienkarte", "partner_portal", "workers")
# Calls whose argument at this position (or keyword "message") is a message shown to people.
MESSAGE_ARGUMENT = {"FieldError": 1, "one": 1}


def _is_text(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and _has_letters(node.value)


def _message_candidates(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        position = MESSAGE_ARGUMENT.get(name)
        given = [node.args[position]] if position is not None and len(node.args) > position else []
        return given + [kw.value for kw in node.keywords if kw.arg == "message"]
    if isinstance(node, ast.ClassDef):
        # class SomethingWrong(DomainError): message = "..."
        return [
            statement.value
            for statement in node.body
            if isinstance(statement, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == "message" for target in statement.targets)
        ]
    if isinstance(node, ast.Assign):
        # session["flash"] = "..."
        flash = [
            target
            for target in node.targets
            if isinstance(target, ast.Subscript)
            and isinstance(target.slice, ast.Constant)
            and target.slice.value == "flash"
        ]
        return [node.value] if flash else []
    return []


def unmarked_messages(source: str) -> list[str]:
    """Plain strings where a message id belongs: they would reach the reader in English whatever the language.

    Marked means wrapped in N_() (translated where it is shown) or _() / gettext().
    """
    found = [
        candidate
        for node in ast.walk(ast.parse(source))
        for candidate in _message_candidates(node)
        if isinstance(candidate, ast.Constant) and _is_text(candidate)
    ]
    return [f"line {c.lineno}: {c.value!r}" for c in sorted(found, key=lambda c: (c.lineno, c.col_offset))]


def python_files() -> list[Path]:
    return [path for package in PYTHON_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def test_the_python_check_finds_unmarked_messages() -> None:
    source = """
class Expired(DomainError):
    message = "This has expired."
class Fine(DomainError):
    message = N_("This is marked.")
errors.append(FieldError("email", "Please enter an address."))
errors.append(FieldError("email", N_("Please enter an address.")))
raise InvalidInput.one("code", "Wrong code.")
raise NotFound(message="Gone.")
session["flash"] = "Saved."
session["flash"] = N_("Saved.")
row = result.one()
"""
    assert unmarked_messages(source) == [
        "line 3: 'This has expired.'",
        "line 6: 'Please enter an address.'",
        "line 8: 'Wrong code.'",
        "line 9: 'Gone.'",
        "line 10: 'Saved.'",
    ]


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_messages_for_people_are_marked_for_translation(path: Path) -> None:
    problems = unmarked_messages(path.read_text(encoding="utf-8"))
    assert problems == [], f"{path.relative_to(ROOT)}: wrap these in N_('...'):\n" + "\n".join(problems)


# -- templates: no visible text outside gettext ---------------------------------------------------------------

# Attributes whose values people read or hear (screen readers, tooltips, empty inputs).
READ_ATTRIBUTES = {"alt", "title", "aria-label", "aria-description", "aria-roledescription", "placeholder", "label"}
BUTTON_INPUT_TYPES = {"submit", "button", "reset"}
# Elements whose content is no prose: scripts and styles, and machine text such as an API key's prefix.
NOT_PROSE = {"script", "style", "template", "code", "kbd", "samp"}
# Arguments of the templates' own macros that are shown to people, e.g. field(name, label, ...).
READ_MACRO_ARGUMENTS = {"label", "hint", "title", "legend", "caption", "heading", "summary", "error_summary", "text"}


def templates() -> list[Path]:
    found = [path for folder in TEMPLATE_DIRS if folder.is_dir() for path in sorted(folder.rglob("*.html"))]
    assert found, "no templates found"
    return found


def _lexer() -> Environment:
    # No trimming: every newline stays, so the line numbers reported match the file.
    return Environment(extensions=["jinja2.ext.i18n"], autoescape=True)


def without_jinja(source: str) -> str:
    """The HTML a template writes around its Jinja code, with every tag, expression, comment and {% trans %}
    block blanked out (newlines kept). Text that remains is written as it stands, in every language."""
    out: list[str] = []
    in_trans = False
    in_block_tag = False
    block_name: str | None = None
    for _lineno, kind, value in _lexer().lex(source):
        if kind == "block_begin":
            in_block_tag, block_name = True, None
        elif in_block_tag and kind == "name" and block_name is None:
            block_name = value
            if value == "trans":
                in_trans = True
            elif value == "endtrans":
                in_trans = False
        elif kind == "block_end":
            in_block_tag = False
        if kind == "data" and not in_trans and not in_block_tag:
            out.append(value)
        else:
            out.append("\n" * value.count("\n"))
    return "".join(out)


class _TextFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check_attributes(tag, attrs)
        if tag in NOT_PROSE:
            self._skip_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check_attributes(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in NOT_PROSE and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip_depth and _has_letters(data):
            leading = len(data) - len(data.lstrip())
            self.found.append((self.getpos()[0] + data[:leading].count("\n"), " ".join(data.split())))

    def _check_attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        read = set(READ_ATTRIBUTES)
        if tag == "input" and (values.get("type") or "").lower() in BUTTON_INPUT_TYPES:
            read.add("value")
        for name, value in attrs:
            if name in read and value and _has_letters(value):
                self.found.append((self.getpos()[0], f'{tag} {name}="{value}"'))


def visible_text_outside_gettext(source: str) -> list[tuple[int, str]]:
    finder = _TextFinder()
    finder.feed(without_jinja(source))
    finder.close()
    return finder.found


def _macro_arguments(env: Environment) -> dict[str, list[str]]:
    """Macro name -> parameter names, over every template (macros are called across files)."""
    macros: dict[str, list[str]] = {}
    for path in templates():
        for macro in env.parse(path.read_text(encoding="utf-8")).find_all(nodes.Macro):
            macros[macro.name] = [arg.name for arg in macro.args]
    return macros


def literal_texts_given_to_macros(source: str, env: Environment, macros: dict[str, list[str]]) -> list[str]:
    """Plain strings passed as a shown argument, e.g. field("email", "E-mail address"): written untranslated."""
    found = []
    for call in env.parse(source).find_all(nodes.Call):
        target = call.node
        name = target.name if isinstance(target, nodes.Name) else getattr(target, "attr", None)
        if name not in macros:
            continue
        given: list[tuple[str | None, Any]] = [
            (macros[name][i] if i < len(macros[name]) else None, arg) for i, arg in enumerate(call.args)
        ]
        given += [(kwarg.key, kwarg.value) for kwarg in call.kwargs]
        for parameter, value in given:
            shown = parameter in READ_MACRO_ARGUMENTS and isinstance(value, nodes.Const)
            if shown and isinstance(value.value, str) and _has_letters(value.value):
                found.append(f"line {call.lineno}: {name}({parameter}={value.value!r})")
    return found


def test_the_template_check_finds_untranslated_text() -> None:
    # The checks below are only worth something if they can fail.
    source = """{% extends "base.html" %}{# a comment with words #}
<h1>{{ _("Welcome") }}</h1>
<p title="{{ _('Hint') }}">{% trans %}Fine {{ name }}{% endtrans %} ⚠ {{ count }} · 3 €</p>
<script>const words = "not shown";</script><code>fk_{{ prefix }}_…</code> <span aria-hidden="true">ℹ</span>
<p>
  Hello {{ name }}</p>
<img src="/x.png" alt="A child">
<input type="submit" value="Send">
<input type="text" value="{{ value }}" name="email">
{% if x %}<span aria-label="Close">✖</span>{% endif %}
"""
    assert visible_text_outside_gettext(source) == [
        (6, "Hello"),
        (7, 'img alt="A child"'),
        (8, 'input value="Send"'),
        (10, 'span aria-label="Close"'),
    ]
    env = _lexer()
    macros = {"field": ["name", "label", "form", "errors", "hint"]}
    call = '{{ field("email", "E-mail address", form, errors) }}{{ field("x", _("X"), hint="Shown") }}'
    assert literal_texts_given_to_macros(call, env, macros) == [
        "line 1: field(label='E-mail address')",
        "line 1: field(hint='Shown')",
    ]


@pytest.mark.parametrize("path", templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_template_has_no_text_outside_gettext(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    env = _lexer()
    problems = [f"line {line}: {text}" for line, text in visible_text_outside_gettext(source)]
    problems += literal_texts_given_to_macros(source, env, _macro_arguments(env))
    assert problems == [], f"{path.relative_to(ROOT)}: wrap these in {{{{ _('...') }}}}:\n" + "\n".join(problems)


# -- the reader's language -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "de"),
        ("", "de"),
        ("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"),
        ("en-GB,en;q=0.9", "en"),
        ("EN-us", "en"),
        ("de-AT", "de"),
        # The first supported language in the visitor's order wins over an unsupported favourite.
        ("fr-FR,fr;q=0.9,en;q=0.7,de;q=0.5", "en"),
        ("ja", "de"),
        # Weights count, not the order written.
        ("en;q=0.5, de;q=0.9", "de"),
        ("de;q=0.1, en", "en"),
        # A language the visitor refuses (q=0) or a broken weight is not chosen.
        ("en;q=0", "de"),
        ("en;q=abc", "de"),
        ("*", "de"),
        ("  , ;q=1", "de"),
    ],
)
def test_negotiate_picks_the_visitors_language(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_negotiate_uses_the_configured_default_when_nothing_matches() -> None:
    assert negotiate("fr, ja", default="en") == "en"
    assert negotiate(None, default="en") == "en"


def test_negotiate_finds_the_new_languages_and_never_guesses_leichte_sprache() -> None:
    assert negotiate("tr-TR,tr;q=0.9,de;q=0.5") == "tr"
    assert negotiate("ar-SY") == "ar"
    assert negotiate("uk-UA, ru;q=0.8") == "uk"
    assert negotiate("pl") == "pl"
    # Leichte Sprache has no language tag of its own: only an explicit choice selects it.
    assert negotiate("ls") == "de"
    # A page offering fewer languages gets the visitor's best among those.
    assert negotiate("tr, en;q=0.5", offered=i18n.WORK_LOCALES) == "en"
    assert negotiate("ar", offered=i18n.WORK_LOCALES) == "de"


def test_every_language_is_named_in_itself() -> None:
    assert set(i18n.LOCALE_NAMES) == set(i18n.SUPPORTED_LOCALES)
    assert i18n.LOCALE_NAMES["tr"] == "Türkçe"
    assert i18n.LOCALE_NAMES["ar"] == "العربية"
    assert i18n.LOCALE_NAMES["ls"] == "Leichte Sprache"
    assert set(i18n.WORK_LOCALES) <= set(i18n.SUPPORTED_LOCALES)
    assert set(i18n.FAMILY_REQUIRED_LOCALES) <= set(i18n.SUPPORTED_LOCALES)


def test_leichte_sprache_is_german_with_its_own_texts_first() -> None:
    assert i18n.language_tag("ls") == "de"
    assert i18n.language_tag("ar") == "ar"
    assert i18n.text_direction("ls") == "ltr"
    # Texts not rewritten in easy language come from the German catalogue, never in English.
    with use_locale("ls"):
        assert gettext("Sign in") == "Anmelden"
        assert i18n.current_locale() == "ls"
        assert i18n.format_currency(500) == "5,00\xa0€"
    easy = [m for m in catalogue("ls") if m.id and _is_translated(m.string) and not m.fuzzy]
    with use_locale("ls"):
        for message in easy[:20]:
            if isinstance(message.id, str):
                assert gettext(message.id) == message.string


def test_formats_follow_the_readers_language() -> None:
    import datetime as dt

    day = dt.date(2026, 3, 9)
    with use_locale("de"):
        assert i18n.format_date(day) == "09.03.2026"
    with use_locale("pl"):
        assert i18n.format_currency(1250) == "12,50\xa0€"
    with use_locale("tr"):
        assert "Mar" in i18n.format_date(day)
    with use_locale("uk"):
        assert "2026" in i18n.format_date(day)
        assert i18n.format_date(day) != i18n.format_date(day, "short")


@pytest.mark.parametrize(
    ("path", "offered"),
    [
        ("/", i18n.SUPPORTED_LOCALES),
        ("/card", i18n.SUPPORTED_LOCALES),
        ("/partners/3", i18n.SUPPORTED_LOCALES),
        ("/staffing", i18n.SUPPORTED_LOCALES),
        ("/partner", i18n.WORK_LOCALES),
        ("/partner/benefits/new", i18n.WORK_LOCALES),
        ("/staff/", i18n.WORK_LOCALES),
        ("/staff/applications/1", i18n.WORK_LOCALES),
    ],
)
def test_work_areas_offer_german_and_english_only(path: str, offered: tuple[str, ...]) -> None:
    from familienkarte.web.context import locales_offered_at

    assert locales_offered_at(path) == offered


@pytest.mark.parametrize(
    ("path", "query", "headers", "expected"),
    [
        ("/", b"lang=ar", [], "ar"),
        ("/", b"", [(b"cookie", b"fk_lang=uk")], "uk"),
        ("/", b"", [(b"accept-language", b"tr-TR,tr")], "tr"),
        ("/", b"lang=ls", [(b"accept-language", b"tr-TR,tr")], "ls"),
        # The work areas: a family language is read in German, English stays English.
        ("/staff/", b"lang=ar", [], "de"),
        ("/partner/", b"", [(b"cookie", b"fk_lang=ar")], "de"),
        ("/partner/", b"", [(b"cookie", b"fk_lang=ls")], "de"),
        ("/partner/", b"", [(b"cookie", b"fk_lang=en")], "en"),
        ("/staff/", b"", [(b"accept-language", b"ru, en;q=0.5")], "en"),
        ("/staff/", b"lang=en", [(b"cookie", b"fk_lang=ar")], "en"),
    ],
)
def test_the_page_chooses_among_the_languages_it_offers(
    path: str, query: bytes, headers: list[tuple[bytes, bytes]], expected: str
) -> None:
    from familienkarte.web.context import choose_locale, locales_offered_at

    scope: Any = {"type": "http", "path": path, "query_string": query, "headers": headers}
    assert choose_locale(scope, "de", locales_offered_at(path)) == expected


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_whole_numbers_are_written_as_babel_writes_them(locale: str) -> None:
    from babel import Locale
    from babel.numbers import format_decimal

    language = Locale.parse(i18n.base_locale(locale))
    values = [0, 5, -5, 999, 1000, -1000, 10_000, 123_456, 1_000_000, -98_765_432, 2**40, *range(-2000, 2000, 37)]
    with use_locale(locale):
        assert [i18n.format_number(v) for v in values] == [str(format_decimal(v, locale=language)) for v in values]


def test_a_locale_that_groups_otherwise_is_written_by_babel(monkeypatch: pytest.MonkeyPatch) -> None:
    # Indian grouping (12,34,567) is not every three digits: the quick way must not be taken.
    monkeypatch.setitem(i18n._BASE_LOCALE, "de", "hi")
    i18n._integer_writing.cache_clear()
    try:
        with use_locale("de"):
            assert i18n._integer_writing("de") is None
            assert i18n.format_number(1234567) == "12,34,567"
    finally:
        i18n._integer_writing.cache_clear()
        i18n._formatted.cache_clear()
