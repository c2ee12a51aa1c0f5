"""Generated raw facts of a big city for the statistics benchmark: cards, redemptions and verification events.

Partners, locations and benefits come from :func:`bench.catalogue_data.generate` (bulk inserts from Python, a few
seconds). Everything else is written set-based in PostgreSQL (``INSERT ... SELECT ... FROM generate_series``), so
that 10 million redemptions take minutes, not hours:

- Households and cards (``cards``, default 150,000), issued evenly from a year before the range to its end, with
  a phone credential for three cards in four (its ``created_at`` is the activation the card statistics count);
  about 3 % revoked, 1 % suspended, the rest active or expired after two years.
- Redemptions (``redemptions``) spread over the range (default the 24 months up to 2026-10-31) by a pattern
  computed in Python per local hour: the programme grows over the range (the last day about 2.5 times the
  first), weekends and school holidays are busier, the day peaks late morning and mid-afternoon and is nearly
  empty at night, and each day gets its own noise. Each hour's redemptions are drawn in SQL: a random instant in
  the hour, a card among those issued by then, and an offer (a published benefit of an approved partner at one of
  its locations) on a skewed draw, so that a few benefits are very popular and most are not. About 10 % are
  voided, about 2 % come from offline tills (recorded hours later), some take a quantity above one.
- Verification events: one ``ok`` check before each redemption, and on average
  ``verifications_per_redemption - 1`` more around it (scans repeated, cards refused), about 15 % of those with
  a failure reason (stale phone codes, expired cards, malformed codes, ...).

The bulk loads of the two big tables run with their indexes and unique constraints dropped and their triggers
(the foreign key checks) disabled; everything is put back afterwards, so the schema is the migrated one. The
data is consistent by construction (every reference points to a generated row). PostgreSQL only. Deterministic
up to PostgreSQL's ``random()`` (seeded with ``setseed``; parallel workers are switched off for the session).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

import familienkarte.models  # noqa: F401  (every table known, for the foreign keys)
from bench.catalogue_data import generate as generate_catalogue
from familienkarte.city import City
from familienkarte.credentials.fk1 import Reason
from familienkarte.credentials.services import STATUS_LIST_SIZE
from familienkarte.redemptions.services import UNKNOWN_CARD
from familienkarte.statistics.rollups import local_midnight, month_start, next_month

FIRST_DAY: Final = dt.date(2024, 11, 1)
LAST_DAY: Final = dt.date(2026, 10, 31)
# Cards are issued from this long before the range on.
ISSUE_LEAD: Final = dt.timedelta(days=365)
CARD_YEARS: Final = 2
# Shares of the raw facts.
VOIDED: Final = 0.10
OFFLINE: Final = 0.02
PHONE_CARDS: Final = 4  # every card but each fourth has a phone credential
# The share of the verifications beyond the first of a redemption that fail.
FAILED_EXTRA: Final = 0.15
# The offer of a redemption: offers * random() ** SKEW (a few offers take most redemptions).
SKEW: Final = 3.0
# Relative weights of the local hour, the weekday (Monday first) and the month.
HOURS: Final = (
    0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.05, 0.25, 0.6, 1.0, 1.1,
    1.0, 0.9, 1.1, 1.3, 1.3, 1.1, 0.8, 0.5, 0.3, 0.1, 0.03, 0.01,
)  # fmt: skip
WEEKDAYS: Final = (0.8, 0.85, 1.0, 0.9, 1.0, 1.5, 1.2)
MONTHS: Final = (0.9, 0.95, 1.0, 1.05, 1.05, 1.0, 1.3, 1.3, 1.0, 1.1, 0.95, 1.2)
PRESENTATIONS: Final = (("phone", 16), ("printed", 3), ("manual", 1))
FAILURES: Final = (
    (Reason.STALE.value, 30),
    (Reason.EXPIRED.value, 20),
    (Reason.MALFORMED.value, 15),
    (UNKNOWN_CARD, 10),
    (Reason.REVOKED.value, 8),
    (Reason.SUSPENDED.value, 5),
    (Reason.BAD_SIGNATURE.value, 4),
    (Reason.PRESENTATION_MISSING.value, 3),
    (Reason.BAD_PROOF.value, 3),
    (Reason.NOT_YET_VALID.value, 2),
)


@dataclass(frozen=True)
class Generated:
    partners: int
    locations: int
    benefits: int
    offers: int
    households: int
    cards: int
    credentials: int
    redemptions: int
    voided: int
    offline: int
    verifications: int
    failed: int
    first_day: dt.date
    last_day: dt.date
    # Seconds per step, in order.
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return self.redemptions + self.verifications


@dataclass(frozen=True)
class Slot:
    """One UTC hour of the range: when it begins, how many redemptions it gets, how many cards exist by then."""

    start: dt.datetime
    count: int
    cards: int
    first: int  # redemptions of the slots before it (the sequence number of its first is first + 1)


def _array(values: list[str]) -> str:
    """A PostgreSQL text array literal of known, quote-free words."""
    assert all("'" not in value for value in values)
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"


def _weighted(choices: tuple[tuple[str, int], ...]) -> str:
    """An SQL expression drawing one of ``choices`` by weight."""
    return _array([value for value, weight in choices for _ in range(weight)])


def _pick(choices: tuple[tuple[str, int], ...]) -> str:
    total = sum(weight for _value, weight in choices)
    return f"({_weighted(choices)})[1 + floor(random() * {total})::int]"


def card_issued(number: int, cards: int, first_day: dt.date, last_day: dt.date, zone: Any) -> dt.datetime:
    """When card ``number`` (1 to ``cards``) was issued: evenly from ``ISSUE_LEAD`` before the range to its end."""
    start, end = _issue_span(first_day, last_day, zone)
    return start + (end - start) * (number - 1) / cards


def _issue_span(first_day: dt.date, last_day: dt.date, zone: Any) -> tuple[dt.datetime, dt.datetime]:
    return local_midnight(first_day, zone) - ISSUE_LEAD, local_midnight(last_day + dt.timedelta(days=1), zone)


def slots(redemptions: int, cards: int, first_day: dt.date, last_day: dt.date, zone: Any, seed: int) -> list[Slot]:
    """Every UTC hour of the range with its share of ``redemptions`` (largest remainders: they add up exactly)."""
    rng = random.Random(seed)
    start, end = local_midnight(first_day, zone), local_midnight(last_day + dt.timedelta(days=1), zone)
    issue_start, issue_end = _issue_span(first_day, last_day, zone)
    span_days = max(1, (last_day - first_day).days)
    noise: dict[dt.date, float] = {}
    hours: list[tuple[dt.datetime, float, int]] = []
    instant = start
    while instant < end:
        local = instant.astimezone(zone)
        day = local.date()
        if day not in noise:
            noise[day] = rng.uniform(0.8, 1.2)
        growth = 1 + 1.5 * (day - first_day).days / span_days
        weight = growth * noise[day] * WEEKDAYS[day.weekday()] * MONTHS[day.month - 1] * HOURS[local.hour]
        issued = int(cards * (instant - issue_start) / (issue_end - issue_start))
        hours.append((instant, weight, max(1, min(cards, issued))))
        instant += dt.timedelta(hours=1)
    total = sum(weight for _start, weight, _cards in hours)
    exact = [redemptions * weight / total for _start, weight, _cards in hours]
    counts = [int(value) for value in exact]
    left = redemptions - sum(counts)
    for index in sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)[:left]:
        counts[index] += 1
    result: list[Slot] = []
    first = 0
    for (slot_start, _weight, issued), count in zip(hours, counts, strict=True):
        result.append(Slot(slot_start, count, issued, first))
        first += count
    return result


@contextmanager
def bulk_load(conn: Connection, table: str) -> Iterator[None]:
    """Drop the table's indexes and unique constraints and disable its triggers (the foreign key checks) for a
    bulk load; put everything back afterwards, the indexes built in one go each."""
    referenced = conn.execute(
        text("SELECT count(*) FROM pg_constraint WHERE confrelid = CAST(:t AS regclass)"), {"t": table}
    ).scalar_one()
    if referenced:
        raise RuntimeError(f"{table} is referenced by foreign keys: its primary key cannot be dropped for the load")
    constraints = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u') ORDER BY contype, conname"
        ),
        {"t": table},
    ).all()
    indexes = conn.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)) "
            "ORDER BY indexname"
        ),
        {"t": table},
    ).all()
    for name, _definition in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    for name, _definition in constraints:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
        for name, definition in constraints:
            conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            conn.exec_driver_sql(definition)


def _households_and_cards(conn: Connection, city: City, cards: int, first_day: dt.date, last_day: dt.date) -> int:
    """Households, cards and phone credentials; returns the number of credentials."""
    pairs = sorted((code, district) for code, districts in city.postal_codes.items() for district in districts)
    codes = _array([code for code, _district in pairs])
    districts = _array([district for _code, district in pairs])
    issue_start, issue_end = _issue_span(first_day, last_day, city.timezone)
    step = (issue_end - issue_start).total_seconds() / cards
    params: dict[str, Any] = {
        "n": cards,
        "issue_start": issue_start,
        "step": step,
        "city": city.name,
        "pairs": len(pairs),
        "years": f"{CARD_YEARS} years",
        "last_day": last_day,
    }
    conn.execute(
        text(
            f"""
            INSERT INTO households (id, street, house_number, postal_code, city_name, district, address_key, locale,
                                    tier_claimed, tier_approved, created_at, updated_at)
            SELECT md5('h' || g)::uuid, 'Benchstraße', g::text, ({codes})[1 + (g * 7919) % :pairs],
                   :city, ({districts})[1 + (g * 7919) % :pairs],
                   ({codes})[1 + (g * 7919) % :pairs] || '|benchstrasse|' || g, 'de',
                   g % 5 = 0, g % 5 = 0, t, t
            FROM generate_series(1, :n) g, LATERAL (SELECT :issue_start + (g - 1) * :step * interval '1 second') i(t)
            """
        ),
        params,
    )
    conn.execute(
        text(
            """
            INSERT INTO cards (id, household_id, number, status, valid_from, valid_until, issued_at,
                               status_changed_at, status_reason, created_at)
            SELECT md5('c' || g)::uuid, md5('h' || g)::uuid, 'B' || lpad(g::text, 8, '0'),
                   CASE WHEN g % 100 < 3 THEN 'revoked' WHEN g % 100 = 3 THEN 'suspended'
                        WHEN (t + CAST(:years AS interval))::date <= :last_day THEN 'expired' ELSE 'active' END,
                   t::date, (t + CAST(:years AS interval))::date - 1, t,
                   CASE WHEN g % 100 <= 3 THEN t + (1 + g % 300) * interval '1 day' END,
                   CASE WHEN g % 100 <= 3 THEN 'Benchmark' END,
                   t
            FROM generate_series(1, :n) g, LATERAL (SELECT :issue_start + (g - 1) * :step * interval '1 second') i(t)
            """
        ),
        params,
    )
    result = conn.execute(
        text(
            f"""
            INSERT INTO card_credentials (id, card_id, kind, device_key, device_name, status_list_id, status_index,
                                          kid, exp, status, created_at)
            SELECT md5('k' || g)::uuid, md5('c' || g)::uuid, 'phone', substr(md5('d' || g) || md5('e' || g), 1, 44),
                   'Phone', 1 + g / 100000, g % 100000, 'bench001', t + CAST(:years AS interval), 'active',
                   t + (g % 20) * interval '1 day'
            FROM generate_series(1, :n) g, LATERAL (SELECT :issue_start + (g - 1) * :step * interval '1 second') i(t)
            WHERE g % {PHONE_CARDS} <> 0
            """
        ),
        params,
    )
    # The lists those entries are in, closed (allocated in full), so that a credential issued afterwards gets an
    # entry of a list of its own instead of one already taken.
    conn.execute(
        text(
            """
            INSERT INTO status_lists (id, size, bits, allocated, index_key, version, created_at, updated_at)
            SELECT l, :size, decode(repeat('00', :size / 4), 'hex'), :size,
                   decode(md5('s' || l || random()) || md5('t' || l || random()), 'hex'), 1, now(), now()
            FROM generate_series(1, 1 + :n / 100000) l
            """
        ),
        {"n": cards, "size": STATUS_LIST_SIZE},
    )
    return int(result.rowcount)


def _offers(conn: Connection) -> int:
    conn.exec_driver_sql(
        """
        CREATE TEMPORARY TABLE bench_offers AS
        SELECT row_number() OVER (ORDER BY md5(b.id::text || bl.location_id::text)) AS n,
               b.id AS benefit_id, b.partner_id, bl.location_id
        FROM benefits b
        JOIN benefit_locations bl ON bl.benefit_id = b.id
        JOIN partners p ON p.id = b.partner_id
        WHERE b.status = 'published' AND p.status = 'approved'
        """
    )
    conn.exec_driver_sql("ALTER TABLE bench_offers ADD PRIMARY KEY (n)")
    conn.exec_driver_sql("ANALYZE bench_offers")
    return int(conn.exec_driver_sql("SELECT count(*) FROM bench_offers").scalar_one())


def _slots_table(conn: Connection, rows: list[Slot]) -> None:
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE bench_slots (start timestamptz PRIMARY KEY, count int, cards int, first bigint)"
    )
    conn.execute(
        text("INSERT INTO bench_slots VALUES (:start, :count, :cards, :first)"),
        [{"start": s.start, "count": s.count, "cards": s.cards, "first": s.first} for s in rows if s.count],
    )
    conn.exec_driver_sql("ANALYZE bench_slots")


def _months(first_day: dt.date, last_day: dt.date) -> list[dt.date]:
    months, month = [], month_start(first_day)
    while month <= last_day:
        months.append(month)
        month = next_month(month)
    return months


REDEMPTIONS_SQL: Final = f"""
    INSERT INTO redemptions (id, partner_id, location_id, benefit_id, card_number, card_id, quantity, client_nonce,
                             status, presentation, void_reason, voided_at, occurred_at, offline, uploaded_at, flags,
                             created_at)
    SELECT md5('r' || d.seq)::uuid, o.partner_id, o.location_id, o.benefit_id,
           'B' || lpad(d.card::text, 8, '0'), md5('c' || d.card)::uuid, d.quantity, 'bench-' || d.seq,
           CASE WHEN d.voided THEN 'voided' ELSE 'recorded' END, d.presentation,
           CASE WHEN d.voided THEN 'Typed the wrong benefit' END,
           CASE WHEN d.voided THEN d.recorded + d.void_after * interval '1 minute' END,
           d.at, d.offline, CASE WHEN d.offline THEN d.recorded END, CAST('[]' AS json), d.recorded
    FROM (
        SELECT r.*, CASE WHEN r.offline THEN r.at + r.upload_after * interval '1 hour' ELSE r.at END AS recorded
        FROM (
            SELECT s.first + g AS seq,
                   s.start + random() * interval '1 hour' AS at,
                   1 + floor(random() * s.cards)::int AS card,
                   1 + floor(power(random(), {SKEW}) * :offers)::int AS offer,
                   1 + (random() < 0.15)::int + (random() < 0.05)::int AS quantity,
                   random() < {VOIDED} AS voided,
                   1 + floor(random() * 30)::int AS void_after,
                   random() < {OFFLINE} AS offline,
                   1 + floor(random() * 12)::int AS upload_after,
                   {_pick(PRESENTATIONS)} AS presentation
            FROM bench_slots s, LATERAL generate_series(1, s.count) g
            WHERE s.start >= :start AND s.start < :end
        ) r
    ) d
    JOIN bench_offers o ON o.n = d.offer
