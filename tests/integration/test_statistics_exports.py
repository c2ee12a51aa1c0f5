"""Exports of the staff statistics dashboard (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL).

The raw redemptions are written straight into their table; the exports count distinct cards from them, apply the
suppression rule and write CSV or XLSX. Read back as a person opening the file would: with the csv module and
openpyxl.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit
from familienkarte.city import City, load_city
from familienkarte.db import utcnow
from familienkarte.outbox_wake import set_waker
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import Redemption
from familienkarte.settings import Settings
from familienkarte.statistics import exports
from familienkarte.statistics.dashboard import Filters
from familienkarte.statistics.export_models import ExportJob
from familienkarte.statistics.export_render import XLSX_MEDIA_TYPE, Hidden
from familienkarte.statistics.models import PROGRAMME, StatsCards, StatsFamilies
from familienkarte.statistics.rollups import rebuild
from tests.conftest import BASE_URL
from tests.helpers import make_partner, make_test_settings, sign_in_as, sign_out
from tests.integration.test_statistics_rollups import local
from tests.unit.test_suppression import rank
from tests.workers_helpers import wait_until
from workers import tasks_exports
from workers.celery_app import celery_app, configure

Factory = Callable[[], Session]
Client = TestClient[Litestar]
KOELN = load_city("koeln")
JULY = Filters(start=dt.date(2026, 7, 1), end=dt.date(2026, 7, 31))
JULY_PARAMS = {"from": "2026-07-01", "to": "2026-07-31"}
MARK = "< 5"


@pytest.fixture(autouse=True)
def english(client: Client) -> Iterator[None]:
    client.headers["Accept-Language"] = "en"
    with i18n.use_locale("en"):
        yield


@dataclass(frozen=True)
class World:
    zoo: uuid.UUID
    bath: uuid.UUID
    centre: uuid.UUID  # the zoo's location in Innenstadt
    porz: uuid.UUID  # the bath's location in Porz
    zoo_culture: uuid.UUID
    zoo_sport: uuid.UUID
    bath_sport: uuid.UUID


def redeem(
    db: Factory, partner: uuid.UUID, location: uuid.UUID, benefit: uuid.UUID, number: str, at: dt.datetime, **kw: Any
) -> None:
    with db() as s, s.begin():
        s.add(
            Redemption(
                partner_id=partner,
                location_id=location,
                benefit_id=benefit,
                card_number=number,
                quantity=kw.get("quantity", 1),
                client_nonce=uuid.uuid4().hex,
                presentation="phone",
                occurred_at=at,
                created_at=at,
                status="voided" if kw.get("voided") else "recorded",
                voided_at=at if kw.get("voided") else None,
            )
        )


def places(db: Factory, zoo_name: str = "Zoo Köln") -> World:
    with db() as s, s.begin():
        zoo = make_partner(
            s,
            zoo_name,
            [("Zoo", "Innenstadt")],
            [
                {"category": "culture", "title": {"en": "Free entry to the zoo"}},
                {"category": "sport", "title": {"en": "Zoo run"}},
            ],
        )
        bath = make_partner(s, "Bad Porz", [("Bad", "Porz")], [{"category": "sport", "title": {"en": "Swim"}}])
    return World(zoo.id, bath.id, zoo.locations[0], bath.locations[0], *zoo.benefits, *bath.benefits)


@pytest.fixture
def world(db: Factory) -> World:
    return build_world(db)


def build_world(db: Factory) -> World:
    """July 2026: the zoo's free entry by 6 cards (one of them twice), the zoo run by 2 cards, the swim by 7 cards;
    a voided redemption and one in June that do not count."""
    w = places(db)
    day = dt.date(2026, 7, 2)
    for index in range(6):
        redeem(db, w.zoo, w.centre, w.zoo_culture, f"C0000000{index}", local(day, 10, index))
    redeem(db, w.zoo, w.centre, w.zoo_culture, "C00000000", local(dt.date(2026, 7, 20), 10), quantity=3)
    for index in range(2):
        redeem(db, w.zoo, w.centre, w.zoo_sport, f"R0000000{index}", local(day, 11, index))
    for index in range(7):
        redeem(db, w.bath, w.porz, w.bath_sport, f"S0000000{index}", local(dt.date(2026, 7, 3), 9, index))
    redeem(db, w.bath, w.porz, w.bath_sport, "S00000009", local(dt.date(2026, 7, 3), 12), voided=True)
    redeem(db, w.bath, w.porz, w.bath_sport, "S00000009", local(dt.date(2026, 6, 30), 12))
    with db() as s, s.begin():
        rebuild(s, KOELN, [dt.date(2026, 7, 2), dt.date(2026, 7, 3), dt.date(2026, 7, 20)], utcnow())
    return w


def table(db: Factory, key: str, filters: Filters = JULY, city: City = KOELN) -> list[list[Any]]:
    with db() as s:
        return exports.build_table(s, city, key, filters).rows


def shown(cell: Any) -> Any:
    return cell.text if isinstance(cell, Hidden) else cell


# --- what an export shows ---


def test_a_category_export_counts_distinct_cards_from_the_raw_facts(db: Factory, world: World) -> None:
    rows = [[shown(c) for c in row] for row in table(db, "by_category")]
    # Sport: 2 + 7 cards; culture: 6 cards with 7 redemptions (quantity 1+1+1+1+1+1+3).
    assert rows == [["Sport and exercise", 9, 9], ["Culture", 7, 9], ["Total", 16, 18]]


def test_a_small_benefit_is_hidden_with_its_sibling_and_the_partners_figure_stays(db: Factory, world: World) -> None:
    rows = [[shown(c) for c in row] for row in table(db, "benefits")]
    # The zoo run (2 cards) is hidden; from the zoo's figure and the free entry it would follow, so the free entry
    # is hidden too (the cheapest complement), not the zoo's figure or the total.
    assert rows == [
        ["Zoo Köln", "All benefits of the partner", 9, 11],
        ["Zoo Köln", "Free entry to the zoo", MARK, MARK],
        ["Zoo Köln", "Zoo run", MARK, MARK],
        ["Bad Porz", "All benefits of the partner", 7, 7],
        ["Bad Porz", "Swim", 7, 7],
        ["Total", "", 16, 18],
    ]
    partners = [[shown(c) for c in row] for row in table(db, "partners")]
    assert partners == [["Zoo Köln", 9, 11], ["Bad Porz", 7, 7], ["Total", 16, 18]]


def test_a_partner_filter_leaves_too_few_cards_and_hides_the_list(db: Factory, world: World) -> None:
    only_zoo_run = dataclasses.replace(JULY, category="sport", partner_id=world.zoo)
    rows = [[shown(c) for c in row] for row in table(db, "by_district", only_zoo_run)]
    assert rows == [["Innenstadt", MARK, MARK], ["Total", MARK, MARK]]


def test_the_threshold_is_the_citys(db: Factory, world: World) -> None:
    strict = dataclasses.replace(KOELN, suppression_threshold=8)
    rows = [[shown(c) for c in row] for row in table(db, "by_category", city=strict)]
    # Culture (6 cards) is below 8; sport is hidden with it, else it would follow from the total. Hidden rows come
    # last, by name, so that their place says nothing about their size.
    assert rows == [["Culture", "< 8", "< 8"], ["Sport and exercise", "< 8", "< 8"], ["Total", 16, 18]]


def test_over_time_lists_every_day_in_order_and_hides_small_days(db: Factory, world: World) -> None:
    rows = [[shown(c) for c in row] for row in table(db, "over_time")]
    assert len(rows) == 31 + 1
    assert rows[0] == ["2026-07-01", 0, 0]
    by_day = {row[0]: row[1:] for row in rows}
    assert by_day["2026-07-02"] == [8, 8]  # 6 + 2 cards
    # One card on 20 July: hidden, and the smallest other day with it (a zero is never the complement while a
    # figure can be), else it would follow from the total.
    assert by_day["2026-07-20"] == [MARK, MARK]
    assert by_day["2026-07-03"] == [MARK, MARK]
    assert sum(1 for row in rows[:-1] if row[1] == MARK) == 2
    assert rows[-1] == ["Total", 16, 18]


def test_card_columns_and_family_months_are_suppressed_each_on_their_own(db: Factory) -> None:
    june, july = dt.date(2026, 6, 1), dt.date(2026, 7, 1)
    with db() as s, s.begin():
        s.add_all(
            [
                StatsCards(month=july, district="Innenstadt", issued=12, activated=3, revoked=0, active=40),
                StatsCards(month=july, district="Porz", issued=7, activated=9, revoked=1, active=2),
                StatsFamilies(period="2026-06", families=12),
                StatsFamilies(period="2026-07", families=4),
                StatsFamilies(period=PROGRAMME, families=30),
            ]
        )
    rows = [[shown(c) for c in row] for row in table(db, "cards", Filters(start=june, end=dt.date(2026, 7, 31)))]
    # Issued: nothing small. Activated: 3 is, and 9 with it. Revoked: 1 is, and so is the total of 1; the zero
    # stays. Active: 2 is, and 40 with it.
    assert rows == [
        ["Innenstadt", 12, MARK, 0, MARK],
        ["Porz", 7, MARK, MARK, MARK],
        ["Total", 19, 12, MARK, 42],
    ]
    families = [[shown(c) for c in row] for row in table(db, "families", Filters(start=june, end=july))]
    assert families == [["2026-06", 12], ["2026-07", MARK], ["Since the programme began", 30]]


def test_verifications_are_counted_in_full_and_the_file_says_why(db: Factory, world: World) -> None:
    with db() as s:
        made = exports.make_export(s, KOELN, exports.ExportRequest("reasons", "csv", JULY), utcnow())
    text = made.content.decode("utf-8-sig")
    assert "Verifications record no card, so they describe no family" in text
    assert made.filename == "familienkarte-reasons-2026-07-01-2026-07-31.csv"


def test_a_csv_file_states_the_filters_and_has_a_header_row(db: Factory, world: World) -> None:
    request = exports.ExportRequest("partners", "csv", dataclasses.replace(JULY, category="sport"))
    with db() as s:
        made = exports.make_export(s, KOELN, request, utcnow())
    assert made.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(made.content.decode("utf-8-sig"))))
    assert lines[0] == ["Redemptions by partner"]
    assert ["From", "2026-07-01"] in lines
    assert ["Category", "Sport and exercise"] in lines
    assert ["Partner", "All partners"] in lines
    header = lines.index(["Partner", "Redemptions", "Quantity"])
    assert lines[header + 1 :] == [["Bad Porz", MARK, MARK], ["Zoo Köln", MARK, MARK], ["Total", "9", "9"]]


def test_an_xlsx_file_has_numbers_as_numbers_and_partner_names_as_text(db: Factory, world: World) -> None:
    with db() as s, s.begin():
        s.execute(update(Partner).where(Partner.id == world.bath).values(name='=HYPERLINK("http://x","y")'))
    with db() as s:
        made = exports.make_export(s, KOELN, exports.ExportRequest("partners", "xlsx", JULY), utcnow())
    sheet = load_workbook(io.BytesIO(made.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = values.index(["Partner", "Redemptions", "Quantity"])
    assert values[header + 1 :] == [
        ["Zoo Köln", 9, 11],
        ['\'=HYPERLINK("http://x","y")', 7, 7],
        ["Total", 16, 18],
    ]
    assert ["To", "2026-07-31"] in [row[:2] for row in values]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


# --- the rule holds for random small tables (property) ---


Equation = tuple[list[int], int]  # (the rows that add up, the row of their total)


def derivable(values: list[Any], equations: list[Equation]) -> set[int]:
    """The hidden rows (by index) whose value follows exactly from the shown ones (linear algebra, rationals)."""
    unknown = [index for index, value in enumerate(values) if value == MARK]
    if not unknown:
        return set()
    position = {row: index for index, row in enumerate(unknown)}
    matrix: list[list[Fraction]] = []
    for parts, total in equations:
        line = [Fraction(0)] * len(unknown)
        for part in parts:
            if part in position:
                line[position[part]] += 1
        if total in position:
            line[position[total]] -= 1
        if any(line):
            matrix.append(line)
    base = rank(matrix) if matrix else 0
    return {
        row
        for row, index in position.items()
        if rank([*matrix, [Fraction(int(i == index)) for i in range(len(unknown))]]) == base
    }


def raw_cards(db: Factory, *where: Any) -> int:
    with db() as s:
        return int(
            s.scalar(
                select(func.count(func.distinct(Redemption.card_number))).where(Redemption.status == "recorded", *where)
            )
            or 0
        )


benefit_cards = st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=3), min_size=1, max_size=3)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(benefit_cards, st.integers(0, 3))
def test_no_published_benefit_figure_describes_too_few_cards_nor_can_be_worked_out(
    db: Factory, sync_engine: Any, cards: list[list[int]], shared: int
) -> None:
    """Partners with 1 to 3 benefits, each redeemed by 0 to 7 cards (a few cards use several benefits)."""
    try:
        benefit_ids: list[list[uuid.UUID]] = []
        with db() as s, s.begin():
            for p, counts in enumerate(cards):
                made = make_partner(
                    s,
                    f"Partner {p}",
                    [(f"Place {p}", "Porz")],
                    [{"category": "sport", "title": {"en": f"B{p}.{b}"}} for b in range(len(counts))],
                )
                benefit_ids.append(list(made.benefits))
                for b, count in enumerate(counts):
                    for card in range(count):
                        # The first ``shared`` cards are the same families across benefits and partners.
                        number = f"X{card:08d}" if card < shared else f"P{p}B{b}C{card:05d}"
                        s.add(
                            Redemption(
                                partner_id=made.id,
                                location_id=made.locations[0],
                                benefit_id=made.benefits[b],
                                card_number=number,
                                quantity=2,
                                client_nonce=uuid.uuid4().hex,
                                presentation="phone",
                                occurred_at=local(dt.date(2026, 7, 2), 10),
                                created_at=local(dt.date(2026, 7, 2), 10),
                                status="recorded",
                            )
                        )
        rows = table(db, "benefits")
        # Rows: per partner its line then its benefits (in some order); the total last. Find each row's facts.
        values = [shown(row[2]) for row in rows]
        cards_of: list[int] = []
        equations: list[Equation] = []
        index = 0
        partner_rows: list[int] = []
        while index < len(rows) - 1:
            name = rows[index][0]
            p = int(name.split()[1])
            partner_rows.append(index)
            cards_of.append(
                raw_cards(
                    db, Redemption.partner_id.in_(select(Benefit.partner_id).where(Benefit.id.in_(benefit_ids[p])))
                )
            )
            members = []
            index += 1
            while index < len(rows) - 1 and rows[index][0] == name:
                title = rows[index][1]
                b = int(title.split(".")[1])
                cards_of.append(raw_cards(db, Redemption.benefit_id == benefit_ids[p][b]))
                members.append(index)
                index += 1
            equations.append((members, partner_rows[-1]))
        cards_of.append(raw_cards(db))
        equations.append((partner_rows, len(rows) - 1))
        for value, count, row in zip(values, cards_of, rows, strict=True):
            if 0 < count < KOELN.suppression_threshold:
                assert value == MARK, row
            # A row is never half shown: its quantity is hidden with its redemptions.
            assert (shown(row[3]) == MARK) == (value == MARK), row
        assert derivable(values, equations) == set()
    finally:
        with sync_engine.begin() as conn:
            conn.execute(delete(Redemption))
            conn.execute(delete(Benefit))
            conn.execute(delete(Location))
            conn.execute(delete(Partner))


# --- on the web ---


def export(client: Client, csrf: str, **fields: str) -> Any:
    data = {"csrf_token": csrf, **JULY_PARAMS, **fields}
    return client.post("/staff/statistics/exports", data=data, follow_redirects=False)


def test_an_analyst_downloads_a_small_table_at_once_and_the_audit_log_says_so(
    client: Client, db: Factory, world: World, make_user: Any
) -> None:
    analyst = make_user(Role.ANALYST)
    csrf = sign_in_as(client, analyst)
    response = export(client, csrf, table="by_category", format="xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(XLSX_MEDIA_TYPE)
    assert 'filename="familienkarte-by-category-2026-07-01-2026-07-31.xlsx"' in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    assert ("Total", 16, 18) in list(sheet.iter_rows(values_only=True))
    with db() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "statistics.export")).one()
    assert entry.actor_user_id == analyst.id
    assert entry.details["table"] == "by_category"
    assert entry.details["mode"] == "direct"
    assert entry.details["filters"]["from"] == "2026-07-01"


def test_the_dashboard_offers_both_formats_under_every_table(client: Client, world: World, make_user: Any) -> None:
    sign_in_as(client, make_user(Role.ANALYST))
    page = client.get("/staff/statistics", params=JULY_PARAMS).text
    for key in exports.TABLES:
        assert f'name="table" value="{key}"' in page
    assert page.count('name="format" value="csv"') == len(exports.TABLES)
    assert page.count('name="format" value="xlsx"') == len(exports.TABLES)
    assert "Download Excel (XLSX)" in page
    assert '<input type="hidden" name="from" value="2026-07-01">' in page


def test_an_export_takes_the_partner_by_name_or_id_and_keeps_its_id(
    client: Client, db: Factory, world: World, make_user: Any
) -> None:
    csrf = sign_in_as(client, make_user(Role.ANALYST))
    for typed in ("zoo köln", " ZOO ", str(world.zoo)):
        response = export(client, csrf, table="partners", format="csv", partner=typed)
        assert response.status_code == 200, typed
        lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert ["Partner", "Zoo Köln"] in lines
        assert not any(line and line[0] == "Bad Porz" for line in lines)
    with db() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "statistics.export")).all()
    assert [entry.details["filters"]["partner"] for entry in entries] == [str(world.zoo)] * 3
    # The dashboard's download buttons send the partner's id, whichever way it was chosen.
    page = client.get("/staff/statistics", params={**JULY_PARAMS, "partner": "Zoo Köln"}).text
    assert page.count(f'<input type="hidden" name="partner" value="{world.zoo}">') == len(exports.TABLES)


def test_an_export_refuses_a_partner_name_several_partners_match(
    client: Client, db: Factory, world: World, make_user: Any
) -> None:
    csrf = sign_in_as(client, make_user(Role.ANALYST))
    response = export(client, csrf, table="partners", format="csv", partner="o")
    assert response.status_code == 422
    assert "Several partners match o (Bad Porz, Zoo Köln)." in response.text
    with db() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


@pytest.mark.parametrize(
    ("fields", "field_message"),
    [
        ({"table": "everything", "format": "csv"}, "There is no table everything to export."),
        ({"table": "cards", "format": "pdf"}, "The format must be csv or xlsx, not pdf."),
        ({"table": "cards", "format": "csv", "from": "2026-13-01"}, "The start date (from) must be a date like"),
        ({"table": "cards", "format": "csv", "district": "Atlantis"}, "There is no district Atlantis."),
        ({"table": "cards", "format": "csv", "partner": "not-a-partner"}, "There is no partner not-a-partner."),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(
    client: Client, db: Factory, make_user: Any, fields: dict[str, str], field_message: str
) -> None:
    csrf = sign_in_as(client, make_user(Role.ANALYST))
    response = export(client, csrf, **fields)
    assert response.status_code == 422
    assert field_message in response.text
    problem = client.post(
        "/staff/statistics/exports",
        data={"csrf_token": csrf, **JULY_PARAMS, **fields},
        headers={"Accept": "application/json"},
    ).json()
    assert any(field_message in error["message"] for error in problem["errors"])
    with db() as s:
        assert s.scalar(select(func.count()).select_from(ExportJob)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.PARTNER_MANAGER, Role.PARTNER_OWNER, Role.CASHIER, Role.FAMILY])
def test_everyone_but_analysts_and_admins_is_refused(client: Client, make_user: Any, role: Role) -> None:
    csrf = sign_in_as(client, make_user(role))
    assert export(client, csrf, table="cards", format="csv").status_code == 403
    assert client.get("/staff/statistics/exports").status_code == 403


def test_without_signing_in_one_is_sent_to_sign_in(client: Client) -> None:
    response = client.get("/staff/statistics/exports", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    refused = client.post("/staff/statistics/exports", data={"table": "cards"}, follow_redirects=False)
    assert refused.status_code in (303, 403)
    assert refused.headers.get("content-disposition") is None


def test_an_export_without_the_csrf_token_is_refused(client: Client, make_user: Any) -> None:
    sign_in_as(client, make_user(Role.ADMIN))
    response = client.post("/staff/statistics/exports", data={**JULY_PARAMS, "table": "cards", "format": "csv"})
    assert response.status_code == 403


# --- large exports: a job for a worker ---


@pytest.fixture
def as_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every export counts as large."""
    monkeypatch.setattr(exports, "SYNC_MAX_ROWS", 0)


