"""Languages: gettext catalogues (Babel), the reader's locale per request, formatting.

The catalogues are the ``.po`` files under ``familienkarte/locale``; they are compiled in memory at start-up,
so there is no build step and no compiled file in the repository. The current locale lives in a context
variable set by the locale middleware (web) or by the caller (workers, e-mail).
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "de"
# Every locale a reader can choose. German is the source of truth for people; the message ids are English.
SUPPORTED_LOCALES: tuple[str, ...] = ("de", "en")
RTL_LOCALES = frozenset({"ar", "fa", "he"})
LOCALE_NAMES = {"de": "Deutsch", "en": "English"}

_current: ContextVar[str] = ContextVar("fk_locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


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


def text_direction(locale: str | None = None) -> str:
    return "rtl" if (locale or current_locale()) in RTL_LOCALES else "ltr"


def negotiate(accept_language: str | None, default: str = DEFAULT_LOCALE) -> str:
    """The best supported locale for an Accept-Language header."""
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
            if candidate in SUPPORTED_LOCALES:
                return candidate
    return default


def format_datetime(value: Any, fmt: str = "medium") -> str:
    from babel.dates import format_datetime as babel_format

    return str(babel_format(value, format=fmt, locale=Locale.parse(current_locale())))


def format_date(value: Any, fmt: str = "medium") -> str:
    from babel.dates import format_date as babel_format

    return str(babel_format(value, format=fmt, locale=Locale.parse(current_locale())))


def format_currency(cents: int, currency: str = "EUR") -> str:
    """An amount in cents as the reader's locale writes money: 5,00 € in German, €5.00 in English."""
    from babel.numbers import format_currency as babel_format

    return str(babel_format(cents / 100, currency, locale=Locale.parse(current_locale())))


def format_percent(value: int) -> str:
    """A whole percentage as the reader's locale writes it: 20 % in German, 20% in English."""
    from babel.numbers import format_percent as babel_format

    return str(babel_format(value / 100, locale=Locale.parse(current_locale())))
