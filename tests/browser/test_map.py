"""The map in Chromium: markers from the GeoJSON endpoint, popups, the category filter, and no tiles (no network)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, ConsoleMessage, Route, expect
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.partners.models import Location, Partner
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_partner_journey import sign_in


def add_partner(
    db: Callable[[], Session], name: str, category: str, *points: tuple[float, float], status: str = "approved"
) -> uuid.UUID:
    with db() as session, session.begin():
        partner = Partner(name=name, status=status, category=category)
        session.add(partner)
        session.flush()
        for index, (latitude, longitude) in enumerate(points):
            session.add(
                Location(
                    partner_id=partner.id,
                    name=f"{name} {index + 1}" if len(points) > 1 else name,
                    street="Beispielstraße",
                    house_number=str(index + 1),
                    postal_code="50667",
                    latitude=latitude,
                    longitude=longitude,
                )
            )
        return partner.id


def test_markers_popups_and_the_filter_work_without_tiles(
    desktop: BrowserContext, live_server: LiveServer, db: Callable[[], Session]
) -> None:
    add_partner(db, "Zoo Köln", "leisure", (50.9581, 6.9752), (50.9585, 6.9760))
    museum = add_partner(db, "Museum Ludwig", "culture", (50.9409, 6.9599))
    add_partner(db, "Noch nicht geprüft", "culture", (50.93, 6.95), status="pending")

    page = desktop.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if _is_problem(m) else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    tile_requests: list[str] = []

    def no_network(route: Route) -> None:
        tile_requests.append(route.request.url)
        route.abort("internetdisconnected")

    page.route(re.compile(r"^https://tile\.openstreetmap\.org/"), no_network)
    # Without animations (the page honours reduced motion): a marker still gliding into place can miss a click
    # on a busy machine.
    page.emulate_media(reduced_motion="reduce")
    page.goto("/map?lang=en")

    # Every place of an approved partner becomes a marker (nearby ones clustered); the list shows the same places.
    expect(page.locator("#map")).to_have_attribute("data-markers", "3")
    expect(page.locator("#map .leaflet-marker-icon").first).to_be_visible()
    expect(page.locator("#map-places li")).to_have_count(3)
    # The tiles could not load: the page says so and keeps working.
    expect(page.locator("#map-status")).to_have_text(
        "The map images could not be loaded. All places are listed below the map."
    )
    assert tile_requests
    assert all(re.match(r"https://tile\.openstreetmap\.org/\d+/\d+/\d+\.png$", url) for url in tile_requests)

    page.select_option("#map-category", "culture")
    # The list is fetched again for the category (the server's first page of it), and screen readers are told.
    expect(page.locator("#map-places li")).to_have_count(1)
    expect(page.locator("#map-places a")).to_have_text("Museum Ludwig")
    expect(page.locator("#map-list-status")).to_have_text("Places 1 to 1 of 1, by partner name.")
    assert page.url.endswith("category=culture")
    marker = page.locator('#map .leaflet-marker-icon[title="Museum Ludwig"]')
    expect(marker).to_be_visible()
    expect(page.locator('#map .leaflet-marker-icon[title^="Zoo Köln"]')).to_have_count(0)

    marker.click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("Museum Ludwig")
    expect(popup).to_contain_text("Beispielstraße 1, 50667")
    link = popup.get_by_role("link", name="To the partner page")
    expect(link).to_have_attribute("href", f"{live_server.url}/partners/{museum}")
    screenshot(page, "map-filtered-popup")

    # The markers are reachable with the keyboard too (Leaflet makes them focusable).
    marker.focus()
    expect(marker).to_be_focused()
    assert problems == [], problems


def _is_problem(message: ConsoleMessage) -> bool:
    """Errors, except the failed tile loads this test causes on purpose."""
    if message.type != "error":
        return False
    return "ERR_INTERNET_DISCONNECTED" not in message.text and "Failed to load resource" not in message.text


def test_the_list_is_the_page_when_the_places_cannot_be_fetched(
    desktop: BrowserContext, live_server: LiveServer, db: Callable[[], Session]
) -> None:
    add_partner(db, "Zoo Köln", "leisure", (50.9581, 6.9752))
    page = desktop.new_page()
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    page.route("**/api/v1/partners.geojson", lambda route: route.fulfill(status=503, body="{}"))
    page.goto("/map?lang=en")
    expect(page.locator("#map-status")).to_contain_text("could not be")
    expect(page.locator("#map-places li")).to_have_count(1)
    expect(page.locator("#map-places a")).to_have_text("Zoo Köln")


def test_a_partner_picks_the_position_of_a_location_on_the_map(
    desktop: BrowserContext, live_server: LiveServer, make_user: Callable[..., Any]
) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    page = desktop.new_page()
    page.route(re.compile(r"^https://tile\.openstreetmap\.org/"), lambda route: route.abort("internetdisconnected"))
    sign_in(page, owner.email)
    page.goto("/partner/locations/new?lang=en")
    picker = page.locator("[data-position-picker]")
    expect(picker).to_be_visible()
    latitude = page.locator("#field-latitude")
    longitude = page.locator("#field-longitude")
    expect(latitude).to_have_value("")

    # The map opens on the city centre (Köln); a click there fills both fields and announces the position.
    picker.click(position={"x": 200, "y": 120})
    lat, lon = float(latitude.input_value()), float(longitude.input_value())
    assert abs(lat - 50.9384) < 0.05, lat
    assert abs(lon - 6.9583) < 0.1, lon
    expect(page.locator("[data-position-picker-status]")).to_contain_text(f"latitude {latitude.input_value()}")
    expect(picker.locator(".leaflet-marker-icon")).to_have_count(1)

    # Typing moves the pin instead; the fields stay the real input.
    latitude.fill("50.9409")
    longitude.fill("6.9599")
    longitude.press("Tab")
    expect(picker.locator(".leaflet-marker-icon")).to_have_count(1)
    screenshot(page, "partner-location-position-desktop")
