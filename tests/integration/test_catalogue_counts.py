"""The catalogue's counts remembered by a process, against a real database: a change made in the process is seen
at once, one made elsewhere after the remembered time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from familienkarte.benefits import rules
from familienkarte.benefits.models import Benefit
from familienkarte.catalogue import services
from familienkarte.catalogue.counts import CATALOGUE_COUNTS, CatalogueCounts
from familienkarte.partners.models import Partner
from tests.integration.test_catalogue import add_benefit, add_partner, today
from tests.unit.test_catalogue_counts import Clock

QUERY = services.CatalogueQuery()
FAMILY = rules.FamilyFacts(2, (rules.year_month_for_age(6, today()),), 0)


def matches(session: Session) -> int:
    return services.search_benefits(session, QUERY, locale="de", today=today()).total


def usable(session: Session) -> int:
    return services.find_benefits(session, family=FAMILY, locale="de", today=today()).count


def remembering(db: Callable[[], Session], held: CatalogueCounts) -> Session:
    session = db()
    session.info[CATALOGUE_COUNTS] = held
    return session


def test_a_benefit_published_in_this_process_is_counted_at_once(db: Callable[[], Session]) -> None:
    held = CatalogueCounts(30, clock=Clock())
    with db() as session, session.begin():
        partner = add_partner(session)
        add_benefit(session, partner, "Eins")
        partner_id = partner.id
    with remembering(db, held) as session:
        assert (matches(session), usable(session)) == (1, 1)
    with db() as session, session.begin():
        add_benefit(session, session.get_one(Partner, partner_id), "Zwei")
    with remembering(db, held) as session:
        assert (matches(session), usable(session)) == (2, 2)


def test_a_bulk_update_in_this_process_is_seen_at_once(db: Callable[[], Session]) -> None:
    held = CatalogueCounts(30, clock=Clock())
    with db() as session, session.begin():
        partner = add_partner(session)
        add_benefit(session, partner, "Eins")
        add_benefit(session, partner, "Zwei")
    with remembering(db, held) as session:
        assert matches(session) == 2
    with db() as session, session.begin():
        session.execute(update(Benefit).where(Benefit.title["de"].as_string() == "Zwei").values(status="paused"))
    with remembering(db, held) as session:
        assert matches(session) == 1


def test_a_change_made_elsewhere_is_counted_after_the_remembered_time(db: Callable[[], Session]) -> None:
    clock = Clock()
    held = CatalogueCounts(30, clock=clock)
    with db() as session, session.begin():
        partner = add_partner(session)
        add_benefit(session, partner, "Eins")
        add_benefit(session, partner, "Zwei")
    with remembering(db, held) as session:
        assert (matches(session), usable(session)) == (2, 2)
    # Another process pauses one (a plain SQL statement: nothing in this process hears of it).
    with db() as session, session.begin():
        session.connection().execute(text("UPDATE benefits SET status = 'paused'"))
    with remembering(db, held) as session:
        assert (matches(session), usable(session)) == (2, 2)
        # The list itself is read afresh.
        assert services.search_benefits(session, QUERY, locale="de", today=today()).items == []
    clock.now += 31
    with remembering(db, held) as session:
        assert (matches(session), usable(session)) == (0, 0)


def test_without_remembered_counts_every_count_is_read(db: Callable[[], Session], sync_engine: Any) -> None:
    with db() as session, session.begin():
        partner = add_partner(session)
        add_benefit(session, partner, "Eins")
    with db() as session:
        assert matches(session) == 1
    with db() as session, session.begin():
        session.connection().execute(text("UPDATE benefits SET status = 'paused'"))
    with db() as session:
        assert matches(session) == 0
