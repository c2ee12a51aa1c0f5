"""The card page in Leichte Sprache: how to show the card, and the way to the help for a lost phone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from familienkarte import i18n
from tests.helpers import sign_in_as
from tests.integration.test_card_credentials import issue_family_card


def _in(locale: str, message: str) -> str:
    with i18n.use_locale(locale):
        return i18n.gettext(message)


def test_the_card_page_explains_in_easy_language_how_to_show_the_card(
    client: TestClient[Litestar], db: Callable[[], Session], make_user: Any
) -> None:
    family = issue_family_card(db, make_user)
    sign_in_as(client, family.users[0])

    easy = client.get("/card?lang=ls")
    assert easy.status_code == 200
    page = easy.text
    assert '<html lang="de"' in page
    how = _in("ls", "Show the QR code at the till.")
    assert how != "Show the QR code at the till."
    assert how in page
    # The card with its code comes first; the explanation follows it, so the code needs no scrolling at the till.
    assert page.index('id="qr"') < page.index(how)
    assert _in("ls", "Phones and printed cards") in page
    assert 'href="/help/lost-phone"' in page
    assert _in("ls", "What to do when your phone is lost") in page

    german = client.get("/card?lang=de").text
    assert how not in german
    # The help for a lost phone is linked in every language.
    assert 'href="/help/lost-phone"' in german
    assert _in("de", "Phones and printed cards") in german
