"""Point-of-sale throughput: the real server's verifications against a bare endpoint, and redemptions per second.

    .venv/bin/python -m bench.pos [--server postgresql://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/0] [--cards 2000] [--rounds 3] [--duration 20] [--connections 64]

Needs wrk (Debian: ``apt-get install -y wrk``), PostgreSQL and Redis.

1. Makes a fresh database ``fk_bench_pos`` on the server, migrates it with Alembic and fills it with
   ``bench.pos_data``: an issuer key, an approved partner with a location, a partner API key bound to it, a
   published benefit without limit or quota, and ``--cards`` cards, each with a phone credential bound to a device
   key.
2. Starts the real server (uvicorn on the app factory, ``--workers 2``, production settings: FK_ENV=production,
   PostgreSQL, Redis, a generated FK_SECRET_KEY, a dummy FK_SMTP_HOST since no mail is sent, and FK_POS_SCAN_LIMIT
   raised so that the limiter, which still counts every request in Redis, never refuses one) and the bare app of
   ``bench.bare_verify`` (the two signature checks only) with the same uvicorn options.
3. Loads both with wrk (``--connections`` connections, 2 threads) alternately: a short warm-up each, then
   ``--rounds`` times bare, real, each ``--duration`` seconds with phone codes drawn right before the run. Reports
   requests/s, p50/p99 latency, the ratio real/bare per round, every answer that was not 200 with
   ``valid: true``, and the CPU time per request of each server's workers and of the whole machine (from /proc).
4. Redemptions: wrk POSTs /api/v1/redemptions for ``--duration`` seconds with a nonce of its own per request
   across the cards; afterwards the rows are counted and matched with the nonces answered 201: lost = a 201
   without a row, duplicated = rows beyond one per nonce.

Writes the report to bench/results/pos.md. The machine is shared: the ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.pos_data import new_secret, prepare, write_presentations
from familienkarte.city import load_city
from familienkarte.db import make_sync_engine, make_sync_sessionmaker, sync_url
from familienkarte.migrate import upgrade
from familienkarte.redemptions.models import Redemption

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
DATABASE = "fk_bench_pos"
WORKERS = 2
WRK_THREADS = 2
WARM_UP = 5
# The scan limit while measuring: far above what the load sends, so that it never refuses (it still counts).
SCAN_LIMIT = "9999999/60"
NOTES_HEADING = "## Where the time goes"
UVICORN_OPTIONS = ["--workers", str(WORKERS), "--no-access-log", "--no-server-header", "--log-level", "warning"]


@dataclass(frozen=True)
class Load:
    """One wrk run, from its RESULT line, with the CPU time the server's workers and the whole machine spent in it."""

    raw: dict[str, Any]
    workers_cpu: float = 0.0
    machine_cpu: float = 0.0

    @property
    def requests(self) -> int:
        return int(self.raw["requests"])

    def cpu_ms(self, seconds: float) -> float:
        """``seconds`` of CPU per request, in milliseconds."""
        return 1000 * seconds / self.requests if self.requests else 0.0

    @property
    def seconds(self) -> float:
        return float(self.raw["duration_us"]) / 1e6

    @property
    def rate(self) -> float:
        return float(self.raw["requests"]) / self.seconds

    def ms(self, name: str) -> float:
        return float(self.raw[name]) / 1000

    @property
    def socket_errors(self) -> int:
        return sum(int(self.raw[name]) for name in ("connect_errors", "read_errors", "write_errors", "timeouts"))


@dataclass(frozen=True)
class Running:
    """A started server: its base URL and the process id of uvicorn's supervisor, whose children are the workers."""

    base: str
    pid: int

    def workers(self) -> list[int]:
        return [pid for pid in _pids() if _parent(pid) == self.pid]


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (which may hold spaces); empty once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return []


