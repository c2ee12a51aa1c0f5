"""Jinja templates with gettext, shared by the family pages, the partner portal and the staff area."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from markupsafe import Markup, escape

from familienkarte import i18n
from familienkarte.benefits.rules import LocalText
from familienkarte.benefits.views import BenefitCard
from familienkarte.template_gettext import install_gettext
from familienkarte.web.context import offered_locales as locales_offered
from familienkarte.web.maps import map_config

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE_DIRS = [ROOT / "familienkarte" / "templates", ROOT / "partner_portal" / "templates"]
DISPLAY_TZ = ZoneInfo("Europe/Berlin")
# The template whose ``benefit_card`` macro draws a benefit, and how many drawn cards a process keeps at most.
CARD_TEMPLATE: Final = "benefits/_card.html"
CARDS_KEPT: Final = 4_096


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(DISPLAY_TZ)


def csrf_field(request: Any) -> Markup:
    """The hidden CSRF input for a form; the token lives in the server-side session.

    (Litestar's engine registers a ``csrf_token`` of its own, which would hide one of ours: pages that need the bare
    token for scripts get it in their context.)"""
    from familienkarte.accounts.sessions import session_of

    token = session_of(request.scope).csrf_token()
    return Markup('<input type="hidden" name="csrf_token" value="%s">') % escape(token)


def flash_message(request: Any) -> str | None:
    """A one-time note for the next page ("Saved."), stored as a message id and translated here."""
    from familienkarte.accounts.sessions import session_of
    from familienkarte.web.flash import FLASH_KEY

    message = session_of(request.scope).pop(FLASH_KEY)
    return i18n.gettext(message) if message else None


def ltr(value: Any) -> Markup:
    """A machine text (card number, e-mail address, postal code, URL) isolated as left to right, so that in an
    Arabic sentence its parts keep their order: "1234 5678" would otherwise read "5678 1234"."""
    return Markup('<bdi dir="ltr">{}</bdi>').format(value)


def local_text(text: LocalText) -> Markup:
    """A partner's text (escaped) in the reader's language; one shown in German because there is none in theirs is
    marked as German (``lang``) and says so ("in German"). A function, not a macro: a card calls it up to three
    times, and a macro call costs jinja2 several times as much."""
    if not text.fallback:
        return escape(text.text)
    return Markup('<span lang="{}">{}</span> <span class="fallback-note">({})</span>').format(
        text.language, text.text, i18n.gettext("in German")
    )


class CardDrawer:
    """``benefit_card(card)`` in every template: the card macro's HTML, kept per language and card.

    The finder and the catalogue show up to 40 cards a page, and drawing them was most of such a page's time (each
    card a macro call with a dozen escaped outputs). The HTML is a function of the card (a frozen ``BenefitCard``,
    compared by its whole content, so a changed text or location is a new card), the language of its labels and
    the template itself (a template edited while the demo runs is a new one): all three are the key, so a kept
    card is never stale. When ``CARDS_KEPT`` are kept, they are dropped and kept anew."""

    def __init__(self, env: Environment) -> None:
        self._env = env
        self._kept: dict[tuple[Any, str, BenefitCard], Markup] = {}

    def __call__(self, card: BenefitCard) -> Markup:
        template = self._env.get_template(CARD_TEMPLATE)
        key = (template, i18n.current_locale(), card)
        html = self._kept.get(key)
        if html is None:
            html = template.module.benefit_card(card)  # type: ignore[attr-defined]
            if len(self._kept) >= CARDS_KEPT:
                self._kept.clear()
            self._kept[key] = html
        return html


def offered_locales(request: Any) -> tuple[str, ...]:
    """The languages this page's switcher lists (the partner portal and the staff area offer fewer)."""
    return locales_offered(request.scope)


def make_environment(*, reload: bool = False) -> Environment:
    """The templates' environment. ``reload``: look at each template file's time on every use and compile it again
    when it changed (the demo, for editing pages); otherwise each template is compiled once per process, which
    saves a file system call per template per page (about 4 % of a catalogue page's time)."""
    env = Environment(
        auto_reload=reload,
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in TEMPLATE_DIRS]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_gettext(env, i18n.current_locale)
    env.globals.update(
        locale_names=i18n.LOCALE_NAMES,
        supported_locales=i18n.SUPPORTED_LOCALES,
        content_locales=i18n.CONTENT_LOCALES,
        offered_locales=offered_locales,
        current_locale=i18n.current_locale,
        language_tag=i18n.language_tag,
        text_direction=i18n.text_direction,
        csrf_field=csrf_field,
        flash_message=flash_message,
        local_text=local_text,
        map_config=map_config,
    )
    env.globals["benefit_card"] = CardDrawer(env)
    env.filters["datetime"] = lambda v, fmt="medium": i18n.format_datetime(_local(v), fmt) if v else ""
    env.filters["ltr"] = ltr
    env.filters["date"] = lambda v, fmt="medium": i18n.format_date(v, fmt) if v else ""
    return env


def template_config(env: Environment) -> TemplateConfig[Any]:
    return TemplateConfig(engine=JinjaTemplateEngine.from_environment(env))
