"""Languages: gettext catalogues (Babel), the reader's locale per request, formatting.

The catalogues are the ``.po`` files under ``familienkarte/locale``; they are compiled in memory at start-up,
so there is no build step and no compiled file in the repository. The current locale lives in a context
variable set by the locale middleware (web) or by the caller (workers, e-mail).
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from fnmatch import fnmatchcase
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

if TYPE_CHECKING:
    from familienkarte.errors import FieldError

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "de"
# Leichte Sprache (easy-to-read German): its own catalogue holds only the texts rewritten in easy language; every
# other text comes from the German catalogue, and dates and numbers are written as in German.
EASY_LOCALE = "ls"
# Every locale a reader can choose, in the order the language switcher lists them. German is the source of truth
# for people; the message ids are English.
SUPPORTED_LOCALES: tuple[str, ...] = ("de", EASY_LOCALE, "en", "tr", "ar", "uk", "ru", "pl")
# The languages partners and staff may write their own texts in (benefits, descriptions): every language a reader
# can choose except Leichte Sprache, whose readers get the German text.
CONTENT_LOCALES: tuple[str, ...] = tuple(code for code in SUPPORTED_LOCALES if code != EASY_LOCALE)
# The partner portal and the staff area are offered in these only; a reader of another language reads them in
# German (the area is decided in familienkarte.web.context.locales_offered_at).
WORK_LOCALES: tuple[str, ...] = ("de", "en")
# Catalogues that must translate every family-facing message (German translates every message; English is the
# text of the message ids).
FAMILY_REQUIRED_LOCALES: tuple[str, ...] = ("tr", "ar", "uk", "ru", "pl")
RTL_LOCALES = frozenset({"ar", "fa", "he"})
# Each language in its own name.
LOCALE_NAMES = {
    "de": "Deutsch",
    EASY_LOCALE: "Leichte Sprache",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "uk": "Українська",
    "ru": "Русский",
    "pl": "Polski",
}
# Locales that are a way of writing another one: its language tag (HTML lang, hreflang), its catalogue fallback
# and its formats of dates and numbers.
_BASE_LOCALE = {EASY_LOCALE: DEFAULT_LOCALE}

# The source files whose texts families read (web pages and e-mails), as glob patterns relative to the
# repository (``*`` also matches ``/``). A message is family-facing when one of its source locations matches;
# the catalogues of FAMILY_REQUIRED_LOCALES must translate all of these. Used by tests/unit/test_i18n.py and
# scripts/translations.py.
FAMILY_SOURCES: tuple[str, ...] = (
    "familienkarte/templates/base.html",
    "familienkarte/templates/_forms.html",
    "familienkarte/templates/error.html",
    "familienkarte/templates/home.html",
    "familienkarte/templates/help/*",
    "familienkarte/templates/accessibility.html",
    # Families sign in with an e-mailed link, but land on the sign-in page too (a link to a page that needs it, an
    # ended session), and may follow its "Forgot your password?".
    "familienkarte/templates/accounts/login.html",
    "familienkarte/templates/accounts/password_forgot*.html",
    "familienkarte/templates/accounts/family_*.html",
    "familienkarte/templates/accounts/account.html",
    "familienkarte/templates/cards/*",
    "familienkarte/templates/catalogue/*",
    "familienkarte/templates/family_data/*",
    "familienkarte/templates/benefits/*",
    "familienkarte/templates/mail/layout.html",
    "familienkarte/templates/mail/message.html",
    "familienkarte/cards/*.py",
    "familienkarte/catalogue/*.py",
    "familienkarte/credentials/errors.py",
    "familienkarte/errors.py",
    "familienkarte/web/*.py",
    "familienkarte/partners/vocabulary.py",
    "familienkarte/benefits/views.py",
    "familienkarte/accounts/services.py",
    "familienkarte/accounts/web.py",
    "familienkarte/staff/applications.py",
)

_current: ContextVar[str] = ContextVar("fk_locale", default=DEFAULT_LOCALE)


def is_family_facing(locations: Iterable[tuple[str, int | None]]) -> bool:
    """Whether a message with these source locations (as in a catalogue: path, line) is read by families."""
    return any(fnmatchcase(path.replace("\\", "/"), pattern) for path, _line in locations for pattern in FAMILY_SOURCES)


def is_translated(string: str | Sequence[str] | None) -> bool:
    """A catalogue entry's translation is there, every plural form included."""
    if string is None or isinstance(string, str):
        return bool(string)
    return all(string)


def base_locale(locale: str) -> str:
    """The language a locale is written in: German for Leichte Sprache, else the locale itself."""
    return _BASE_LOCALE.get(locale, locale)


