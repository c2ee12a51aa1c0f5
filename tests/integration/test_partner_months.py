"""A partner's past months counted once by the month's rebuild (SQLite by default, PostgreSQL with
FK_TEST_DATABASE_URL): the same figures as the raw facts give, read only while no fact of the month changed since.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.events.stats import mark_dirty
from familienkarte.redemptions.models import VerificationEvent
from familienkarte.statistics.models import StatsPartnerMonthBuild, StatsPartnerMonthReasons, StatsPartnerMonths
from familienkarte.statistics.partner_view import counted_month, counted_month_counts, month_counts
from familienkarte.statistics.reconcile import reconcile
from familienkarte.statistics.rollups import days_from, rebuild, rebuild_dirty
from tests.integration.test_partner_statistics import (
    BERLIN,
    JULY,
    KOELN,
    Fact,
    Shop,
    cards,
    expected_counts,
    figures,
    local,
    make_shop,
    threshold,
    write,
)

Factory = Callable[[], Session]
JULY_DAYS = days_from(JULY, dt.date(2026, 7, 31))
AFTER_JULY = dt.datetime(2026, 8, 5, 9, 0, tzinfo=dt.UTC)
REASONS = ("ok", "ok", "ok", "stale", "revoked", "expired")


def random_month(db: Factory, shop: Shop, rng: random.Random) -> list[Fact]:
    """Redemptions spread over July and its neighbouring days (some voided), and verification events."""
    benefits, places = list(shop.benefits.values()), list(shop.locations.values())
    pool = cards(shop.name[:3], rng.randint(3, 30))
    facts = [
        Fact(
            rng.choice(benefits),
            rng.choice(places),
            rng.choice(pool),
            local(dt.date(2026, 6, 30) + dt.timedelta(days=rng.randint(0, 32)), rng.randint(0, 23), rng.randint(0, 59)),
            quantity=rng.randint(1, 4),
            voided=rng.random() < 0.1,
        )
        for _ in range(rng.randint(1, 60))
    ]
    write(db, shop, facts)
    with db() as s, s.begin():
        s.add_all(
            VerificationEvent(
                partner_id=shop.partner,
                location_id=rng.choice(places),
                reason=rng.choice(REASONS),
                at=local(dt.date(2026, 6, 30) + dt.timedelta(days=rng.randint(0, 32)), rng.randint(0, 23)),
            )
            for _ in range(rng.randint(0, 30))
        )
    return facts


def build(db: Factory, days: Sequence[dt.date], now: dt.datetime) -> None:
    with db() as s, s.begin():
        rebuild(s, KOELN, days, now)


@pytest.mark.parametrize("seed", range(3))
def test_a_past_month_is_counted_once_with_the_figures_of_the_raw_facts(db: Factory, seed: int) -> None:
    rng = random.Random(seed)
    shops = [
        make_shop(db, f"Shop {seed}-{n}", [f"Benefit {i}" for i in range(3)], [f"Place {i}" for i in range(2)])
        for n in range(3)
    ]
    facts = {shop.partner: random_month(db, shop, rng) for shop in shops}
    raw = {shop.partner: figures(db, shop, JULY, threshold(3)) for shop in shops}

    build(db, JULY_DAYS, AFTER_JULY)

    with db() as s:
        assert counted_month(s, JULY)
        for shop in shops:
            expected = expected_counts(facts[shop.partner], JULY)
            assert counted_month_counts(s, shop.partner, JULY) == expected
            assert month_counts(s, shop.partner, JULY, BERLIN) == expected
    for shop in shops:
        # The page, its rule applied and the verifications per reason included, is the one the raw facts gave.
        assert figures(db, shop, JULY, threshold(3)) == raw[shop.partner]


def test_the_current_month_is_not_counted(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    write(db, zoo, [Fact(zoo.benefits["Free entry"], zoo.locations["Main gate"], "A1", local(dt.date(2026, 7, 3), 10))])
    build(db, JULY_DAYS, dt.datetime(2026, 7, 31, 21, 59, tzinfo=dt.UTC))  # 23:59 in Köln, still July
    with db() as s:
        assert not counted_month(s, JULY)
        assert s.scalar(select(func.count()).select_from(StatsPartnerMonths)) == 0


def test_a_changed_fact_is_read_from_the_raw_facts_until_the_month_is_counted_again(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    entry, gate = zoo.benefits["Free entry"], zoo.locations["Main gate"]
    write(db, zoo, [Fact(entry, gate, card, local(dt.date(2026, 7, 3), 10)) for card in cards("A", 6)])
    build(db, JULY_DAYS, AFTER_JULY)
    one = threshold(1)
    assert figures(db, zoo, JULY, one).by_benefit.total.redemptions == 6

    # An offline till uploads a July redemption late: its day is marked, and the page counts the raw facts.
    late = Fact(entry, gate, "B1", local(dt.date(2026, 7, 30), 18))
    write(db, zoo, [late])
    with db() as s, s.begin():
        mark_dirty(s, ["2026-07-30"], AFTER_JULY)
    with db() as s:
        assert not counted_month(s, JULY)
        assert counted_month_counts(s, zoo.partner, JULY).total.redemptions == 6
    assert figures(db, zoo, JULY, one).by_benefit.total.redemptions == 7

    with db() as s, s.begin():
        rebuilt = rebuild_dirty(s, KOELN, AFTER_JULY + dt.timedelta(minutes=1))
    assert JULY in rebuilt.months
    with db() as s:
        assert counted_month(s, JULY)
        assert counted_month_counts(s, zoo.partner, JULY).total.redemptions == 7
    assert figures(db, zoo, JULY, one).by_benefit.total.redemptions == 7


def test_the_month_built_while_it_ran_is_counted_by_the_first_rebuild_after_it(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    write(db, zoo, [Fact(zoo.benefits["Free entry"], zoo.locations["Main gate"], "A1", local(dt.date(2026, 7, 30), 9))])
    during = dt.datetime(2026, 7, 31, 12, 0, tzinfo=dt.UTC)
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, during)  # the first run: builds July while it runs
    with db() as s:
        assert s.get(StatsPartnerMonthBuild, JULY) is None

    # Nothing of July changes after its end; the first run in August counts it all the same, and only once.
    first_of_august = dt.datetime(2026, 7, 31, 22, 1, tzinfo=dt.UTC)  # 00:01 in Köln
    with db() as s, s.begin():
        assert JULY in rebuild_dirty(s, KOELN, first_of_august).months
    with db() as s:
        assert counted_month(s, JULY)
        assert counted_month_counts(s, zoo.partner, JULY).total.redemptions == 1
    with db() as s, s.begin():
        assert JULY not in rebuild_dirty(s, KOELN, first_of_august + dt.timedelta(minutes=1)).months


def test_a_partner_without_redemptions_in_a_counted_month_sees_zeros(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    quiet = make_shop(db, "Quiet shop", ["Coffee"], ["Counter"])
    write(db, zoo, [Fact(zoo.benefits["Free entry"], zoo.locations["Main gate"], "A1", local(dt.date(2026, 7, 3), 9))])
    build(db, JULY_DAYS, AFTER_JULY)
    page = figures(db, quiet, JULY, threshold(1))
    assert [(row.label, row.redemptions) for row in page.by_benefit.rows] == [("Coffee", 0)]
    assert page.verifications == []
    with db() as s:
        assert counted_month_counts(s, uuid.uuid4(), JULY).total.redemptions == 0


def test_the_reconciliation_finds_a_counted_figure_that_differs_and_repairs_it(db: Factory) -> None:
    zoo = make_shop(db, "Zoo Köln", ["Free entry"], ["Main gate"])
    entry, gate = zoo.benefits["Free entry"], zoo.locations["Main gate"]
    write(db, zoo, [Fact(entry, gate, card, local(dt.date(2026, 7, 30), 10)) for card in cards("A", 6)])
    with db() as s, s.begin():
        s.add(VerificationEvent(partner_id=zoo.partner, location_id=gate, reason="stale", at=local(JULY, 9)))
    second_of_august = dt.datetime(2026, 8, 2, 3, 0, tzinfo=dt.UTC)
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, second_of_august)
    with db() as s, s.begin():
        assert reconcile(s, KOELN, second_of_august).differences == ()

    with db() as s, s.begin():
        total = s.get(StatsPartnerMonths, (JULY, zoo.partner, "total", ""))
        assert total is not None
        assert total.cards == 6
        total.cards = 4  # edited by hand: the privacy rule would read four cards
        reason = s.get(StatsPartnerMonthReasons, (JULY, zoo.partner, "stale"))
        assert reason is not None
        s.delete(reason)
    with db() as s, s.begin():
        found = reconcile(s, KOELN, second_of_august, repair=True)
    assert {
        (d.table, d.key[2:], (d.expected or {}).get("cards"), (d.stored or {}).get("cards")) for d in found.differences
    } == {
        ("stats_partner_months", ("total", ""), 6, 4),
        ("stats_partner_month_reasons", ("stale",), None, None),
    }
    assert found.repaired
    with db() as s:
        assert reconcile(s, KOELN, second_of_august).differences == ()
