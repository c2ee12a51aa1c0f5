"""The HTML part of e-mail: Jinja templates under ``templates/mail/``, in the language the e-mail was written in.

Every e-mail goes out with a plain-text and an HTML part. A caller that gives no HTML gets its text laid out by
``mail/message.html``: the city's name as the header, one paragraph per block of text, web addresses as links.
The layout (``mail/layout.html``) follows what mail programs can show: inline CSS only, no images, no scripts,
dark text on a light background (contrast of at least 7:1), ``lang`` and ``dir`` on the document and on the
content, so that a screen reader picks the right voice and Arabic reads from right to left.

Everything given to a template is escaped; only the layout's own markup is HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from familienkarte import i18n
from familienkarte.mail.bidi import TRAILING, URL, ltr_tokens
from familienkarte.template_gettext import install_gettext

TEMPLATE_DIR: Final = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_TITLE: Final = "Familienkarte"
_PARAGRAPH_BREAK: Final = re.compile(r"\n[ \t]*\n+")

# The language the template being rendered is written in (also one without a catalogue, such as Arabic, whose
# texts then stay in English while lang and dir are still right).
_locale: ContextVar[str] = ContextVar("fk_mail_locale", default=i18n.DEFAULT_LOCALE)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_gettext(env, _locale.get)
    return env


@contextmanager
def _writing_in(locale: str) -> Iterator[None]:
    token = _locale.set(locale)
    try:
        yield
    finally:
        _locale.reset(token)


def header_title(city_name: str, sender: str = "") -> str:
    """What the header shows: the city's name; without one, the sender's display name."""
    from email.utils import parseaddr

    return city_name.strip() or parseaddr(sender)[0].strip() or DEFAULT_TITLE


def render(template: str, *, locale: str, subject: str, title: str, **context: Any) -> str:
    """A mail template as the complete HTML document, written in ``locale``."""
    with _writing_in(locale):
        return (
            environment()
            .get_template(template)
            .render(
                lang=i18n.language_tag(locale),
                dir=i18n.text_direction(locale),
                subject=subject,
                title=title,
                **context,
            )
        )


def _url_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in URL.finditer(text):
        end = match.start() + len(match.group(0).rstrip(TRAILING))
        if end > match.start():
            yield match.start(), end


def linkify(text: str, isolate: bool = False) -> Markup:
    """``text`` escaped, with every web address in it a link to itself. ``isolate`` (for a language written right
    to left): every left-to-right token (``familienkarte.mail.bidi``), a link included, in ``<bdi dir="ltr">``."""
    out: list[Markup | str] = []
    position = 0
    for start, end in ltr_tokens(text) if isolate else _url_spans(text):
        token = text[start:end]
        shown = (
            Markup('<a href="%s" style="color:#0b4f8a;text-decoration:underline;">%s</a>') % (token, token)
            if URL.fullmatch(token)
            else escape(token)
        )
        out.append(escape(text[position:start]))
        out.append(Markup('<bdi dir="ltr">%s</bdi>') % shown if isolate else shown)
        position = end
    out.append(escape(text[position:]))
    return Markup("").join(out)


def paragraphs(text: str, isolate: bool = False) -> list[Markup]:
    """The blocks of a plain text (separated by blank lines) as HTML: escaped, links made, lines kept; with
    ``isolate``, left-to-right tokens isolated (see ``linkify``)."""
    blocks = [block.strip("\n") for block in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n"))]
    return [
        Markup("<br>\n").join(linkify(line, isolate) for line in block.split("\n")) for block in blocks if block.strip()
    ]


def html_for_text(body_text: str, *, subject: str, locale: str, title: str) -> str:
    """The HTML part of an e-mail written as plain text."""
    isolate = i18n.text_direction(locale) == "rtl"
    return render(
        "mail/message.html", locale=locale, subject=subject, title=title, paragraphs=paragraphs(body_text, isolate)
    )
