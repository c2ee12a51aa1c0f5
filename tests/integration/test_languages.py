"""The languages a page offers: every family language on family pages, German and English in the work areas."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from familienkarte import i18n
from tests.helpers import sign_in_as

_SWITCHER = re.compile(r'<nav aria-label="[^"]*" class="languages">(.*?)</nav>', re.S)


def switcher(html: str) -> list[tuple[str, str, str]]:
    """(code, lang attribute, name) of each language the page's switcher lists."""
    found = _SWITCHER.search(html)
    assert found, "no language switcher"
    return re.findall(r'\?lang=([a-z]+)" hreflang="[^"]*" lang="([^"]*)"[^>]*>([^<]+)</a>', found.group(1))


def test_family_pages_offer_every_language_named_in_itself(client: TestClient[Litestar]) -> None:
    listed = switcher(client.get("/").text)
    assert [code for code, _lang, _name in listed] == list(i18n.SUPPORTED_LOCALES)
    assert ("tr", "tr", "Türkçe") in listed
    assert ("ar", "ar", "العربية") in listed
    # Leichte Sprache is German to browsers and screen readers.
    assert ("ls", "de", "Leichte Sprache") in listed


def test_arabic_pages_are_right_to_left(client: TestClient[Litestar]) -> None:
    page = client.get("/?lang=ar").text
    assert '<html lang="ar" dir="rtl">' in page
    assert '<html lang="uk" dir="ltr">' in client.get("/?lang=uk").text


def test_leichte_sprache_is_remembered_and_written_as_german(client: TestClient[Litestar]) -> None:
    chosen = client.get("/?lang=ls")
    assert '<html lang="de" dir="ltr">' in chosen.text
    assert "fk_lang=ls" in chosen.headers["set-cookie"]
    again = client.get("/")
    assert 'href="/?lang=ls" hreflang="de" lang="de" dir="ltr" aria-current="true"' in again.text


def test_partner_portal_offers_german_and_english_and_reads_others_in_german(client: TestClient[Litestar]) -> None:
    page = client.get("/partner/register?lang=ar")
    assert page.status_code == 200
    assert [code for code, _lang, _name in switcher(page.text)] == ["de", "en"]
    assert '<html lang="de" dir="ltr">' in page.text
    # An unoffered choice is not remembered: the family pages keep the reader's language.
    assert "fk_lang" not in page.headers.get("set-cookie", "")
    client.cookies.set("fk_lang", "tr")
    assert '<html lang="de"' in client.get("/partner/register").text
    assert '<html lang="tr"' in client.get("/").text
    assert '<html lang="en"' in client.get("/partner/register?lang=en").text


def test_staff_area_offers_german_and_english(client: TestClient[Litestar], make_user: Callable[..., Any]) -> None:
    sign_in_as(client, make_user("admin"))
    page = client.get("/staff/", headers={"Accept-Language": "ru, en;q=0.5"})
    assert page.status_code == 200
    assert [code for code, _lang, _name in switcher(page.text)] == ["de", "en"]
    assert '<html lang="en"' in page.text
    assert '<html lang="de"' in client.get("/staff/?lang=pl").text


def test_partner_texts_in_the_readers_language_or_marked_as_german(
    client: TestClient[Litestar], db: Callable[[], Any]
) -> None:
    from tests.integration.test_catalogue import add_benefit, add_partner

    with db() as s, s.begin():
        partner = add_partner(s, "Zoo Köln")
        translated = add_benefit(s, partner, {"de": "Freier Eintritt", "ar": "دخول مجاني"})
        german_only = add_benefit(s, partner, {"de": "Halber Preis"}, description={"de": "Für alle Kinder"})
        ids = (translated.id, german_only.id)

    arabic = client.get(f"/benefits/{ids[0]}?lang=ar").text
    assert "دخول مجاني" in arabic
    assert "Freier Eintritt" not in arabic
    assert "fallback-note" not in arabic
    german = client.get(f"/benefits/{ids[1]}?lang=ar").text
    # The German title and description say which language they are in, for the eye and for screen readers.
    assert '<h1 lang="de">Halber Preis</h1>' in german
    assert re.search(r'<span lang="de">Halber Preis</span> <span class="fallback-note">\([^)]+\)</span>', german)
    assert re.search(r'<span lang="de">Für alle Kinder</span> <span class="fallback-note">', german)
    # Readers of Leichte Sprache read German: no note.
    easy = client.get(f"/benefits/{ids[1]}?lang=ls").text
    assert "<h1>Halber Preis</h1>" in easy
    assert "fallback-note" not in easy
    listing = client.get("/benefits?lang=uk").text
    assert re.search(r'<span class="visually-hidden">: <span lang="de">Halber Preis</span></span>', listing)
