"""The ``familienkarte`` command: the demo, the web server, worker and beat, the database, staff accounts, keys.

Every command reads and checks the settings first. A problem that the person starting it can fix (a setting,
an unreachable database, Redis or broker, a damaged SQLite file, a port in use) ends the command with one line
on standard error that names the problem and what to do, and exit status 2; never a traceback.
Exit status 1 means the command ran and refused (a duplicate account, models that differ from the migrations).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import click

from familienkarte.logs import configure_logging
from familienkarte.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from familienkarte.city import City
    from familienkarte.statistics.rollups import Rebuilt
    from familienkarte.transit_import import ImportProblem

# Heavier modules (SQLAlchemy, Celery, uvicorn) are imported where they are needed, so that a wrong setting is
# reported at once and `familienkarte --help` answers quickly.

log = logging.getLogger("familienkarte.cli")

EXIT_REFUSED = 1
EXIT_PROBLEM = 2
CHECK_TIMEOUT = 3
STAFF_ROLE_NAMES = ("admin", "caseworker", "partner_manager", "analyst")
_DATABASE_URL_KEY = "familienkarte.database_url"


def fail(message: str, status: int = EXIT_PROBLEM) -> NoReturn:
    click.echo(f"familienkarte: {message}", err=True)
    raise SystemExit(status)


class _Commands(click.Group):
    """Turns the problems a person can fix into one line and exit status 2, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            fail(str(exc))
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            from familienkarte.db import explain_database_error

            url = ctx.meta.get(_DATABASE_URL_KEY)
            fail(explain_database_error(exc, url) if url else f"Database error: {exc}")


def _is_database_error(exc: Exception) -> bool:
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is None:
        return False
    errors = (sqlalchemy_exc.OperationalError, sqlalchemy_exc.DatabaseError, sqlalchemy_exc.InterfaceError)
    return isinstance(exc, errors)


# Checks -----------------------------------------------------------------------------------------------------------


def _settings_message(message: str) -> str:
    if re.match(r"FK_[A-Z_]+: ", message):
        return f"{message.rstrip('.')}. Correct or unset this variable; the README lists every setting."
    if message.startswith("Cannot keep"):
        return f"{message.rstrip('.')}. Set FK_DATA_DIR to a folder this user may write to."
    return message


def load(ctx: click.Context) -> Settings:
    """The checked settings, with logging configured from them."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(_settings_message(str(exc)))
    configure_logging(settings.log_level, settings.log_format)
    quiet_alembic()
    ctx.meta[_DATABASE_URL_KEY] = settings.effective_database_url
    return settings


def quiet_alembic(keep_migrations: bool = False) -> None:
    """Alembic's set-up chatter off; with ``keep_migrations`` the line per migration that runs stays."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if keep_migrations:
        logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _engine(url: str) -> Engine:
    from sqlalchemy.engine import make_url

    from familienkarte.db import make_sync_engine

    if make_url(url).get_backend_name() == "postgresql":
        return make_sync_engine(url, connect_args={"connect_timeout": CHECK_TIMEOUT + 2})
    return make_sync_engine(url)


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """An engine on the checked database (reachable, readable), disposed afterwards."""
    from familienkarte.db import check_database

    url = settings.effective_database_url
    engine = _engine(url)
    try:
        check_database(engine, url)
        yield engine
    finally:
        engine.dispose()


def check_schema_current(engine: Engine, url: str) -> None:
    """Raise ConfigError when the database is not migrated to the latest version."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from familienkarte.db import describe_url
    from familienkarte.migrate import alembic_config

    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if current != heads:
        raise ConfigError(
            f"The database at {describe_url(url)} is not at the latest version. Run: familienkarte db upgrade"
        )


def check_redis(url: str, variable: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"Cannot reach Redis at {_safe_url(url)} ({detail}). Check {variable} and that Redis is running."
        ) from None
    finally:
        client.close()


def broker_sqlite_path(broker_url: str) -> Path | None:
    """The SQLite file of Kombu's SQLAlchemy transport (the embedded broker), or None for any other broker."""
    if urlsplit(broker_url).scheme != "sqla+sqlite":
        return None
    # sqla+sqlite:///relative/path or sqla+sqlite:////absolute/path, as SQLAlchemy reads it.
    database = broker_url.split(":///", 1)[1].split("?", 1)[0] if ":///" in broker_url else ""
    return Path(database) if database and database != ":memory:" else None


