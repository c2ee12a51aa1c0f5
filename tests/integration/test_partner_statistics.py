"""The partner's statistics page and its small-number rule (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL).

The raw facts (redemptions, verification events) are written straight into their tables; the expected figures are
worked out here from the same facts in Python (the city's days, voided ones left out), and the distinct cards of
every figure too, to check that nothing shown describes fewer cards than the threshold.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.city import City, load_city
from familienkarte.db import is_postgresql
from familienkarte.errors import InvalidInput, PermissionDenied
from familienkarte.partners.models import Partner
from familienkarte.redemptions.models import Redemption, VerificationEvent
from familienkarte.statistics.partner_view import (
    NO_CARDS,
    CardGroup,
    Listing,
    MonthCounts,
    PartnerStatistics,
    month_counts,
    month_counts_in_one,
    month_counts_per_list,
    partner_statistics,
    read_month,
)
from familienkarte.statistics.suppression import Suppressed
from tests.helpers import make_partner, sign_in_as, sign_out
from tests.integration.test_staff_statistics import body, read, text

Factory = Callable[[], Session]
Client = TestClient[Litestar]
KOELN = load_city("koeln")
BERLIN = ZoneInfo("Europe/Berlin")
JULY = dt.date(2026, 7, 1)
AUGUST_5 = dt.date(2026, 8, 5)


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in Köln, as the aware UTC datetime stored."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BERLIN).astimezone(dt.UTC)


def threshold(value: int) -> City:
    return dataclasses.replace(KOELN, suppression_threshold=value)


@dataclass(frozen=True)
class Fact:
    """A redemption as written, for working out the expected figures."""

    benefit: uuid.UUID
    location: uuid.UUID
    card: str
    at: dt.datetime
    quantity: int = 1
    voided: bool = False


@dataclass(frozen=True)
class Shop:
    partner: uuid.UUID
    name: str
    benefits: dict[str, uuid.UUID]
    locations: dict[str, uuid.UUID]


def make_shop(db: Factory, name: str, benefits: Sequence[str], locations: Sequence[str]) -> Shop:
    """A partner with its benefits (listed in the order given) and locations (without a district), by name."""
    first = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with db() as s, s.begin():
        made = make_partner(
            s,
            name,
            [(place, None) for place in locations],
            [
                {"title": {"en": title, "de": title}, "created_at": first + dt.timedelta(minutes=index)}
                for index, title in enumerate(benefits)
            ],
        )
    return Shop(
        made.id,
        name,
        dict(zip(benefits, made.benefits, strict=True)),
        dict(zip(locations, made.locations, strict=True)),
    )


def write(db: Factory, shop: Shop, facts: Sequence[Fact]) -> None:
    with db() as s, s.begin():
        s.add_all(
            Redemption(
                partner_id=shop.partner,
                location_id=fact.location,
                benefit_id=fact.benefit,
                card_number=fact.card,
                quantity=fact.quantity,
                client_nonce=uuid.uuid4().hex,
                presentation="phone",
                occurred_at=fact.at,
                created_at=fact.at,
                status="voided" if fact.voided else "recorded",
                voided_at=fact.at if fact.voided else None,
            )
            for fact in facts
        )


def owner(shop: Shop) -> Principal:
    return Principal(role=Role.PARTNER_OWNER, user_id=uuid.uuid4(), partner_id=shop.partner)


def figures(
    db: Factory, shop: Shop, month: dt.date, city: City = KOELN, today: dt.date = AUGUST_5
) -> PartnerStatistics:
    with db() as s:
        return partner_statistics(s, owner(shop), city, month, today=today)


def in_month(fact: Fact, month: dt.date) -> bool:
    day = fact.at.astimezone(BERLIN).date()
    return not fact.voided and day.replace(day=1) == month


def as_dict(listing: Listing) -> dict[str, tuple[Any, Any]]:
    return {row.label: (row.redemptions, row.quantity) for row in listing.rows}


def week_of(fact: Fact) -> int:
    return min((fact.at.astimezone(BERLIN).day - 1) // 7 + 1, 5)


# --- the figures match the raw facts ---


def test_the_figures_are_those_of_the_raw_facts_in_the_citys_days(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry", "Feeding tour"], ["Main gate", "Aquarium"])
    entry, tour = zoo.benefits["Free entry"], zoo.benefits["Feeding tour"]
    gate, aquarium = zoo.locations["Main gate"], zoo.locations["Aquarium"]
    facts = [
        # 1 July, 00:30 in Köln, is still 30 June in UTC: July.
        Fact(entry, gate, "A1", dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC), quantity=2),
        # 30 June, 23:30 in Köln: June.
        Fact(entry, gate, "A2", dt.datetime(2026, 6, 30, 21, 30, tzinfo=dt.UTC)),
        Fact(entry, gate, "A3", local(dt.date(2026, 7, 8), 10), quantity=3),
        Fact(entry, aquarium, "A1", local(dt.date(2026, 7, 15), 10)),
        Fact(tour, aquarium, "A4", local(dt.date(2026, 7, 22), 10), quantity=4),
        Fact(tour, aquarium, "A5", local(dt.date(2026, 7, 30), 12)),
        # Voided: not counted.
        Fact(tour, gate, "A6", local(dt.date(2026, 7, 9), 12), quantity=5, voided=True),
        # 31 July, 23:30 UTC is 1 August, 01:30 in Köln: August.
        Fact(entry, gate, "A7", dt.datetime(2026, 7, 31, 23, 30, tzinfo=dt.UTC), quantity=6),
    ]
    write(db, zoo, facts)

    # Threshold 1: nothing is small, so every figure is shown and compared with the facts.
    july = figures(db, zoo, JULY, threshold(1))
    counted = [f for f in facts if in_month(f, JULY)]
    assert len(counted) == 5
    assert as_dict(july.by_benefit) == {"Free entry": (3, 6), "Feeding tour": (2, 5)}
    assert as_dict(july.by_location) == {"Aquarium": (3, 6), "Main gate": (2, 5)}
    assert (july.by_benefit.total.redemptions, july.by_benefit.total.quantity) == (5, 11)
    assert july.by_location.total == july.by_benefit.total == july.by_week.total
    # Weeks: days 1-7, 8-14, 15-21, 22-28, 29-31.
    assert [(row.redemptions, row.quantity) for row in july.by_week.rows] == [(1, 2), (1, 3), (1, 1), (1, 4), (1, 1)]
    for listing, key in ((july.by_benefit, "benefit"), (july.by_location, "location")):
        for label, (redemptions, quantity) in as_dict(listing).items():
            ids = zoo.benefits if key == "benefit" else zoo.locations
            mine = [f for f in counted if getattr(f, key) == ids[label]]
            assert (redemptions, quantity) == (len(mine), sum(f.quantity for f in mine))
    assert not july.by_benefit.hidden
    assert july.complete
    assert july.until == dt.date(2026, 7, 31)

    june = figures(db, zoo, dt.date(2026, 6, 1), threshold(1))
    assert as_dict(june.by_benefit) == {"Free entry": (1, 1), "Feeding tour": (0, 0)}
    august = figures(db, zoo, dt.date(2026, 8, 1), threshold(1))
    assert as_dict(august.by_benefit) == {"Free entry": (1, 6), "Feeding tour": (0, 0)}
    assert not august.complete
    assert august.until == AUGUST_5
    # A February of 28 days has four weeks.
    assert len(figures(db, zoo, dt.date(2026, 2, 1), threshold(1), today=AUGUST_5).by_week.rows) == 4


def expected_counts(facts: Sequence[Fact], month: dt.date) -> MonthCounts:
    """The month's counts worked out from the facts: redemptions, quantity and distinct cards per group."""
    counted = [f for f in facts if in_month(f, month)]

    def group(mine: Sequence[Fact]) -> CardGroup:
        return CardGroup(len(mine), sum(f.quantity for f in mine), _distinct(mine))

    return MonthCounts(
        by_benefit={b: group([f for f in counted if f.benefit == b]) for b in {f.benefit for f in counted}},
        by_location={p: group([f for f in counted if f.location == p]) for p in {f.location for f in counted}},
        by_week={w: group([f for f in counted if week_of(f) == w]) for w in {week_of(f) for f in counted}},
        total=group(counted),
    )