"""

VERIFICATIONS_SQL: Final = f"""
    INSERT INTO verification_events (partner_id, location_id, reason, presentation, at)
    SELECT r.partner_id, r.location_id,
           CASE WHEN k = 1 OR random() >= {FAILED_EXTRA} THEN 'ok' ELSE {_pick(FAILURES)} END,
           r.presentation, r.occurred_at - k * interval '25 seconds'
    FROM (
        SELECT partner_id, location_id, presentation, occurred_at,
               1 + floor(random() * 2 * :extra + 0.5)::int AS n
        FROM redemptions
        WHERE occurred_at >= :start AND occurred_at < :end
    ) r, LATERAL generate_series(1, r.n) k
"""


def generate(
    engine: Engine,
    city: City,
    *,
    cards: int = 150_000,
    partners: int = 5000,
    benefits: int = 20_000,
    redemptions: int = 10_000_000,
    verifications_per_redemption: float = 2.0,
    first_day: dt.date = FIRST_DAY,
    last_day: dt.date = LAST_DAY,
    seed: int = 20261123,
    progress: Callable[[str], None] = print,
) -> Generated:
    """Fill a migrated, empty PostgreSQL database (see the module's docstring); returns what was made."""
    if verifications_per_redemption < 1:
        raise ValueError("at least one verification per redemption")
    steps: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        steps[name] = now - started
        progress(f"{name}: {steps[name]:.1f} s")
        started = now

    with Session(engine) as session, session.begin():
        catalogue = generate_catalogue(session, city, partners=partners, benefits=benefits, seed=seed)
    step("partners, locations, benefits")
    zone = city.timezone
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SET max_parallel_workers_per_gather = 0")
        conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        conn.execute(text("SELECT setseed(:s)"), {"s": (seed % 1000) / 1000})
        credentials = _households_and_cards(conn, city, cards, first_day, last_day)
        step("households, cards, credentials")
        offers = _offers(conn)
        if not offers:
            raise RuntimeError("no published benefit of an approved partner to redeem")
        _slots_table(conn, slots(redemptions, cards, first_day, last_day, zone, seed))
        months = _months(first_day, last_day)
        with bulk_load(conn, "redemptions"):
            for month in months:
                start, end = local_midnight(month, zone), local_midnight(next_month(month), zone)
                conn.execute(text(REDEMPTIONS_SQL), {"offers": offers, "start": start, "end": end})
                progress(f"  redemptions of {month:%Y-%m}")
            step("redemptions (insert)")
        step("redemptions (indexes, constraints)")
        with bulk_load(conn, "verification_events"):
            for month in months:
                start, end = local_midnight(month, zone), local_midnight(next_month(month), zone)
                extra = verifications_per_redemption - 1
                conn.execute(text(VERIFICATIONS_SQL), {"extra": extra, "start": start, "end": end})
                progress(f"  verifications of {month:%Y-%m}")
            step("verification events (insert)")
        step("verification events (indexes, constraints)")
        # Fresh planner statistics and visibility map, as autovacuum keeps them in a running city.
        conn.exec_driver_sql("VACUUM ANALYZE")
        step("vacuum analyze")
        counts = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM households), (SELECT count(*) FROM cards), "
                "(SELECT count(*) FROM redemptions), "
                "(SELECT count(*) FROM redemptions WHERE status = 'voided'), "
                "(SELECT count(*) FROM redemptions WHERE offline), "
                "(SELECT count(*) FROM verification_events), "
                "(SELECT count(*) FROM verification_events WHERE reason <> 'ok')"
            )
        ).one()
        step("counting")
        # The connection goes back to the pool: the session's settings must not follow the measurements.
        conn.exec_driver_sql("RESET ALL")
    return Generated(
        partners=catalogue.partners,
        locations=catalogue.locations,
        benefits=catalogue.benefits,
        offers=offers,
        households=int(counts[0]),
        cards=int(counts[1]),
        credentials=credentials,
        redemptions=int(counts[2]),
        voided=int(counts[3]),
        offline=int(counts[4]),
        verifications=int(counts[5]),
        failed=int(counts[6]),
        first_day=first_day,
        last_day=last_day,
        steps=steps,
    )
