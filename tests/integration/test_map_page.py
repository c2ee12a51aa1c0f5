"""The public map page: the places listed for everyone, the Content-Security-Policy for the tiles, Leaflet's files."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from familienkarte.catalogue import map_services
from familienkarte.partners.models import Location, Partner
from familienkarte.settings import ConfigError, load_settings
from familienkarte.web.context import CSP
from tests.conftest import BASE_URL
from tests.helpers import make_test_settings

MakePlace = Callable[..., Location]


@pytest.fixture
def make_place(db: Callable[[], Session]) -> MakePlace:
    """A location at Köln coordinates, of a partner of its own (or of the partner with ``partner_id``)."""

    def make(
        partner_name: str = "Zoo Köln",
        name: str | None = None,
        *,
        status: str = "approved",
        category: str | None = "leisure",
        partner_id: uuid.UUID | None = None,
        coordinates: tuple[float, float] | None = (50.9581, 6.9752),
        active: bool = True,
        **fields: str,
    ) -> Location:
        with db() as session, session.begin():
            if partner_id is None:
                partner = Partner(name=partner_name, status=status, category=category)
                session.add(partner)
                session.flush()
                partner_id = partner.id
            latitude, longitude = coordinates or (None, None)
            location = Location(
                partner_id=partner_id,
                name=name or partner_name,
                latitude=latitude,
                longitude=longitude,
                is_active=active,
                **fields,
            )
            session.add(location)
        return location

    return make


def places(html: str) -> list[str]:
    """The list below the map: each item's text, whitespace collapsed."""
    listing = re.search(r'<ul class="map-places" id="map-places">(.*?)</ul>', html, re.DOTALL)
    if listing is None:
        return []
    items = re.findall(r"<li[^>]*>(.*?)</li>", listing.group(1), re.DOTALL)
    texts = [re.sub(r"<[^>]+>", " ", re.sub(r"</?a\b[^>]*>", "", item)) for item in items]
    return [" ".join(text.split()) for text in texts]


def test_the_list_shows_the_active_places_with_coordinates_of_approved_partners_only(
    client: TestClient[Litestar], make_place: MakePlace
) -> None:
    zoo = make_place("Zoo Köln", street="Riehler Straße", house_number="173", postal_code="50735", district="Nippes")
    make_place("Museum", "Museum Ludwig", category="culture", district="Innenstadt")
    make_place("Bad Anmeldung", status="pending")
    make_place("Bad Ruht", status="suspended")
    make_place("Bad Nein", status="rejected")
    make_place("Ohne Ort", coordinates=None)
    make_place("Geschlossen", active=False)

    response = client.get("/map", params={"lang": "en"})

    assert response.status_code == 200
    assert places(response.text) == [
        "Museum: Museum Ludwig District: Innenstadt Culture",
        "Zoo Köln Riehler Straße 173, 50735 District: Nippes Leisure and outings",
    ]
    assert f'<a href="/partners/{zoo.partner_id}">Zoo Köln</a>' in response.text


def test_every_location_of_a_partner_is_listed_and_closed_ones_are_not(
    client: TestClient[Litestar], make_place: MakePlace
) -> None:
    first = make_place("Stadtbibliothek", "Zentralbibliothek", category="education")
    make_place(partner_id=first.partner_id, name="Bibliothek Kalk", coordinates=(50.94, 7.0))
    make_place(partner_id=first.partner_id, name="Bibliothek Alt", active=False)

    listed = places(client.get("/map", params={"lang": "en"}).text)

    assert listed == ["Stadtbibliothek: Bibliothek Kalk Education", "Stadtbibliothek: Zentralbibliothek Education"]


def test_partner_text_is_escaped(client: TestClient[Litestar], make_place: MakePlace) -> None:
    make_place("<script>alert(1)</script> & Co", "<b>Laden</b>", street="<img src=x>")
    html = client.get("/map", params={"lang": "en"}).text
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "<b>Laden</b>" not in html
    assert "<img src=x>" not in html


def test_the_category_filter_works_without_javascript(client: TestClient[Litestar], make_place: MakePlace) -> None:
    make_place("Zoo Köln", category="leisure")
    make_place("Museum", category="culture")
    make_place("Bäckerei", category="food")

    filtered = client.get("/map", params={"category": "culture", "lang": "en"})
    assert places(filtered.text) == ["Museum Culture"]
    # The filter offers the categories that have places, the chosen one selected.
    options = re.findall(r'<option value="([a-z]*)"( selected)?>', filtered.text)
    assert options == [("", ""), ("culture", " selected"), ("leisure", ""), ("food", "")]

    # An unknown category (an old or edited link) filters nothing instead of failing.
    unknown = client.get("/map", params={"category": "casino", "lang": "en"})
    assert unknown.status_code == 200
    assert len(places(unknown.text)) == 3


