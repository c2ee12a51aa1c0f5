"""The staff statistics dashboard over the rollups (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL).

The raw facts (redemptions, verification events, cards) are written straight into their tables, the rollups are
rebuilt from them as the workers would, and the page is read as a person (or a screen reader) would: its key
figures and the table next to every chart.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.errors import InvalidInput
from familienkarte.partners.models import Partner
from familienkarte.redemptions.models import Redemption, VerificationEvent
from familienkarte.statistics import dashboard
from familienkarte.statistics.rollups import rebuild
from tests.helpers import make_partner, sign_in_as, sign_out
from tests.integration.test_statistics_rollups import card, local

Factory = Callable[[], Session]
Client = TestClient[Litestar]
KOELN = load_city("koeln")
NOW = dt.datetime(2026, 8, 5, 8, tzinfo=dt.UTC)
JULY = {"from": "2026-07-01", "to": "2026-07-31"}
CARD_NUMBERS = ("A00000001", "B00000002", "C00000003", "D00000004", "E00000005")
CARD_IDS = ("K00000001", "K00000002", "K00000003", "K00000004")


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


@dataclass(frozen=True)
class World:
    zoo: uuid.UUID
    bath: uuid.UUID
    centre: uuid.UUID  # the zoo's location in Innenstadt
    outskirts: uuid.UUID  # the zoo's location without a district
    porz: uuid.UUID  # the bath's location in Porz
    zoo_culture: uuid.UUID
    zoo_sport: uuid.UUID
    bath_sport: uuid.UUID


def _redeem(
    db: Factory, partner: uuid.UUID, location: uuid.UUID, benefit: uuid.UUID, number: str, at: dt.datetime, **kw: Any
) -> None:
    voided = kw.pop("voided", False)
    with db() as s, s.begin():
        s.add(
            Redemption(
                partner_id=partner,
                location_id=location,
                benefit_id=benefit,
                card_number=number,
                quantity=kw.pop("quantity", 1),
                client_nonce=uuid.uuid4().hex,
                presentation="phone",
                occurred_at=at,
                created_at=at,
                status="voided" if voided else "recorded",
                voided_at=at if voided else None,
            )
        )


def _verify(db: Factory, partner: uuid.UUID, location: uuid.UUID, reason: str, at: dt.datetime, times: int = 1) -> None:
    with db() as s, s.begin():
        s.add_all(
            VerificationEvent(partner_id=partner, location_id=location, reason=reason, at=at) for _ in range(times)
        )


FACT_DAYS = [dt.date(2026, 6, 30), dt.date(2026, 7, 2), dt.date(2026, 7, 3), dt.date(2026, 7, 20), dt.date(2026, 8, 1)]


@pytest.fixture
def world(db: Factory) -> World:
    return build_world(db)


def build_world(db: Factory) -> World:
    """Two partners, a month of facts around them, and the rollups built from those facts.

    July 2026: 5 recorded redemptions (quantity 8) by cards A, B, C and D; one voided; one in June (E) and one in
    August (A). 10 verifications, 6 of them failed. Cards: two per district, one of them suspended in June.
    """
    with db() as s, s.begin():
        zoo = make_partner(
            s,
            "Zoo Köln",
            [("Zoo", "Innenstadt"), ("Zoo Außenstelle", None)],
            [
                {"category": "culture", "title": {"de": "Freier Eintritt", "en": "Free entry to the zoo"}},
                {"category": "sport", "title": {"de": "Zoolauf"}},
            ],
        )
        bath = make_partner(s, "Bad Porz", [("Bad", "Porz")], [{"category": "sport", "title": {"en": "Swimming"}}])
    w = World(zoo.id, bath.id, *zoo.locations, *bath.locations, *zoo.benefits, *bath.benefits)

    a, b, c, d, e = CARD_NUMBERS
    july2, july3, july20 = dt.date(2026, 7, 2), dt.date(2026, 7, 3), dt.date(2026, 7, 20)
    _redeem(db, w.zoo, w.centre, w.zoo_culture, a, local(july2, 10), quantity=2)
    _redeem(db, w.zoo, w.centre, w.zoo_culture, b, local(july2, 11))
    _redeem(db, w.zoo, w.outskirts, w.zoo_sport, a, local(july2, 12))
    _redeem(db, w.bath, w.porz, w.bath_sport, c, local(july3, 9), quantity=3)
    _redeem(db, w.bath, w.porz, w.bath_sport, c, local(july3, 9, 30), voided=True)
    _redeem(db, w.zoo, w.centre, w.zoo_culture, d, local(july20, 15))
    _redeem(db, w.zoo, w.centre, w.zoo_culture, e, local(dt.date(2026, 6, 30), 10))
    _redeem(db, w.bath, w.porz, w.bath_sport, a, local(dt.date(2026, 8, 1), 10))

    _verify(db, w.zoo, w.centre, "ok", local(july2, 10), 3)
    _verify(db, w.zoo, w.centre, "stale", local(july2, 11), 2)
    _verify(db, w.zoo, w.centre, "revoked", local(july2, 12))
    _verify(db, w.bath, w.porz, "ok", local(july3, 9))
    _verify(db, w.bath, w.porz, "bad_signature", local(july3, 9))
    _verify(db, w.bath, w.porz, "expired", local(july3, 10))
    _verify(db, w.zoo, w.outskirts, "bad_proof", local(july20, 15))
    _verify(db, w.zoo, w.centre, "stale", local(dt.date(2026, 6, 30), 10), 5)  # June: outside the range

    # Issued in June, its phone activated in July.
    card(db, "Innenstadt", CARD_IDS[0], local(dt.date(2026, 6, 10), 9), phone_at=local(dt.date(2026, 7, 5), 9))
    # Issued and revoked in July.
    card(
        db,
        "Innenstadt",
        CARD_IDS[1],
        local(july3, 9),
        status="revoked",
        changed_at=local(dt.date(2026, 7, 25), 9),
    )
    card(db, "Porz", CARD_IDS[2], local(dt.date(2026, 7, 10), 9))
    # Suspended in June: active in June, not in July.
    card(
        db,
        "Porz",
        CARD_IDS[3],
        local(dt.date(2026, 5, 2), 9),
        status="suspended",
        changed_at=local(dt.date(2026, 6, 15), 9),
    )
    with db() as s, s.begin():
        rebuild(s, KOELN, FACT_DAYS, NOW)
    return w


# --- reading the page ---


class _Page(HTMLParser):
    """The tables (rows of cell texts, by id), the texts of elements with an id, and the charts' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self.svgs: list[dict[str, str | None]] = []
        self.chart_ids: set[str] = set()
        self.order: list[str] = []  # "svg" and "table:<id>" in document order
        self.styled: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._open: list[tuple[str, str | None]] = []
        # Text for screen readers only (class visually-hidden) is not what a table shows.
        self._hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "visually-hidden" in (found.get("class") or "").split():
            self._hidden.append(tag)
        if "style" in found:
            self.styled.append(tag)
        element_id = found.get("id")
        if tag == "svg":
            self.svgs.append(found)
            self.order.append("svg")
        if tag in ("title", "desc") and element_id:
            self.chart_ids.add(element_id)
        if tag == "table" and element_id:
            self._table = element_id
            self.tables[element_id] = []
            self.order.append(f"table:{element_id}")
        if self._table and tag == "tr":
            self.tables[self._table].append([])
        if self._table and tag in ("td", "th"):
            self._cell = []
        if element_id and tag not in ("input", "svg", "table"):
            self._open.append((tag, element_id))
            self.texts[element_id] = ""
        elif tag not in ("input", "br", "link", "meta", "img", "rect", "line"):
            self._open.append((tag, None))

    def handle_endtag(self, tag: str) -> None:
        if self._hidden and self._hidden[-1] == tag:
            self._hidden.pop()
        if self._table and tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "table":
            self._table = None
        while self._open:
            opened, _element_id = self._open.pop()
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._hidden:
            self._cell.append(data)
        for _tag, element_id in self._open:
            if element_id:
                self.texts[element_id] += data


