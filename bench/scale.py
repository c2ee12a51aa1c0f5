"""The main pages and API calls at a big city's size against an empty database, and a web process's memory.

    .venv/bin/python -m bench.scale [--server postgresql://postgres@127.0.0.1:5432/postgres | --private-server]
        [--redis redis://127.0.0.1:6379/0] [--redemptions 10000000] [--cards 150000] [--partners 5000]
        [--benefits 20000] [--rounds 30] [--keep | --reuse] [--output bench/results/scale.md]

1. Two databases of its own on the server (``fk_bench_scale_empty`` and ``fk_bench_scale_full``), migrated. The
   full one is filled with ``bench.stats_data`` (by default 150,000 cards, 5,000 partners, 20,000 benefits, 10
   million redemptions over 24 months and their verification events) and its statistics rolled up in runs of
   days, as ``familienkarte stats rebuild --from --to --jobs 2`` does. Both then get the same small cast from
   ``bench.pos_data``: an approved partner with a till, its API key and a published benefit, and a few families
   with cards on phones; and the staff users
   (admin, analyst), and an owner of the partner with the most redemptions (in the empty database: of the till's
   partner). ``--keep`` leaves both databases (and the cast, as JSON files in the temporary directory) for a later
   ``--reuse``.
2. Latency: each database behind the whole web stack in-process (routing, middleware, sessions, services,
   PostgreSQL, templates or JSON), every call ``--rounds`` times in interleaved rounds with ``GET /health/live``
   (the same stack without the database) right before each call, as the bare baseline. Reported per call: median
   and 95th percentile at full size, the median's ratio to its baseline at full size and on the empty database,
   and full / empty of those ratios, against the goal of at most 2x.
3. Memory: the real server (uvicorn, 2 workers, FK_ENV=production, PostgreSQL and Redis, as ``bench.pos``) on the
   full database; every call through it ``--memory-rounds`` times; then each worker's peak resident memory
   (VmHWM of /proc/<pid>/status) against 300 MB.

The machine may be shared: the load average is reported, and only the ratios carry across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import redis
from litestar.testing import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bench.pos import load_average, server
from bench.pos_data import Fixture, new_secret, prepare
from bench.private_server import private_server
from bench.stats import bench_database, percentile, rebuild_runs
from bench.stats_data import FIRST_DAY, LAST_DAY, generate
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.accounts.sessions import cookie_name
from familienkarte.app import create_app, settle_memory
from familienkarte.cards.credential_models import CardCredential
from familienkarte.cards.models import Card, HouseholdAdult
from familienkarte.city import load_city
from familienkarte.db import make_sync_engine, make_sync_sessionmaker
from familienkarte.migrate import upgrade
from familienkarte.redemptions.models import Redemption
from familienkarte.settings import load_settings
from familienkarte.statistics.rollups import days_from
from tests.helpers import SESSION_TTL, sign_in_as

RESULTS: Final = Path(__file__).parent / "results" / "scale.md"
DATABASES: Final = {"empty": "fk_bench_scale_empty", "full": "fk_bench_scale_full"}
BASELINE: Final = "baseline: GET /health/live"
RATIO_GOAL: Final = 2.0
MEMORY_GOAL_MB: Final = 300.0
# Families with a card on a phone in both databases (the POS calls take turns among them).
FAMILIES: Final = 5
# The scan limit while measuring: far above what is sent, so that it never refuses (it still counts).
SCAN_LIMIT: Final = "9999999/60"


@dataclass(frozen=True)
class Cast:
    """Who and what the calls use in one database; kept as JSON for ``--reuse``."""

    fixture: Fixture
    users: dict[str, str]  # who -> user id
    owner_partner: str  # the partner whose owner's portal is measured
    card_number: str
    family_name: str
    status_list: int


@dataclass(frozen=True)
class Call:
    name: str
    who: str | None  # a key of Cast.users, or None for anonymous / API key calls
    method: str
    path: str
    # Builds the JSON body right before the call (phone codes go stale in 90 s, nonces must be new).
    body: Callable[[], dict[str, Any]] | None = None
    bearer: bool = False
    statuses: tuple[int, ...] = (200,)


@dataclass
class Measured:
    line: str
    timings: dict[str, list[float]] = field(default_factory=dict)
    baseline: dict[str, list[float]] = field(default_factory=dict)


def calls(cast: Cast) -> list[Call]:
    """The main pages and API calls, each with who makes it."""
    fixture = cast.fixture
    phones = fixture.phones
    turn = iter(range(10**9))

    def code() -> str:
        return phones[next(turn) % len(phones)].present(int(time.time()))

    def verification() -> dict[str, Any]:
        return {"text": code()}

    def redemption() -> dict[str, Any]:
        nonce = f"scale-{uuid.uuid4().hex}"
        return {"text": code(), "benefit_id": fixture.benefit_id, "client_nonce": nonce}

    return [
        Call("home", None, "GET", "/"),
        Call("catalogue", None, "GET", "/benefits"),
        Call("catalogue, category + district + age", None, "GET", "/benefits?category=sport&district=Nippes&age=10"),
        Call("benefit detail", None, "GET", f"/benefits/{fixture.benefit_id}"),
        Call("finder: 2 adults, children 4 and 9", None, "GET", "/finder?adults=2&children=4+9"),
        Call("map (the list below it: first page)", None, "GET", "/map"),
        Call("family: card page", "family", "GET", "/card"),
        Call("family: data page", "family", "GET", "/card/data"),
        Call("partner: portal dashboard", "owner", "GET", "/partner"),
        Call("partner: benefits", "owner", "GET", "/partner/benefits"),
        Call("partner: statistics", "owner", "GET", "/partner/statistics"),
        Call("partner: scanner page", "owner", "GET", "/partner/scanner"),
        Call("POS API: verification", None, "POST", "/api/v1/verifications", verification, bearer=True),
        Call("POS API: redemption", None, "POST", "/api/v1/redemptions", redemption, True, (201,)),
        Call("staff: application queue", "admin", "GET", "/staff/applications"),
        Call("staff: card search by number", "admin", "GET", f"/staff/cards?q={cast.card_number}"),
        Call("staff: card search by name", "admin", "GET", f"/staff/cards?q={cast.family_name}"),
        Call("staff: partner queue", "admin", "GET", "/staff/partner-queue"),
        Call(
            "staff: statistics dashboard (the last 30 days with facts)",
            "analyst",
            "GET",
            f"/staff/statistics?from={DASHBOARD_FIRST.isoformat()}&to={LAST_DAY.isoformat()}",
        ),
        Call("staff: audit log", "admin", "GET", "/staff/audit"),
        Call("API: GET /api/v1/benefits", None, "GET", "/api/v1/benefits?per_page=50"),
        Call("API: the map's markers (partners.geojson)", None, "GET", "/api/v1/partners.geojson"),
        Call("API: JWKS", None, "GET", "/.well-known/jwks.json"),
        Call("API: status list", None, "GET", f"/api/v1/status-lists/{cast.status_list}"),
    ]


# The staff dashboard's range: the last 30 days of the generated facts, as a clerk sees the last 30 days up to today
# in a city whose facts run up to today (the page's own default, up to the real today, would hold fewer of the
# generated days the later the run).
DASHBOARD_FIRST: Final = LAST_DAY - dt.timedelta(days=29)


# --- the data ---


def _cast_path(database: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{database}.cast.json"


def save_cast(cast: Cast, path: Path) -> None:
    raw = {
        "fixture_path": str(path.with_suffix(".fixture.json")),
        "users": cast.users,
        "owner_partner": cast.owner_partner,
        "card_number": cast.card_number,
        "family_name": cast.family_name,
        "status_list": cast.status_list,
    }
    cast.fixture.save(path.with_suffix(".fixture.json"))
    path.write_text(json.dumps(raw), encoding="utf-8")


def load_cast(path: Path) -> Cast:
    raw = json.loads(path.read_text(encoding="utf-8"))
    fixture = Fixture.load(Path(raw.pop("fixture_path")))
    return Cast(fixture=fixture, **raw)


def busiest_partner(session: Session) -> uuid.UUID | None:
    """The approved partner with the most redemptions (None without any)."""
    return session.execute(
        select(Redemption.partner_id).group_by(Redemption.partner_id).order_by(func.count().desc()).limit(1)
    ).scalar()


def make_cast(session: Session, url: str) -> Cast:
    """The small cast of :mod:`bench.pos_data`, staff users and a partner owner, in ``session``'s database."""
    city = load_city("koeln")
    fixture = prepare(session, city, new_secret(), url, cards=FAMILIES)
    partner_id = busiest_partner(session) or uuid.UUID(fixture.partner_id)
    users = {
        "admin": User(email="admin@bench.example", display_name="Admin", role=Role.ADMIN.value),
        "analyst": User(email="analyst@bench.example", display_name="Analyst", role=Role.ANALYST.value),
        "owner": User(
            email="owner-scale@bench.example",
            display_name="Owner",
            role=Role.PARTNER_OWNER.value,
            partner_id=partner_id,
        ),
    }
    session.add_all(users.values())
    session.flush()
    family = session.execute(
        select(User).where(User.email == "family0@bench.example")
    ).scalar_one()  # the first family of bench.pos_data
    adult, number, status_list = session.execute(
        select(HouseholdAdult.last_name, Card.number, CardCredential.status_list_id)
        .join(Card, Card.household_id == HouseholdAdult.household_id)
        .join(CardCredential, CardCredential.card_id == Card.id)
        .where(HouseholdAdult.user_id == family.id)
    ).one()
    return Cast(
        fixture=fixture,
        users={"family": str(family.id), **{who: str(user.id) for who, user in users.items()}},
        owner_partner=str(partner_id),
        card_number=number,
        family_name=adult.rstrip("0123456789"),  # Bench0 -> Bench: a name, not a card number
        status_list=int(status_list),
    )


