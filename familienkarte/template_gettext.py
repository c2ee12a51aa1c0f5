"""Gettext in Jinja templates: what ``jinja2.ext.i18n``'s "newstyle" callables do, at a fraction of their cost.

Templates call ``_("...", name=value)`` once or twice per benefit card and per place on the map, so a page of 50
places makes over a hundred calls. jinja2's newstyle callables route every call through three ``Context.call``s
(the ``_`` alias, the newstyle wrapper, the translation function) and wrap the translation in a new ``Markup`` each
time: a third of the map page's time with 50 places, measured with py-spy on a big city's database.

Here ``_`` and ``gettext`` are one plain function: the translation is looked up once per language and message and
kept as ``Markup``; each call formats it with the escaped variables (``Markup % variables``), exactly what the
newstyle callables return in an autoescaped template (every template here is autoescaped: a variable's ``<`` is
escaped, the translation's own markup is not). ``ngettext`` is formatted the same way, with ``num`` set to the
count unless given. A message is treated as a format string even without variables, as with jinja2 (``%%`` is one
``%``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from jinja2 import Environment
from markupsafe import Markup

from familienkarte import i18n

# Translations kept per environment at most (the templates' messages times the languages are far fewer; a message
# made at run time, which should not happen, is then translated on every call instead of growing the memory).
MAX_KEPT: Final = 20_000


def install_gettext(env: Environment, current_locale: Callable[[], str]) -> None:
    """Give ``env`` (with the ``jinja2.ext.i18n`` extension) ``_``, ``gettext`` and ``ngettext`` in the language
    ``current_locale()`` names at each call."""
    kept: dict[tuple[str, str], Markup] = {}
    # The same, already formatted without variables (most calls have none: labels, headings, buttons).
    kept_plain: dict[tuple[str, str], Markup] = {}

    def translated(locale: str, message: str) -> Markup:
        text = kept.get((locale, message))
        if text is None:
            # The catalogue's texts are the project's own, trusted as jinja2's newstyle gettext trusts them.
            text = Markup(i18n.translations(locale).gettext(message))  # noqa: S704
            if len(kept) < MAX_KEPT:
                kept[(locale, message)] = text
        return text

    def gettext(message: str, /, **variables: Any) -> Markup:
        locale = current_locale()
        if variables:
            return translated(locale, message) % variables
        text = kept_plain.get((locale, message))
        if text is None:
            text = translated(locale, message) % variables
            if len(kept_plain) < MAX_KEPT:
                kept_plain[(locale, message)] = text
        return text

    def ngettext(singular: str, plural: str, num: int, /, **variables: Any) -> Markup:
        variables.setdefault("num", num)
        plural_form = i18n.translations(current_locale()).ngettext(singular, plural, num)
        return Markup(plural_form) % variables  # noqa: S704 (the catalogue's own text, as above)

    # The extension's own installation first (it marks the environment newstyle, which its {% trans %} tag reads),
    # then ours in place of its wrappers and of its ``_`` alias.
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext)


__all__ = ["MAX_KEPT", "install_gettext"]