def _check_sqlite_broker(settings: Settings) -> None:
    path = broker_sqlite_path(settings.effective_broker_url)
    if path is None or not path.exists():
        return
    try:
        connection = sqlite3.connect(path, timeout=CHECK_TIMEOUT)
        try:
            connection.execute("PRAGMA schema_version")
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(
            f"The broker's SQLite file {path} cannot be used ({exc}). Move it away and start again to create "
            "a new one; queued e-mail is kept in the database and sent again."
        ) from None


def _check_other_broker(url: str) -> None:
    from kombu.connection import Connection

    try:
        with Connection(  # type: ignore[no-untyped-call]
            url, connect_timeout=CHECK_TIMEOUT, transport_options={"max_retries": 0}
        ) as connection:
            connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    except Exception as exc:
        raise ConfigError(
            f"Cannot reach the broker at {_safe_url(url)} ({exc}). Check FK_BROKER_URL and that it is running."
        ) from None


def check_services(settings: Settings) -> None:
    """Redis and the broker answer (short timeouts); the embedded broker's file is usable."""
    if settings.redis_url:
        check_redis(settings.redis_url, "FK_REDIS_URL")
    broker = settings.effective_broker_url
    if broker == settings.redis_url:
        return
    scheme = urlsplit(broker).scheme
    if scheme in ("redis", "rediss"):
        check_redis(broker, "FK_BROKER_URL")
    elif scheme == "sqla+sqlite":
        _check_sqlite_broker(settings)
    else:
        _check_other_broker(broker)


def check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}). "
                "Stop the program that uses it, or set FK_PORT (and FK_HOST) to another address."
            ) from None


def ready_for_work(settings: Settings) -> None:
    """What the web server and the worker need before they start."""
    check_services(settings)
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)


def run_web(settings: Settings) -> None:
    """uvicorn in this process, on the app factory; e-mail committed here wakes the worker at once."""
    import uvicorn

    from workers.celery_app import configure
    from workers.tasks import install_wakers

    configure(settings, configure_logs=False)
    install_wakers()
    uvicorn.run(
        "familienkarte.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,
        # The client's address and scheme from X-Forwarded-For and -Proto, believed from these proxies only.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


# Commands ---------------------------------------------------------------------------------------------------------


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Familienkarte: a city's family card. Settings come from FK_ environment variables (see the README)."""


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Start the whole platform on the embedded default: migrate, seed, worker, beat and web at one address."""
    from familienkarte.demo import prepare_environment, run_demo

    prepare_environment()
    settings = load(ctx)
    check_services(settings)
    with database(settings):
        pass
    check_port(settings.host, settings.port)
    run_demo(settings)


@main.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the web server at FK_HOST:FK_PORT (the database must be migrated: familienkarte db upgrade)."""
    settings = load(ctx)
    ready_for_work(settings)
    check_port(settings.host, settings.port)
    run_web(settings)


@main.command()
@click.option("-c", "--concurrency", default=2, show_default=True, type=click.IntRange(min=1), help="Tasks at once.")
@click.option(
    "-P",
    "--pool",
    default="prefork",
    show_default=True,
    type=click.Choice(["prefork", "threads", "solo"]),
    help="prefork: one process per slot; threads or solo: all in this process.",
)
@click.option("-Q", "--queues", default=None, help="Comma-separated queues to take tasks from; default: all.")
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(min=1, max=65535),
    help="Serve the worker's Prometheus metrics (every task process) on this port; keep it internal.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address of the metrics port.")
