"""Catalogue latency at a big city's size: 5,000 partners and 20,000 benefits on PostgreSQL.

    .venv/bin/python -m bench.catalogue [--server postgresql://postgres@127.0.0.1:5432/postgres] [--rounds 60]

Makes a database of its own on the server, migrates it, fills it with ``bench.catalogue_data``, then calls the
catalogue's typical queries through the whole web stack (in-process ASGI: routing, middleware, sessions, the
service, the database, templates or JSON) in interleaved rounds, and reports each query's median and 95th
percentile with its ratio to a bare baseline measured in the same rounds: ``GET /health/live``, which passes the
same stack without touching the database. The same is measured on an empty catalogue first, and the last column
compares the two (each against its own baseline). The machine is shared, so only the ratios carry across runs.
The databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy import create_engine, make_url, text

from bench.catalogue_data import generate
from familienkarte.app import create_app
from familienkarte.city import load_city
from familienkarte.db import make_sync_engine, make_sync_sessionmaker, sync_url
from familienkarte.migrate import upgrade
from familienkarte.settings import load_settings

# name -> path; each a query a family or a partner system makes.
QUERIES: dict[str, str] = {
    "baseline: GET /health/live": "/health/live",
    "catalogue page, no filter": "/benefits",
    "catalogue page 50": "/benefits?page=50",
    "category": "/benefits?category=culture",
    "district": "/benefits?district=Ehrenfeld",
    "suitable for age 7": "/benefits?age=7",
    "free text": "/benefits?q=museum",
    "category + district + age": "/benefits?category=sport&district=Nippes&age=10",
    "sort by name": "/benefits?sort=name",
    "sort by distance": "/benefits?sort=distance&lat=50.94&lon=6.96",
    "API: GET /api/v1/benefits": "/api/v1/benefits?per_page=50",
    "API: filters": "/api/v1/benefits?category=leisure&age=5&q=zoo",
    "finder: 2 adults, children 4 and 9": "/finder?adults=2&children=4+9",
}
BASELINE = "baseline: GET /health/live"


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    name = f"fk_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(sync_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(server_url: str, rounds: int, partners: int, benefits: int) -> tuple[str, dict[str, list[float]]]:
    """Fill a database of its own with ``partners`` and ``benefits`` and time every query; (data line, timings)."""
    with bench_database(server_url) as url, tempfile.TemporaryDirectory() as data_dir:
        upgrade(url)
        engine = make_sync_engine(url)
        city = load_city("koeln")
        started = time.perf_counter()
        with make_sync_sessionmaker(engine)() as session, session.begin():
            made = generate(session, city, partners=partners, benefits=benefits)
        # Fresh statistics, as autovacuum keeps them in a running city (outside a transaction, so they stay).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        generated_in = time.perf_counter() - started
        engine.dispose()
        settings = load_settings(
            {
                "FK_ENV": "test",
                "FK_DATA_DIR": str(Path(data_dir)),
                "FK_DATABASE_URL": url,
                "FK_SECRET_KEY": secrets.token_urlsafe(48),
                "FK_LOG_LEVEL": "WARNING",
            }
        )
        timings: dict[str, list[float]] = {name: [] for name in QUERIES}
        with TestClient(create_app(settings)) as client:
            for path in QUERIES.values():  # warm up: connections, templates, caches of the planner
                assert client.get(path).status_code == 200, path
            for _round in range(rounds):
                for name, path in QUERIES.items():
                    start = time.perf_counter()
                    response = client.get(path)
                    timings[name].append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
    line = (
        f"{made.partners} partners, {made.locations} locations, {made.benefits} benefits "
        f"(generated and analysed in {generated_in:.1f} s)"
    )
    return line, timings


def run(server_url: str, rounds: int, partners: int, benefits: int) -> str:
    """The big city against an empty catalogue, each with its own baseline, in one run."""
    empty_line, empty = measure(server_url, rounds, 0, 0)
    full_line, full = measure(server_url, rounds, partners, benefits)
    empty_base = statistics.median(empty[BASELINE])
    full_base = statistics.median(full[BASELINE])
    lines = [
        f"Full: {full_line}. Empty: {empty_line}. {rounds} interleaved rounds each; PostgreSQL.",
        "",
        "| query | median ms | p95 ms | median / baseline | empty: median / baseline | full / empty |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, values in full.items():
        median = statistics.median(values)
        ratio = median / full_base
        empty_ratio = statistics.median(empty[name]) / empty_base
        lines.append(
            f"| {name} | {median:.1f} | {percentile(values, 0.95):.1f} | {ratio:.1f}x | {empty_ratio:.1f}x "
            f"| {ratio / empty_ratio:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--partners", type=int, default=5000)
    parser.add_argument("--benefits", type=int, default=20000)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "catalogue.md")
    args = parser.parse_args()
    report = run(args.server, args.rounds, args.partners, args.benefits)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
