"""The partner journey in Chromium, in German as most partners use it, driven through labels and buttons.

A partner registers, confirms the e-mail address with the link from the e-mail, is approved by staff, adds a second
location and a benefit, staff publish the benefit, and families find it in the catalogue (desktop and phone), on the
partner's page and on the map. A second test suspends an approved partner in the staff area and looks at the
catalogue again. The labels are the pages' English message ids translated with the German catalogue, so the test
reads like the templates and breaks only when a page changes, not when a translation is reworded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, Route, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.roles import Role
from familienkarte.mail.models import Email
from familienkarte.partners.moderation import PARTNER_STATUS_LABELS
from familienkarte.partners.vocabulary import CATEGORIES, LEGAL_FORMS, WEEKDAYS
from familienkarte.staff.partner_queue import BENEFIT_DONE, PARTNER_DONE
from tests.browser.conftest import DESKTOP, LiveServer, new_context, screenshot
from tests.conftest import PASSWORD
from tests.helpers import bearer
from tests.integration.test_partner_queue import api_key_for, make_benefit, make_queued_partner
from tests.workers_helpers import wait_until

pytestmark = pytest.mark.browser

PARTNER = "Kindertheater Sonnenschein"
OWNER_EMAIL = "leitung@kindertheater-sonnenschein.example"
FIRST_LOCATION = "Haus am Dom"
SECOND_LOCATION = "Studio Ehrenfeld"
BENEFIT = "20 Prozent auf jede Familienvorstellung"
REASON = "Die Vorstellungen finden bis auf Weiteres nicht statt."
TILES = re.compile(r"^https://tile\.openstreetmap\.org/")


def de(message: str, **params: Any) -> str:
    """A message of the pages as the German catalogue has it."""
    text = i18n.translations("de").gettext(message)
    return text % params if params else text


def label(message: str, *, optional: bool = False) -> str:
    """A field's accessible name: its label, and "(optional)" after it where the field may stay empty."""
    return f"{de(message)} ({de('optional')})" if optional else de(message)


def field(scope: Page | Locator, message: str, *, optional: bool = False) -> Locator:
    return scope.get_by_label(label(message, optional=optional), exact=True)


def button(scope: Page | Locator, message: str) -> Locator:
    return scope.get_by_role("button", name=de(message), exact=True)


def link(scope: Page | Locator, message: str, **params: Any) -> Locator:
    return scope.get_by_role("link", name=de(message, **params), exact=True)


def notice(page: Page) -> Locator:
    """The message a page shows after an action (the flash)."""
    return page.locator("main .notice[role=status]")


