"""Screenshots of the main pages, at phone and desktop size, in German and in Arabic, for people to look at.

Written to var/screenshots/<language>/<size>/<page>.png (git-ignored), full page, with data on every page: a family
with an active card shown on the phone, a partner's benefits on the catalogue and the map, a scanner with a result,
an open application in the staff queue, a month of figures on the staff dashboard. ``make screenshots`` runs this
module alone. The partner portal and the staff area are offered in German and English only; their Arabic
screenshots show what an Arabic reader gets there (German).

Each page must answer without an error, be in the language the page offers for the one asked for, and each file
must be a PNG as wide as the screen: a wider one means the page scrolls sideways. The staff's wide tables scroll
inside a box of their own, so their pages fit a phone too.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.cards.models import Card
from familienkarte.partners.models import Partner
from familienkarte.web.context import locales_offered_at
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, LiveServer, new_context
from tests.browser.test_partner_journey import block_tiles
from tests.browser.test_partner_journey import sign_in as sign_in_with_password
from tests.browser.test_scanner import enter
from tests.integration.test_applications import form, submit
from tests.integration.test_card_credentials import issue_family_card
from tests.integration.test_catalogue import add_benefit, add_location, add_partner
from tests.integration.test_staff_statistics import build_world

pytestmark = pytest.mark.browser

LANGUAGES = ("de", "ar")
SIZES: dict[str, dict[str, Any]] = {"phone": PHONE, "desktop": DESKTOP}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Who looks at a page: nobody signed in, the family, the partner's owner, a member of staff.
ANONYMOUS, FAMILY, PARTNER, STAFF = "anonymous", "family", "partner", "staff"


@dataclass(frozen=True)
class Shot:
    """One page to photograph: its file name, who opens it, its address, and what to do before the picture."""

    name: str
    who: str
    path: str
    prepare: Callable[[Page], None] | None = None


@dataclass(frozen=True)
class Scene:
    """The data the pages show."""

    benefit_id: uuid.UUID
    location_id: uuid.UUID
    card_number: str
    family: User
    owner: User
    admin: User


def build_scene(db: Callable[[], Session], make_user: Any) -> Scene:
    build_world(db)  # two partners and a month of figures for the staff dashboard
    with db() as s, s.begin():
        museum = add_partner(s, "Museum Ludwig", category="culture", website="https://www.museum-ludwig.example")
        foyer = add_location(
            s, museum, "Museum Ludwig", street="Heinrich-Böll-Platz", house_number="1", postal_code="50667",
            latitude=50.9409, longitude=6.9599,
        )  # fmt: skip
        shop = add_location(
            s, museum, "Museumsshop", street="Bischofsgartenstraße", house_number="1", postal_code="50667",
            latitude=50.9413, longitude=6.9604,
        )  # fmt: skip
        free = add_benefit(
            s,
            museum,
            {"de": "Freier Eintritt für Kinder", "en": "Free entry for children"},
            locations=(foyer,),
            category="culture",
            description={"de": "Kinder und Jugendliche bis 17 Jahre, an jedem Öffnungstag."},
            limit_count=1,
            limit_period="day",
        )
        add_benefit(
            s, museum, "10 Prozent im Museumsshop", locations=(shop,), category="culture", kind="percent_off", value=10
        )
        ids = (museum.id, free.id, foyer.id)
    with db() as s:
        museum_row = s.get(Partner, ids[0])
    owner = make_user(Role.PARTNER_OWNER, partner=museum_row, display_name="Museum Ludwig")
    family = issue_family_card(db, make_user)
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
        number = card.number
    # An open application for the staff queue.
    newcomers: dict[str, Any] = {  # one adult; form() leaves out the fields set to None
        "adult-0-first_name": "Olena",
        "adult-0-last_name": "Kovalenko",
        "adult-0-email": "olena.kovalenko@example.org",
        "adult-1-first_name": None,
        "adult-1-last_name": None,
        "adult-1-email": None,
        "street": "Berliner Straße",
        "house_number": "7",
        "postal_code": "51063",
        "locale": "de",
    }
    submit(db, form(**newcomers))
    return Scene(ids[1], ids[2], number, family.users[0], owner, make_user(Role.ADMIN))


# -- what each page needs before its picture ---------------------------------------------------------------------


def map_drawn(page: Page) -> None:
    expect(page.locator("#map")).to_have_attribute("data-markers", "2")
    expect(page.locator("#map .leaflet-marker-icon").first).to_be_visible()


def card_shown(page: Page) -> None:
    """The card with its live code; activated on this browser the first time."""
    activate = page.locator("#card button")
    expect(page.locator("#qr svg").or_(activate)).to_be_visible()
    if activate.is_visible():
        activate.click()
    expect(page.locator("#qr svg")).to_be_visible()


def scanner_result(location_id: uuid.UUID, card_number: str) -> Callable[[Page], None]:
    def run(page: Page) -> None:
        expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
        page.locator("#scanner-location").select_option(str(location_id))
        enter(page, card_number)
        expect(page.locator("#result")).to_have_attribute("data-state", "valid")

    return run


def shots(scene: Scene) -> list[Shot]:
    return [
        Shot("home", ANONYMOUS, "/"),
        Shot("offers", ANONYMOUS, "/benefits"),
        Shot("offer", ANONYMOUS, f"/benefits/{scene.benefit_id}"),
        Shot("map", ANONYMOUS, "/map", map_drawn),
        Shot("finder", ANONYMOUS, "/finder"),
        Shot("apply", ANONYMOUS, "/apply"),
        Shot("login", ANONYMOUS, "/login"),
        Shot("accessibility", ANONYMOUS, "/accessibility"),
        Shot("card", FAMILY, "/card", card_shown),
        Shot("family-data", FAMILY, "/card/data"),
        Shot("partner-start", PARTNER, "/partner/"),
        Shot("scanner", PARTNER, "/partner/scanner", scanner_result(scene.location_id, scene.card_number)),
        Shot("partner-statistics", PARTNER, "/partner/statistics"),
        Shot("staff-home", STAFF, "/staff/"),
        Shot("applications", STAFF, "/staff/applications"),
        Shot("staff-statistics", STAFF, "/staff/statistics?from=2026-07-01&to=2026-07-31"),
    ]


# -- the browsers -------------------------------------------------------------------------------------------------


@dataclass
class Visitor:
    """A signed-in (or anonymous) browser of one size, its one page reused for every picture, and the server
    errors its requests met."""

    page: Page
    server_errors: list[str]


@pytest.fixture
def open_contexts(browser: Browser, live_server: LiveServer) -> Iterator[Callable[[dict[str, Any]], BrowserContext]]:
    opened: list[BrowserContext] = []

    def open_one(options: dict[str, Any]) -> BrowserContext:
        context = new_context(browser, live_server, **options)
        opened.append(context)
        return context

    yield open_one
    for context in opened:
        context.close()


def visitor(context: BrowserContext) -> Visitor:
    page = context.new_page()
    errors: list[str] = []

    def on_response(response: Response) -> None:
        if response.status >= 500:
            errors.append(f"{response.status} {response.url}")

    page.on("response", on_response)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    block_tiles(page)
    return Visitor(page, errors)


def with_language(path: str, language: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={language}"


def expected_locale(path: str, language: str) -> str:
    """The language a page is shown in when ``language`` is asked for: a work area offers fewer."""
    return language if language in locales_offered_at(urlsplit(path).path) else i18n.DEFAULT_LOCALE


def png_width(path: Path) -> int:
    """The width of a non-empty, valid PNG file in pixels."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    with Image.open(io.BytesIO(data)) as picture:
        picture.verify()
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.height > 0, path
        return picture.width