@pytest.fixture
def three_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(map_services, "MAP_PER_PAGE", 3)


def test_the_list_comes_in_pages_in_the_order_of_the_names(
    client: TestClient[Litestar], make_place: MakePlace, three_a_page: None
) -> None:
    for name in ("Eis", "Bad", "Zoo", "apotheke", "Chor", "Dom", "Fähre"):
        make_place(name, category="culture" if name in ("Chor", "Dom") else "leisure")

    first = client.get("/map", params={"lang": "en"})
    assert first.status_code == 200
    assert [place.split()[0] for place in places(first.text)] == ["apotheke", "Bad", "Chor"]
    assert "Places 1 to 3 of 7, by partner name." in first.text
    assert "Page 1 of 3" in first.text
    assert 'href="/map?page=2#places-title" rel="next"' in first.text
    assert 'rel="prev"' not in first.text

    last = client.get("/map", params={"lang": "en", "page": "3"})
    assert [place.split()[0] for place in places(last.text)] == ["Zoo"]
    assert "Places 7 to 7 of 7, by partner name." in last.text
    assert 'href="/map?page=2#places-title" rel="prev"' in last.text
    assert 'rel="next"' not in last.text

    # A page after the last (places went since the link was made) shows the last.
    gone = client.get("/map", params={"lang": "en", "page": "40"})
    assert gone.status_code == 200
    assert places(gone.text) == places(last.text)


def test_the_pages_keep_the_category(client: TestClient[Litestar], make_place: MakePlace, three_a_page: None) -> None:
    for number in range(5):
        make_place(f"Museum {number}", category="culture")
    make_place("Zoo Köln", category="leisure")

    page = client.get("/map", params={"lang": "en", "category": "culture", "page": "2"})
    assert [place.split()[1] for place in places(page.text)] == ["3", "4"]
    assert "Places 4 to 5 of 5, by partner name." in page.text
    assert 'href="/map?category=culture#places-title" rel="prev"' in page.text


@pytest.mark.parametrize("raw", ["zwei", "0", "-1", "1.5", "99999999999"])
def test_a_page_that_is_no_whole_number_is_refused_at_the_list(
    client: TestClient[Litestar], make_place: MakePlace, raw: str
) -> None:
    make_place("Zoo Köln")
    response = client.get("/map", params={"lang": "en", "page": raw})
    assert response.status_code == 422
    assert "The page must be a whole number from 1 to 100000." in response.text
    # The first page is shown below the message.
    assert places(response.text) == ["Zoo Köln Leisure and outings"]


def test_without_places_the_page_says_so(client: TestClient[Litestar]) -> None:
    html = client.get("/map", params={"lang": "en"}).text
    assert places(html) == []
    assert re.search(r'<p id="map-places-empty">\s*There are no places to show.', html)


def test_the_page_is_public_and_has_no_inline_script_or_style(client: TestClient[Litestar]) -> None:
    response = client.get("/map", params={"lang": "en"})
    assert response.status_code == 200
    html = response.text
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.DOTALL)
    assert scripts == ["", "", ""]
    assert re.findall(r'<script\b[^>]*src="([^"]+)"', html) == [
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/static/js/map.js",
    ]
    assert " style=" not in html
    assert "<style" not in html
    # The map is hidden until the script shows it; it is labelled, and the list can be reached past it.
    assert re.search(r'<div id="map" class="map" hidden\s+role="region" aria-label="Map of partner locations"', html)
    assert 'data-geojson="/api/v1/partners.geojson"' in html
    assert 'data-tile-url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in html
    assert '<label for="map-category">' in html


def csp_directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_only_the_map_page_may_load_images_from_the_tile_server(client: TestClient[Litestar]) -> None:
    on_map = csp_directives(client.get("/map", params={"lang": "en"}).headers["content-security-policy"])
    site = csp_directives(CSP)

    assert on_map["img-src"] == "'self' data: blob: https://tile.openstreetmap.org"
    assert {name: value for name, value in on_map.items() if name != "img-src"} == {
        name: value for name, value in site.items() if name != "img-src"
    }
    assert on_map["script-src"] == "'self'"
    assert on_map["style-src"] == "'self'"
    for other in ("/", "/login", "/static/css/site.css", "/no-such-page"):
        assert client.get(other).headers["content-security-policy"] == CSP, other
    assert "openstreetmap" not in CSP


