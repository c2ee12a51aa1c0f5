"""Keyboard only, in Chromium: a family applies, a cashier checks a typed card number and redeems, staff approve an
application, all with Tab, Shift+Tab, Enter and Space and never a click. Along the way: the skip link is the first
stop and moves focus to the main content; every stop shows a visible focus indicator; a form's Tab order follows
its visual order; a refused form's error summary takes the focus and its links lead to the fields; the scanner's
verdict is announced in a live region with an icon and a sentence, not by colour alone."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.cards import services as card_services
from familienkarte.cards.models import Application, ApplicationStatus
from familienkarte.credentials.card_numbers import format_card_number
from familienkarte.redemptions.models import Redemption
from familienkarte.redemptions.services import REASON_TEXTS
from tests.browser.test_partner_journey import de
from tests.conftest import PASSWORD
from tests.integration.test_applications import KOELN, form
from tests.integration.test_redemptions import benefit
from tests.integration.test_verifications import Till, make_till

pytestmark = pytest.mark.browser

# Enough stops to cross the longest page (the application form has about 60); a loop that needs more is lost.
MAX_STOPS = 200
FREE_ENTRY = "Freier Eintritt"


@dataclass(frozen=True)
class Stop:
    """Where the focus is after a key press: the element, its position and whether its focus can be seen."""

    key: str
    tag: str
    top: float
    left: float
    visible_focus: bool
    in_main: bool


FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== "none";
  const href = el.getAttribute("href") ? "[href=" + el.getAttribute("href") + "]" : "";
  const name = el.name ? "[name=" + el.name + "]" : "";
  const text = ":" + (el.textContent || "").trim().slice(0, 40);
  const key = el.id ? "#" + el.id : el.tagName.toLowerCase() + href + name + text;
  return {key, tag: el.tagName.toLowerCase(), top: box.top + window.scrollY, left: box.left + window.scrollX,
          visible_focus: outline || shadow, in_main: !!el.closest("main")};
}"""


def stop(page: Page) -> Stop | None:
    found = page.evaluate(FOCUSED)
    return Stop(**found) if found else None


def press(page: Page, key: str) -> Stop | None:
    page.keyboard.press(key)
    return stop(page)


def is_focused(locator: Locator) -> bool:
    return bool(locator.evaluate("(el) => el === document.activeElement"))


def tab_to(page: Page, target: Locator, key: str = "Tab") -> list[Stop]:
    """Press Tab (or Shift+Tab) until ``target`` has the focus; every stop on the way must show its focus."""
    stops: list[Stop] = []
    for _ in range(MAX_STOPS):
        if is_focused(target):
            return stops
        reached = press(page, key)
        assert reached is not None, f"{key} left the page without reaching the target"
        assert reached.visible_focus, f"no visible focus on {reached.key}"
        stops.append(reached)
    raise AssertionError(f"{key} did not reach the target in {MAX_STOPS} stops: {[s.key for s in stops[-10:]]}")


def start_with_the_skip_link(page: Page) -> None:
    """The first Tab lands on the skip link, which is then on screen; Enter moves the focus to the main content."""
    first = press(page, "Tab")
    assert first is not None
    assert first.key.startswith("a[href=#main]"), first
    assert first.visible_focus
    link = page.locator("a.skip-link")
    expect(link).to_be_in_viewport()
    expect(link).to_have_text(de("Skip to content"))
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def assert_visual_order(stops: list[Stop]) -> None:
    """Each stop lies below the previous one, or on the same line further along (right to left for Arabic)."""
    for before, after in itertools.pairwise(stops):
        if before.key == after.key:
            continue  # a date field's parts (day, month, year) are stops of one element
        same_line = abs(after.top - before.top) < 8
        assert after.top > before.top - 1 or same_line, f"{after.key} comes before {before.key} on the screen"
        if same_line:
            assert after.left >= before.left - 1, f"{after.key} lies left of {before.key} on the same line"