def fill(url: str, size: str, args: argparse.Namespace) -> tuple[Cast, str]:
    """Migrate and fill one database; (the cast, a line on what it holds)."""
    started = time.perf_counter()
    upgrade(url)
    engine = make_sync_engine(url)
    city = load_city("koeln")
    factory = make_sync_sessionmaker(engine)
    made = ""
    if size == "full":
        generated = generate(
            engine,
            city,
            cards=args.cards,
            partners=args.partners,
            benefits=args.benefits,
            redemptions=args.redemptions,
        )
        made = (
            f"{generated.cards:,} cards, {generated.partners:,} partners, {generated.benefits:,} benefits, "
            f"{generated.redemptions:,} redemptions, {generated.verifications:,} verification events"
        )
    with factory() as session, session.begin():
        cast = make_cast(session, url)
    if size == "full":
        # As `familienkarte stats rebuild --from --to --jobs 2` does: every day and month, in runs of days.
        rebuild_runs(factory, city, {}, days_from(FIRST_DAY, LAST_DAY), jobs=2)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    line = f"{made or 'nothing but the cast'} (prepared in {time.perf_counter() - started:.0f} s)"
    return cast, line


def holdings(url: str) -> str:
    """What a kept database holds (``--reuse``)."""
    engine = make_sync_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM cards), (SELECT count(*) FROM partners), "
                "(SELECT count(*) FROM benefits), (SELECT count(*) FROM redemptions), "
                "(SELECT count(*) FROM verification_events)"
            )
        ).one()
    engine.dispose()
    return (
        f"{row[0]:,} cards, {row[1]:,} partners, {row[2]:,} benefits, {row[3]:,} redemptions, "
        f"{row[4]:,} verification events (kept from an earlier run)"
    )