@click.option("--quiet", is_flag=True, hidden=True)
@click.pass_context
def worker(
    ctx: click.Context,
    concurrency: int,
    pool: str,
    queues: str | None,
    metrics_port: int | None,
    metrics_host: str,
    quiet: bool,
) -> None:
    """Run a Celery worker for the queues mail, stats, print and default."""
    settings = load(ctx)
    ready_for_work(settings)
    if metrics_port is not None:
        check_port(metrics_host, metrics_port)
        _serve_worker_metrics(metrics_host, metrics_port)

    from workers.celery_app import QUEUES, celery_app, configure
    from workers.tasks import install_wakers

    chosen = [q.strip() for q in (queues or ",".join(QUEUES)).split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown or not chosen:
        fail(f"Unknown queue {', '.join(unknown) or '(none)'}: choose from {', '.join(QUEUES)}.")

    configure(settings)
    install_wakers()
    celery_app.start(
        [
            *(["--quiet"] if quiet else []),
            "worker",
            f"--loglevel={settings.log_level}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--queues={','.join(chosen)}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def _serve_worker_metrics(host: str, port: int) -> None:
    """Multiprocess metrics (the task processes are forked from this one) served from a thread of this process."""
    from familienkarte.metrics import install_task_metrics, serve_worker_metrics, use_multiprocess_folder

    use_multiprocess_folder()
    install_task_metrics()
    serve_worker_metrics(host, port)
    log.info("worker metrics at http://%s:%d/metrics", host, port)


@main.command()
@click.option("--quiet", is_flag=True, hidden=True)
@click.pass_context
def beat(ctx: click.Context, quiet: bool) -> None:
    """Run Celery beat: queues the periodic tasks (run exactly one per deployment)."""
    settings = load(ctx)
    check_services(settings)

    from workers.celery_app import beat_schedule_path, celery_app, configure

    configure(settings)
    celery_app.start(
        [
            *(["--quiet"] if quiet else []),
            "beat",
            f"--loglevel={settings.log_level}",
            f"--schedule={beat_schedule_path(settings)}",
        ]
    )


@main.group()
def db() -> None:
    """The database: migrations and their check."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Migrate the database to the latest version (creates the SQLite file when needed)."""
    from familienkarte.db import describe_url
    from familienkarte.migrate import upgrade

    settings = load(ctx)
    url = settings.effective_database_url
    quiet_alembic(keep_migrations=True)
    with database(settings):
        pass
    upgrade(url)
    click.echo(f"The database at {describe_url(url)} is at the latest version.")


@db.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Compare the models with the migrations (alembic check); exit status 1 and the difference if they differ."""
    from familienkarte.migrate import drift

    settings = load(ctx)
    url = settings.effective_database_url
    with database(settings) as engine:
        check_schema_current(engine, url)
    difference = drift(url)
    if difference:
        click.echo(f"The models and the migrations differ. {difference}")
        click.echo("Write a migration for the change (alembic revision --autogenerate) and review it.")
        ctx.exit(EXIT_REFUSED)
    click.echo("The models and the migrations match.")


@main.group()
def staff() -> None:
    """Staff accounts."""


@staff.command("create")
@click.option("--email", required=True, help="The e-mail address the person signs in with.")
@click.option("--role", required=True, type=click.Choice(STAFF_ROLE_NAMES, case_sensitive=False))
@click.option("--name", default="", help="The name shown to colleagues; default: the e-mail's local part.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
@click.pass_context
def staff_create(ctx: click.Context, email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create a staff account that can sign in with a password right away."""
    from familienkarte.db import make_sync_sessionmaker, sync_transaction
    from familienkarte.errors import InvalidInput
    from familienkarte.seed import create_staff_with_password

    settings = load(ctx)
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("No password on standard input: pipe it in, or leave out --password-stdin to get a random one.")
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        try:
            with sync_transaction(make_sync_sessionmaker(engine)) as session:
                created = create_staff_with_password(
                    session, email=email, role=role.lower(), display_name=name, password=password
                )
                address = created.user.email
        except InvalidInput as exc:
            problems = "; ".join(
                f"{error.field}: {error.message % error.params if error.params else error.message}"
                for error in exc.errors
            )
            fail(f"The account was not created. {problems}", EXIT_REFUSED)
    click.echo(f"Created the {role.lower()} account {address}.")
    if not password_stdin:
        click.echo(f"Password (shown only this once): {created.password}")


@main.group()
def keys() -> None:
    """The issuer's signing keys for card credentials."""


def _when(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List the issuer signing keys: active (signs), retired (still published) or expired (no longer published)."""
    from familienkarte.credentials.services import list_keys
    from familienkarte.db import make_sync_sessionmaker, sync_transaction, utcnow

    settings = load(ctx)
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            found = list_keys(session, utcnow())
    if not found:
        click.echo("No issuer keys yet. The first is made when a credential is first signed, or by: keys rotate")
        return
    rows = [("kid", "state", "created", "retired", "last exp")]
    rows += [(k.kid, k.state, _when(k.created_at), _when(k.retired_at), _when(k.last_exp)) for k in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Make a new signing key the active one; earlier keys stay published until what they signed has expired."""
    from familienkarte.credentials.services import rotate_key
    from familienkarte.db import make_sync_sessionmaker, sync_transaction

    settings = load(ctx)
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            kid = rotate_key(session, settings.secret_key)
    click.echo(kid)
    click.echo(
        f"The key {kid} is now active and signs new credentials; earlier keys stay in the JWKS until the "
        "credentials they signed have expired.",
        err=True,
    )


@main.group()
def stats() -> None:
    """The statistics rollups, rebuilt from the raw facts."""


def _stats_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-07-01.") from None


@stats.command("rebuild")
@click.option("--day", callback=_stats_day, help="The local day (YYYY-MM-DD); without it, every day that changed.")
@click.option("--from", "first", callback=_stats_day, help="With --to: every day from this one (YYYY-MM-DD).")
@click.option("--to", "last", callback=_stats_day, help="With --from: every day up to this one (YYYY-MM-DD).")
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="With --from and --to on PostgreSQL: months counted at once on this many connections (up to the database "
    "server's cores), the weekly figures after them.",
)
@click.pass_context
def stats_rebuild(
    ctx: click.Context, day: dt.date | None, first: dt.date | None, last: dt.date | None, jobs: int
) -> None:
    """Rebuild one day's rollups, every day's from --from to --to (a first build, after an import), or those of
    every day whose facts changed since its last build."""
    from familienkarte.city import load_city
    from familienkarte.db import make_sync_sessionmaker, sync_transaction, utcnow
    from familienkarte.statistics.rollups import rebuild_day, rebuild_dirty

    if (first is None) != (last is None):
        raise click.UsageError("--from and --to go together.")
    if day is not None and first is not None:
        raise click.UsageError("Give --day or --from and --to, not both.")
    if first is not None and last is not None and first > last:
        raise click.BadParameter(f"{first.isoformat()} is after {last.isoformat()}.", param_hint="--from")
    if jobs > 1 and first is None:
        raise click.UsageError("--jobs goes with --from and --to.")
    settings = load(ctx)
    city = load_city(settings.city)
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        factory = make_sync_sessionmaker(engine)
        if first is not None and last is not None:
            rebuilt = _rebuild_range(factory, city, first, last, jobs)
        else:
            with sync_transaction(factory) as session:
                if day is None:
                    rebuilt = rebuild_dirty(session, city, utcnow())
                else:
                    rebuilt = rebuild_day(session, city, day, utcnow())
    if first is not None and last is not None:
        click.echo(
            f"Rebuilt the statistics of {_count(len(rebuilt.days), 'day')} "
            f"({first.isoformat()} to {last.isoformat()}) and {_count(len(rebuilt.months), 'month')}."
        )
    else:
        days = ", ".join(d.isoformat() for d in rebuilt.days) or "none"
        click.echo(f"Rebuilt the statistics of {_count(len(rebuilt.days), 'day')} ({days}).")
    if rebuilt.retained:
        retained = ", ".join(d.isoformat() for d in rebuilt.retained)
        click.echo(
            f"Not rebuilt, their raw facts were deleted by the retention and their statistics are final: {retained}."
        )


def _rebuild_range(factory: sessionmaker[Session], city: City, first: dt.date, last: dt.date, jobs: int) -> Rebuilt:
    """Every day from ``first`` to ``last``, a run of consecutive days per transaction (``rebuild_range``)."""
    from familienkarte.db import utcnow
    from familienkarte.statistics.rollups import rebuild_range

    def done(start: dt.date, end: dt.date) -> None:
        click.echo(f"  {start.isoformat()} to {end.isoformat()}", err=True)

    return rebuild_range(factory, city, first, last, utcnow(), jobs=jobs, progress=done)


@stats.command("reconcile")
@click.option("--repair/--no-repair", default=False, show_default=True, help="Rebuild the days that differ.")
@click.pass_context
def stats_reconcile(ctx: click.Context, repair: bool) -> None:
    """Compare yesterday and the 7 days before with the raw facts; exit 1 when anything differs."""
    from familienkarte.city import load_city
    from familienkarte.db import make_sync_sessionmaker, sync_transaction, utcnow
    from familienkarte.statistics.reconcile import reconcile

    settings = load(ctx)
    city = load_city(settings.city)
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            result = reconcile(session, city, utcnow(), repair=repair)
    for difference in result.differences:
        click.echo(f"{difference.table} {difference.key}: expected {difference.expected}, stored {difference.stored}")
    span = f"{result.days[-1].isoformat()} to {result.days[0].isoformat()}"
    click.echo(f"{_count(len(result.differences), 'difference')} from the raw facts, {span}.", err=True)
    if result.differences:
        if result.repaired:
            click.echo("The days and months that differed were rebuilt.", err=True)
        ctx.exit(1)


_HELD_BECAUSE = {
    "not_built": "its statistics were never built; run: familienkarte stats rebuild --day {day}",
    "rebuild_pending": "a change waits for its statistics to be rebuilt (the worker does it within minutes)",
    "rollups_differ": "its statistics differ from its raw facts; run: familienkarte stats rebuild --day {day}",
}


@stats.command("retention")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@click.pass_context
def stats_retention(ctx: click.Context, dry_run: bool) -> None:
    """Delete the redemptions and verifications older than the city's retention_months whose statistics are final."""
    from familienkarte.city import load_city
    from familienkarte.db import make_sync_sessionmaker, sync_transaction, utcnow
    from familienkarte.statistics.retention import apply_retention

    settings = load(ctx)
    city = load_city(settings.city)
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        factory = make_sync_sessionmaker(engine)
        report = apply_retention(lambda: sync_transaction(factory), city, utcnow(), dry_run=dry_run)
    click.echo(
        f"Retention {_count(report.months, 'month')}: raw facts before {report.horizon.isoformat()} are deleted "
        "once their statistics are final."
    )
    span = f" ({report.days[0].day.isoformat()} to {report.days[-1].day.isoformat()})" if report.days else ""
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {_count(report.redemptions, 'redemption')} and "
        f"{_count(report.verification_events, 'verification event')} of {_count(len(report.days), 'day')}{span}; "
        f"{'would keep' if dry_run else 'kept'} {_count(report.redemptions_kept, 'redemption')} that a "
        '"once ever" limit or a quota still counts.'
    )
    for held in report.held:
        because = _HELD_BECAUSE.get(held.reason, held.reason).format(day=held.day.isoformat())
        click.echo(f"{held.day.isoformat()} kept for now: {because}.")


@main.group()
def reports() -> None:
    """The partners' monthly report e-mail (with its PDF), sent by beat on the first of each month."""


def _report_month(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    from familienkarte.statistics.partner_report import parse_month

    if value is None:
        return None
    try:
        return parse_month(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month like 2026-07.") from None


@reports.command("send")
@click.option("--month", callback=_report_month, help="The month (YYYY-MM); without it, the last complete month.")
@click.pass_context
def reports_send(ctx: click.Context, month: dt.date | None) -> None:
    """Queue the report of a complete month to every owner of an active partner who has not had it yet."""
    from familienkarte.city import load_city
    from familienkarte.db import make_sync_sessionmaker, sync_transaction
    from familienkarte.statistics.partner_report import partners_to_report, report_month, send_partner_report

    settings = load(ctx)
    city = load_city(settings.city)
    today = city.today()
    last = report_month(today)
    month = month or last
    if month > last:
        raise click.BadParameter(
            f"{month:%Y-%m} is not complete yet; the last complete month is {last:%Y-%m}.", param_hint="'--month'"
        )
    queued = already = 0
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        factory = make_sync_sessionmaker(engine)
        with sync_transaction(factory) as session:
            partner_ids = partners_to_report(session, city, month)
        for partner_id in partner_ids:
            # One transaction per partner, as the worker's tasks do: a partner that fails leaves the others sent.
            with sync_transaction(factory) as session:
                run = send_partner_report(session, city, partner_id, month, base_url=settings.base_url, today=today)
            queued, already = queued + run.queued, already + run.already
    click.echo(
        f"Queued {_count(queued, 'report')} of {month:%Y-%m} for {_count(len(partner_ids), 'partner')}; "
        f"{_count(already, 'owner')} had theirs already. A running worker sends them."
    )


@main.group()
def transit() -> None:
    """Public transport stops, shown with their walking distance on the partner pages."""


# At most this many bad rows are listed; the rest are counted.
SHOWN_BAD_ROWS = 20


@transit.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def transit_import(ctx: click.Context, file: Path) -> None:
    """Replace all stops with those of a GTFS stops.txt or feed zip (stops and stations; nothing changes if a row is
    bad)."""
    from familienkarte.db import make_sync_sessionmaker, sync_transaction
    from familienkarte.transit_import import import_stops

    settings = load(ctx)
    if not file.is_file():
        fail(f"Cannot read {file}: there is no such file.")
    with database(settings) as engine:
        check_schema_current(engine, settings.effective_database_url)
        with sync_transaction(make_sync_sessionmaker(engine)) as session:
            report = import_stops(session, file)
    if not report.ok:
        _report_transit_problems(file, report.problems)
    click.echo(
        f"Imported {_count(report.stops, 'stop')} and {_count(report.stations, 'station')} from {file}, replacing "
        f"the {_count(report.replaced, 'stop')} imported before; skipped {_count(report.skipped, 'entrance')} "
        "and other points inside stations."
    )


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def _report_transit_problems(file: Path, problems: list[ImportProblem]) -> NoReturn:
    """One line per problem of the file, then one per bad row (all its problems), the first SHOWN_BAD_ROWS."""
    by_line: dict[int, list[str]] = {}
    general: list[str] = []
    for problem in problems:
        if problem.line is None or problem.column is None:
            general.append(f"line {problem.line}: {problem.message}" if problem.line else problem.message)
        else:
            by_line.setdefault(problem.line, []).append(f"{problem.column}: {problem.message.rstrip('.')}")
    click.echo(f"familienkarte: {file} was not imported; the stops are unchanged. Correct the file:", err=True)
    for line in general:
        click.echo(f"  {line}", err=True)
    for number in sorted(by_line)[:SHOWN_BAD_ROWS]:
        click.echo(f"  line {number}: {'; '.join(by_line[number])}.", err=True)
    if len(by_line) > SHOWN_BAD_ROWS:
        click.echo(f"  ... and {len(by_line) - SHOWN_BAD_ROWS} more", err=True)
    raise SystemExit(EXIT_PROBLEM)


if __name__ == "__main__":
    main(prog_name="familienkarte")