def job_id_of(response: Any) -> uuid.UUID:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/staff/statistics/exports/")
    return uuid.UUID(location.rsplit("/", 1)[1])


def test_a_large_export_is_made_by_a_worker_and_only_its_owner_or_an_admin_gets_it(
    client: Client, db: Factory, world: World, make_user: Any, as_job: None, worker_settings: Settings
) -> None:
    analyst, colleague, admin = make_user(Role.ANALYST), make_user(Role.ANALYST), make_user(Role.ADMIN)
    csrf = sign_in_as(client, analyst)
    previous = set_waker(exports.EXPORT_TOPIC, tasks_exports.EXPORT_WAKER)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
            job_id = job_id_of(export(client, csrf, table="benefits", format="csv"))
            page = client.get(f"/staff/statistics/exports/{job_id}")
            assert page.status_code == 200
            assert '<progress id="export-progress" max="100"' in page.text
            assert 'aria-live="polite"' in page.text
            assert '<script type="module" src="/static/js/export-progress.js">' in page.text

            def done() -> dict[str, Any]:
                state: dict[str, Any] = client.get(
                    f"/staff/statistics/exports/{job_id}/status", headers={"Accept": "application/json"}
                ).json()
                return state if state["status"] == "done" else {}

            state = wait_until(done, timeout=30, what="the export made by the worker")
    finally:
        set_waker(exports.EXPORT_TOPIC, previous)
    assert state["progress"] == 100
    assert state["download_url"] == f"/staff/statistics/exports/{job_id}/file"
    assert state["message"] == "The export is ready: 6 rows."
    ready = client.get(f"/staff/statistics/exports/{job_id}").text
    assert f'href="/staff/statistics/exports/{job_id}/file"' in ready
    assert (
        "familienkarte-benefits-2026-07-01-2026-07-31.csv"
        in client.get(state["download_url"]).headers["content-disposition"]
    )
    lines = list(csv.reader(io.StringIO(client.get(state["download_url"]).content.decode("utf-8-sig"))))
    assert ["Zoo Köln", "Zoo run", MARK, MARK] in lines
    assert ["Total", "", "16", "18"] in lines
    assert str(job_id) in client.get("/staff/statistics/exports").text

    sign_out(client)
    sign_in_as(client, colleague)
    assert client.get(f"/staff/statistics/exports/{job_id}").status_code == 404
    assert client.get(f"/staff/statistics/exports/{job_id}/status").status_code == 404
    assert client.get(f"/staff/statistics/exports/{job_id}/file").status_code == 404
    assert str(job_id) not in client.get("/staff/statistics/exports").text

    sign_out(client)
    sign_in_as(client, admin)
    assert client.get(f"/staff/statistics/exports/{job_id}/file").status_code == 200
    with db() as s:
        actions = s.execute(select(AuditEntry.action, AuditEntry.actor_user_id).order_by(AuditEntry.id)).all()
    assert [tuple(row) for row in actions] == [
        ("statistics.export", analyst.id),
        ("statistics.export_download", analyst.id),
        ("statistics.export_download", analyst.id),
        ("statistics.export_download", admin.id),
    ]