def test_each_list_counts_the_distinct_cards_of_its_own_groups(db: Factory) -> None:
    """The lists are counted together on PostgreSQL (grouping sets) and one by one on SQLite: both must give every
    group its own figures. The month is laid out so that the 12 groups (3 benefits, 3 locations, 5 weeks, the
    total) describe 12 different numbers of cards, so that a group counted under the wrong list shows."""
    zoo = make_shop(db, "Zoo Köln", ["Free entry", "Feeding tour", "Night walk"], ["Main gate", "Aquarium", "Pier"])
    entry, tour, walk = (zoo.benefits[t] for t in ("Free entry", "Feeding tour", "Night walk"))
    gate, aquarium, pier = (zoo.locations[p] for p in ("Main gate", "Aquarium", "Pier"))
    # (benefit, location, day of July, first card, cards): each block's cards once, its first card twice.
    blocks = [
        (entry, gate, 2, 16, 5),
        (entry, aquarium, 9, 22, 1),
        (tour, aquarium, 16, 20, 3),
        (tour, pier, 23, 15, 2),
        (walk, pier, 30, 19, 9),
        (entry, pier, 3, 13, 2),
        (walk, gate, 17, 4, 1),
    ]
    facts = [
        Fact(benefit, place, f"G{number:07d}", local(dt.date(2026, 7, day), 10 + index), quantity=1 + number % 3)
        for benefit, place, day, first, count in blocks
        for index, number in enumerate([*range(first, first + count), first])
    ]
    # Not counted: voided, in June, in August in Köln (though still July in UTC), another partner's.
    facts += [
        Fact(tour, gate, "G9000001", local(dt.date(2026, 7, 5), 12), voided=True),
        Fact(entry, gate, "G9000002", local(dt.date(2026, 6, 30), 23, 30)),
        Fact(walk, pier, "G9000003", local(dt.date(2026, 8, 1), 0, 30)),
    ]
    write(db, zoo, facts)
    bath = make_shop(db, "Bad Porz", ["Swimming"], ["Pool"])
    write(db, bath, [Fact(bath.benefits["Swimming"], bath.locations["Pool"], "G9000004", local(JULY, 12))])

    expected = expected_counts(facts, JULY)
    groups = [*expected.by_benefit.values(), *expected.by_location.values(), *expected.by_week.values()]
    cards = [group.cards for group in [*groups, expected.total]]
    assert len(cards) == 12
    assert len(set(cards)) == 12, cards
    # Every group has more redemptions than cards, and another quantity: no column can stand in for another.
    assert all(group.cards < group.redemptions and group.redemptions != group.quantity for group in groups)

    with db() as s:
        ways = [month_counts, month_counts_per_list]
        if is_postgresql(s):
            ways.append(month_counts_in_one)
        for way in ways:
            assert way(s, zoo.partner, JULY, BERLIN) == expected, way.__name__
            # A month without redemptions: no groups, a total of zeros.
            assert way(s, zoo.partner, dt.date(2026, 9, 1), BERLIN) == MonthCounts({}, {}, {}, NO_CARDS)
        # The page decides on these cards: at 4, the aquarium (3 cards) is hidden, and the main gate (6) with it;
        # weeks 2 and 4 (1 and 2 cards) are hidden; every benefit (8, 5 and 10 cards) is shown.
        july = partner_statistics(s, owner(zoo), threshold(4), JULY, today=AUGUST_5)
    hidden = Suppressed(4)
    assert as_dict(july.by_benefit) == {
        "Free entry": (expected.by_benefit[entry].redemptions, expected.by_benefit[entry].quantity),
        "Feeding tour": (expected.by_benefit[tour].redemptions, expected.by_benefit[tour].quantity),
        "Night walk": (expected.by_benefit[walk].redemptions, expected.by_benefit[walk].quantity),
    }
    assert as_dict(july.by_location) == {
        "Aquarium": (hidden, hidden),
        "Main gate": (hidden, hidden),
        "Pier": (expected.by_location[pier].redemptions, expected.by_location[pier].quantity),
    }
    assert [isinstance(row.redemptions, Suppressed) for row in july.by_week.rows] == [False, True, False, True, False]
    assert july.by_week.total.redemptions == expected.total.redemptions


