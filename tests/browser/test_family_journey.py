"""The family's journey in Chromium, from the first visit to the till, through the real pages as people use them.

A family opens the site on a phone, picks its language, applies; a caseworker at a desktop finds the application
in the queue and approves it; the family opens the link of the approval e-mail on the phone, activates the card and
shows it; a cashier at the partner's till scans the code the phone shows (read from a screenshot of the phone's
screen by a real QR decoder, and typed by the barcode scanner) and redeems a benefit, which the database records
for this card. Once in German, once in Arabic (right to left).

The family's texts are the pages' English message ids translated with the catalogue of the language the family
chose, so the test reads like the templates and does not depend on how a translation is worded; the partner portal
and the staff area are read in German, as the cashier and the caseworker use them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.cards.models import Application, Card, Household, HouseholdAdult
from familienkarte.credentials.card_numbers import format_card_number
from familienkarte.mail.models import Email
from familienkarte.partners.models import Partner
from familienkarte.redemptions.models import Redemption
from familienkarte.redemptions.services import REASON_TEXTS
from familienkarte.staff.applications import STATUS_LABELS
from tests.browser.conftest import DESKTOP, LiveServer, new_context
from tests.browser.test_card_page import scan
from tests.browser.test_partner_journey import Problems, button, de, link, notice, sign_in
from tests.browser.test_scanner import enter, expect_verdict, has_focus, offer, texts
from tests.integration.test_catalogue import add_benefit, add_location, add_partner
from tests.workers_helpers import wait_until

pytestmark = pytest.mark.browser

PARTNER = "Kölner Kinderzoo"
LOCATION = "Kinderzoo Riehl"
BENEFIT = "Freier Eintritt für Kinder"


@dataclass(frozen=True)
class Applicant:
    first_name: str
    last_name: str
    email: str
    child: str
    birth_date: str  # ISO, as a date field takes it


APPLICANTS = {
    "de": Applicant("Ayşe", "Yılmaz", "ayse.yilmaz@example.org", "Emre", "2019-04-12"),
    "ar": Applicant("Layla", "Haddad", "layla.haddad@example.org", "Omar", "2020-09-03"),
}


@dataclass(frozen=True)
class Words:
    """The family's pages in one language: a message id as that language's catalogue has it, as the pages do."""

    locale: str

    def __call__(self, message: str, **params: Any) -> str:
        text = i18n.translations(self.locale).gettext(message)
        return text % params if params else text

    def field(self, scope: Page | Locator, message: str, *, optional: bool = False) -> Locator:
        """A field by its accessible name: the label, and "(optional)" after it where it may stay empty."""
        name = f"{self(message)} ({self('optional')})" if optional else self(message)
        return scope.get_by_label(name, exact=True)

    def button(self, scope: Page | Locator, message: str) -> Locator:
        return scope.get_by_role("button", name=self(message), exact=True)


@dataclass(frozen=True)
class Shop:
    partner_id: Any
    location_id: Any
    benefit_id: Any
    cashier: User


@pytest.fixture
def problems() -> Iterator[Problems]:
    found = Problems()
    yield found
    assert found.seen == [], found.seen


@pytest.fixture
def till(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """The partner's till: a desktop browser of its own, next to the caseworker's."""
    context = new_context(browser, live_server, **DESKTOP)
    yield context
    context.close()


@pytest.fixture
def shop(db: Callable[[], Session], make_user: Any) -> Shop:
    """An approved partner with one location, a published free entry there, and a cashier."""
    with db() as s, s.begin():
        partner = add_partner(s, PARTNER)
        location = add_location(s, partner, LOCATION, street="Riehler Straße", house_number="173")
        benefit = add_benefit(s, partner, BENEFIT, locations=(location,), limit_count=1, limit_period="day")
        ids = (partner.id, location.id, benefit.id)
    with db() as s:
        partner_row = s.get(Partner, ids[0])
    return Shop(*ids, cashier=make_user(Role.CASHIER, partner=partner_row))


# -- the steps of the journey -----------------------------------------------------------------------------------


def expect_language(page: Page, locale: str) -> None:
    html = page.locator("html")
    expect(html).to_have_attribute("lang", i18n.language_tag(locale))
    expect(html).to_have_attribute("dir", i18n.text_direction(locale))


def choose_language(page: Page, words: Words) -> None:
    """On the first visit, the language from the switcher (the phone's own language is German)."""
    page.goto("/")
    if words.locale != i18n.DEFAULT_LOCALE:
        switcher = page.get_by_role("navigation", name=de("Language"), exact=True)
        switcher.get_by_role("link", name=i18n.LOCALE_NAMES[words.locale], exact=True).click()
        page.wait_for_url(re.compile(r"\?lang=" + words.locale + "$"))
    expect_language(page, words.locale)


def apply(page: Page, words: Words, who: Applicant) -> None:
    """From the start page to the application form, filled in and sent."""
    page.get_by_role("main").get_by_role("link", name=words("Apply for the family card"), exact=True).click()
    page.wait_for_url("**/apply")
    expect_language(page, words.locale)
    expect(page.get_by_role("heading", level=1)).to_have_text(words("Apply for the family card"))
    adult = page.get_by_role("group", name=words("Adult %(number)s", number=1), exact=True)
    words.field(adult, "First name").fill(who.first_name)
    words.field(adult, "Last name").fill(who.last_name)
    words.field(adult, "E-mail address").fill(who.email)
    child = page.get_by_role("group", name=words("Child %(number)s", number=1), exact=True)
    words.field(child, "First name", optional=True).fill(who.child)
    words.field(child, "Date of birth (for an expected child: the expected date)", optional=True).fill(who.birth_date)
    words.field(page, "Street").fill("Neusser Straße")
    words.field(page, "House number").fill("215")
    words.field(page, "Postal code").fill("50733")
    words.field(page, "This address is our main residence.").check()
    consent = "I have read the privacy notice and agree that my details are processed for the family card."
    words.field(page, consent).check()
    words.button(page.get_by_role("main"), "Send application").click()
    page.wait_for_url("**/apply/received")
    expect(page.get_by_role("heading", level=1)).to_have_text(words("Thank you, we have received your application"))


def approve(staff: Page, caseworker: User, who: Applicant) -> None:
    """A caseworker finds the application in the queue and approves it."""
    sign_in(staff, caseworker.email)
    link(staff.get_by_role("main"), "Applications and cards").click()
    staff.wait_for_url("**/staff/applications")
    expect(staff.get_by_role("heading", level=1)).to_have_text(de("Applications"))
    row = staff.get_by_role("row").filter(has_text=f"{who.first_name} {who.last_name}")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(de(STATUS_LABELS["submitted"]))
    row.get_by_role("link").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(de("Application from %(names)s", names=who.last_name))
    expect(staff.get_by_role("main")).to_contain_text(de("Every rule is met."))
    button(staff.get_by_role("main"), "Approve and issue the card").click()
    expect(notice(staff)).to_have_text(de("The application has been approved and the card issued."))


def issued_card(db: Callable[[], Session], who: Applicant) -> Card:
    """The card the approval issued to the household of ``who``, whose application is now approved."""
    with db() as s:
        adult = s.scalars(select(HouseholdAdult).where(HouseholdAdult.email == who.email)).one()
        household = s.get(Household, adult.household_id)
        assert household is not None
        application = s.scalars(select(Application).where(Application.household_id == household.id)).one()
        assert application.status == "approved"
        card: Card = s.scalars(select(Card).where(Card.household_id == household.id)).one()
        return card


def approval_link(db: Callable[[], Session], live_server: LiveServer, who: Applicant, number: str) -> str:
    """The sign-in link of the approval e-mail (the outgoing mail table is the test's mailbox)."""

    def approval_mail() -> str:
        with db() as s:
            bodies = s.scalars(select(Email.body_text).where(Email.to_address == who.email)).all()
        return next((body for body in bodies if "/login/family/" in body), "")

    body = wait_until(approval_mail, what=f"the approval e-mail to {who.email}")
    assert number in body, body
    found = re.search(re.escape(live_server.url) + r"/login/family/[A-Za-z0-9_-]+", body)
    assert found, body
    return found.group(0)


def activate_and_show(page: Page, words: Words, mail_link: str, number: str) -> str:
    """Sign in with the e-mailed link, activate the card on this phone; returns the text of the code shown."""
    page.goto(mail_link)
    expect_language(page, words.locale)
    words.button(page.get_by_role("main"), "Sign in now").click()
    page.wait_for_url("**/card")
    expect_language(page, words.locale)
    expect(page.get_by_role("heading", level=1)).to_have_text(words("My family card"))
    expect(page.locator(".card-number")).to_have_text(number)
    expect(page.locator(".card-status")).to_have_attribute("data-status", "active")
    expect(page.locator("table.credentials")).to_have_count(0)
    words.button(page, "Activate the card on this phone").click()
    expect(page.get_by_role("img", name=words("QR code of your family card, renewed every 15 seconds"))).to_be_visible()
    expect(page.locator("#qr svg")).to_be_visible()
    expect(page.locator("#qr-status")).to_have_text(words("The code is live."))
    expect(page.locator("table.credentials tbody tr")).to_have_count(1)
    return scan(page)


def redeem_at_the_till(page: Page, shop: Shop, code: str, number: str) -> None:
    """The cashier opens the scanner, the barcode scanner types the phone's code, one tap redeems."""
    sign_in(page, shop.cashier.email)
    link(page.get_by_role("main"), "Check family cards and redeem benefits").click()
    page.wait_for_url("**/partner/scanner")
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
    # The partner's only location is chosen already.
    expect(page.get_by_label(de("Location"), exact=True)).to_have_value(str(shop.location_id))
    enter(page, code)
    expect_verdict(page, "valid", REASON_TEXTS["ok"])
    expect(page.locator("#result-notes")).to_have_text(de("Phone code checked."))
    expect(page.locator("#result-facts")).to_contain_text(number)
    expect(offer(page, BENEFIT)).to_contain_text(texts("Uses left for this card: {n}", n=1))
    offer(page, BENEFIT).get_by_role("button").click()
    expect(page.locator("#redeem-status")).to_have_text(
        texts("Redeemed: {title} (quantity {quantity}).", title=BENEFIT, quantity=1)
    )
    expect(offer(page, BENEFIT)).to_contain_text(de("Not available now: used up."))
    wait_until(lambda: has_focus(page, "#scan-input"), timeout=30, what="focus back after redeeming")


def recorded_redemptions(db: Callable[[], Session], card: Card) -> list[Redemption]:
    with db() as s:
        return list(s.scalars(select(Redemption).where(Redemption.card_id == card.id)))


# -- the test -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["de", "ar"])
def test_a_family_applies_is_approved_activates_on_the_phone_and_redeems_at_the_till(
    db: Callable[[], Session],
    live_server: LiveServer,
    phone: BrowserContext,
    desktop: BrowserContext,
    till: BrowserContext,
    make_user: Any,
    shop: Shop,
    problems: Problems,
    locale: str,
) -> None:
    assert locale in i18n.SUPPORTED_LOCALES
    words = Words(locale)
    who = APPLICANTS[locale]
    caseworker = make_user(Role.CASEWORKER)
    family = problems.watch(phone.new_page())

    choose_language(family, words)
    apply(family, words, who)
    with db() as s:
        assert s.scalars(select(Card)).all() == [], "staff decide: no card before the approval"

    staff = problems.watch(desktop.new_page())
    approve(staff, caseworker, who)
    card = issued_card(db, who)
    number = format_card_number(card.number)
    expect(staff.get_by_role("main")).to_contain_text(number)

    code = activate_and_show(family, words, approval_link(db, live_server, who, number), number)

    redeem_at_the_till(problems.watch(till.new_page()), shop, code, number)

    (redemption,) = recorded_redemptions(db, card)
    assert (redemption.benefit_id, redemption.location_id, redemption.partner_id) == (
        shop.benefit_id,
        shop.location_id,
        shop.partner_id,
    )
    assert (redemption.status, redemption.presentation, redemption.quantity) == ("recorded", "phone", 1)
    assert redemption.recorded_by_user_id == shop.cashier.id