def read(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def body(parsed: _Page, table_id: str) -> list[list[str]]:
    """A table's rows without its header row."""
    assert table_id in parsed.tables, f"no table #{table_id}"
    return parsed.tables[table_id][1:]


def text(parsed: _Page, element_id: str) -> str:
    assert element_id in parsed.texts, f"no element #{element_id}"
    return " ".join(parsed.texts[element_id].split())


def as_analyst(client: Client, make_user: Any) -> None:
    sign_in_as(client, make_user(Role.ANALYST))


def show(client: Client, **params: str) -> _Page:
    response = client.get("/staff/statistics", params=params)
    assert response.status_code == 200, response.text[:2000]
    return read(response.text)


# --- the figures ---


def test_the_key_figures_of_a_month(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    page = show(client, **JULY)

    assert text(page, "figure-redemptions") == "5"  # the voided one and those of June and August left out
    assert text(page, "figure-quantity") == "8"
    assert text(page, "figure-families") == "4"  # A, B, C and D in July
    assert text(page, "figure-cards-active") == "3"
    assert text(page, "figure-failed") == "6"
    assert text(page, "figure-failed-share") == "60.0% of 10 verifications"
    assert "Families reached in July 2026" in text(page, "figures")
    assert "Active cards in July 2026" in text(page, "figures")
    assert text(page, "families-programme") == "Since the programme began: 5 families reached."


def test_each_table_has_the_months_figures(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    page = show(client, **JULY)

    assert body(page, "table-over-time") == [
        ["Jul 2, 2026", "3", "4"],
        ["Jul 3, 2026", "1", "3"],
        ["Jul 20, 2026", "1", "1"],
    ]
    assert body(page, "table-by-category") == [["Culture", "3", "4"], ["Sport and exercise", "2", "4"]]
    assert body(page, "table-by-district") == [["Innenstadt", "3", "4"], ["Porz", "1", "3"], ["No district", "1", "1"]]
    assert body(page, "table-top-partners") == [["Zoo Köln", "4", "5"], ["Bad Porz", "1", "3"]]
    assert body(page, "table-top-benefits") == [
        ["Free entry to the zoo", "Zoo Köln", "3", "4"],
        ["Swimming", "Bad Porz", "1", "3"],
        ["Zoolauf", "Zoo Köln", "1", "1"],  # no English title: the German one
    ]
    # District, issued, activated, revoked, active (in July).
    assert body(page, "table-cards") == [["Innenstadt", "1", "1", "1", "2"], ["Porz", "1", "0", "0", "1"]]
    assert body(page, "table-families") == [["July 2026", "4"]]
    assert body(page, "table-reasons") == [
        ["Valid", "ok", "4"],
        ["Phone code too old (screenshot?)", "stale", "2"],
        ["Phone code not genuine", "bad_proof", "1"],
        ["Forged or damaged code", "bad_signature", "1"],
        ["Card expired", "expired", "1"],
        ["Card revoked", "revoked", "1"],
    ]
    # Partner, stale, revoked, bad_signature, bad_proof, together, all, share.
    assert body(page, "table-fraud") == [
        ["Zoo Köln", "2", "1", "0", "1", "4", "7", "57.1%"],
        ["Bad Porz", "0", "0", "1", "0", "1", "3", "33.3%"],
    ]


def test_distinct_counts_are_never_summed_over_months(client: Client, make_user: Any, world: World) -> None:
    """June and July: families per month side by side, active cards of July only (not June's added to them)."""
    as_analyst(client, make_user)
    page = show(client, **{"from": "2026-06-01", "to": "2026-07-31"})

    assert body(page, "table-families") == [["June 2026", "1"], ["July 2026", "4"]]
    assert text(page, "figure-families") == "4"
    # June had 2 active cards, July 3: the figure is July's, not 5.
    assert text(page, "figure-cards-active") == "3"
    assert body(page, "table-cards") == [["Innenstadt", "2", "1", "1", "2"], ["Porz", "1", "0", "0", "1"]]
    # 6 redemptions, but 5 distinct cards over both months; the page never claims 1 + 4 families.
    assert text(page, "figure-redemptions") == "6"
    assert "Families reached in July 2026" in text(page, "figures")


def test_a_long_range_is_shown_per_week(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    page = show(client, **{"from": "2026-03-01", "to": "2026-08-31"})

    # Weeks begin on Monday: 29 June holds 30 June, 2 and 3 July; 20 July is a Monday; 27 July holds 1 August.
    assert page.tables["table-over-time"][0][0] == "Week of"
    assert body(page, "table-over-time") == [
        ["Jun 29, 2026", "5", "8"],
        ["Jul 20, 2026", "1", "1"],
        ["Jul 27, 2026", "1", "1"],
    ]


def test_the_queries_return_plain_rows_for_an_export(db: Factory, world: World) -> None:
    filters = dashboard.Filters(start=dt.date(2026, 7, 1), end=dt.date(2026, 7, 31), category="sport")
    with db() as s:
        assert dashboard.redemptions_by_category(s, filters) == [("sport", 2, 4)]
        assert dashboard.redemptions_over_time(s, filters) == [
            (dt.date(2026, 7, 2), 1, 1),
            (dt.date(2026, 7, 3), 1, 3),
        ]
        assert dashboard.top_partners(s, filters, limit=1) == [(world.bath, "Bad Porz", 1, 3)]
        signals = dashboard.fraud_signals(s, filters)
    assert [(row.name, row.flagged, row.verifications) for row in signals] == [("Zoo Köln", 4, 7), ("Bad Porz", 1, 3)]
    assert signals[0].share == pytest.approx(4 / 7)


# --- the filters ---


def test_the_category_narrows_the_redemptions(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    page = show(client, **JULY, category="sport")

    assert text(page, "figure-redemptions") == "2"
    assert text(page, "figure-quantity") == "4"
    assert body(page, "table-by-category") == [["Sport and exercise", "2", "4"]]
    assert body(page, "table-over-time") == [["Jul 2, 2026", "1", "1"], ["Jul 3, 2026", "1", "3"]]
    assert body(page, "table-top-partners") == [["Bad Porz", "1", "3"], ["Zoo Köln", "1", "1"]]
    # Verifications have no category: all of them still count.
    assert text(page, "figure-failed") == "6"


def test_the_district_narrows_redemptions_verifications_and_cards(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    page = show(client, **JULY, district="Porz")

    assert text(page, "figure-redemptions") == "1"
    assert body(page, "table-by-district") == [["Porz", "1", "3"]]
    assert text(page, "figure-failed") == "2"
    assert text(page, "figure-failed-share") == "66.7% of 3 verifications"
    assert body(page, "table-fraud") == [["Bad Porz", "0", "0", "1", "0", "1", "3", "33.3%"]]
    assert body(page, "table-cards") == [["Porz", "1", "0", "0", "1"]]
    assert text(page, "figure-cards-active") == "1"


def test_the_partner_narrows_redemptions_and_verifications(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    page = show(client, **JULY, partner=str(world.zoo))

    assert text(page, "figure-redemptions") == "4"
    assert text(page, "figure-quantity") == "5"
    assert body(page, "table-top-partners") == [["Zoo Köln", "4", "5"]]
    assert [row[0] for row in body(page, "table-top-benefits")] == ["Free entry to the zoo", "Zoolauf"]
    assert body(page, "table-fraud") == [["Zoo Köln", "2", "1", "0", "1", "4", "7", "57.1%"]]
    assert text(page, "figure-failed") == "4"


def test_each_partner_in_the_partner_tables_links_to_its_own_figures(
    client: Client, make_user: Any, world: World
) -> None:
    as_analyst(client, make_user)
    response = client.get("/staff/statistics", params=JULY)
    assert response.status_code == 200
    links = re.findall(r'<a href="(/staff/statistics\?[^"]+)">([^<]+)<span class="visually-hidden">', response.text)
    named = {html.unescape(name) for _href, name in links}
    assert {"Zoo Köln"} <= named
    # Each link keeps the filters and chooses the partner by its id (names may be shared).
    href = html.unescape(next(href for href, name in links if html.unescape(name) == "Zoo Köln"))
    query = dict(parse_qsl(href.split("?", 1)[1], keep_blank_values=True))
    assert query == {**JULY, "category": "", "district": "", "partner": str(world.zoo)}
    page = show(client, **query)
    assert body(page, "table-top-partners") == [["Zoo Köln", "4", "5"]]
    assert body(page, "table-fraud") == [["Zoo Köln", "2", "1", "0", "1", "4", "7", "57.1%"]]
    assert "figures of this partner only" in response.text


def test_the_dates_narrow_everything(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    page = show(client, **{"from": "2026-07-03", "to": "2026-07-03"})

    assert text(page, "figure-redemptions") == "1"
    assert body(page, "table-over-time") == [["Jul 3, 2026", "1", "3"]]
    assert text(page, "figure-failed") == "2"
    assert "table-fraud" in page.tables

    response = client.get("/staff/statistics", params={"from": "2026-07-04", "to": "2026-07-05"})
    empty = read(response.text)
    assert text(empty, "figure-redemptions") == "0"
    assert "table-over-time" not in empty.tables
    assert "table-fraud" not in empty.tables
    assert "No figures for this range and these filters." in response.text
    assert "No such verifications in this range." in response.text


def test_without_dates_the_last_30_days_in_the_citys_time_zone(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    response = client.get("/staff/statistics")
    assert response.status_code == 200
    today = KOELN.today()
    assert f'value="{(today - dt.timedelta(days=29)).isoformat()}"' in response.text
    assert f'value="{today.isoformat()}"' in response.text


def test_one_date_alone_makes_a_range_of_30_days(db: Factory) -> None:
    today = dt.date(2026, 8, 5)

    def read_range(**params: str) -> tuple[dt.date, dt.date]:
        with db() as s:
            filters = dashboard.read_filters(s, params, districts=KOELN.districts, today=today)
        return filters.start, filters.end

    assert read_range() == (dt.date(2026, 7, 7), today)
    assert read_range(**{"from": "2026-03-01"}) == (dt.date(2026, 3, 1), dt.date(2026, 3, 30))
    assert read_range(**{"from": "2026-07-20"}) == (dt.date(2026, 7, 20), today)  # not beyond today
    assert read_range(to="2026-03-30") == (dt.date(2026, 3, 1), dt.date(2026, 3, 30))
    assert read_range(**{"from": "", "to": " "}) == (dt.date(2026, 7, 7), today)  # empty fields mean the default


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-13-01"}, "from", "The start date (from) must be a date like 2026-07-01, not 2026-13-01."),
        ({"from": "1.7.2026"}, "from", "The start date (from) must be a date like 2026-07-01, not 1.7.2026."),
        ({"to": "yesterday"}, "to", "The end date (to) must be a date like 2026-07-31, not yesterday."),
        (
            {"from": "2026-07-31", "to": "2026-07-01"},
            "to",
            "The end date (to) must not be before the start date (from).",
        ),
        (
            {"from": "2024-01-01", "to": "2026-07-01"},
            "from",
            "The range from start to end date may be at most 731 days.",
        ),
        ({"to": "0001-01-05"}, "to", "The end date (to) must lie between 2000-01-01 and 2099-12-31."),
        ({"from": "9999-12-31"}, "from", "The start date (from) must lie between 2000-01-01 and 2099-12-31."),
        ({"category": "casino"}, "category", "There is no category casino."),
        ({"category": "x" * 500}, "category", f"There is no category {'x' * 59}…."),
        ({"district": "Atlantis"}, "district", "There is no district Atlantis."),
        ({"partner": "Tierpark"}, "partner", "There is no partner Tierpark."),
        ({"partner": "o"}, "partner", "Several partners match o (Bad Porz, Zoo Köln). Please write the whole"),
        ({"partner": "00000000-0000-4000-8000-000000000000"}, "partner", "There is no partner"),
    ],
)
def test_bad_filters_are_refused_with_a_message_at_their_field(
    client: Client, make_user: Any, world: World, params: dict[str, str], field: str, message: str
) -> None:
    as_analyst(client, make_user)
    response = client.get("/staff/statistics", params=params)
    assert response.status_code == 422
    page = read(response.text)
    assert message in text(page, f"error-{field}")
    assert 'role="alert"' in response.text
    assert f'href="#field-{field}"' in response.text
    assert "figures" not in page.texts  # no figures for a query that was refused
    # The value given is kept in its field to be corrected.
    given = params.get(field, "")
    if field in ("from", "to", "partner"):
        assert f'value="{given}"' in response.text


def test_several_bad_filters_are_all_named(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    response = client.get("/staff/statistics", params={"to": "never", "district": "Atlantis", "category": "x"})
    assert response.status_code == 422
    page = read(response.text)
    assert {"error-to", "error-district", "error-category"} <= set(page.texts)


# --- the partner field ---


def partner_of(db: Factory, typed: str) -> uuid.UUID | None:
    """The partner ``read_filters`` chooses for the text of the partner field."""
    with db() as s:
        return dashboard.read_filters(s, {"partner": typed}, districts=KOELN.districts, today=NOW.date()).partner_id


def partner_refused(db: Factory, typed: str) -> str:
    """The message ``read_filters`` refuses the text of the partner field with."""
    with db() as s, pytest.raises(InvalidInput) as refused:
        dashboard.read_filters(s, {"partner": typed}, districts=KOELN.districts, today=NOW.date())
    [error] = refused.value.errors
    assert error.field == "partner"
    return error.message % error.params


def add_partners(db: Factory, *names: str) -> list[uuid.UUID]:
    with db() as s, s.begin():
        return [make_partner(s, name).id for name in names]


@pytest.mark.parametrize(
    ("typed", "chosen"),
    [
        ("Zoo Köln", "zoo"),
        ("ZOO Köln", "zoo"),  # case aside
        ("  zoo köln  ", "zoo"),  # trimmed
        ("Porz", "bath"),  # a part only one name contains
        ("bad p", "bath"),
        ("öln", "zoo"),
    ],
)
def test_the_partner_is_found_by_its_name_or_a_part_of_it(db: Factory, world: World, typed: str, chosen: str) -> None:
    assert partner_of(db, typed) == getattr(world, chosen)


def test_a_name_with_capitals_beyond_ascii_is_found_as_written(db: Factory, world: World) -> None:
    [farm] = add_partners(db, "Öko-Hof Über")
    assert partner_of(db, "Öko-Hof Über") == farm
    assert partner_of(db, "ÖKO-HOF ÜBER") == farm
    assert partner_of(db, "Hof Ü") == farm


def test_the_partner_is_still_found_by_its_id(db: Factory, world: World) -> None:
    assert partner_of(db, str(world.bath)) == world.bath
    assert partner_of(db, f" {str(world.bath).upper()} ") == world.bath
    assert partner_of(db, "") is None
    assert partner_of(db, "   ") is None


def test_a_whole_name_wins_over_the_names_containing_it(db: Factory, world: World) -> None:
    [zoo] = add_partners(db, "Zoo")
    assert partner_of(db, "zoo") == zoo
    assert partner_of(db, "Zoo Köln") == world.zoo
    assert partner_refused(db, "zo").startswith("Several partners match zo (Zoo, Zoo Köln). ")


def test_a_part_of_several_names_is_refused_naming_at_most_five(db: Factory, world: World) -> None:
    add_partners(db, "Kita F", "Kita B", "Kita E", "Kita A", "Kita D", "Kita C")
    assert partner_refused(db, "kita").startswith(
        "Several partners match kita (Kita A, Kita B, Kita C, Kita D, Kita E, …). "
    )
    assert partner_refused(db, "Kita ").startswith(
        "Several partners match Kita (Kita A, Kita B, Kita C, Kita D, Kita E, …). "
    )
    assert partner_refused(db, "a").startswith(
        "Several partners match a (Bad Porz, Kita A, Kita B, Kita C, Kita D, …). "
    )
    with db() as s:
        kita_f = s.scalars(select(Partner.id).where(Partner.name == "Kita F")).one()
    assert partner_of(db, "kita f") == kita_f


def test_a_name_two_partners_share_is_refused_and_the_id_chooses(
    client: Client, db: Factory, make_user: Any, world: World
) -> None:
    [other] = add_partners(db, "Bad Porz")
    assert partner_refused(db, "bad porz") == (
        "Several partners match bad porz (Bad Porz, Bad Porz). Please write the whole name or, if several partners "
        "have that name, the partner's id."
    )
    assert partner_of(db, str(other)) == other
    # Chosen by id, the field shows the id: the shared name would not find the partner again.
    as_analyst(client, make_user)
    response = client.get("/staff/statistics", params={**JULY, "partner": str(world.bath)})
    assert response.status_code == 200
    assert f'name="partner" type="text" value="{world.bath}"' in response.text
    assert text(read(response.text), "figure-redemptions") == "1"


@pytest.mark.parametrize(
    ("typed", "chosen"),
    [("%", "100% Sport"), ("0%", "100% Sport"), ("_", "Sport_Verein"), ("t_v", "Sport_Verein"), ("/", "Kunst/Kultur")],
)
def test_wildcards_in_a_typed_name_are_taken_literally(db: Factory, world: World, typed: str, chosen: str) -> None:
    names = ("100% Sport", "Sport_Verein", "Sport Verein", "Kunst/Kultur")
    made = dict(zip(names, add_partners(db, *names), strict=True))
    assert partner_of(db, typed) == made[chosen]


def test_a_partner_chosen_by_name_narrows_the_figures_and_the_field_shows_its_name(
    client: Client, make_user: Any, world: World
) -> None:
    as_analyst(client, make_user)
    for typed in ("zoo köln", str(world.zoo)):
        response = client.get("/staff/statistics", params={**JULY, "partner": typed})
        assert response.status_code == 200
        page = read(response.text)
        assert text(page, "figure-redemptions") == "4"
        assert body(page, "table-top-partners") == [["Zoo Köln", "4", "5"]]
        assert 'name="partner" type="text" value="Zoo Köln"' in response.text
        # The downloads take the partner by its id.
        assert f'<input type="hidden" name="partner" value="{world.zoo}">' in response.text


def test_the_partner_field_is_a_labelled_text_field_not_a_list_of_every_partner(
    client: Client, make_user: Any, world: World
) -> None:
    as_analyst(client, make_user)
    # A range without figures: no table names a partner.
    response = client.get("/staff/statistics", params={"from": "2026-07-04", "to": "2026-07-05"})
    assert response.status_code == 200
    assert not re.search(r'<select[^>]*name="partner"', response.text)
    assert re.search(r'<select[^>]*name="district"', response.text)  # the lists that stay short stay lists
    assert 'id="field-partner" name="partner" type="text" value=""' in response.text
    assert '<label for="field-partner">Partner' in response.text
    assert "Name of the partner, or part of it. Empty: all partners." in text(read(response.text), "hint-partner")
    assert "Zoo Köln" not in response.text
    assert "Bad Porz" not in response.text


def test_a_refused_partner_is_named_at_its_field_and_in_the_summary(
    client: Client, make_user: Any, world: World
) -> None:
    as_analyst(client, make_user)
    response = client.get("/staff/statistics", params={**JULY, "partner": "o"})
    assert response.status_code == 422
    page = read(response.text)
    message = "Several partners match o (Bad Porz, Zoo Köln)."
    assert message in text(page, "error-partner")
    assert message in text(page, "error-summary")
    assert 'aria-invalid="true" aria-describedby="hint-partner error-partner"' in response.text


# --- the charts ---


def test_every_chart_is_an_accessible_picture_followed_by_its_table(
    client: Client, make_user: Any, world: World
) -> None:
    as_analyst(client, make_user)
    response = client.get("/staff/statistics", params=JULY)
    page = read(response.text)

    charts = [svg for svg in page.svgs if svg.get("role") == "img"]
    assert len(charts) == 6
    for svg in charts:
        labelled_by = (svg.get("aria-labelledby") or "").split()
        assert len(labelled_by) == 2, svg
        assert set(labelled_by) <= page.chart_ids, svg
    # Each chart is directly followed by its table.
    for index, item in enumerate(page.order):
        if item == "svg":
            assert page.order[index + 1].startswith("table:"), page.order
    # The values are written on the bars as text too.
    over_time = response.text.split('id="chart-over-time-desc"')[1].split("</svg>")[0]
    assert re.search(r">\s*3\s*</text>", over_time)
    assert "Jul 2, 2026" in over_time
    # Days without redemptions are in the chart as 0 (31 bars), not in the table.
    assert over_time.count("<rect") == 31
    # The CSP forbids style attributes: the charts draw with presentation attributes only.
    assert page.styled == []
    assert "<script" not in response.text.split("<main", 1)[-1]


def test_the_page_shows_no_card_number(client: Client, make_user: Any, world: World) -> None:
    as_analyst(client, make_user)
    for params in (JULY, {"from": "2026-06-01", "to": "2026-08-31"}, {**JULY, "partner": str(world.zoo)}):
        response = client.get("/staff/statistics", params=params)
        assert response.status_code == 200
        for number in (*CARD_NUMBERS, *CARD_IDS):
            assert number not in response.text


# --- who may see it ---


@pytest.mark.parametrize("role", [Role.ANALYST, Role.ADMIN])
def test_analysts_and_admins_see_the_dashboard_and_its_link(client: Client, make_user: Any, role: Role) -> None:
    sign_in_as(client, make_user(role))
    assert client.get("/staff/statistics").status_code == 200
    assert 'href="/staff/statistics"' in client.get("/staff/").text


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.PARTNER_MANAGER])
def test_other_staff_are_refused_and_see_no_link(client: Client, make_user: Any, role: Role) -> None:
    sign_in_as(client, make_user(role))
    assert client.get("/staff/statistics").status_code == 403
    assert 'href="/staff/statistics"' not in client.get("/staff/").text


@pytest.mark.parametrize("role", [Role.PARTNER_OWNER, Role.CASHIER, Role.FAMILY])
def test_partners_and_families_are_refused(client: Client, make_user: Any, role: Role) -> None:
    sign_in_as(client, make_user(role))
    assert client.get("/staff/statistics").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    sign_out(client)
    response = client.get("/staff/statistics", params=JULY, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/staff/statistics")