# --- the small-number rule ---


def cards(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index:07d}" for index in range(count)]


def test_a_benefit_of_three_cards_is_hidden_and_one_more_figure_with_it(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry", "Feeding tour", "Night walk"], ["Main gate"])
    entry, tour, walk = (zoo.benefits[t] for t in ("Free entry", "Feeding tour", "Night walk"))
    gate = zoo.locations["Main gate"]
    day = local(dt.date(2026, 7, 10), 11)
    # 40 redemptions by 3 cards: a figure about 3 families.
    facts = [Fact(tour, gate, cards("T", 3)[i % 3], day) for i in range(40)]
    facts += [Fact(entry, gate, card, day) for card in cards("E", 12)]
    facts += [Fact(walk, gate, card, day, quantity=2) for card in cards("W", 8)]
    write(db, zoo, facts)

    july = figures(db, zoo, JULY)
    shown = as_dict(july.by_benefit)
    assert shown["Feeding tour"] == (Suppressed(5), Suppressed(5))
    # One more: the smallest other figure, so that 40 cannot be worked out from the total.
    assert shown["Night walk"] == (Suppressed(5), Suppressed(5))
    assert shown["Free entry"] == (12, 12)
    assert (july.by_benefit.total.redemptions, july.by_benefit.total.quantity) == (60, 68)
    assert july.by_benefit.hidden
    # The only location and the weeks describe all 23 cards: shown.
    assert as_dict(july.by_location) == {"Main gate": (60, 68)}

    # The city's threshold decides: at 3, three cards are enough; at 9, the walk's 8 cards are too few as well.
    assert as_dict(figures(db, zoo, JULY, threshold(3)).by_benefit) == {
        "Free entry": (12, 12),
        "Feeding tour": (40, 40),
        "Night walk": (8, 16),
    }
    at_nine = as_dict(figures(db, zoo, JULY, threshold(9)).by_benefit)
    assert at_nine["Night walk"] == (Suppressed(9), Suppressed(9))
    assert at_nine["Feeding tour"] == (Suppressed(9), Suppressed(9))
    assert at_nine["Free entry"] == (12, 12)
    # At 13, even the 12 cards of the free entry are too few; the total (23 cards) stays, nothing can be derived.
    at_13 = figures(db, zoo, JULY, threshold(13))
    assert all(value == (Suppressed(13), Suppressed(13)) for value in as_dict(at_13.by_benefit).values())
    assert at_13.by_benefit.total.redemptions == 60


def test_a_total_about_fewer_cards_than_the_threshold_is_hidden(db: Factory) -> None:
    bath = make_shop(db, "Bad Porz", ["Swimming"], ["Pool"])
    swim, pool = bath.benefits["Swimming"], bath.locations["Pool"]
    # 4 cards, many times each.
    write(db, bath, [Fact(swim, pool, cards("S", 4)[i % 4], local(dt.date(2026, 7, 3 + i % 20), 9)) for i in range(30)])

    july = figures(db, bath, JULY)
    for listing in (july.by_benefit, july.by_location, july.by_week):
        assert listing.total.redemptions == Suppressed(5)
        assert listing.total.quantity == Suppressed(5)
        assert all(isinstance(row.redemptions, Suppressed) or row.redemptions == 0 for row in listing.rows)
    assert figures(db, bath, JULY, threshold(4)).by_benefit.total.redemptions == 30


def _distinct(facts: Sequence[Fact]) -> int:
    return len({f.card for f in facts})


@pytest.mark.parametrize("seed", range(4))
def test_no_shown_figure_describes_fewer_cards_than_the_threshold(db: Factory, seed: int) -> None:
    """Random months of facts: every figure shown describes no card or at least the threshold of cards, and no list
    hides exactly one figure (which its total would give away)."""
    rng = random.Random(seed)
    shop = make_shop(db, f"Shop {seed}", [f"Benefit {i}" for i in range(4)], [f"Place {i}" for i in range(3)])
    benefits, places = list(shop.benefits.values()), list(shop.locations.values())
    pool = cards(f"R{seed}", rng.randint(4, 25))
    facts = [
        Fact(
            rng.choice(benefits[: rng.randint(1, 4)]),
            rng.choice(places),
            rng.choice(pool[: rng.randint(1, len(pool))]),
            local(dt.date(2026, 7, rng.randint(1, 31)), rng.randint(0, 23), rng.randint(0, 59)),
            quantity=rng.randint(1, 4),
            voided=rng.random() < 0.1,
        )
        for _ in range(rng.randint(5, 80))
    ]
    write(db, shop, facts)
    counted = [f for f in facts if in_month(f, JULY)]
    for limit in (2, 5, 8):
        july = figures(db, shop, JULY, threshold(limit))
        groups: dict[str, Callable[[str], list[Fact]]] = {
            "by-benefit": lambda label: [f for f in counted if f.benefit == shop.benefits[label]],
            "by-location": lambda label: [f for f in counted if f.location == shop.locations[label]],
        }
        weeks = [[f for f in counted if week_of(f) == week] for week in range(1, 6)]
        for listing in (july.by_benefit, july.by_location, july.by_week):
            rows = [
                (row, weeks[i] if listing.key == "by-week" else groups[listing.key](row.label))
                for i, row in enumerate(listing.rows)
            ]
            entries = [*rows, (listing.total, counted)]
            hidden = 0
            for row, mine in entries:
                if isinstance(row.redemptions, Suppressed):
                    assert isinstance(row.quantity, Suppressed)
                    hidden += 1
                    continue
                assert _distinct(mine) == 0 or _distinct(mine) >= limit, (row, _distinct(mine), limit)
                assert (row.redemptions, row.quantity) == (len(mine), sum(f.quantity for f in mine))
            assert hidden != 1, (listing, limit)


# --- only the partner's own figures ---


@pytest.fixture
def two_shops(db: Factory) -> tuple[Shop, Shop]:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    bath = make_shop(db, "Bad Porz", ["Swimming in Porz"], ["Porz pool"])
    month = last_month()
    day = local(month + dt.timedelta(days=9), 12)
    write(db, zoo, [Fact(zoo.benefits["Free entry"], zoo.locations["Main gate"], c, day) for c in cards("Z", 6)])
    write(
        db,
        bath,
        [Fact(bath.benefits["Swimming in Porz"], bath.locations["Porz pool"], c, day, 3) for c in cards("B", 9)],
    )
    with db() as s, s.begin():
        s.add_all(
            VerificationEvent(partner_id=zoo.partner, location_id=zoo.locations["Main gate"], reason=reason, at=day)
            for reason in ("ok", "ok", "ok", "revoked")
        )
        s.add(
            VerificationEvent(partner_id=bath.partner, location_id=bath.locations["Porz pool"], reason="stale", at=day)
        )
    return zoo, bath


def last_month() -> dt.date:
    this = KOELN.today().replace(day=1)
    return (this - dt.timedelta(days=1)).replace(day=1)


def sign_in_owner(client: Client, make_user: Any, db: Factory, shop: Shop, role: Role = Role.PARTNER_OWNER) -> None:
    with db() as s:
        partner = s.get(Partner, shop.partner)
    sign_in_as(client, make_user(role, partner=partner))


def test_the_owner_sees_its_own_month_on_the_page(client: Client, make_user: Any, db: Factory, two_shops: Any) -> None:
    zoo, bath = two_shops
    sign_in_owner(client, make_user, db, zoo)
    response = client.get("/partner/statistics")
    assert response.status_code == 200, response.text[:2000]
    page = read(response.text)
    # Without a month: the last complete month.
    assert last_month().strftime("%B %Y") in text(page, "period")
    assert body(page, "table-by-benefit") == [["Free entry", "6", "6"], ["Total", "6", "6"]]
    assert body(page, "table-by-location") == [["Main gate", "6", "6"], ["Total", "6", "6"]]
    assert body(page, "table-by-week")[-1] == ["Total", "6", "6"]
    # Card checks by result, in full (one revoked card is shown as 1).
    assert body(page, "table-verifications") == [["Valid", "3"], ["Card revoked", "1"], ["Total", "4"]]
    # Nothing of the other partner, no card numbers, no note about hidden figures (nothing is hidden).
    for foreign in ("Swimming in Porz", "Porz pool", "Bad Porz", "Phone code too old"):
        assert foreign not in response.text
    for number in cards("Z", 6):
        assert number not in response.text
    assert "note-by-benefit" not in page.texts
    # Ids of the other partner in the query string change nothing.
    foreign_params = {
        "partner": str(bath.partner),
        "partner_id": str(bath.partner),
        "benefit": str(bath.benefits["Swimming in Porz"]),
        "location": str(bath.locations["Porz pool"]),
    }
    other = client.get("/partner/statistics", params=foreign_params)
    assert other.status_code == 200
    assert body(read(other.text), "table-by-benefit") == body(page, "table-by-benefit")
    assert "Swimming in Porz" not in other.text

    # The other owner sees only its own.
    sign_in_owner(client, make_user, db, bath)
    theirs = read(client.get("/partner/statistics").text)
    assert body(theirs, "table-by-benefit") == [["Swimming in Porz", "9", "27"], ["Total", "9", "27"]]
    assert body(theirs, "table-verifications") == [["Phone code too old (screenshot?)", "1"], ["Total", "1"]]


def test_hidden_figures_show_the_marker_and_say_why(client: Client, make_user: Any, db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry", "Feeding tour"], ["Main gate"])
    month = last_month()
    day = local(month + dt.timedelta(days=2), 12)
    gate = zoo.locations["Main gate"]
    facts = [Fact(zoo.benefits["Free entry"], gate, c, day) for c in cards("E", 10)]
    facts += [Fact(zoo.benefits["Feeding tour"], gate, cards("T", 2)[i % 2], day) for i in range(7)]
    write(db, zoo, facts)
    sign_in_owner(client, make_user, db, zoo)
    response = client.get("/partner/statistics", params={"month": month.strftime("%Y-%m")})
    page = read(response.text)
    assert body(page, "table-by-benefit") == [
        ["Free entry", "< 5", "< 5"],
        ["Feeding tour", "< 5", "< 5"],
        ["Total", "17", "17"],
    ]
    assert "hidden to protect the privacy of families" in text(page, "note-by-benefit")
    assert "fewer than 5 different family cards" in text(page, "note-by-benefit")
    # The marker is text, escaped like any other.
    assert response.text.count('<td class="number">&lt; 5</td>') == 4
    # In German too, through gettext (the marker and the page are the reader's language).
    client.headers["Accept-Language"] = "de"
    german = client.get("/partner/statistics", params={"month": month.strftime("%Y-%m")})
    assert german.status_code == 200
    assert german.text.count('<td class="number">&lt; 5</td>') == 4
    assert "< 5" not in german.text


def test_the_current_month_to_date_can_be_chosen(client: Client, make_user: Any, db: Factory, two_shops: Any) -> None:
    zoo, _bath = two_shops
    sign_in_owner(client, make_user, db, zoo)
    this = KOELN.today().replace(day=1)
    response = client.get("/partner/statistics", params={"month": this.strftime("%Y-%m")})
    assert response.status_code == 200
    page = read(response.text)
    assert "up to" in text(page, "period")
    assert body(page, "table-by-benefit") == [["Free entry", "0", "0"], ["Total", "0", "0"]]
    # Both choices are offered as links.
    assert f'href="/partner/statistics?month={this.strftime("%Y-%m")}"' in response.text
    assert f'href="/partner/statistics?month={last_month().strftime("%Y-%m")}"' in response.text


def _months_back(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-13", "The month must be written like 2026-07, not 2026-13."),
        ("July", "The month must be written like 2026-07, not July."),
        ("2026-7", "The month must be written like 2026-07, not 2026-7."),
        ("2026-07-01", "The month must be written like 2026-07, not 2026-07-01."),
        ("next", "The month must be written like 2026-07, not next."),
        ("future", "The month must lie between"),
        ("too-old", "The month must lie between"),
    ],
)
def test_a_bad_month_is_refused_at_its_field(
    client: Client, make_user: Any, db: Factory, two_shops: Any, value: str, message: str
) -> None:
    zoo, _bath = two_shops
    this = KOELN.today().replace(day=1)
    if value == "future":
        value = _months_back(this, -1).strftime("%Y-%m")
    if value == "too-old":
        value = _months_back(this, 25).strftime("%Y-%m")
    sign_in_owner(client, make_user, db, zoo)
    response = client.get("/partner/statistics", params={"month": value})
    assert response.status_code == 422
    page = read(response.text)
    assert message in text(page, "error-month")
    assert 'role="alert"' in response.text
    assert 'href="#field-month"' in response.text
    assert f'value="{value}"' in response.text
    assert "table-by-benefit" not in page.tables


def test_the_month_reader_accepts_24_months_back(db: Factory) -> None:
    assert read_month({}, AUGUST_5) == JULY
    assert read_month({"month": "2024-08"}, AUGUST_5) == dt.date(2024, 8, 1)
    assert read_month({"month": " 2026-08 "}, AUGUST_5) == dt.date(2026, 8, 1)
    for refused in ("2024-07", "2026-09", "0000-01", "2026-00", "x" * 500):
        with pytest.raises(InvalidInput) as caught:
            read_month({"month": refused}, AUGUST_5)
        assert [error.field for error in caught.value.errors] == ["month"]


def test_the_month_reader_offers_no_month_the_retention_may_have_thinned(db: Factory) -> None:
    # Retention of 13 months on 5 August 2026: the facts before 5 July 2025 are gone, so July 2025 is incomplete.
    assert read_month({"month": "2025-08"}, AUGUST_5, 13) == dt.date(2025, 8, 1)
    with pytest.raises(InvalidInput) as caught:
        read_month({"month": "2025-07"}, AUGUST_5, 13)
    assert [error.field for error in caught.value.errors] == ["month"]


def test_the_page_refuses_the_month_the_citys_retention_has_thinned(
    client: Client, make_user: Any, db: Factory, two_shops: Any
) -> None:
    zoo, _bath = two_shops
    this = KOELN.today().replace(day=1)
    sign_in_owner(client, make_user, db, zoo)
    oldest = _months_back(this, KOELN.retention_months - 1).strftime("%Y-%m")
    assert client.get("/partner/statistics", params={"month": oldest}).status_code == 200
    thinned = _months_back(this, KOELN.retention_months).strftime("%Y-%m")
    response = client.get("/partner/statistics", params={"month": thinned})
    assert response.status_code == 422
    assert "The month must lie between" in text(read(response.text), "error-month")


# --- who may see it ---


def test_the_start_page_links_to_the_statistics_for_owners_only(client: Client, make_user: Any, db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    sign_in_owner(client, make_user, db, zoo)
    assert 'href="/partner/statistics"' in client.get("/partner").text
    sign_in_owner(client, make_user, db, zoo, Role.CASHIER)
    assert 'href="/partner/statistics"' not in client.get("/partner").text


@pytest.mark.parametrize("role", [Role.CASHIER, Role.FAMILY, Role.ADMIN, Role.ANALYST, Role.PARTNER_MANAGER])
def test_cashiers_families_and_staff_are_refused(client: Client, make_user: Any, db: Factory, role: Role) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    with db() as s:
        partner = s.get(Partner, zoo.partner)
    sign_in_as(client, make_user(role, partner=partner if role == Role.CASHIER else None))
    response = client.get("/partner/statistics")
    assert response.status_code == 403
    assert "Free entry" not in response.text


def test_the_service_refuses_anyone_but_an_owner(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    for principal in (
        Principal(role=Role.CASHIER, user_id=uuid.uuid4(), partner_id=zoo.partner),
        Principal(role=Role.PARTNER_OWNER, api_key_id=uuid.uuid4(), partner_id=zoo.partner),
        Principal(role=Role.PARTNER_OWNER, user_id=uuid.uuid4()),
        Principal(role=Role.ANALYST, user_id=uuid.uuid4()),
    ):
        with db() as s, pytest.raises(PermissionDenied):
            partner_statistics(s, principal, KOELN, JULY, today=AUGUST_5)


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    sign_out(client)
    response = client.get("/partner/statistics", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/partner/statistics")