@contextmanager
def database(server_url: str, size: str, args: argparse.Namespace) -> Iterator[tuple[str, Cast, str]]:
    name = DATABASES[size]
    with bench_database(server_url, name, reuse=args.reuse, keep=args.keep) as url:
        if args.reuse:
            upgrade(url)  # a database kept by an earlier revision of the code
            yield url, load_cast(_cast_path(name)), holdings(url)
            return
        cast, line = fill(url, size, args)
        if args.keep:
            save_cast(cast, _cast_path(name))
        yield url, cast, line


# --- latency, in-process ---


def prepared(call: Call, token: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The call's JSON body and headers, made right before it (a phone code to sign: outside the timing)."""
    headers = {"Authorization": f"Bearer {token}"} if call.bearer else {}
    return (call.body() if call.body else None), headers


def measure(url: str, cast: Cast, rounds: int, line: str, catalogue_cache: int = 30) -> Measured:
    """Every call ``rounds`` times in interleaved rounds, each right after a baseline call."""
    result = Measured(line)
    with tempfile.TemporaryDirectory(prefix="fk-bench-scale-") as data_dir:
        settings = load_settings(
            {
                "FK_ENV": "test",
                "FK_DATA_DIR": data_dir,
                "FK_DATABASE_URL": url,
                "FK_SECRET_KEY": cast.fixture.secret_key,
                "FK_POS_SCAN_LIMIT": SCAN_LIMIT,
                "FK_LOG_LEVEL": "WARNING",
                "FK_CATALOGUE_CACHE_SECONDS": str(catalogue_cache),
            }
        )
        engine = make_sync_engine(url)
        with make_sync_sessionmaker(engine)() as session:
            users = {who: session.get_one(User, uuid.UUID(user_id)) for who, user_id in cast.users.items()}
            session.expunge_all()
        engine.dispose()
        todo = calls(cast)
        result.timings = {call.name: [] for call in todo}
        result.baseline = {call.name: [] for call in todo}
        with TestClient(create_app(settings)) as client:
            # As the server's entry point does once the app is built (familienkarte.app.settle_memory).
            settle_memory()
            signed_in: str | None = None

            def as_user(who: str | None) -> None:
                nonlocal signed_in
                if who is not None and who != signed_in:
                    sign_in_as(client, users[who])
                    signed_in = who

            for call in todo:  # warm up: connections, templates, caches of the planner
                as_user(call.who)
                body, headers = prepared(call, cast.fixture.token)
                response = client.request(call.method, call.path, json=body, headers=headers)
                if response.status_code not in call.statuses:
                    raise SystemExit(f"{call.name}: {response.status_code} {response.text[:500]}")
            for number in range(rounds):
                for call in todo:
                    as_user(call.who)
                    start = time.perf_counter()
                    client.get("/health/live")
                    result.baseline[call.name].append((time.perf_counter() - start) * 1000)
                    body, headers = prepared(call, cast.fixture.token)
                    start = time.perf_counter()
                    response = client.request(call.method, call.path, json=body, headers=headers)
                    result.timings[call.name].append((time.perf_counter() - start) * 1000)
                    if response.status_code not in call.statuses:
                        raise SystemExit(f"{call.name}: {response.status_code} {response.text[:500]}")
                if (number + 1) % 5 == 0:
                    print(f"  round {number + 1}/{rounds}", flush=True)
    return result


# --- memory, the real server ---


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        found[int(entry.name)] = (parent, cmdline)
    return found


def _status_mb(pid: int, field_name: str) -> float:
    for status_line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if status_line.startswith(field_name + ":"):
            return int(status_line.split()[1]) / 1024
    return 0.0


def server_processes(port: int) -> list[tuple[int, str]]:
    """(pid, role) of the uvicorn listening on ``port`` and its worker processes."""
    every = _processes()
    mains = [pid for pid, (_parent, cmd) in every.items() if "uvicorn" in cmd and f"--port {port}" in cmd]
    result: list[tuple[int, str]] = []
    for main in mains:
        result.append((main, "supervisor"))
        result += [(pid, "worker") for pid, (parent, cmd) in every.items() if parent == main and "spawn" in cmd]
    return result


def _session_cookie(redis_url: str, prefix: str, user_id: str) -> str:
    """A server-side session of the user in Redis, as a sign-in makes (the payload of tests.helpers.sign_in_as)."""
    sid = secrets.token_urlsafe(32)
    now = time.time()
    payload = {"user_id": user_id, "epoch": 0, "csrf": secrets.token_urlsafe(32), "_born": now, "_seen": now}
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}session:{sid}", json.dumps(payload).encode(), ex=SESSION_TTL)
    client.close()
    return sid