def _parent(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else 0


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far, over all cores (Linux /proc/stat: all but idle and
    iowait)."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _fail(message: str) -> None:
    print(f"bench.pos: {message}", file=sys.stderr)
    raise SystemExit(2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database(server_url: str, keep: bool) -> Iterator[str]:
    admin = create_engine(sync_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    try:
        yield make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def server(name: str, app: str, env: Mapping[str, str], logs: Path) -> Iterator[Running]:
    """uvicorn on ``app`` (a factory) with the benchmark's options; yields it once it answers."""
    port = _free_port()
    log = (logs / f"{name}.log").open("w")
    command = [sys.executable, "-m", "uvicorn", "--factory", app, "--port", str(port), *UVICORN_OPTIONS]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.flush()
                _fail(f"the {name} server stopped:\n{(logs / f'{name}.log').read_text(errors='replace')[-3000:]}")
            try:
                # uvicorn listens once the app has started.
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    log.flush()
                    tail = (logs / f"{name}.log").read_text(errors="replace")[-3000:]
                    _fail(f"the {name} server did not answer within 60 s:\n{tail}")
                time.sleep(0.3)
        yield Running(base, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wrk(
    script: str, base: str, seconds: int, connections: int, env: Mapping[str, str], workers: list[int] | None = None
) -> Load:
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        base,
    ]
    pids = workers or []
    workers_before, machine_before = cpu_seconds(pids), machine_busy_seconds()
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    workers_cpu, machine_cpu = cpu_seconds(pids) - workers_before, machine_busy_seconds() - machine_before
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return Load(json.loads(line[len("RESULT ") :]), workers_cpu, machine_cpu)
    _fail(f"wrk gave no result: {done.stdout}\n{done.stderr}")
    raise AssertionError  # unreachable


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def verification_line(label: str, load: Load) -> str:
    not_ok = load.raw["invalid"] + load.raw["s429"] + load.raw["s4xx"] + load.raw["s5xx"] + load.raw["sother"]
    return (
        f"| {label} | {load.rate:,.0f} | {load.ms('p50_us'):.1f} | {load.ms('p99_us'):.1f} | {load.raw['valid']:,} "
        f"| {not_ok} | {load.socket_errors} | {load.cpu_ms(load.workers_cpu):.3f} "
        f"| {load.cpu_ms(load.machine_cpu):.3f} |"
    )


def cpu_share(bare_ms: float, real_ms: float) -> str:
    return f"{bare_ms / real_ms:.0%}" if real_ms else "unknown"


def count_redemptions(database_url: str, run: str, answered: set[str]) -> tuple[int, int, int, int]:
    """(rows, lost, duplicated, rows without a 201 seen) for the nonces of ``run``."""
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Redemption.client_nonce, func.count())
                .where(Redemption.client_nonce.like(f"{run}-%"))
                .group_by(Redemption.client_nonce)
            ).all()
    finally:
        engine.dispose()
    per_nonce = {nonce: int(count) for nonce, count in rows}
    total = sum(per_nonce.values())
    lost = len(answered - per_nonce.keys())
    duplicated = sum(count - 1 for count in per_nonce.values())
    unconfirmed = len(per_nonce.keys() - answered)
    return total, lost, duplicated, unconfirmed


def run(args: argparse.Namespace) -> str:
    if shutil.which("wrk") is None:
        _fail("wrk is missing: install it (Debian/Ubuntu: apt-get install -y wrk; macOS: brew install wrk)")
    secret = new_secret()
    city = load_city("koeln")
    lines: list[str] = []
    with fresh_database(args.server, args.keep) as url, tempfile.TemporaryDirectory(prefix="fk-bench-pos-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        upgrade(url)
        engine = make_sync_engine(url)
        with make_sync_sessionmaker(engine)() as session, session.begin():
            fixture = prepare(session, city, secret, url, cards=args.cards)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        engine.dispose()
        print(f"prepared {len(fixture.phones)} cards on phones in {time.perf_counter() - started:.1f} s", flush=True)
        fixture_path = work / "fixture.json"
        fixture.save(fixture_path)
        codes = work / "codes.txt"

        real_env = {
            "FK_ENV": "production",
            "FK_DATA_DIR": str(work / "var"),
            "FK_DATABASE_URL": url,
            "FK_REDIS_URL": args.redis,
            "FK_REDIS_PREFIX": f"fkbench:{secrets.token_hex(4)}:",
            "FK_SECRET_KEY": secret,
            "FK_SMTP_HOST": "smtp.invalid",
            "FK_POS_SCAN_LIMIT": SCAN_LIMIT,
            "FK_LOG_LEVEL": "WARNING",
        }
        bare_env = {"BENCH_FIXTURE": str(fixture_path)}
        with (
            server("real", "familienkarte.app:app_from_environment", real_env, work) as real,
            server("bare", "bench.bare_verify:create_app", bare_env, work) as bare,
        ):
            targets = {
                "bare": (bare, {"BENCH_CODES": str(codes), "BENCH_PATH": "/verify", "BENCH_TOKEN": ""}),
                "real": (real, {"BENCH_CODES": str(codes), "BENCH_TOKEN": fixture.token}),
            }

            def verify_run(name: str, seconds: int) -> Load:
                running, env = targets[name]
                write_presentations(fixture, codes)
                load = wrk("verify.lua", running.base, seconds, args.connections, env, running.workers())
                print(f"{name}: {load.rate:,.0f}/s p50 {load.ms('p50_us'):.1f} ms {load.raw}", flush=True)
                return load

            for name in targets:
                verify_run(name, WARM_UP)
            rounds: list[tuple[Load, Load]] = []
            for _round in range(args.rounds):
                bare_load = verify_run("bare", args.duration)
                real_load = verify_run("real", args.duration)
                rounds.append((bare_load, real_load))

            run_id = f"bench{secrets.token_hex(4)}"
            write_presentations(fixture, codes)
            out = work / "created"
            redeem = wrk(
                "redeem.lua",
                real.base,
                args.duration,
                args.connections,
                {
                    "BENCH_CODES": str(codes),
                    "BENCH_TOKEN": fixture.token,
                    "BENCH_BENEFIT": fixture.benefit_id,
                    "BENCH_RUN": run_id,
                    "BENCH_OUT": str(out),
                },
            )
            print(f"redemptions: {redeem.rate:,.0f}/s {redeem.raw}", flush=True)
        answered_list = [
            line for path in sorted(work.glob("created.*")) for line in path.read_text().splitlines() if line
        ]
        answered = set(answered_list)
        rows, lost, duplicated, unconfirmed = count_redemptions(url, run_id, answered)

    ratios = [real.rate / bare.rate for bare, real in rounds]
    lines += [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} cores, load average before the report {load_average()}; PostgreSQL and Redis on the "
        "same machine, wrk too.",
        "",
        f"Both servers: uvicorn, {WORKERS} workers, {' '.join(UVICORN_OPTIONS[2:])}. The real server: the app "
        "factory with FK_ENV=production, PostgreSQL, Redis, a partner API key bound to its location, "
        f"FK_POS_SCAN_LIMIT={SCAN_LIMIT} (the limiter still counts every request in Redis, but never refuses: "
        "this measures the server, not the limit). The bare endpoint: bench/bare_verify.py, the two signature "
        "checks only. "
        f"{args.cards} cards on phones; fresh phone codes before each run. wrk: {WRK_THREADS} threads, "
        f"{args.connections} connections, {args.duration} s per run after a {WARM_UP} s warm-up of each.",
        "",
        "## Verifications",
        "",
        "| run | requests/s | p50 ms | p99 ms | 200 valid | other answers | socket errors | server's workers, CPU ms "
        "per request | whole machine busy, ms per request |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for number, (bare_load, real_load) in enumerate(rounds, 1):
        lines.append(verification_line(f"{number}. bare", bare_load))
        lines.append(verification_line(f"{number}. real", real_load))
    lines += [
        "",
        "Real / bare per round: "
        + ", ".join(f"{ratio:.0%}" for ratio in ratios)
        + f"; median {statistics.median(ratios):.0%} (goal: at least 70 %).",
        "",
        "CPU per request, bare / real per round: the servers' workers "
        + ", ".join(cpu_share(bare.cpu_ms(bare.workers_cpu), real.cpu_ms(real.workers_cpu)) for bare, real in rounds)
        + "; the whole machine (wrk, PostgreSQL and Redis too) "
        + ", ".join(cpu_share(bare.cpu_ms(bare.machine_cpu), real.cpu_ms(real.machine_cpu)) for bare, real in rounds)
        + ". Every core is busy during a run, so the throughput ratio follows the whole machine's CPU per request; "
        "the CPU times come from Linux's /proc and depend less on how fast the machine is that day.",
    ]
    samples = {load.raw["sample"] for pair in rounds for load in pair if load.raw["sample"]}
    if samples:
        lines.append("First answer that was not 200 valid: " + "; ".join(sorted(samples)))
    lines += [
        "",
        "## Redemptions",
        "",
        "| redemptions/s | p50 ms | p99 ms | 201 answers | rows | lost | duplicated | rows without a 201 seen "
        "| other answers | socket errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {len(answered_list) / redeem.seconds:,.0f} | {redeem.ms('p50_us'):.1f} | {redeem.ms('p99_us'):.1f} "
        f"| {redeem.raw['created']:,} | {rows:,} | {lost} | {duplicated} | {unconfirmed} "
        f"| {redeem.raw['requests'] - redeem.raw['created']} | {redeem.socket_errors} |",
        "",
        f"{args.duration} s of wrk at {args.connections} connections, a nonce of its own per request across the "
        "cards, one benefit without limit or quota. Lost: a nonce answered 201 without a row; duplicated: rows "
        "beyond one per nonce; rows without a 201 seen: requests wrk gave up on (timeout) or stopped waiting for "
        "at the end of the run.",
    ]
    if redeem.raw["sample"]:
        lines.append(f"First answer that was not 201: {redeem.raw['sample']}")
    lines += ["", "Reproduce: `.venv/bin/python -m bench.pos` (needs wrk, PostgreSQL and Redis)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run (at most 80: codes go stale)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DATABASE} afterwards")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "pos.md")
    args = parser.parse_args()
    if not 1 <= args.duration <= 80:
        _fail("--duration: 1 to 80 seconds (phone codes are stale 90 s after they were drawn)")
    report = run(args)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # The analysis written below the figures by hand stays when the figures are measured again.
    notes = ""
    if args.output.exists():
        previous = args.output.read_text(encoding="utf-8")
        if NOTES_HEADING in previous:
            notes = "\n" + previous[previous.index(NOTES_HEADING) :]
    args.output.write_text(
        "# Point of sale: verifications and redemptions\n\n" + report + "\n" + notes, encoding="utf-8"
    )


if __name__ == "__main__":
    main()
