"""Arabic pages in a real Chromium: right to left, the layout mirrored, nothing wider than a phone.

The same pages in German are the comparison: what starts at the left edge in German starts at the right edge in
Arabic, so a property written as a physical left or right (instead of inline start and end) shows up here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy.orm import Session

from tests.browser.conftest import LiveServer, new_context, screenshot
from tests.integration.test_card_credentials import issue_family_card

pytestmark = pytest.mark.browser

PAGES = ["/", "/apply"]
NARROW = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1}
# Bounding boxes are in CSS pixels; a rounding of the layout is no mirror.
SLACK = 2.0


@pytest.fixture
def narrow(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = new_context(browser, live_server, **NARROW)
    yield context
    context.close()


@pytest.fixture
def wide(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = new_context(browser, live_server, viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return {"left": found["x"], "right": found["x"] + found["width"], "top": found["y"]}


def layout(page: Page) -> dict[str, Any]:
    """Where the main navigation, its first item and the page's heading begin, and the page's widths."""
    return {
        "dir": page.evaluate("document.documentElement.dir"),
        "lang": page.evaluate("document.documentElement.lang"),
        "nav": box(page, "header nav .nav"),
        "first": box(page, "header nav .nav > li:first-child"),
        "header": box(page, "header.site-header"),
        "heading": box(page, "main h1"),
        "main": box(page, "main"),
        "scroll_width": page.evaluate("document.documentElement.scrollWidth"),
        "client_width": page.evaluate("document.documentElement.clientWidth"),
    }


@pytest.mark.parametrize("path", PAGES)
def test_arabic_pages_run_right_to_left(narrow: BrowserContext, path: str) -> None:
    page = narrow.new_page()
    page.goto(f"{path}?lang=ar")
    arabic = layout(page)
    screenshot(page, f"rtl{path.replace('/', '-') or '-home'}-ar-390")
    assert (arabic["dir"], arabic["lang"]) == ("rtl", "ar")
    # The main navigation starts at the right edge: its first item is at the right of the list.
    assert abs(arabic["first"]["right"] - arabic["nav"]["right"]) <= SLACK, arabic
    assert arabic["first"]["left"] > arabic["nav"]["left"] + SLACK, arabic
    # The heading starts at the right edge of the content too.
    heading_text = page.locator("main h1").first
    text_right = heading_text.evaluate(
        "h => { const r = document.createRange(); r.selectNodeContents(h); return r.getBoundingClientRect().right; }"
    )
    assert abs(text_right - arabic["heading"]["right"]) <= SLACK, (text_right, arabic["heading"])
    # Nothing wider than a phone: no sideways scrolling at 390 px.
    assert arabic["scroll_width"] <= arabic["client_width"], arabic

    page.goto(f"{path}?lang=de")
    german = layout(page)
    assert (german["dir"], german["lang"]) == ("ltr", "de")
    assert abs(german["first"]["left"] - german["nav"]["left"]) <= SLACK, german
    assert german["scroll_width"] <= german["client_width"], german


def test_the_header_is_mirrored_on_a_wide_screen(wide: BrowserContext) -> None:
    page = wide.new_page()
    page.goto("/?lang=ar")
    arabic = layout(page)
    brand = box(page, "header .brand")
    # The site's name stands at the right, its navigation to the left of it.
    assert abs(brand["right"] - (arabic["header"]["right"] - 16)) <= SLACK + 1, (brand, arabic["header"])
    assert arabic["nav"]["right"] < brand["left"], (arabic["nav"], brand)
    page.goto("/?lang=de")
    german_brand = box(page, "header .brand")
    assert german_brand["left"] < box(page, "header nav .nav")["left"]


# The left edge of each group of characters of the first text node under an element, in the order written.
GROUP_POSITIONS = """el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const node = walker.nextNode();
    const out = [];
    for (const m of node.textContent.matchAll(/\\S+/g)) {
        const r = document.createRange();
        r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
        out.push(r.getBoundingClientRect().left);
    }
    return out;
}"""


def test_a_card_number_keeps_its_order_in_arabic(
    narrow: BrowserContext, db: Callable[[], Session], make_user: Any, sign_in: Callable[[Page, Any], None]
) -> None:
    page = narrow.new_page()
    # The check can fail: groups of digits separated by spaces, not isolated, run right to left in Arabic.
    page.set_content('<html lang="ar" dir="rtl"><body><p id="raw">رقم البطاقة 1234 5678</p></body></html>')
    raw: list[float] = page.locator("#raw").evaluate(GROUP_POSITIONS)
    assert raw[-1] < raw[-2]

    family = issue_family_card(db, make_user)
    sign_in(page, family.users[0])
    page.goto("/card/data?lang=ar")
    number = page.locator("dd bdi[dir=ltr]").first
    text = number.inner_text()
    assert len(text.split()) > 1, text
    lefts: list[float] = number.evaluate(GROUP_POSITIONS)
    assert lefts == sorted(lefts), (text, lefts)