def memory(url: str, cast: Cast, redis_url: str, rounds: int) -> tuple[list[str], dict[str, int]]:
    """Peak resident memory of the real server's processes after every call ``rounds`` times; (table lines, the
    answers that were not expected, per call)."""
    prefix = f"fkbench:{secrets.token_hex(4)}:"
    unexpected: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="fk-bench-scale-") as tmp:
        work = Path(tmp)
        env = {
            "FK_ENV": "production",
            "FK_DATA_DIR": str(work / "var"),
            "FK_DATABASE_URL": url,
            "FK_REDIS_URL": redis_url,
            "FK_REDIS_PREFIX": prefix,
            "FK_SECRET_KEY": cast.fixture.secret_key,
            "FK_SMTP_HOST": "smtp.invalid",
            "FK_POS_SCAN_LIMIT": SCAN_LIMIT,
            "FK_LOG_LEVEL": "WARNING",
        }
        cookie = cookie_name(load_settings({**env, "FK_DATA_DIR": str(work / "probe")}))
        sessions = {who: _session_cookie(redis_url, prefix, user_id) for who, user_id in cast.users.items()}
        with server("real", "familienkarte.app:app_from_environment", env, work) as running:
            base = running.base
            port = int(base.rsplit(":", 1)[1])
            todo = calls(cast)
            with httpx.Client(base_url=base, timeout=120) as client:
                for number in range(rounds):
                    for call in todo:
                        client.cookies.clear()
                        body, headers = prepared(call, cast.fixture.token)
                        if call.who:
                            headers["Cookie"] = f"{cookie}={sessions[call.who]}"
                        response = client.request(call.method, call.path, json=body, headers=headers)
                        if response.status_code not in call.statuses:
                            unexpected[call.name] = unexpected.get(call.name, 0) + 1
                    print(f"  memory round {number + 1}/{rounds}", flush=True)
            lines = []
            for pid, role in server_processes(port):
                peak, now = _status_mb(pid, "VmHWM"), _status_mb(pid, "VmRSS")
                verdict = "met" if role != "worker" or peak <= MEMORY_GOAL_MB else "**not met**"
                lines.append(f"| {role} {pid} | {peak:.0f} | {now:.0f} | {verdict} |")
    return lines, unexpected


