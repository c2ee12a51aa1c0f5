"""The public catalogue, the partner page, the finder and the open data, against a real database.

Partners, locations and benefits are made with the models directly (the factories below), as the partner portal
and moderation would leave them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.benefits import rules
from familienkarte.benefits.models import ALL_WEEKDAYS, Benefit, benefit_locations
from familienkarte.cards.models import Card, Child, Household, HouseholdAdult
from familienkarte.catalogue import services
from familienkarte.city import load_city
from familienkarte.partners.models import Location, Partner, TransitStop
from tests.helpers import sign_in_as

CITY = load_city("koeln")
DAY = dt.timedelta(days=1)
_counter = itertools.count()


def today() -> dt.date:
    return CITY.today()


# Factories -----------------------------------------------------------------------------------------------------


def add_partner(s: Session, name: str = "Zoo Köln", status: str = "approved", **fields: Any) -> Partner:
    fields.setdefault("category", "leisure")
    fields.setdefault("description", {"de": f"Über {name}"})
    partner = Partner(name=name, status=status, **fields)
    s.add(partner)
    s.flush()
    return partner


def add_location(s: Session, partner: Partner, name: str | None = None, **fields: Any) -> Location:
    location = Location(partner_id=partner.id, name=name or f"{partner.name} {next(_counter)}", **fields)
    s.add(location)
    s.flush()
    return location


def add_benefit(
    s: Session,
    partner: Partner,
    title: str | dict[str, str] = "Freier Eintritt",
    *,
    locations: tuple[Location, ...] = (),
    status: str = "published",
    published_days_ago: int = 1,
    **fields: Any,
) -> Benefit:
    fields.setdefault("category", "leisure")
    fields.setdefault("kind", "free_entry")
    benefit = Benefit(
        partner_id=partner.id,
        status=status,
        title=title if isinstance(title, dict) else {"de": title},
        description=fields.pop("description", {}),
        published_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=published_days_ago),
        **fields,
    )
    s.add(benefit)
    s.flush()
    if locations:
        s.execute(insert(benefit_locations), [{"benefit_id": benefit.id, "location_id": loc.id} for loc in locations])
    return benefit


@pytest.fixture
def make(db: Callable[[], Session]) -> Callable[[Callable[[Session], Any]], Any]:
    """Run a function in one committed transaction and hand back what it returns (ids stay readable)."""

    def run(fn: Callable[[Session], Any]) -> Any:
        with db() as s, s.begin():
            result = fn(s)
            s.flush()
            s.expunge_all()
            return result

    return run


def api(client: TestClient[Litestar], **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/benefits", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def titles(client: TestClient[Litestar], **params: Any) -> list[str]:
    return [item["title"]["text"] for item in api(client, per_page=100, **params)["items"]]


def page_titles(html: str) -> list[str]:
    found = re.findall(r'<h3 class="benefit-title">(.*?)</h3>', html, re.S)
    return [re.sub(r"<[^>]+>|\s*\(in German\)|\s*\(auf Deutsch\)", "", t).strip() for t in found]


# The catalogue -------------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(make: Any) -> dict[str, uuid.UUID]:
    """A small city: two partners in two districts, benefits of every kind of filter."""

    def build(s: Session) -> dict[str, uuid.UUID]:
        zoo = add_partner(s, "Zoo Köln")
        pool = add_partner(s, "Stadtbad", category="sport")
        zoo_place = add_location(s, zoo, district="Nippes", latitude=50.958, longitude=6.973)
        pool_place = add_location(s, pool, district="Ehrenfeld", latitude=50.949, longitude=6.915)
        ids = {
            "zoo": add_benefit(
                s,
                zoo,
                {"de": "Zoo für Kinder", "en": "Zoo for children"},
                description={"de": "Tiere sehen"},
                locations=(zoo_place,),
                category="leisure",
                kind="free_entry",
                child_age_max=5,
                published_days_ago=3,
            ).id,
            "aquarium": add_benefit(
                s,
                zoo,
                "Aquarium halber Preis",
                description={"de": "Fische und Quallen"},
                locations=(zoo_place,),
                category="culture",
                kind="percent_off",
                value=50,
                child_age_min=6,
                child_age_max=12,
                published_days_ago=2,
            ).id,
            "swim": add_benefit(
                s,
                pool,
                {"de": "Schwimmkurs", "en": "Swimming course"},
                description={"de": "Seepferdchen", "en": "Learn to swim"},
                locations=(pool_place,),
                category="sport",
                kind="amount_off",
                value=500,
                child_age_min=4,
                published_days_ago=1,
            ).id,
        }
        ids["zoo_partner"], ids["pool_partner"] = zoo.id, pool.id
        return ids

    return make(build)  # type: ignore[no-any-return]


def test_everything_visible_is_listed_newest_first(client: TestClient[Litestar], catalogue: Any) -> None:
    body = api(client)
    assert [item["title"]["text"] for item in body["items"]] == [
        "Schwimmkurs",
        "Aquarium halber Preis",
        "Zoo für Kinder",
    ]
    assert body["total"] == 3
    assert body["page"] == 1
    assert body["per_page"] == 20
    assert body["links"] == {"self": "/api/v1/benefits", "next": None, "prev": None}
    first = body["items"][0]
    assert first["partner_name"] == "Stadtbad"
    assert first["offer"] == "5,00\xa0€ Rabatt"
    assert first["locations"][0]["district"] == "Ehrenfeld"
    assert first["url"] == f"/benefits/{first['id']}"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "culture"}, ["Aquarium halber Preis"]),
        ({"category": "sport"}, ["Schwimmkurs"]),
        ({"category": "food"}, []),
        ({"kind": "free_entry"}, ["Zoo für Kinder"]),
        ({"kind": "percent_off"}, ["Aquarium halber Preis"]),
        ({"district": "Nippes"}, ["Aquarium halber Preis", "Zoo für Kinder"]),
        ({"district": "Ehrenfeld"}, ["Schwimmkurs"]),
        ({"district": "Porz"}, []),
        # Age: no range, or the age within it (bounds included).
        ({"age": "0"}, ["Zoo für Kinder"]),
        ({"age": "4"}, ["Schwimmkurs", "Zoo für Kinder"]),
        ({"age": "5"}, ["Schwimmkurs", "Zoo für Kinder"]),
        ({"age": "6"}, ["Schwimmkurs", "Aquarium halber Preis"]),
        ({"age": "13"}, ["Schwimmkurs"]),
        ({"age": "26"}, ["Schwimmkurs"]),
        ({"q": "quallen"}, ["Aquarium halber Preis"]),
        ({"q": "ZOO"}, ["Zoo für Kinder"]),
        ({"q": "zoo kinder"}, ["Zoo für Kinder"]),
        ({"q": "zoo quallen"}, []),
        # Combined.
        ({"district": "Nippes", "age": "8"}, ["Aquarium halber Preis"]),
        ({"district": "Nippes", "kind": "free_entry", "age": "3"}, ["Zoo für Kinder"]),
        ({"category": "sport", "age": "2"}, []),
        ({"district": "Ehrenfeld", "q": "seepferdchen", "age": "4"}, ["Schwimmkurs"]),
    ],
)
def test_each_filter_alone_and_combined(
    client: TestClient[Litestar], catalogue: Any, params: dict[str, str], expected: list[str]
) -> None:
    assert titles(client, **params) == expected


def test_search_never_matches_the_json_keys_or_wildcards(client: TestClient[Litestar], make: Any) -> None:
    def build(s: Session) -> None:
        partner = add_partner(s, "Haus")
        add_benefit(s, partner, {"de": "Museum", "en": "Museum"}, description={"de": "Kunst", "en": "Art"})

    make(build)
    assert titles(client, q="museum") == ["Museum"]
    assert titles(client, q="art", lang="en") == ["Museum"]
    for word in ("de", "en", '"de"', ":", "{", '"', "%", "_", "%%"):
        assert titles(client, q=word, lang="en") == [], word


def test_free_text_in_english_searches_english_and_german(client: TestClient[Litestar], catalogue: Any) -> None:
    # English texts where the partner wrote them, German where not; the German title is marked as German.
    assert titles(client, q="swim", lang="en") == ["Swimming course"]
    assert titles(client, q="schwimm", lang="en") == ["Swimming course"]
    body = api(client, q="quallen", lang="en")
    item = body["items"][0]
    assert item["title"] == {"text": "Aquarium halber Preis", "language": "de", "fallback": True}
    # In German, an English word of the English text is not searched.
    assert titles(client, q="swim", lang="de") == []
    page = client.get("/benefits", params={"q": "quallen", "lang": "en"}).text
    assert "(in German)" in page


def test_sort_by_name_follows_the_readers_language(client: TestClient[Litestar], catalogue: Any) -> None:
    assert titles(client, sort="name", lang="de") == ["Aquarium halber Preis", "Schwimmkurs", "Zoo für Kinder"]
    assert titles(client, sort="name", lang="en") == ["Aquarium halber Preis", "Swimming course", "Zoo for children"]


def test_sort_by_distance_puts_the_nearest_first(client: TestClient[Litestar], catalogue: Any, make: Any) -> None:
    def far(s: Session) -> None:
        partner = add_partner(s, "Ohne Ort")
        add_benefit(s, partner, "Ohne Koordinaten", locations=(add_location(s, partner),))

    make(far)
    near_pool = api(client, sort="distance", lat="50.950", lon="6.916")
    names = [item["title"]["text"] for item in near_pool["items"]]
    assert names[0] == "Schwimmkurs"
    assert set(names[1:3]) == {"Aquarium halber Preis", "Zoo für Kinder"}
    assert names[-1] == "Ohne Koordinaten"
    assert near_pool["items"][0]["distance_m"] < 200
    assert 3500 < near_pool["items"][1]["distance_m"] < 4500
    assert near_pool["items"][-1]["distance_m"] is None
    near_zoo = [item["title"]["text"] for item in api(client, sort="distance", lat="50.958", lon="6.973")["items"]]
    assert near_zoo[2:] == ["Schwimmkurs", "Ohne Koordinaten"]
    assert near_pool["links"]["self"] == "/api/v1/benefits?sort=distance&lat=50.95000&lon=6.91600"


def test_pages_keep_the_filters(client: TestClient[Litestar], make: Any) -> None:
    def build(s: Session) -> None:
        partner = add_partner(s, "Museum")
        for number in range(5):
            add_benefit(s, partner, f"Ausstellung {number}", category="culture", published_days_ago=number + 1)
        add_benefit(s, partner, "Sport", category="sport")

    make(build)
    first = api(client, category="culture", per_page=2)
    assert [i["title"]["text"] for i in first["items"]] == ["Ausstellung 0", "Ausstellung 1"]
    assert first["total"] == 5
    assert first["links"]["prev"] is None
    assert first["links"]["next"] == "/api/v1/benefits?category=culture&per_page=2&page=2"
    second = client.get(first["links"]["next"]).json()
    assert [i["title"]["text"] for i in second["items"]] == ["Ausstellung 2", "Ausstellung 3"]
    assert second["links"]["prev"] == "/api/v1/benefits?category=culture&per_page=2"
    last = client.get(second["links"]["next"]).json()
    assert [i["title"]["text"] for i in last["items"]] == ["Ausstellung 4"]
    assert last["links"]["next"] is None
    beyond = api(client, category="culture", per_page=2, page=9)
    assert beyond["items"] == []
    assert beyond["total"] == 5
    # The page's links keep the filters too.
    html = client.get("/benefits", params={"category": "culture", "per_page": "2", "page": "2"}).text
    assert 'href="/benefits?category=culture&amp;per_page=2&amp;page=3" rel="next"' in html
    assert 'href="/benefits?category=culture&amp;per_page=2" rel="prev"' in html
    assert "Seite 2 von 3" in html


def test_the_page_and_the_api_show_the_same(client: TestClient[Litestar], catalogue: Any) -> None:
    for params in ({}, {"district": "Nippes"}, {"age": "5", "sort": "name"}, {"q": "zoo"}):
        response = client.get("/benefits", params=params)
        assert response.status_code == 200
        assert page_titles(response.text) == titles(client, **params), params


def test_the_page_keeps_the_chosen_filters_and_offers_no_distance_without_position(
    client: TestClient[Litestar], catalogue: Any
) -> None:
    html = client.get("/benefits", params={"district": "Nippes", "q": "zoo"}).text
    assert '<option value="Nippes" selected>' in html
    assert 'value="zoo"' in html
    assert 'value="distance"' not in html
    assert '<label for="field-age">' in html
    positioned = client.get("/benefits", params={"sort": "distance", "lat": "50.95", "lon": "6.9"}).text
    assert '<option value="distance" selected>' in positioned
    assert 'name="lat" value="50.95"' in positioned
    assert "km" in positioned or " m " in positioned


def test_hidden_benefits_and_partners(client: TestClient[Litestar], make: Any) -> None:
    yesterday, now = today() - dt.timedelta(days=1), today()

    def build(s: Session) -> dict[str, uuid.UUID]:
        good = add_partner(s, "Gut")
        ids = {
            "shown": add_benefit(s, good, "Sichtbar").id,
            "last_day": add_benefit(s, good, "Heute letzter Tag", valid_until=now).id,
            "future": add_benefit(s, good, "Bald", valid_from=now + dt.timedelta(days=30)).id,
        }
        for status in ("draft", "submitted", "changes_requested", "rejected", "paused", "archived"):
            ids[status] = add_benefit(s, good, f"Status {status}", status=status).id
        ids["expired"] = add_benefit(s, good, "Abgelaufen", valid_until=yesterday).id
        for status in ("suspended", "pending", "unconfirmed", "rejected", "changes_requested"):
            other = add_partner(s, f"Partner {status}", status=status)
            ids[f"partner_{status}"] = add_benefit(s, other, f"Partner {status}").id
        return ids

    ids = make(build)
    assert sorted(titles(client)) == ["Bald", "Heute letzter Tag", "Sichtbar"]
    for key, benefit_id in ids.items():
        expected = 200 if key in ("shown", "last_day", "future") else 404
        assert client.get(f"/api/v1/benefits/{benefit_id}").status_code == expected, key
        assert client.get(f"/benefits/{benefit_id}").status_code == expected, key


def test_a_suspended_partner_disappears(client: TestClient[Litestar], catalogue: Any, db: Any) -> None:
    assert "Schwimmkurs" in titles(client)
    with db() as s, s.begin():
        partner = s.get(Partner, catalogue["pool_partner"])
        partner.status = "suspended"
    assert "Schwimmkurs" not in titles(client)
    assert client.get(f"/partners/{catalogue['pool_partner']}").status_code == 404


def test_bad_parameters_are_problems_naming_them(client: TestClient[Litestar], catalogue: Any) -> None:
    response = client.get("/api/v1/benefits", params={"age": "30", "category": "casino", "sort": "distance"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"age", "category", "sort"}
    assert "no-store" in response.headers["cache-control"]
    page = client.get("/benefits", params={"age": "30"})
    assert page.status_code == 422
    assert 'href="#field-age"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert "0 bis 26" in page.text or "0 to 26" in page.text


def test_the_api_is_public_and_cacheable(client: TestClient[Litestar], catalogue: Any) -> None:
    for path in (
        "/api/v1/benefits",
        f"/api/v1/benefits/{catalogue['swim']}",
        "/api/v1/partners.geojson",
        "/api/v1/open-data/benefits.json",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "public, max-age=300", path
    assert client.get("/api/v1/partners.geojson").headers["content-type"].startswith("application/geo+json")
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/benefits" in schema["paths"]
    parameters = {p["name"] for p in schema["paths"]["/api/v1/benefits"]["get"]["parameters"]}
    assert {"category", "district", "kind", "age", "q", "sort", "lat", "lon", "page", "per_page"} <= parameters


def test_one_benefit_page(client: TestClient[Litestar], catalogue: Any) -> None:
    html = client.get(f"/benefits/{catalogue['aquarium']}").text
    assert "Aquarium halber Preis" in html
    assert "50\xa0% Rabatt" in html
    assert "Für Kinder von 6 bis 12 Jahren" in html or "6" in html
    assert f'href="/partners/{catalogue["zoo_partner"]}"' in html
    assert client.get(f"/benefits/{uuid.uuid4()}").status_code == 404
    assert client.get(f"/api/v1/benefits/{uuid.uuid4()}").json()["code"] == "not_found"


def test_the_home_page_links_to_the_catalogue_and_the_finder(client: TestClient[Litestar]) -> None:
    html = client.get("/").text
    assert 'href="/benefits"' in html
    assert 'href="/finder"' in html


def test_partner_texts_are_escaped(client: TestClient[Litestar], make: Any) -> None:
    def build(s: Session) -> uuid.UUID:
        partner = add_partner(s, "<b>Laden</b>", description={"de": "<script>alert(1)</script>"})
        add_benefit(s, partner, "<img src=x onerror=alert(1)>")
        return partner.id

    partner_id = make(build)
    for html in (client.get("/benefits").text, client.get(f"/partners/{partner_id}").text):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "<b>Laden" not in html
        assert "&lt;img src=x" in html or "&lt;b&gt;Laden" in html


# The partner page ----------------------------------------------------------------------------------------------


def test_the_partner_page(client: TestClient[Litestar], make: Any) -> None:
    def build(s: Session) -> uuid.UUID:
        partner = add_partner(
            s,
            "Odysseum",
            category="culture",
            description={"de": "Ein Museum zum Anfassen"},
            website="https://odysseum.example",
            contact_email="kontakt@odysseum.example",
            logo=b"\x89PNG",
            logo_type="image/png",
        )
        place = add_location(
            s,
            partner,
            "Odysseum Kalk",
            street="Corintostraße",
            house_number="1",
            postal_code="51103",
            district="Kalk",
            latitude=50.9400,
            longitude=7.0100,
            opening_hours={"mon": [], "tue": [["10:00", "13:00"], ["14:00", "18:00"]], "sat": [["09:00", "19:00"]]},
            hours_note={"de": "An Feiertagen geschlossen"},
            accessibility=["step_free", "baby_changing"],
            accessibility_note={"de": "Aufzug am Eingang"},
        )
        add_location(s, partner, "Alte Filiale", is_active=False)
        add_benefit(s, partner, "Familientag", locations=(place,))
        add_benefit(s, partner, "Entwurf", status="draft")
        s.add_all(
            [
                TransitStop(stop_id="1", name="Kalk Post", latitude=50.9410, longitude=7.0100),
                TransitStop(stop_id="2", name="Trimbornstraße", latitude=50.9430, longitude=7.0100),
                TransitStop(stop_id="3", name="Weit weg", latitude=51.2, longitude=7.5),
            ]
        )
        return partner.id

    partner_id = make(build)
    html = client.get(f"/partners/{partner_id}").text
    assert "<h1>Odysseum</h1>" in html
    assert "Ein Museum zum Anfassen" in html
    assert "Kultur" in html
    assert 'href="https://odysseum.example"' in html
    assert f'src="/partners/{partner_id}/logo"' in html
    assert "Corintostraße 1, 51103" in html
    assert "Kalk" in html
    assert "Alte Filiale" not in html
    # Opening hours per weekday in words, a missing day closed.
    assert '<th scope="row">Dienstag</th><td>10:00–13:00, 14:00–18:00</td>' in html
    assert "An Feiertagen geschlossen" in html
    assert "Stufenloser Zugang" in html or "Step-free access" in html
    assert "Aufzug am Eingang" in html
    # The nearest stops, nearest first, with walking minutes; a far one not at all.
    assert html.index("Kalk Post") < html.index("Trimbornstraße")
    assert "Weit weg" not in html
    assert re.search(r"Kalk Post: \d+ Minuten? Fußweg", html) or re.search(r"Kalk Post: \d+ minute", html)
    assert "Familientag" in html
    assert "Entwurf" not in html
    assert "kontakt@odysseum.example" not in html
    english = client.get(f"/partners/{partner_id}", params={"lang": "en"}).text
    assert "(in German)" in english
    assert '<th scope="row">Tuesday</th><td>10:00–13:00, 14:00–18:00</td>' in english
    assert '<th scope="row">Monday</th><td>Closed</td>' in english
    assert '<th scope="row">Sunday</th><td>Closed</td>' in english
    assert "Kalk Post: 2 minutes' walk" in english


def test_partner_pages_that_do_not_exist(client: TestClient[Litestar], make: Any) -> None:
    ids = make(lambda s: [add_partner(s, f"P {status}", status=status).id for status in ("pending", "suspended")])
    for partner_id in [*ids, uuid.uuid4()]:
        assert client.get(f"/partners/{partner_id}").status_code == 404


def test_the_partner_page_without_a_logo_or_coordinates(client: TestClient[Litestar], make: Any) -> None:
    def build(s: Session) -> uuid.UUID:
        partner = add_partner(s, "Kiosk", description={})
        add_location(s, partner, "Kiosk am Ring")
        return partner.id

    html = client.get(f"/partners/{make(build)}").text
    assert "/logo" not in html
    assert "Kiosk am Ring" in html
    assert "Öffentliche Verkehrsmittel" not in html
    assert "Public transport" not in html


# Open data -----------------------------------------------------------------------------------------------------


def test_open_data_without_personal_data(client: TestClient[Litestar], make: Any, make_user: Any) -> None:
    def build(s: Session) -> dict[str, Any]:
        partner = add_partner(
            s,
            "Bücherei",
            category="education",
            contact_email="leitung@buecherei.example",
            phone="0221 12345",
        )
        place = add_location(
            s,
            partner,
            "Bücherei Mitte",
            street="Josef-Haubrich-Hof",
            house_number="1",
            postal_code="50676",
            district="Innenstadt",
            latitude=50.934,
            longitude=6.951,
            phone="0221 99999",
            opening_hours={"mon": [["10:00", "18:00"]]},
            accessibility=["step_free"],
        )
        add_location(s, partner, "Ohne Koordinaten")
        add_location(s, partner, "Geschlossen", is_active=False, latitude=50.9, longitude=6.9)
        hidden = add_partner(s, "Noch nicht freigegeben", status="pending")
        add_location(s, hidden, latitude=50.9, longitude=6.9)
        visible = add_benefit(
            s,
            partner,
            {"de": "Lesestart", "en": "Reading start"},
            description={"de": "Bücher", "tr": "Kitaplar"},
            locations=(place,),
            category="education",
            kind="voucher",
            weekdays=0b0000011,
            child_age_max=6,
            limit_count=1,
            limit_period="year",
        )
        add_benefit(s, partner, "Entwurf", status="draft", locations=(place,))
        return {"partner": partner.id, "place": place.id, "benefit": visible.id}

    ids = make(build)
    owner = make_user(Role.PARTNER_OWNER, email="owner@buecherei.example")
    geo = client.get("/api/v1/partners.geojson")
    data = client.get("/api/v1/open-data/benefits.json")
    assert geo.status_code == data.status_code == 200
    collection = geo.json()
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"]["location_name"] for f in collection["features"]] == ["Bücherei Mitte"]
    feature = collection["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [6.951, 50.934]}
    props = feature["properties"]
    assert props["partner_id"] == str(ids["partner"])
    assert props["partner_name"] == "Bücherei"
    assert props["category"] == "education"
    assert props["district"] == "Innenstadt"
    assert props["address"] == "Josef-Haubrich-Hof 1, 50676"
    assert props["opening_hours"] == {"mon": [["10:00", "18:00"]]}
    assert props["accessibility"] == ["step_free"]
    assert props["benefits"] == 1
    assert props["partner_benefits"] == 1
    assert props["url"].endswith(f"/partners/{ids['partner']}")
    body = data.json()
    assert body["count"] == 1
    item = body["benefits"][0]
    assert item["id"] == str(ids["benefit"])
    assert item["title"] == {"de": "Lesestart", "en": "Reading start"}
    assert item["description"] == {"de": "Bücher", "tr": "Kitaplar"}
    assert item["location_ids"] == [str(ids["place"])]
    assert item["weekdays"] == ["mon", "tue"]
    assert (item["kind"], item["child_age_max"], item["limit_count"], item["limit_period"]) == ("voucher", 6, 1, "year")
    # Nothing about any person: no e-mail address, no phone number, no user id.
    for text in (geo.text, data.text):
        assert "@" not in text
        assert "0221" not in text
        assert str(owner.id) not in text
        assert "user" not in text.lower()
        assert "Noch nicht freigegeben" not in text
        assert "Entwurf" not in text
    assert json.loads(data.text)["generated_on"] == today().isoformat()


# The finder ----------------------------------------------------------------------------------------------------


@pytest.fixture
def finder_benefits(make: Any) -> dict[str, uuid.UUID]:
    def build(s: Session) -> dict[str, uuid.UUID]:
        partner = add_partner(s, "Familienzentrum")
        return {
            "all": add_benefit(s, partner, "Für alle", category="leisure").id,
            "toddler": add_benefit(
                s, partner, "Krabbelgruppe", category="education", child_age_max=3, published_days_ago=1
            ).id,
            "school": add_benefit(
                s, partner, "Schulstart", category="education", child_age_min=6, child_age_max=10, published_days_ago=2
            ).id,
            "teen": add_benefit(s, partner, "Jugendkino", category="culture", child_age_min=12).id,
            "three": add_benefit(s, partner, "Großfamilie", category="food", min_children=3).id,
            "tier": add_benefit(s, partner, "Mit Pass", category="sport", requires_entitlement=True).id,
            "ended": add_benefit(
                s,
                partner,
                "Endet bald",
                category="culture",
                child_age_min=12,
                valid_until=today() + dt.timedelta(days=40),
            ).id,
        }

    return make(build)  # type: ignore[no-any-return]


def finder(client: TestClient[Litestar], **params: Any) -> str:
    response = client.get("/finder", params=params)
    assert response.status_code == 200, response.text
    return response.text


def group_of(html: str, category: str) -> list[str]:
    match = re.search(rf'<section class="finder-group" aria-labelledby="group-{category}">(.*?)</section>', html, re.S)
    return page_titles(match.group(1)) if match else []


def test_the_finder_groups_what_the_family_may_use(client: TestClient[Litestar], finder_benefits: Any, db: Any) -> None:
    with db() as s:
        result = services.find_benefits(
            s,
            family=rules.FamilyFacts(1, (rules.year_month_for_age(2, today()), rules.year_month_for_age(7, today()))),
            locale="de",
            today=today(),
        )
    # In the order of the categories' vocabulary, each newest first.
    assert [(g.category, [c.title.text for c in g.benefits]) for g in result.groups] == [
        ("leisure", ["Für alle"]),
        ("education", ["Krabbelgruppe", "Schulstart"]),
    ]
    # Coming up: the teenage cinema when the older child turns 12, the ended one not (it is over by then).
    assert [(c.benefit.title.text, c.child_age) for c in result.coming_up] == [("Jugendkino", 12)]
    year_month = rules.year_month_for_age(7, today())
    assert result.coming_up[0].on == dt.date(year_month // 100 + 12, year_month % 100, 1)
    html = finder(client, adults="1", children="2, 7")
    assert group_of(html, "education") == ["Krabbelgruppe", "Schulstart"]
    assert group_of(html, "leisure") == ["Für alle"]
    assert group_of(html, "sport") == []
    assert "Demnächst" in html or "Coming up" in html
    assert "wenn ein Kind 12 wird" in html or "when a child turns 12" in html


def test_the_finder_with_the_tier_and_three_children(client: TestClient[Litestar], finder_benefits: Any) -> None:
    html = finder(client, adults="2", children="1,4,13", tier="1")
    assert group_of(html, "sport") == ["Mit Pass"]
    assert group_of(html, "food") == ["Großfamilie"]
    assert set(group_of(html, "culture")) == {"Jugendkino", "Endet bald"}
    assert group_of(html, "education") == ["Krabbelgruppe"]
    without = finder(client, adults="2", children="1,4,13")
    assert group_of(without, "sport") == []


def test_the_finder_form_refuses_bad_input(client: TestClient[Litestar], finder_benefits: Any) -> None:
    response = client.get("/finder", params={"adults": "0", "children": "3, 40"})
    assert response.status_code == 422
    assert 'href="#field-adults"' in response.text
    assert 'href="#field-children"' in response.text
    assert 'value="3, 40"' in response.text
    empty = client.get("/finder")
    assert empty.status_code == 200
    assert 'id="results"' not in empty.text
    assert "Meine Familienkarte verwenden" not in empty.text
    assert "Use my family card" not in empty.text


def _family_with_card(db: Any, make_user: Any, birth_dates: list[dt.date], tier: bool) -> User:
    user = make_user(Role.FAMILY, email="eltern@example.org")
    with db() as s, s.begin():
        household = Household(
            street="Domkloster",
            house_number="4",
            postal_code="50667",
            city_name="Köln",
            district="Innenstadt",
            address_key="50667|domkloster|4",
            locale="de",
            tier_claimed=tier,
            tier_approved=tier,
        )
        s.add(household)
        s.flush()
        s.add(
            HouseholdAdult(
                household_id=household.id,
                position=0,
                first_name="Eva",
                last_name="Muster",
                email="eltern@example.org",
                user_id=user.id,
            )
        )
        for index, day in enumerate(birth_dates):
            s.add(Child(household_id=household.id, position=index, first_name=f"Kind {index}", birth_date=day))
        s.add(
            Card(
                household_id=household.id,
                number="ABC234DEF",
                valid_from=today(),
                valid_until=today() + dt.timedelta(days=365),
            )
        )
    return user  # type: ignore[no-any-return]


def test_the_finder_with_a_signed_in_familys_card(
    client: TestClient[Litestar], finder_benefits: Any, db: Any, make_user: Any
) -> None:
    now = today()
    user = _family_with_card(db, make_user, [now.replace(year=now.year - 8, day=1)], tier=True)
    sign_in_as(client, user)
    page = finder(client)
    assert "Meine Familienkarte verwenden" in page or "Use my family card" in page
    html = finder(client, mine="1")
    assert group_of(html, "education") == ["Schulstart"]
    assert group_of(html, "sport") == ["Mit Pass"]
    assert "8" in re.search(r"children aged [^<]*|Kinder im Alter von [^<]*", html).group(0)  # type: ignore[union-attr]
    assert "Jugendkino" in html.split('id="coming-up"')[1]


def test_use_my_card_without_a_card(client: TestClient[Litestar], db: Any, make_user: Any) -> None:
    sign_in_as(client, make_user(Role.FAMILY))
    response = client.get("/finder", params={"mine": "1"})
    assert response.status_code == 422
    assert 'id="field-mine"' in response.text
    staff = make_user(Role.ADMIN)
    sign_in_as(client, staff)
    assert client.get("/finder", params={"mine": "1"}).status_code == 422


# The finder returns exactly what the rules allow ---------------------------------------------------------------

AGE_BOUNDS = st.one_of(st.none(), st.integers(0, 20))
BENEFIT_RULES = st.builds(
    lambda low, high, min_children, tier, ends_in: (
        min(low, high) if low is not None and high is not None else low,
        max(low, high) if low is not None and high is not None else high,
        min_children,
        tier,
        ends_in,
    ),
    AGE_BOUNDS,
    AGE_BOUNDS,
    st.integers(0, 4),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 3000)),
)
FAMILIES = st.builds(
    lambda adults, ages, tier: (adults, ages, tier),
    st.integers(1, 3),
    st.lists(st.integers(0, 26), max_size=5),
    st.booleans(),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(benefits=st.lists(BENEFIT_RULES, min_size=1, max_size=12), family=FAMILIES)
def test_the_finder_returns_exactly_the_benefits_the_rules_allow(
    sync_engine: Any, benefits: list[Any], family: Any
) -> None:
    day = today()
    adults, ages, tier = family
    facts = rules.FamilyFacts(
        adults, tuple(rules.year_month_for_age(age, day) for age in ages), rules.TIER_FLAG if tier else 0
    )
    # A fresh transaction per example, rolled back, so examples never see each other.
    with sync_engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            _check_finder(session, benefits, facts, day)
        finally:
            session.close()
            transaction.rollback()


# The property test's benefits take turns in these categories, so that the overview has several groups.
PROPERTY_CATEGORIES = ("culture", "sport")


def _check_finder(session: Session, benefits: list[Any], facts: rules.FamilyFacts, day: dt.date) -> None:
    partner = add_partner(session, "Eigenschaft")
    expected = set()
    coming: list[tuple[dt.date, int, uuid.UUID]] = []
    for index, (low, high, min_children, needs_tier, ends_in) in enumerate(benefits):
        valid_until = None if ends_in is None else day + dt.timedelta(days=ends_in)
        benefit = add_benefit(
            session,
            partner,
            f"B{index:02d}",
            published_days_ago=index + 1,
            child_age_min=low,
            child_age_max=high,
            min_children=min_children,
            requires_entitlement=needs_tier,
            weekdays=ALL_WEEKDAYS,
            valid_until=valid_until,
            category=PROPERTY_CATEGORIES[index % len(PROPERTY_CATEGORIES)],
        )
        benefit_rules = rules.BenefitRules(
            min_children=min_children, child_age_min=low, child_age_max=high, requires_entitlement=needs_tier
        )
        if rules.family_may_use(benefit_rules, facts, day) is None:
            expected.add(benefit.id)
            continue
        grows = rules.eligible_from(benefit_rules, facts, day)
        if grows is not None and (valid_until is None or grows <= valid_until):
            coming.append((grows, index, benefit.id))
    # A hidden benefit the family could use never shows.
    add_benefit(session, partner, "Entwurf", status="draft")
    with i18n.use_locale("de"):
        result = services.find_benefits(session, family=facts, locale="de", today=day)
        # Every usable one, from the categories' own pages.
        pages = [
            services.find_benefits(session, family=facts, locale="de", today=day, category=group.category)
            for group in result.groups
        ]
    found = {card.id for page in pages for card in page.groups[0].benefits}
    assert found == expected
    # The overview shows each category's newest, the first of its own page (worked out from the groups of
    # conditions, not by a query of its own).
    shown = services.FINDER_SHOWN_PER_CATEGORY
    for group, page in zip(result.groups, pages, strict=True):
        assert [card.id for card in group.benefits] == [card.id for card in page.groups[0].benefits][:shown]
    assert sum(group.total for group in result.groups) == result.count == len(expected)
    # Coming up: exactly the benefits the rules say the family grows into before they end, soonest first, then
    # newest first (the smaller index).
    soonest = sorted(coming)[: services.FINDER_COMING_UP_SHOWN]
    assert [(item.on, item.benefit.id) for item in result.coming_up] == [(on, key) for on, _index, key in soonest]
    assert result.coming_up_total == len(coming)
    for item in result.coming_up:
        assert item.on > day


def test_the_finder_shows_a_few_per_category_and_pages_through_the_rest(client: TestClient[Litestar], db: Any) -> None:
    many = services.FINDER_PER_PAGE + 5
    with db() as s, s.begin():
        partner = add_partner(s, "Viele Angebote")
        for index in range(many):
            add_benefit(s, partner, f"Angebot {index:02d}", category="culture", published_days_ago=index + 1)
        add_benefit(s, partner, "Sportkurs", category="sport")
    with db() as s, i18n.use_locale("de"):
        family = rules.FamilyFacts(2, (rules.year_month_for_age(7, today()),), 0)
        result = services.find_benefits(s, family=family, locale="de", today=today())
    assert result.count == many + 1
    culture, sport = result.groups
    shown = services.FINDER_SHOWN_PER_CATEGORY
    assert (culture.total, len(culture.benefits), culture.more) == (many, shown, many - shown)
    assert [card.title.text for card in culture.benefits] == [f"Angebot {index:02d}" for index in range(shown)]
    assert (sport.total, sport.more) == (1, 0)
    # The overview links to the category's own pages, for the same family.
    overview = finder(client, adults="2", children="7", lang="en")
    assert f"Show all {many} benefits in this category" in overview
    assert 'href="/finder?adults=2&amp;children=7&amp;category=culture"' in overview
    assert overview.count("Show all") == 1
    # Page 1 of the category: the newest FINDER_PER_PAGE, only this category, a link to the next page.
    first = finder(client, adults="2", children="7", category="culture", lang="en")
    assert group_of(first, "culture") == [f"Angebot {index:02d}" for index in range(services.FINDER_PER_PAGE)]
    assert group_of(first, "sport") == []
    assert "Page 1 of 2" in first
    assert 'href="/finder?adults=2&amp;children=7&amp;category=culture&amp;page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    assert 'href="/finder?adults=2&amp;children=7">All categories' in first
    second = finder(client, adults="2", children="7", category="culture", page="2", lang="en")
    assert group_of(second, "culture") == [f"Angebot {index:02d}" for index in range(services.FINDER_PER_PAGE, many)]
    assert 'href="/finder?adults=2&amp;children=7&amp;category=culture" rel="prev"' in second
    assert 'rel="next"' not in second
    beyond = finder(client, adults="2", children="7", category="culture", page="3", lang="en")
    assert group_of(beyond, "culture") == []
    assert "There are no more benefits on this page." in beyond
    # A category without a benefit for the family, and links that were never the finder's own.
    empty = finder(client, adults="2", children="7", category="food", lang="en")
    assert "No benefit fits your family at the moment." in empty
    for params in ({"category": "nonsense"}, {"page": "0"}, {"page": "x"}):
        response = client.get("/finder", params={"adults": "2", "children": "7", "lang": "en", **params})
        assert response.status_code == 422
        [name] = params
        assert f'href="#field-{name}"' in response.text
        assert f'id="field-{name}"' in response.text