class Problems:
    """Script errors and console errors (CSP violations among them) of the pages a test opens."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.seen.append(f"{page.url}: {error}"))
        page.on("response", lambda r: self.seen.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        return page

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        # The map's tiles are blocked on purpose (no network in tests); the page says so and lists the places.
        # A resource that failed to load is told by its response (with its address); the browser's own request
        # for /favicon.ico, which the site does not have, is not a page's resource.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.seen.append(f"{page.url}: {message.text}")


@pytest.fixture
def problems() -> Iterator[Problems]:
    found = Problems()
    yield found
    assert found.seen == [], found.seen


@pytest.fixture
def more_desktops(browser: Browser, live_server: LiveServer) -> Iterator[Callable[[], BrowserContext]]:
    """Further desktop browsers of their own (staff next to a partner, a family next to both), closed afterwards."""
    opened: list[BrowserContext] = []

    def open_one() -> BrowserContext:
        context = new_context(browser, live_server, **DESKTOP)
        opened.append(context)
        return context

    yield open_one
    for context in opened:
        context.close()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in with a password on /login, as staff and partners do."""
    if not page.url.endswith("/login"):
        page.goto("/login")
    field(page, "E-mail address").fill(email)
    field(page, "Password").fill(password)
    button(page.get_by_role("main"), "Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def block_tiles(page: Page) -> None:
    """No map images from the internet: the tests do not depend on the network."""

    def no_network(route: Route) -> None:
        route.abort("internetdisconnected")

    page.route(TILES, no_network)


def confirmation_link(db: Callable[[], Session], live_server: LiveServer, address: str) -> str:
    """The link in the e-mail the registration sent (read from the outgoing mail table)."""

    def mail_body() -> str:
        with db() as session:
            mail = session.scalars(select(Email).where(Email.to_address == address)).first()
            return mail.body_text if mail else ""

    body = wait_until(mail_body, what=f"the confirmation e-mail to {address}")
    found = re.search(re.escape(live_server.url) + r"/partner/register/confirm/[A-Za-z0-9_-]+", body)
    assert found, body
    return found.group(0)


def wait_at_rest(marker: Locator) -> None:
    """Wait until a marker has stopped moving (the clusters open with an animation)."""
    expect(marker).to_be_visible()
    last: list[Any] = [None]

    def at_rest() -> bool:
        box = marker.bounding_box()
        resting = box is not None and box == last[0]
        last[0] = box
        return resting

    wait_until(at_rest, timeout=10, interval=0.1, what="the marker to come to rest")


def assert_not_covered(marker: Locator) -> None:
    """A pointer can reach the marker: nothing, such as a map control, lies on its middle."""
    on_top = marker.evaluate(
        "m => { const r = m.getBoundingClientRect();"
        " const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
        " return top === m ? '' : (top ? top.outerHTML.slice(0, 160) : 'nothing'); }"
    )
    assert on_top == "", f"the marker {marker.get_attribute('title')!r} lies under {on_top}"


def catalogue_card(page: Page, title: str) -> Locator:
    return page.locator("article.benefit-card").filter(has=page.get_by_role("heading", name=title, exact=True))


# -- the steps of the journey -----------------------------------------------------------------------------------


def register(page: Page) -> None:
    page.goto("/partner/register")
    expect(page.get_by_role("heading", level=1)).to_have_text(de("Register as a partner"))
    field(page, "Name of your organisation").fill(PARTNER)
    field(page, "Legal form").select_option(label=de(LEGAL_FORMS["ev"]))
    field(page, "What your organisation offers").select_option(label=de(CATEGORIES["culture"]))
    field(page, "Website", optional=True).fill("www.kindertheater-sonnenschein.example")
    field(page, "Telephone for the city").fill("0221 2580153")
    page.get_by_label(de("%(label)s in %(language)s", label=de("Description"), language="Deutsch"), exact=True).fill(
        "Theater für Kinder ab drei Jahren und ihre Familien."
    )
    field(page, "Your name").fill("Erika Mustermann")
    field(page, "E-mail address").fill(OWNER_EMAIL)
    field(page, "Password").fill(PASSWORD)
    field(page, "Password again").fill(PASSWORD)
    field(page, "Name of the location").fill(FIRST_LOCATION)
    field(page, "Street").fill("Glockengasse")
    field(page, "House number").fill("11")
    field(page, "Postal code").fill("50667")
    field(page, "Latitude", optional=True).fill("50.9384")
    field(page, "Longitude", optional=True).fill("6.9529")
    field(page, WEEKDAYS["sat"], optional=True).fill("14:00-17:00")
    page.get_by_label(de("I accept the partner terms for my organisation."), exact=True).check()
    screenshot(page, "partner-register-desktop")
    button(page.get_by_role("main"), "Register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(de("Please confirm your e-mail address"))
    expect(page.get_by_role("main")).to_contain_text(OWNER_EMAIL)


def confirm_email(page: Page, link_in_mail: str) -> None:
    page.goto(link_in_mail)
    button(page.get_by_role("main"), "Confirm my e-mail address").click()
    page.wait_for_url("**/login")
    expect(notice(page)).to_have_text(
        de(
            "Thank you, your e-mail address is confirmed. The city now checks your registration and lets you know "
            "by e-mail. You can already sign in and complete your details."
        )
    )


def open_partner_queue(page: Page) -> None:
    page.goto("/staff/")
    link(page.get_by_role("main"), "Partner queue").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(de("Partner queue"))


def approve_partner(staff: Page) -> None:
    open_partner_queue(staff)
    row = staff.get_by_role("row").filter(has=staff.get_by_role("link", name=PARTNER, exact=True))
    expect(row).to_contain_text(de(PARTNER_STATUS_LABELS["pending"]))
    screenshot(staff, "staff-partner-queue-desktop")
    row.get_by_role("link", name=PARTNER, exact=True).click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(PARTNER)
    button(staff, "Approve the partner").click()
    expect(notice(staff)).to_have_text(de(PARTNER_DONE["approve"]))


def add_location(page: Page) -> None:
    page.goto("/partner/")
    link(page.get_by_role("main"), "Locations and opening hours").click()
    link(page.get_by_role("main"), "Add a location").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(de("Add a location"))
    field(page, "Name of the location").fill(SECOND_LOCATION)
    field(page, "Street").fill("Venloer Straße")
    field(page, "House number").fill("231")
    field(page, "Postal code").fill("50823")
    field(page, "Latitude", optional=True).fill("50.9497")
    field(page, "Longitude", optional=True).fill("6.9161")
    field(page, WEEKDAYS["sun"], optional=True).fill("11:00-16:00")
    button(page.get_by_role("main"), "Save").click()
    page.wait_for_url("**/partner/locations")
    expect(notice(page)).to_have_text(de("The location has been added."))
    expect(page.get_by_role("link", name=SECOND_LOCATION, exact=True)).to_be_visible()


def describe_and_submit_benefit(page: Page) -> None:
    page.goto("/partner/")
    link(page.get_by_role("main"), "Benefits").click()
    link(page.get_by_role("main"), "Describe a new benefit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(de("New benefit"))
    german = page.get_by_role("group", name="Deutsch", exact=True)
    field(german, "Title").fill(BENEFIT)
    field(german, "Description", optional=True).fill("Für alle Vorstellungen am Wochenende, solange Plätze frei sind.")
    field(page, "Kind of benefit").select_option(label=de("Percent off"))
    field(page, "Value", optional=True).fill("20")
    # Two open locations: neither is ticked for the partner; the benefit holds at both.
    where = page.get_by_role("group", name=de("Where"), exact=True)
    for name in (FIRST_LOCATION, SECOND_LOCATION):
        where.get_by_role("checkbox", name=re.compile("^" + re.escape(name) + ",")).check()
    screenshot(page, "partner-benefit-form-desktop")
    button(page.get_by_role("main"), "Save and preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(de("Preview: how families will see the benefit"))
    expect(catalogue_card(page, BENEFIT)).to_be_visible()
    page.get_by_role("button", name=f"{de('Submit for review')}: {BENEFIT}", exact=True).click()
    page.wait_for_url("**/partner/benefits")
    expect(notice(page)).to_have_text(de("Submitted. The city reviews the benefit before families see it."))


def publish_benefit(staff: Page) -> None:
    open_partner_queue(staff)
    link(staff.get_by_role("main"), "Benefit moderation queue").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(de("Benefit moderation queue"))
    row = staff.get_by_role("row").filter(has=staff.get_by_role("link", name=BENEFIT, exact=True))
    expect(row).to_contain_text(PARTNER)
    expect(row).to_contain_text(de("New benefit"))
    screenshot(staff, "staff-benefit-queue-desktop")
    row.get_by_role("link", name=BENEFIT, exact=True).click()
    button(staff, "Publish the benefit").click()
    expect(notice(staff)).to_have_text(de(BENEFIT_DONE["benefit.published"]))


def check_catalogue(page: Page, name: str) -> None:
    page.goto("/benefits")
    card = catalogue_card(page, BENEFIT)
    expect(card).to_be_visible()
    expect(card).to_contain_text(PARTNER)
    expect(card.get_by_role("list", name=de("Where"))).to_contain_text(FIRST_LOCATION)
    expect(card.get_by_role("list", name=de("Where"))).to_contain_text(SECOND_LOCATION)
    screenshot(page, name)


# -- the tests ----------------------------------------------------------------------------------------------------


def test_a_partner_registers_is_approved_and_its_benefit_reaches_catalogue_and_map(
    db: Callable[[], Session],
    live_server: LiveServer,
    desktop: BrowserContext,
    phone: BrowserContext,
    more_desktops: Callable[[], BrowserContext],
    make_user: Any,
    problems: Problems,
) -> None:
    manager = make_user(Role.PARTNER_MANAGER)
    partner = problems.watch(desktop.new_page())
    staff = problems.watch(more_desktops().new_page())

    register(partner)
    confirm_email(partner, confirmation_link(db, live_server, OWNER_EMAIL))
    sign_in(partner, OWNER_EMAIL)
    assert partner.url.endswith("/partner/")
    expect(partner.get_by_role("heading", level=1)).to_have_text(PARTNER)
    expect(partner.get_by_role("main")).to_contain_text(de("Waiting for approval by the city"))
    screenshot(partner, "partner-portal-start-desktop")

    sign_in(staff, manager.email)
    approve_partner(staff)
    partner.goto("/partner/")
    expect(partner.get_by_role("main")).to_contain_text(de("Approved: families can use your benefits"))

    add_location(partner)
    describe_and_submit_benefit(partner)
    # Submitted, not yet published: families do not see it.
    family = problems.watch(more_desktops().new_page())
    family.goto("/benefits")
    expect(family.get_by_role("heading", level=1)).to_have_text(de("Benefits for families"))
    expect(catalogue_card(family, BENEFIT)).to_have_count(0)

    publish_benefit(staff)
    partner.goto("/partner/benefits")
    expect(partner.locator("tr", has_text=BENEFIT)).to_contain_text(de("Published"))

    check_catalogue(family, "catalogue-desktop")
    check_catalogue(problems.watch(phone.new_page()), "catalogue-phone")

    # From the catalogue to the partner's page: both locations and the benefit.
    link(family.get_by_role("main"), "About %(partner)s", partner=PARTNER).click()
    expect(family.get_by_role("heading", level=1)).to_have_text(PARTNER)
    for name in (FIRST_LOCATION, SECOND_LOCATION):
        expect(family.get_by_role("heading", level=3, name=name, exact=True)).to_be_visible()
    expect(catalogue_card(family, BENEFIT)).to_be_visible()
    partner_page = family.url
    screenshot(family, "partner-page-desktop")

    # The map: a marker for each location, the same places in the list, a popup leading to the partner's page.
    block_tiles(family)
    family.goto("/map")
    expect(family.locator("#map")).to_have_attribute("data-markers", "2")
    places = family.locator("#map-places li")
    expect(places).to_have_count(2)
    expect(places.filter(has_text=SECOND_LOCATION).get_by_role("link", name=PARTNER, exact=True)).to_have_attribute(
        "href", re.compile(re.escape(partner_page.removeprefix(live_server.url)) + "$")
    )
    marker = family.locator(f'#map .leaflet-marker-icon[title="{PARTNER}: {SECOND_LOCATION}"]')
    markers = (marker, family.locator(f'#map .leaflet-marker-icon[title="{PARTNER}: {FIRST_LOCATION}"]'))
    for shown in markers:
        wait_at_rest(shown)
    screenshot(family, "map-desktop")
    for shown in markers:
        assert_not_covered(shown)
    marker.click()
    popup = family.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(SECOND_LOCATION)
    expect(popup.get_by_role("link", name=de("To the partner page"))).to_have_attribute("href", partner_page)


def test_a_suspended_partners_benefit_leaves_the_catalogue_and_its_keys_stop_working(
    db: Callable[[], Session],
    desktop: BrowserContext,
    more_desktops: Callable[[], BrowserContext],
    make_user: Any,
    problems: Problems,
) -> None:
    suspended = make_queued_partner(db, "Spielhaus Nippes", status="approved", owner_locale="de")
    make_benefit(db, suspended, title="Freier Eintritt ins Spielhaus")
    other = make_queued_partner(db, "Zoo Köln", status="approved")
    make_benefit(db, other, title="Kinder frei im Zoo")
    token = api_key_for(db, suspended)
    manager = make_user(Role.PARTNER_MANAGER)

    family = problems.watch(desktop.new_page())
    block_tiles(family)
    family.goto("/benefits")
    expect(catalogue_card(family, "Freier Eintritt ins Spielhaus")).to_be_visible()
    expect(catalogue_card(family, "Kinder frei im Zoo")).to_be_visible()
    assert desktop.request.get("/api/v1/me", headers=bearer(token)).status == 200

    staff = problems.watch(more_desktops().new_page())
    sign_in(staff, manager.email)
    open_partner_queue(staff)
    field(staff, "Status").select_option(label=de(PARTNER_STATUS_LABELS["approved"]))
    button(staff.get_by_role("main"), "Show").click()
    staff.get_by_role("link", name="Spielhaus Nippes", exact=True).click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("Spielhaus Nippes")
    field(staff, "Reason for suspending (the owner reads it in the e-mail)").fill(REASON)
    button(staff, "Suspend the partner").click()
    expect(notice(staff)).to_have_text(de(PARTNER_DONE["suspend"]))
    screenshot(staff, "staff-partner-suspended-desktop")

    family.reload()
    expect(catalogue_card(family, "Kinder frei im Zoo")).to_be_visible()
    expect(catalogue_card(family, "Freier Eintritt ins Spielhaus")).to_have_count(0)
    expect(family.get_by_role("main")).not_to_contain_text("Spielhaus Nippes")
    family.goto("/map")
    expect(family.locator("#map-places")).to_contain_text("Zoo Köln")
    expect(family.locator("#map-places")).not_to_contain_text("Spielhaus Nippes")
    assert desktop.request.get("/api/v1/me", headers=bearer(token)).status == 401