# --- the report ---


def report(
    empty: Measured,
    full: Measured,
    rounds: int,
    memory_lines: list[str],
    unexpected: dict[str, int],
    catalogue_cache: int = 30,
) -> str:
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, load average {load_average()}; PostgreSQL on the same machine.",
        "",
        f"Full: {full.line}. Empty: {empty.line}. {rounds} interleaved rounds each, every call right after a "
        "baseline call (`GET /health/live`, the same web stack without the database); in-process ASGI.",
        "",
        (
            "The catalogue's counts (the number of matches, the finder's tally, its overview's newest per group, "
            "what comes up for the family and the overview's cards; which of them are still visible is read on "
            f"every call) and the map's places and markers are remembered by the process for {catalogue_cache} s "
            "(`FK_CATALOGUE_CACHE_SECONDS`, familienkarte/catalogue/counts.py): after the warm-up call every timed "
            "call of the catalogue, the finder, the map, its markers and `GET /api/v1/benefits` finds them remembered."
            if catalogue_cache > 0
            else "The catalogue's counts and the map are not remembered (`FK_CATALOGUE_CACHE_SECONDS=0`): every call "
            "reads them afresh."
        ),
        "",
        "## Latency",
        "",
        "| call | full: median ms | full: p95 ms | empty: median ms | full: median / baseline "
        "| empty: median / baseline | full / empty | goal (at most 2x) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    # Each size's baseline: the median of all its baseline calls (those of one call alone are few and noisy).
    base_full = statistics.median([v for values in full.baseline.values() for v in values])
    base_empty = statistics.median([v for values in empty.baseline.values() for v in values])
    for name, values in full.timings.items():
        full_ratio = statistics.median(values) / base_full
        empty_ratio = statistics.median(empty.timings[name]) / base_empty
        growth = full_ratio / empty_ratio
        verdict = "met" if growth <= RATIO_GOAL else "**not met**"
        lines.append(
            f"| {name} | {statistics.median(values):.1f} | {percentile(values, 0.95):.1f} "
            f"| {statistics.median(empty.timings[name]):.1f} | {full_ratio:.1f}x | {empty_ratio:.1f}x "
            f"| {growth:.2f}x | {verdict} |"
        )
    lines += [
        "",
        f"Baseline medians: full {base_full:.2f} ms, empty {base_empty:.2f} ms.",
        "",
        "Not grown with the city: `bench.stats_data` writes no applications, audit entries or household adults, "
        "so the application queue, the audit log and the card search by name see only the small cast at both "
        "sizes (the audit log also the card searches of this run).",
        "",
        "## Memory of the real server on the full database",
        "",
        "uvicorn, 2 workers, FK_ENV=production, PostgreSQL and Redis; every call above through it, then the "
        "peak resident memory (VmHWM) and the current one (VmRSS) of each process. The goal (at most "
        f"{MEMORY_GOAL_MB:.0f} MB) is for the worker processes that serve the requests.",
        "",
        "| process | peak MB | now MB | goal |",
        "| --- | ---: | ---: | --- |",
        *memory_lines,
    ]
    if unexpected:
        lines += ["", "Answers not as expected through the real server: " + json.dumps(unexpected)]
    command = " ".join(["-m bench.scale", *sys.argv[1:]])
    lines += ["", f"Reproduce: `.venv/bin/python {command}` (PostgreSQL and Redis)."]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    results: dict[str, Measured] = {}
    memory_lines: list[str] = []
    unexpected: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(private_server()) if args.private_server else args.server
        for size in ("empty", "full"):
            print(f"{size} database", flush=True)
            with database(server, size, args) as (url, cast, line):
                results[size] = measure(url, cast, args.rounds, line, args.catalogue_cache_seconds)
                if size == "full":
                    memory_lines, unexpected = memory(url, cast, args.redis, args.memory_rounds)
    return report(
        results["empty"], results["full"], args.rounds, memory_lines, unexpected, args.catalogue_cache_seconds
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--redemptions", type=int, default=10_000_000)
    parser.add_argument("--cards", type=int, default=150_000)
    parser.add_argument("--partners", type=int, default=5000)
    parser.add_argument("--benefits", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--memory-rounds", type=int, default=5)
    parser.add_argument(
        "--catalogue-cache-seconds",
        type=int,
        default=30,
        help="FK_CATALOGUE_CACHE_SECONDS of the measured app (0: every catalogue count is read afresh)",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keep", action="store_true", help="keep both databases for a later --reuse")
    group.add_argument("--reuse", action="store_true", help="measure the databases kept by --keep")
    group.add_argument(
        "--private-server",
        action="store_true",
        help="both databases on a PostgreSQL cluster of its own with the production settings (removed afterwards)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--heading", default="# Scale: the main pages and calls, full city against empty")
    args = parser.parse_args()
    text_ = args.heading + "\n\n" + run(args)
    print(text_)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text_ + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