def test_screenshots_of_the_main_pages(
    db: Callable[[], Session],
    make_user: Any,
    open_contexts: Callable[[dict[str, Any]], BrowserContext],
    sign_in: Callable[[Page, User], None],
) -> None:
    scene = build_scene(db, make_user)
    pages = shots(scene)
    written: list[Path] = []
    # Pages wider than the screen, which scroll sideways: all of them are named, after every picture is taken.
    too_wide: list[str] = []
    for size, options in SIZES.items():
        visitors = {who: visitor(open_contexts(options)) for who in (ANONYMOUS, FAMILY, PARTNER, STAFF)}
        sign_in(visitors[FAMILY].page, scene.family)
        sign_in_with_password(visitors[PARTNER].page, scene.owner.email)
        sign_in_with_password(visitors[STAFF].page, scene.admin.email)
        width = options["viewport"]["width"] * options.get("device_scale_factor", 1)
        for language in LANGUAGES:
            folder = SCREENSHOTS / language / size
            folder.mkdir(parents=True, exist_ok=True)
            for shot in pages:
                seen = visitors[shot.who]
                answer = seen.page.goto(with_language(shot.path, language))
                assert answer is not None
                assert answer.status < 400, f"{shot.path} ({language}, {size}): {answer.status}"
                # The address the page ended at: a redirect (to a sign-in page, say) is no picture of the page.
                assert urlsplit(seen.page.url).path == urlsplit(shot.path).path, seen.page.url
                locale = expected_locale(shot.path, language)
                expect(seen.page.locator("html")).to_have_attribute("lang", i18n.language_tag(locale))
                expect(seen.page.locator("html")).to_have_attribute("dir", i18n.text_direction(locale))
                expect(seen.page.get_by_role("heading", level=1).first).to_be_visible()
                if shot.prepare:
                    shot.prepare(seen.page)
                path = folder / f"{shot.name}.png"
                path.unlink(missing_ok=True)
                seen.page.screenshot(path=str(path), full_page=True, animations="disabled")
                if (drawn := png_width(path)) != width:
                    too_wide.append(f"{language}/{size}/{shot.name}: {drawn} px for a screen of {width} px")
                written.append(path)
        for who, seen in visitors.items():
            assert seen.server_errors == [], f"{who} ({size}): {seen.server_errors}"
    assert len(written) == len(pages) * len(SIZES) * len(LANGUAGES)
    assert too_wide == [], "pages that scroll sideways:\n" + "\n".join(too_wide)
