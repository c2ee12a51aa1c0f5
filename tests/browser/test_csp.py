"""The site's Content Security Policy in Chromium: the main pages, the scanner and the map among them, run under the
policy the server sends and break none of it (no ``securitypolicyviolation`` event, no CSP message on the console).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from tests.browser.conftest import DESKTOP, PHONE, LiveServer, new_context
from tests.browser.test_accessibility import ANONYMOUS, build_site, sign_in_as
from tests.browser.test_partner_journey import block_tiles

pytestmark = pytest.mark.browser

# Runs before the page's own scripts, outside the policy (Playwright adds it through the browser, not the page).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || ""}:${event.lineNumber || ""}`);
});
"""

INJECT_INLINE_SCRIPT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.__ran = true";
  document.body.append(script);
}"""

# Who opens which pages.
MAIN_PAGES: dict[str, list[Callable[[Any], str]]] = {
    ANONYMOUS: [
        lambda _s: "/",
        lambda _s: "/benefits",
        lambda s: f"/benefits/{s.benefit_id}",
        lambda s: f"/partners/{s.partner_id}",
        lambda _s: "/finder",
        lambda _s: "/map",
        lambda _s: "/apply",
        lambda _s: "/partner/register",
        lambda _s: "/login",
    ],
    Role.FAMILY.value: [lambda _s: "/card", lambda _s: "/card/data"],
    Role.CASHIER.value: [lambda _s: "/partner/scanner"],
    Role.PARTNER_OWNER.value: [lambda _s: "/partner/benefits/new", lambda s: f"/partner/locations/{s.location_id}"],
    Role.ANALYST.value: [lambda _s: "/staff/statistics"],
}


def test_the_main_pages_break_no_rule_of_the_content_security_policy(
    browser: Browser,
    live_server: LiveServer,
    db: Callable[[], Session],
    make_user: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site, people = build_site(db, make_user, live_server, monkeypatch)
    failures: list[str] = []
    visited = 0
    for who, pages in MAIN_PAGES.items():
        size: dict[str, Any] = PHONE if who in (ANONYMOUS, Role.FAMILY.value) else DESKTOP
        context = new_context(browser, live_server, **size)
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        block_tiles(page)
        console: list[str] = []

        def on_console(message: ConsoleMessage, console: list[str] = console) -> None:
            if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
                console.append(message.text)

        page.on("console", on_console)
        sign_in_as(page, who, people, db)
        for address in pages:
            url = address(site)
            console.clear()
            response = page.goto(url, wait_until="load")
            assert response is not None, url
            assert response.status == 200, (url, response.status)
            assert "content-security-policy" in response.headers, url
            # Let the page's modules run (the map draws its markers, the scanner starts).
            page.wait_for_load_state("networkidle")
            visited += 1
            violations = page.evaluate("window.__cspViolations")
            failures += [f"{url} as {who}: {v}" for v in [*violations, *console]]
        if who == ANONYMOUS:
            # The check sees a violation: an inline script put into the page is blocked and reported.
            page.evaluate(INJECT_INLINE_SCRIPT)
            page.wait_for_function("window.__cspViolations.length > 0")
            assert "script-src" in page.evaluate("window.__cspViolations")[0]
        context.close()
    assert visited == sum(len(pages) for pages in MAIN_PAGES.values())
    assert failures == [], "\n".join(failures)
