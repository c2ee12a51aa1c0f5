"""The catalogue's counts remembered by a process, against a real database: a change made in the process is seen
at once, one made elsewhere after the remembered time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from familienkarte.benefits import rules
from familienkarte.benefits.models import Benefit
from familienkarte.catalogue import map_services, services
from familienkarte.catalogue.counts import CATALOGUE_COUNTS, CatalogueCounts
from familienkarte.partners.models import Location, Partner
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


def test_the_finder_lists_only_benefits_still_visible_while_its_groups_are_remembered(
    db: Callable[[], Session],
) -> None:
    held = CatalogueCounts(30, clock=Clock())
    with db() as session, session.begin():
        partner = add_partner(session)
        add_benefit(session, partner, "Eins")
        add_benefit(session, partner, "Zwei")

    def listed(session: Session) -> tuple[int, list[str]]:
        result = services.find_benefits(session, family=FAMILY, locale="de", today=today())
        return result.count, sorted(card.title.text for group in result.groups for card in group.benefits)

    with remembering(db, held) as session:
        assert listed(session) == (2, ["Eins", "Zwei"])
    # Another process pauses one (plain SQL): the count is remembered, the list is read afresh.
    with db() as session, session.begin():
        session.connection().execute(
            text("UPDATE benefits SET status = 'paused' WHERE CAST(title AS TEXT) LIKE '%Zwei%'")
        )
    with remembering(db, held) as session:
        assert listed(session) == (2, ["Eins"])


def test_the_finder_remembers_what_comes_up_and_lists_only_what_is_still_visible(db: Callable[[], Session]) -> None:
    """A six-year-old grows into benefits from 8 and from 10: which ones is remembered with the groups, their cards
    are read afresh, so one paused by another process leaves the list at once and the count after the time."""
    clock = Clock()
    held = CatalogueCounts(30, clock=clock)
    with db() as session, session.begin():
        partner = add_partner(session)
        add_benefit(session, partner, "Ab acht", child_age_min=8)
        add_benefit(session, partner, "Ab zehn", child_age_min=10)

    def coming(session: Session) -> tuple[int, list[tuple[str, int | None]]]:
        result = services.find_benefits(session, family=FAMILY, locale="de", today=today())
        return result.coming_up_total, [(soon.benefit.title.text, soon.child_age) for soon in result.coming_up]

    with remembering(db, held) as session:
        assert coming(session) == (2, [("Ab acht", 8), ("Ab zehn", 10)])
    with db() as session, session.begin():
        session.connection().execute(
            text("UPDATE benefits SET status = 'paused' WHERE CAST(title AS TEXT) LIKE '%acht%'")
        )
    with remembering(db, held) as session:
        assert coming(session) == (2, [("Ab zehn", 10)])
    clock.now += 31
    with remembering(db, held) as session:
        assert coming(session) == (1, [("Ab zehn", 10)])


def test_the_finder_remembers_its_cards_and_shows_a_text_changed_elsewhere_after_the_remembered_time(
    db: Callable[[], Session],
) -> None:
    clock = Clock()
    held = CatalogueCounts(30, clock=clock)
    with db() as session, session.begin():
        add_benefit(session, add_partner(session), "Eins")

    def titles(session: Session) -> list[str]:
        result = services.find_benefits(session, family=FAMILY, locale="de", today=today())
        return [card.title.text for group in result.groups for card in group.benefits]

    with remembering(db, held) as session:
        assert titles(session) == ["Eins"]
    # Another process changes the text (through the connection: nothing in this process hears of it).
    with db() as session, session.begin():
        session.connection().execute(update(Benefit).values(title={"de": "Neu"}))
    with remembering(db, held) as session:
        assert titles(session) == ["Eins"]
    clock.now += 31
    with remembering(db, held) as session:
        assert titles(session) == ["Neu"]
    # A change in this process is shown at once.
    with db() as session, session.begin():
        session.execute(update(Benefit).values(title={"de": "Neuer"}))
    with remembering(db, held) as session:
        assert titles(session) == ["Neuer"]


def _place(session: Session, partner_name: str, location_name: str, category: str = "leisure") -> Location:
    partner = Partner(name=partner_name, status="approved", category=category)
    session.add(partner)
    session.flush()
    location = Location(partner_id=partner.id, name=location_name, latitude=50.94, longitude=6.96)
    session.add(location)
    session.flush()
    return location


def listed(session: Session, category: str | None = None) -> tuple[int, list[str], list[str]]:
    page = map_services.map_page(session, category)
    return page.total, [place.location_name for place in page.locations], page.categories


def markers(session: Session) -> list[str]:
    encoded = services.partners_geojson_encoded(session, today=today())
    return [feature["properties"]["location_name"] for feature in json.loads(encoded)["features"]]


def test_the_map_list_order_is_remembered_and_forgotten_when_a_place_changes_in_this_process(
    db: Callable[[], Session],
) -> None:
    held = CatalogueCounts(30, clock=Clock())
    with db() as session, session.begin():
        _place(session, "Bad", "Bad Süd")
        _place(session, "Zoo", "Zoo Köln", "culture")
    with remembering(db, held) as session:
        assert listed(session) == (2, ["Bad Süd", "Zoo Köln"], ["culture", "leisure"])
        assert markers(session) == ["Bad Süd", "Zoo Köln"]
        assert listed(session, "culture") == (1, ["Zoo Köln"], ["culture", "leisure"])
    with db() as session, session.begin():
        _place(session, "Aquarium", "Aquarium Mitte", "sport")
    with remembering(db, held) as session:
        assert listed(session) == (3, ["Aquarium Mitte", "Bad Süd", "Zoo Köln"], ["culture", "sport", "leisure"])
        assert markers(session) == ["Aquarium Mitte", "Bad Süd", "Zoo Köln"]
    # A place renamed in this process: the page and the markers at once.
    with db() as session, session.begin():
        session.execute(update(Location).where(Location.name == "Bad Süd").values(name="Bad Nord"))
    with remembering(db, held) as session:
        assert listed(session)[1] == ["Aquarium Mitte", "Bad Nord", "Zoo Köln"]
        assert markers(session) == ["Aquarium Mitte", "Bad Nord", "Zoo Köln"]


def test_a_place_gone_elsewhere_leaves_the_list_and_the_markers_together_after_the_remembered_time(
    db: Callable[[], Session],
) -> None:
    clock = Clock()
    held = CatalogueCounts(30, clock=clock)
    with db() as session, session.begin():
        _place(session, "Bad", "Bad Süd")
        _place(session, "Zoo", "Zoo Köln")
    with remembering(db, held) as session:
        assert listed(session)[:2] == (2, ["Bad Süd", "Zoo Köln"])
        assert markers(session) == ["Bad Süd", "Zoo Köln"]
    # Another process closes the zoo (plain SQL: nothing in this process hears of it).
    with db() as session, session.begin():
        session.connection().execute(text("UPDATE locations SET is_active = false WHERE name = 'Zoo Köln'"))
    with remembering(db, held) as session:
        assert listed(session)[:2] == (2, ["Bad Süd", "Zoo Köln"])
        assert markers(session) == ["Bad Süd", "Zoo Köln"]
    clock.now += 31
    with remembering(db, held) as session:
        assert listed(session)[:2] == (1, ["Bad Süd"])
        assert markers(session) == ["Bad Süd"]


def test_the_open_data_file_is_remembered_like_the_markers(db: Callable[[], Session]) -> None:
    clock = Clock()
    held = CatalogueCounts(30, clock=clock)

    def titles(session: Session) -> list[str]:
        encoded = services.benefits_open_data_encoded(session, today=today())
        return sorted(benefit["title"]["de"] for benefit in json.loads(encoded)["benefits"])

    with db() as session, session.begin():
        partner = add_partner(session)
        add_benefit(session, partner, "Eins")
        partner_id = partner.id
    with remembering(db, held) as session:
        assert titles(session) == ["Eins"]
    # Published in this process: at once.
    with db() as session, session.begin():
        add_benefit(session, session.get_one(Partner, partner_id), "Zwei")
    with remembering(db, held) as session:
        assert titles(session) == ["Eins", "Zwei"]
    # Paused by another process (plain SQL): after the remembered time.
    with db() as session, session.begin():
        session.connection().execute(
            text("UPDATE benefits SET status = 'paused' WHERE CAST(title AS TEXT) LIKE '%Zwei%'")
        )
    with remembering(db, held) as session:
        assert titles(session) == ["Eins", "Zwei"]
    clock.now += 31
    with remembering(db, held) as session:
        assert titles(session) == ["Eins"]