def sign_in_by_keyboard(page: Page, email: str) -> None:
    page.goto("/login")
    start_with_the_skip_link(page)
    tab_to(page, page.get_by_label(de("E-mail address"), exact=True))
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label(de("Password"), exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_family_applies_with_the_keyboard_alone(desktop: BrowserContext, db: Callable[[], Session]) -> None:
    page = desktop.new_page()
    page.goto("/apply")
    start_with_the_skip_link(page)

    # Straight to the button: the refused form's summary takes the focus and links to the first field.
    tab_to(page, page.get_by_role("button", name=de("Send application"), exact=True))
    page.keyboard.press("Enter")
    summary = page.locator("#error-summary")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_be_focused()
    first_error = summary.get_by_role("link").first
    expect(first_error).to_have_text(de("Please enter at least one adult."))
    tab_to(page, first_error)
    page.keyboard.press("Enter")
    first_name = page.locator("#field-adult-0-first_name")
    expect(first_name).to_be_focused()
    expect(first_name).to_have_attribute("aria-invalid", "true")
    expect(first_name).to_have_accessible_description(de("Please enter at least one adult."))

    # Now through the whole form in Tab order, filling in what a family of one adult and one child needs.
    typed = {
        "#field-adult-0-first_name": "Ayşe",
        "#field-adult-0-last_name": "Yılmaz",
        "#field-adult-0-email": "ayse.keyboard@example.org",
        "#field-child-0-first_name": "Emre",
        # Day and month alike: the field's order of parts follows the browser's own language.
        "#field-child-0-birth_date": "12122019",
        "#field-street": "Venloer Straße",
        "#field-house_number": "12a",
        "#field-postal_code": "50823",
    }
    ticked = {"#field-main_residence", "#field-consent"}
    page.keyboard.type(typed.pop("#field-adult-0-first_name"))
    submit = page.get_by_role("button", name=de("Send application"), exact=True)
    stops: list[Stop] = [s for s in [stop(page)] if s]
    for _ in range(MAX_STOPS):
        reached = press(page, "Tab")
        assert reached is not None
        assert reached.visible_focus, reached
        stops.append(reached)
        if reached.key in typed:
            page.keyboard.type(typed.pop(reached.key))
        elif reached.key in ticked:
            page.keyboard.press("Space")
            ticked.discard(reached.key)
        if is_focused(submit):
            break
    assert typed == {}, "every field was reached by Tab"
    assert ticked == set(), "every box was reached by Tab"
    in_form = [s for s in stops if s.in_main]
    assert_visual_order(in_form)
    expect(page.locator("#field-child-0-birth_date")).to_have_value("2019-12-12")
    expect(page.locator("#field-consent")).to_be_checked()
    page.keyboard.press("Enter")
    page.wait_for_url("**/apply/received")
    with db() as s:
        application = s.scalars(select(Application)).one()
        assert application.status == ApplicationStatus.SUBMITTED.value


def test_staff_approve_an_application_with_the_keyboard_alone(
    desktop: BrowserContext, db: Callable[[], Session], make_user: Any
) -> None:
    with db() as s, s.begin():
        received = card_services.submit_application(
            s, KOELN, form(locale="de"), base_url="http://127.0.0.1", today=KOELN.today()
        )
    caseworker = make_user(Role.CASEWORKER)
    page = desktop.new_page()
    sign_in_by_keyboard(page, caseworker.email)

    page.goto("/staff/applications")
    start_with_the_skip_link(page)
    tab_to(page, page.locator(f'main a[href="/staff/applications/{received.application_id}"]'))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/staff/applications/{received.application_id}")
    start_with_the_skip_link(page)
    # The decision forms follow the facts; Shift+Tab walks back the same way.
    approve = page.get_by_role("button", name=de("Approve and issue the card"), exact=True)
    reject = page.get_by_role("button", name=de("Reject"), exact=True)
    forward = tab_to(page, reject)
    assert [s for s in forward if s.key == "#field-reason"], "the reason's field comes before its button"
    assert_visual_order([s for s in forward if s.in_main])
    backward = tab_to(page, approve, key="Shift+Tab")
    keys = [s.key for s in forward]
    between = keys[keys.index(backward[-1].key) : -1]
    assert [s.key for s in backward] == between[::-1], "Shift+Tab retraces the Tab order"
    page.keyboard.press("Enter")
    expect(page.locator("main .notice")).to_have_text(de("The application has been approved and the card issued."))
    with db() as s:
        application = s.get(Application, received.application_id)
        assert application is not None
        assert application.status == ApplicationStatus.APPROVED.value


def test_a_cashier_checks_a_typed_number_and_redeems_with_the_keyboard_alone(
    desktop: BrowserContext, db: Callable[[], Session], make_user: Any
) -> None:
    till: Till = make_till(db, make_user)
    benefit(db, till, title=FREE_ENTRY, limit_count=2, limit_period="month")
    page = desktop.new_page()
    sign_in_by_keyboard(page, till.cashier.email)
    page.goto("/partner/scanner")
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")

    # The scan field has the focus; the location is chosen one step back with the arrow keys.
    scan = page.locator("#scan-input")
    expect(scan).to_be_focused()
    location = page.get_by_label(de("Location"), exact=True)
    tab_to(page, location, key="Shift+Tab")
    for _ in range(5):
        if location.input_value() == str(till.location_id):
            break
        page.keyboard.press("ArrowDown")
    expect(location).to_have_value(str(till.location_id))
    tab_to(page, scan)

    # The verdict is a live region: read out as an icon's meaning, a title and a sentence, not a colour.
    verdict = page.locator("#result-verdict")
    expect(verdict).to_have_attribute("aria-live", "polite")
    expect(verdict).to_have_attribute("role", "status")
    page.keyboard.type(format_card_number(till.number))
    page.keyboard.press("Enter")
    expect(page.locator("#result")).to_have_attribute("data-state", "valid")
    expect(page.get_by_role("status").filter(has_text=de(REASON_TEXTS["ok"]))).to_contain_text(de("Valid"))
    icon = page.evaluate("() => getComputedStyle(document.querySelector('#result .verdict-icon'), '::before').content")
    assert icon not in ("none", "normal", '""'), icon
    expect(scan).to_be_focused()

    redeem = page.locator(".offer").filter(has_text=FREE_ENTRY).get_by_role("button")
    tab_to(page, redeem)
    page.keyboard.press("Space")
    expect(page.locator("#redeem-status")).to_have_text(
        de("Redeemed: {title} (quantity {quantity}).").replace("{title}", FREE_ENTRY).replace("{quantity}", "1")
    )
    expect(page.locator("#redeem-status")).to_have_attribute("aria-live", "polite")
    with db() as s:
        recorded = s.scalars(select(Redemption).where(Redemption.partner_id == till.partner_id)).all()
    assert [(r.location_id, r.quantity, r.status) for r in recorded] == [(till.location_id, 1, "recorded")]


def test_focus_is_visible_on_every_stop_of_the_home_page(desktop: BrowserContext) -> None:
    page = desktop.new_page()
    page.goto("/")
    footer_link = page.locator("footer a[href='/accessibility']")
    stops = tab_to(page, footer_link)
    assert stops[0].key.startswith("a[href=#main]")
    assert len({s.key for s in stops}) == len(stops), "no element is visited twice"
    page.keyboard.press("Enter")
    page.wait_for_url("**/accessibility")
    expect(page.get_by_role("heading", level=1)).to_have_text(de("Accessibility statement"))