@pytest.fixture
def own_tiles_client(migrated_db: str, tmp_path: Path, db: Callable[[], Session]) -> Iterator[TestClient[Litestar]]:
    from familienkarte.app import create_app

    settings = make_test_settings(
        tmp_path / "var",
        migrated_db,
        FK_BASE_URL=BASE_URL,
        FK_MAP_TILE_URL="https://{s}.karten.stadt.example:8443/tiles/{z}/{x}/{y}.png?key=public",
        FK_MAP_ATTRIBUTION='Stadt <Köln> & "OSM"',
        FK_MAP_ATTRIBUTION_URL="https://karten.stadt.example/lizenz",
    )
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        yield client


def test_a_city_can_use_its_own_tile_server(own_tiles_client: TestClient[Litestar]) -> None:
    response = own_tiles_client.get("/map", params={"lang": "en"})
    directives = csp_directives(response.headers["content-security-policy"])
    assert directives["img-src"] == "'self' data: blob: https://*.karten.stadt.example:8443"
    assert 'data-tile-url="https://{s}.karten.stadt.example:8443/tiles/{z}/{x}/{y}.png?key=public"' in response.text
    assert 'data-attribution="Stadt &lt;Köln&gt; &amp; &#34;OSM&#34;"' in response.text
    assert 'data-attribution-url="https://karten.stadt.example/lizenz"' in response.text


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ftp://tiles.example/{z}/{x}/{y}.png", "http(s)://"),
        ("tiles.example/{z}/{x}/{y}.png", "http(s)://"),
        ("https://tiles.example/{z}/{x}.png", "{y}"),
        ("https://tiles.example/tile.png", "{z}, {x}, {y}"),
        ("https://tiles.{s}.example/{z}/{x}/{y}.png", "{s} only as its first part"),
        ("https://user@tiles.example/{z}/{x}/{y}.png", "{s} only as its first part"),
    ],
)
def test_a_tile_url_that_cannot_work_is_refused(value: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"FK_DATA_DIR": str(tmp_path), "FK_MAP_TILE_URL": value})
    assert str(refused.value).startswith("FK_MAP_TILE_URL: ")
    assert words in str(refused.value)


def test_the_attribution_link_must_be_a_web_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"FK_MAP_ATTRIBUTION_URL: .*http\(s\)://"):
        load_settings({"FK_DATA_DIR": str(tmp_path), "FK_MAP_ATTRIBUTION_URL": "javascript:alert(1)"})


VENDOR_FILES = {
    "/static/vendor/leaflet/leaflet.js": "javascript",
    "/static/vendor/leaflet/leaflet.css": "text/css",
    "/static/vendor/leaflet/images/marker-icon.png": "image/png",
    "/static/vendor/leaflet/images/marker-shadow.png": "image/png",
    "/static/vendor/leaflet.markercluster/leaflet.markercluster.js": "javascript",
    "/static/vendor/leaflet.markercluster/MarkerCluster.css": "text/css",
    "/static/vendor/leaflet.markercluster/MarkerCluster.Default.css": "text/css",
    "/static/js/map.js": "javascript",
    "/static/css/map.css": "text/css",
}


@pytest.mark.parametrize("path", sorted(VENDOR_FILES))
def test_the_map_files_are_served_from_this_site(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert VENDOR_FILES[path] in response.headers["content-type"]
    assert response.content


def test_only_the_libraries_dist_folders_are_served(client: TestClient[Litestar]) -> None:
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    for outside in ("/static/vendor/leaflet/package.json", "/static/vendor/leaflet/../leaflet/package.json"):
        assert client.get(outside).status_code == 404, outside


def test_a_partner_id_in_the_list_is_the_partner_page(client: TestClient[Litestar], make_place: MakePlace) -> None:
    place = make_place("Theater")
    links = re.findall(r'<a href="(/partners/[^"]+)">Theater</a>', client.get("/map", params={"lang": "en"}).text)
    assert links == [f"/partners/{place.partner_id}"]
    assert uuid.UUID(links[0].rsplit("/", 1)[1]) == place.partner_id