def test_the_job_page_shows_the_state_without_a_worker(
    client: Client, db: Factory, world: World, make_user: Any, as_job: None
) -> None:
    csrf = sign_in_as(client, make_user(Role.ANALYST))
    job_id = job_id_of(export(client, csrf, table="partners", format="xlsx"))
    state = client.get(f"/staff/statistics/exports/{job_id}/status").json()
    assert state == {
        "id": str(job_id),
        "status": "queued",
        "progress": 0,
        "rows": None,
        "download_url": None,
        "error": None,
        "message": "Waiting for a worker to start the export.",
    }
    page = client.get(f"/staff/statistics/exports/{job_id}").text
    assert '<progress id="export-progress" max="100" value="0">0 %</progress>' in page
    assert "Check again" in page
    # Not ready: there is no file yet.
    assert client.get(f"/staff/statistics/exports/{job_id}/file").status_code == 404


def test_the_job_runs_once_reports_progress_and_a_repeat_is_harmless(
    db: Factory, world: World, make_user: Any, as_job: None
) -> None:
    analyst = make_user(Role.ANALYST)
    principal = principal_of(analyst)
    with db() as s, s.begin():
        outcome = exports.request_export(
            s, principal, KOELN, {**JULY_PARAMS, "table": "partners", "format": "csv"}, now=utcnow(), today=JULY.end
        )
    assert outcome.file is None
    assert outcome.job_id is not None
    seen: list[int] = []

    @contextmanager
    def transaction() -> Iterator[Session]:
        with db() as s, s.begin():
            yield s
        with db() as s:
            seen.append(int(s.scalar(select(ExportJob.progress).where(ExportJob.id == outcome.job_id)) or 0))

    assert exports.run_export_job(transaction, KOELN, outcome.job_id) == "done"
    assert seen == sorted(seen)
    assert seen[0] == 5
    assert 60 in seen
    assert seen[-1] == 100
    with db() as s:
        first = s.get(ExportJob, outcome.job_id)
        assert first is not None
        assert first.content is not None
        content, finished = first.content, first.finished_at
    # The message delivered again (acks_late after a lost worker): nothing changes.
    assert exports.run_export_job(transaction, KOELN, outcome.job_id) == "done"
    with db() as s:
        again = s.get(ExportJob, outcome.job_id)
        assert again is not None
        assert again.content == content
        assert again.finished_at == finished


