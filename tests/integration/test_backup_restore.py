"""scripts/backup.sh and scripts/restore.sh on the real PostgreSQL: back up, drop the database, restore it into a new
one; every table comes back row for row, and the service reads the cards and signs with the restored keys."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from familienkarte.app import create_app
from familienkarte.credentials import services as credential_services
from familienkarte.db import make_sync_engine, make_sync_sessionmaker, sync_url
from familienkarte.migrate import upgrade
from tests.conftest import BASE_URL, _postgres_database
from tests.helpers import make_test_settings
from tests.integration.test_card_credentials import SECRET
from tests.integration.test_redemptions import benefit, redeem
from tests.integration.test_verifications import flush_statistics, make_till, scan, signed

SERVER = os.environ.get("FK_TEST_DATABASE_URL", "")
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

needs_postgres = pytest.mark.skipif(not SERVER, reason="backups are of PostgreSQL: set FK_TEST_DATABASE_URL")

# Every table's rows as text, in a fixed order, summed up by md5: equal only when every row is equal.
CHECKSUM = "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} AS t"


@pytest.fixture
def source_url() -> Iterator[str]:
    if not SERVER:
        pytest.skip("backups are of PostgreSQL: set FK_TEST_DATABASE_URL")
    for url in _postgres_database(SERVER):
        upgrade(url)
        yield url


@pytest.fixture
def db(source_url: str) -> Iterator[Callable[[], Session]]:
    """Instead of the suite's database: everything this module's tests make goes into the database backed up."""
    engine = make_sync_engine(source_url)
    yield make_sync_sessionmaker(engine)
    engine.dispose()


def contents(url: str) -> dict[str, tuple[int, str]]:
    """(rows, checksum) of every table, and the value of every sequence."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            tables = conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            ).all()
            found = {table: tuple(conn.execute(text(CHECKSUM.format(table=f'"{table}"'))).one()) for table in tables}
            for name, last in conn.execute(text("SELECT sequencename, last_value FROM pg_sequences")):
                found[f"sequence {name}"] = (last or 0, "")
            return found
    finally:
        engine.dispose()


def run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FK_")} | env
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args], env=environ, capture_output=True, text=True, timeout=300, check=False
    )


def drop(url: str) -> None:
    admin = create_engine(sync_url(SERVER), isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@needs_postgres
def test_a_backup_restores_every_row_into_a_new_database_and_the_service_reads_its_cards(
    source_url: str, db: Callable[[], Session], make_user: Any, tmp_path: Path
) -> None:
    till = make_till(db, make_user)
    benefit_id = benefit(db, till)
    code = signed(db, till.number)
    settings = make_test_settings(tmp_path / "before", source_url, FK_BASE_URL=BASE_URL, FK_SECRET_KEY=SECRET)
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        assert scan(client, till, text=code)["valid"] is True
        redeem(client, till, benefit_id, text=code)
        flush_statistics(client)
    with db() as s:
        kid = credential_services.signing_key(s, SECRET).kid
    before = contents(source_url)
    filled = {table for table, (rows, _sum) in before.items() if rows and not table.startswith("sequence ")}
    assert {"cards", "redemptions", "verification_events", "issuer_keys", "audit_log"} <= filled, filled

    backup = run("backup.sh", str(tmp_path / "backups"), FK_DATABASE_URL=source_url, FK_SECRET_KEY=SECRET)
    assert backup.returncode == 0, backup.stderr
    folder = Path(backup.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in folder.iterdir()) == ["backup-info.txt", "database.dump"]
    info = (folder / "backup-info.txt").read_text()
    assert SECRET not in info
    assert "secret_fingerprint: " in info
    assert "schema_revision: " in info
    # A database with tables is never overwritten.
    refused = run("restore.sh", str(folder), FK_DATABASE_URL=source_url, FK_SECRET_KEY=SECRET)
    assert (refused.returncode, "already has" in refused.stderr) == (2, True), refused.stderr
    drop(source_url)

    for target in _postgres_database(SERVER):
        wrong = run(
            "restore.sh", str(folder), FK_DATABASE_URL=target, FK_SECRET_KEY="another secret, 32+ characters long"
        )
        assert (wrong.returncode, "not the secret of this backup" in wrong.stderr) == (2, True), wrong.stderr
        assert contents(target) == {}

        restored = run("restore.sh", str(folder), FK_DATABASE_URL=target, FK_SECRET_KEY=SECRET)
        assert restored.returncode == 0, restored.stderr

        assert contents(target) == before
        after = make_test_settings(tmp_path / "after", target, FK_BASE_URL=BASE_URL, FK_SECRET_KEY=SECRET)
        with TestClient(create_app(after), base_url=BASE_URL) as client:
            result = scan(client, till, text=code)
            assert (result["valid"], result["reason"]) == (True, "ok")
            assert result["card"]["number"].replace(" ", "").replace("-", "") == till.number
        # The restored issuer key signs with the deployment secret kept apart from the backup.
        restored_engine = make_sync_engine(target)
        try:
            with make_sync_sessionmaker(restored_engine)() as s:
                assert credential_services.signing_key(s, SECRET).kid == kid
        finally:
            restored_engine.dispose()


def test_a_backup_needs_a_postgresql_url(tmp_path: Path) -> None:
    result = run("backup.sh", str(tmp_path), FK_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 2
    assert "no postgresql:// URL" in result.stderr
    assert not any(tmp_path.iterdir())