def language_tag(locale: str | None = None) -> str:
    """The tag for HTML ``lang``, ``hreflang`` and e-mail headers (Leichte Sprache is German: ``de``)."""
    return base_locale(locale or current_locale())


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    po_path = catalogue_path(locale)
    if not po_path.exists():
        found: _gettext.NullTranslations = _gettext.NullTranslations()
    else:
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=base_locale(locale))
        # Untranslated entries (a plural one included: babel would keep its empty forms) and fuzzy ones are left
        # out, so that a lookup falls through to the fallback or the message id instead of an empty text.
        for message in list(catalog):
            if message.id and (message.fuzzy or not is_translated(message.string)):
                catalog.delete(message.id, context=message.context)
        buffer = BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        found = _gettext.GNUTranslations(buffer)
    if base_locale(locale) != locale:
        found.add_fallback(translations(base_locale(locale)))
    return found


def current_locale() -> str:
    return _current.get()


@contextmanager
def use_locale(locale: str) -> Iterator[None]:
    token = _current.set(locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        _current.reset(token)


def set_locale(locale: str) -> None:
    _current.set(locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE)


def gettext(message: str, **params: Any) -> str:
    text = translations(current_locale()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(current_locale()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext


def field_messages(errors: Iterable[FieldError]) -> dict[str, str]:
    """Each refused field's message in the reader's language, by field name (what a form shows at its fields)."""
    return {error.field: gettext(error.message, **error.params) for error in errors}


def text_direction(locale: str | None = None) -> str:
    return "rtl" if (locale or current_locale()) in RTL_LOCALES else "ltr"


def negotiate(
    accept_language: str | None, default: str = DEFAULT_LOCALE, offered: Sequence[str] = SUPPORTED_LOCALES
) -> str:
    """The best of the offered locales for an Accept-Language header."""
    if not accept_language:
        return default
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            key, _sep, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag))
    for _q, _i, tag in sorted(weighted):
        if tag == "*":
            return default
        for candidate in (tag, tag.split("-")[0]):
            if candidate in offered and candidate not in _BASE_LOCALE:
                return candidate
    return default


def _babel_locale() -> Locale:
    return Locale.parse(base_locale(current_locale()))


def format_datetime(value: Any, fmt: str = "medium") -> str:
    from babel.dates import format_datetime as babel_format

    return str(babel_format(value, format=fmt, locale=_babel_locale()))


# Dates, amounts and numbers as a locale writes them, remembered: babel takes tens of microseconds for each, and
# a page of benefit cards writes the same few values again and again. The language is part of the key.
FORMATTED_KEPT: Final = 8192


@lru_cache(maxsize=FORMATTED_KEPT)
def _formatted(kind: str, locale: str, value: Any, fmt: str) -> str:
    from babel.dates import format_date as babel_date
    from babel.numbers import format_currency as babel_currency
    from babel.numbers import format_decimal as babel_decimal
    from babel.numbers import format_percent as babel_percent

    language = Locale.parse(base_locale(locale))
    if kind == "date":
        return str(babel_date(value, format=fmt, locale=language))
    if kind == "currency":
        return str(babel_currency(value / 100, fmt, locale=language))
    if kind == "percent":
        return str(babel_percent(value / 100, locale=language))
    return str(babel_decimal(value, locale=language))


def format_date(value: Any, fmt: str = "medium") -> str:
    return _formatted("date", current_locale(), value, fmt)


def format_currency(cents: int, currency: str = "EUR") -> str:
    """An amount in cents as the reader's locale writes money: 5,00 € in German, €5.00 in English."""
    return _formatted("currency", current_locale(), cents, currency)


def format_number(value: float) -> str:
    """A number as the reader's locale writes it: 1,5 in German, 1.5 in English. A whole number is grouped by
    three digits with the locale's separator where that is exactly how babel writes it (``_integer_writing``),
    without babel's cost per number: a statistics page writes hundreds."""
    locale = current_locale()
    if type(value) is int and (writing := _integer_writing(locale)) is not None:
        return _grouped(value, writing)
    return _formatted("number", locale, value, "")


def format_percent(value: int) -> str:
    """A whole percentage as the reader's locale writes it: 20 % in German, 20% in English."""
    return _formatted("percent", current_locale(), value, "")


# Whole numbers the way babel writes them, checked on these once per locale (see ``_integer_writing``).
_INTEGER_PROBES: Final = (0, 7, 42, 999, 1000, 12345, 999999, 1234567, 10**12 + 5, -1, -1000, -1234567)


@cache
def _integer_writing(locale: str) -> tuple[str, str] | None:
    """The locale's group separator and minus sign, when grouping every three digits with them writes whole numbers
    exactly as babel does (checked on ``_INTEGER_PROBES``); None otherwise (babel writes them then)."""
    from babel.numbers import format_decimal as babel_decimal

    language = Locale.parse(base_locale(locale))
    thousand, minus_one = str(babel_decimal(1000, locale=language)), str(babel_decimal(-1, locale=language))
    if len(thousand) < 5 or not minus_one.endswith("1"):
        return None
    writing = (thousand[1:-3], minus_one[:-1])
    if any(_grouped(value, writing) != str(babel_decimal(value, locale=language)) for value in _INTEGER_PROBES):
        return None
    return writing


def _grouped(value: int, writing: tuple[str, str]) -> str:
    group, minus = writing
    digits = f"{abs(value):,}".replace(",", group)
    return minus + digits if value < 0 else digits
