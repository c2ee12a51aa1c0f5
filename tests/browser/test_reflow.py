"""Reflow (WCAG 1.4.10) and zoom (1.4.4), in Chromium: the main pages of the family, partner and staff areas on a
320 px wide screen and at 200 % zoom on a 1280 px desktop. Zooming a 1280 px window to 200 % lays the page out in
640 CSS pixels, so a 640 px viewport is that zoom; CSS zoom on the body is checked as well. Nothing may need
scrolling sideways, and nothing may stick out of the screen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.credentials.card_numbers import format_card_number
from tests.browser.conftest import LiveServer, new_context, screenshot
from tests.browser.test_partner_journey import sign_in
from tests.integration.test_applications import form, submit
from tests.integration.test_redemptions import benefit
from tests.integration.test_staff_statistics import build_world
from tests.integration.test_verifications import Till, make_till

pytestmark = pytest.mark.browser

SIZES = {
    "320px": {
        "viewport": {"width": 320, "height": 640},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "zoom200": {"viewport": {"width": 640, "height": 450}, "device_scale_factor": 2},
}

# Elements that stick out of the screen on purpose: the skip link waits off screen until it has the focus, and
# visually hidden headings are 1 px boxes for screen readers.
OVERFLOW = """() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(".skip-link, .visually-hidden, [hidden]")) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    // Inside a box that scrolls sideways on its own (a wide table), the box is what must fit.
    let scroller = el.parentElement, scrolls = false;
    while (scroller && scroller !== document.body) {
      const x = getComputedStyle(scroller).overflowX;
      if (x === "auto" || x === "scroll") { scrolls = true; break; }
      scroller = scroller.parentElement;
    }
    if (scrolls) continue;
    // Text wider than its own box (a long e-mail address) overflows without moving the box.
    const spills = style.overflowX === "visible" && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0
      && box.left + el.scrollWidth > width + 1;
    if (box.right > width + 1 || box.left < -1 || spills) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
      out.push(name + " [" + Math.round(box.left) + ", " + Math.round(box.right) + "]");
    }
  }
  return {scrollWidth: root.scrollWidth, clientWidth: width, out: out.slice(0, 10)};
}"""


def assert_fits(page: Page, what: str) -> None:
    found: dict[str, Any] = page.evaluate(OVERFLOW)
    assert found["scrollWidth"] <= found["clientWidth"], f"{what}: scrolls sideways: {found}"
    assert found["out"] == [], f"{what}: sticks out of the screen: {found['out']}"


# Boxes that scroll sideways because their content is wider: each must be a labelled region in the Tab order, so
# that a keyboard user can scroll it and a screen reader names it.
SCROLLERS = """() => {
  const out = [];
  for (const el of document.querySelectorAll("main *")) {
    const x = getComputedStyle(el).overflowX;
    if ((x !== "auto" && x !== "scroll") || el.scrollWidth <= el.clientWidth + 1) continue;
    const label = el.getAttribute("aria-label") ||
      (el.getAttribute("aria-labelledby") || "").split(/\\s+/).map((id) => {
        const named = id && document.getElementById(id);
        return named ? named.textContent.trim() : "";
      }).join(" ").trim();
    out.push({tag: el.tagName.toLowerCase(), role: el.getAttribute("role"), tabindex: el.getAttribute("tabindex"),
              label: label});
  }
  return out;
}"""


# Whether a table is as wide as its words: letting no word break inside a cell must not widen any table (a table
# squeezed into a phone's width would print "Ein-ger-eicht" one piece under the other).
WORDS_BROKEN = """() => {
  const out = [];
  for (const table of document.querySelectorAll("main table")) {
    const before = table.getBoundingClientRect().width;
    const cells = [...table.querySelectorAll("th, td")];
    const kept = cells.map((cell) => cell.style.overflowWrap);
    for (const cell of cells) cell.style.overflowWrap = "normal";
    const after = table.getBoundingClientRect().width;
    cells.forEach((cell, i) => { cell.style.overflowWrap = kept[i]; });
    if (after > before + 1) out.push((table.id || table.caption?.textContent || "table") + ": " +
      Math.round(before) + " px, its words need " + Math.round(after) + " px");
  }
  return out;
}"""


def assert_scrollers_reachable(page: Page, what: str) -> None:
    for box in page.evaluate(SCROLLERS):
        assert (box["role"], box["tabindex"]) == ("region", "0"), f"{what}: {box}"
        assert box["label"], f"{what}: a scrolling box without a name: {box}"


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    found = make_till(db, make_user)
    benefit(db, found, title="Freier Eintritt für alle Kinder unter zwölf Jahren in Begleitung eines Erwachsenen")
    return found


@pytest.fixture(params=sorted(SIZES))
def small(request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = new_context(browser, live_server, locale="de-DE", **SIZES[request.param])
    context.size_name = request.param  # type: ignore[attr-defined]
    yield context
    context.close()


def check(page: Page, path: str, name: str) -> None:
    page.goto(path)
    expect(page.locator("main h1")).to_be_visible()
    assert_fits(page, f"{path} at {name}")
    screenshot(page, f"reflow-{name}-{path.strip('/').replace('/', '-') or 'home'}")


def test_public_and_family_pages_reflow(
    small: BrowserContext, till: Till, sign_in: Callable[[Page, Any], None]
) -> None:
    name = small.size_name  # type: ignore[attr-defined]
    page = small.new_page()
    for path in ("/", "/benefits", "/finder", "/apply", f"/partners/{till.partner_id}", "/accessibility", "/login"):
        check(page, path, name)
    sign_in(page, till.family.users[0])
    check(page, "/card", name)


def test_partner_and_staff_pages_reflow(
    small: BrowserContext, till: Till, make_user: Any, browser: Browser, live_server: LiveServer
) -> None:
    name = small.size_name  # type: ignore[attr-defined]
    page = small.new_page()
    sign_in(page, till.cashier.email)
    check(page, "/partner/", name)
    check(page, "/partner/scanner", name)
    expect(page.locator("#scanner")).to_have_attribute("data-ready", "true")
    page.locator("#scanner-location").select_option(str(till.location_id))
    page.locator("#scan-input").fill(format_card_number(till.number))
    page.locator("#scan-input").press("Enter")
    expect(page.locator("#result")).to_have_attribute("data-state", "valid")
    expect(page.locator(".offer")).to_have_count(1)
    assert_fits(page, f"/partner/scanner with a verdict at {name}")
    screenshot(page, f"reflow-{name}-scanner-verdict")

    staff = new_context(browser, live_server, locale="de-DE", **SIZES[name])
    try:
        staff_page = staff.new_page()
        sign_in(staff_page, make_user(Role.ADMIN).email)
        for path in ("/staff/", "/staff/applications", "/staff/statistics"):
            check(staff_page, path, name)
    finally:
        staff.close()


def test_staff_tables_reflow_with_data(small: BrowserContext, db: Callable[[], Session], make_user: Any) -> None:
    # The application queue and the statistics tables, filled: their rows fit a phone, or a wide table scrolls
    # sideways inside its own labelled box, which the keyboard can reach (WCAG 1.4.10 allows that for data tables).
    name = small.size_name  # type: ignore[attr-defined]
    build_world(db)
    submit(db, form())
    page = small.new_page()
    sign_in(page, make_user(Role.ADMIN).email)
    for path in ("/staff/applications", "/staff/statistics?from=2026-07-01&to=2026-07-31"):
        check(page, path, name)
        expect(page.locator("main table").first).to_be_visible()
        assert page.evaluate(WORDS_BROKEN) == [], f"{path} at {name}: words broken apart in table cells"
        assert_scrollers_reachable(page, f"{path} at {name}")


def test_css_zoom_of_200_percent_keeps_the_home_page_and_form_in_the_window(desktop: BrowserContext) -> None:
    page = desktop.new_page()
    for path in ("/", "/apply", "/accessibility"):
        page.goto(path)
        page.evaluate("() => { document.body.style.zoom = '2'; }")
        assert_fits(page, f"{path} with CSS zoom 200 %")
