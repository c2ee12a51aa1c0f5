"""The statistics dashboard in Chromium at desktop size: an analyst opens it, sees the charts with their tables,
and narrows the figures to one partner by typing a part of its name into the filter form."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, expect

from familienkarte import i18n
from familienkarte.accounts.roles import Role
from tests.browser.conftest import screenshot
from tests.browser.test_partner_journey import sign_in
from tests.integration.test_staff_statistics import Factory, World, build_world

pytestmark = pytest.mark.browser


@pytest.fixture
def world(db: Factory) -> World:
    return build_world(db)


def de(message: str) -> str:
    return i18n.translations("de").gettext(message)


def test_an_analyst_sees_the_charts_and_narrows_them_to_a_partner(
    desktop: BrowserContext, make_user: Any, world: World
) -> None:
    analyst = make_user(Role.ANALYST)
    page = desktop.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if isinstance(message, ConsoleMessage) and "Content Security Policy" in message.text
            else None
        ),
    )
    sign_in(page, analyst.email)
    page.goto("/staff/")
    page.get_by_role("link", name=de("Statistics"), exact=True).click()
    page.wait_for_url("**/staff/statistics")

    page.get_by_label(f"{de('From')} ({de('optional')})", exact=True).fill("2026-07-01")
    page.get_by_label(f"{de('To')} ({de('optional')})", exact=True).fill("2026-07-31")
    page.get_by_role("button", name=de("Show figures"), exact=True).click()
    page.wait_for_url("**/staff/statistics?*")

    main = page.get_by_role("main")
    expect(main.get_by_role("img", name=de("Redemptions per day"))).to_be_visible()
    expect(main.get_by_role("img", name=de("Redemptions by category"))).to_be_visible()
    expect(main.get_by_role("table", name=de("Redemptions per day"))).to_be_visible()
    expect(main.get_by_role("table", name=de("Fraud signals by partner"))).to_be_visible()
    expect(page.locator("#figure-redemptions")).to_have_text("5")
    screenshot(page, "staff-statistics-desktop")

    partner = page.get_by_label(f"{de('Partner')} ({de('optional')})", exact=True)
    partner.fill("porz")
    page.get_by_role("button", name=de("Show figures"), exact=True).click()
    expect(page.locator("#figure-redemptions")).to_have_text("1")
    expect(partner).to_have_value("Bad Porz")  # the part typed, shown back as the whole name
    top = main.get_by_role("table", name=de("Partners with the most redemptions"))
    expect(top.get_by_role("row")).to_have_count(2)  # the header and Bad Porz
    expect(top).to_contain_text("Bad Porz")
    expect(top).not_to_contain_text("Zoo Köln")
    assert refused == []