def test_a_job_whose_partner_was_removed_fails_with_a_reason(
    client: Client, db: Factory, world: World, make_user: Any, as_job: None
) -> None:
    csrf = sign_in_as(client, make_user(Role.ANALYST))
    job_id = job_id_of(export(client, csrf, table="partners", format="csv", partner=str(world.zoo)))
    with db() as s, s.begin():
        s.execute(delete(Partner).where(Partner.id == world.zoo))
    assert exports.run_export_job(worker_session_for(db), KOELN, job_id) == "failed"
    state = client.get(f"/staff/statistics/exports/{job_id}/status").json()
    assert state["status"] == "failed"
    assert "filters are no longer valid" in state["error"]


def test_expired_exports_are_deleted_and_lost_wake_ups_are_queued_again(
    db: Factory, world: World, make_user: Any, as_job: None
) -> None:
    principal = principal_of(make_user(Role.ANALYST))
    long_ago = utcnow() - exports.EXPORT_TTL - dt.timedelta(hours=1)
    with db() as s, s.begin():
        old = exports.request_export(
            s, principal, KOELN, {**JULY_PARAMS, "table": "partners", "format": "csv"}, now=long_ago, today=JULY.end
        )
        fresh = exports.request_export(
            s, principal, KOELN, {**JULY_PARAMS, "table": "cards", "format": "csv"}, now=utcnow(), today=JULY.end
        )
    with db() as s:
        assert exports.queued_export_job_ids(s, utcnow() - exports.SWEEP_AFTER) == [old.job_id]
        # Expired: no longer shown, not even to its owner.
        with pytest.raises(exports.ExportJobNotFound):
            exports.export_job(s, principal, old.job_id, utcnow())  # type: ignore[arg-type]
    with db() as s, s.begin():
        assert exports.remove_expired_exports(s, utcnow()) == 1
        # A job whose worker vanished while running it is given up, so it can be asked for again.
        s.execute(
            update(ExportJob)
            .where(ExportJob.id == fresh.job_id)
            .values(status="running", started_at=utcnow() - exports.STALLED_AFTER - dt.timedelta(minutes=1))
        )
        assert exports.fail_stalled_exports(s, utcnow()) == 1
        assert exports.fail_stalled_exports(s, utcnow()) == 0
    with db() as s:
        assert exports.export_job(s, principal, fresh.job_id, utcnow()).status == "failed"  # type: ignore[arg-type]
    with db() as s:
        assert list(s.scalars(select(ExportJob.id))) == [fresh.job_id]


def principal_of(user: Any) -> Any:
    from familienkarte.accounts.principal import Principal

    return Principal(role=Role(user.role), user_id=user.id, email=user.email)


def worker_session_for(db: Factory) -> exports.Transaction:
    @contextmanager
    def transaction() -> Iterator[Session]:
        with db() as s, s.begin():
            yield s

    return transaction


@pytest.fixture
def worker_settings(migrated_db: str, tmp_path: Path) -> Settings:
    settings = make_test_settings(tmp_path / "worker", migrated_db, FK_BASE_URL=BASE_URL)
    configure(settings, configure_logs=False)
    return settings
