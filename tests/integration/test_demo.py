"""``familienkarte demo``: seeding once and idempotently, the logins file, and the real command end to end."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.models import User
from familienkarte.accounts.passwords import verify_password
from familienkarte.db import make_sync_engine, make_sync_sessionmaker, sync_transaction
from familienkarte.demo import login_table, logins_path, prepare_environment, seed
from familienkarte.mail.services import queue_email
from familienkarte.migrate import upgrade
from familienkarte.partners.models import Location, Partner
from familienkarte.settings import Settings
from tests.workers_helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
COMMAND = str(Path(sys.executable).parent / "familienkarte")
STAFF_AND_PARTNER_ROLES = {"admin", "caseworker", "partner_manager", "analyst", "partner_owner", "cashier"}


def _counts(db: Callable[[], Session]) -> tuple[int, int, int]:
    with db() as session:
        users = session.scalar(select(func.count()).select_from(User)) or 0
        partners = session.scalar(select(func.count()).select_from(Partner)) or 0
        locations = session.scalar(select(func.count()).select_from(Location)) or 0
    return users, partners, locations


def test_seeding_twice_gives_the_same_rows_and_passwords_kept_in_a_private_file(
    settings: Settings, db: Callable[[], Session]
) -> None:
    first = seed(settings)
    counts = _counts(db)
    second = seed(settings)

    assert counts == (7, 1, 1)
    assert _counts(db) == counts
    assert first == second
    assert {login.role for login in first} == STAFF_AND_PARTNER_ROLES | {"family"}
    with db() as session:
        users = {u.email: u for u in session.scalars(select(User))}
        zoo = session.scalar(select(Partner))
    assert zoo is not None
    assert (zoo.name, zoo.status) == ("Zoo Köln", "approved")
    for login in first:
        user = users[login.email]
        assert user.role == login.role
        if login.role == "family":
            assert login.password is None
            assert user.password_hash is None
        else:
            assert login.password
            assert verify_password(user.password_hash, login.password)
        assert (user.partner_id == zoo.id) == (login.role in ("partner_owner", "cashier"))

    path = logins_path(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert not path.resolve().is_relative_to(ROOT)
    stored = json.loads(path.read_text())
    assert {(e["email"], e["password"]) for e in stored} == {(login.email, login.password) for login in first}

    table = login_table(settings, second)
    assert settings.base_url in table
    for login in second:
        assert login.email in table
        assert (login.password or "sign in by e-mail link") in table
    assert str(settings.effective_mail_dir) in table


def test_a_lost_logins_file_gives_new_passwords_and_no_new_rows(settings: Settings, db: Callable[[], Session]) -> None:
    first = seed(settings)
    logins_path(settings).unlink()

    renewed = seed(settings)

    assert _counts(db) == (7, 1, 1)
    admin_before = next(login for login in first if login.role == "admin")
    admin_after = next(login for login in renewed if login.role == "admin")
    assert admin_after.password != admin_before.password
    with db() as session:
        admin = session.scalar(select(User).where(User.email == admin_after.email))
    assert admin is not None
    assert verify_password(admin.password_hash, admin_after.password or "")
    assert logins_path(settings).stat().st_mode & 0o777 == 0o600


def test_the_demo_environment_defaults_to_demo_mode_and_follows_the_port() -> None:
    env: dict[str, str] = {"FK_PORT": "8123"}
    prepare_environment(env)
    assert env["FK_ENV"] == "demo"
    assert env["FK_BASE_URL"] == "http://127.0.0.1:8123"
    given = {"FK_ENV": "production", "FK_BASE_URL": "https://familienkarte.example"}
    prepare_environment(given)
    assert given["FK_ENV"] == "production"
    assert given["FK_BASE_URL"] == "https://familienkarte.example"


# The real command -------------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local server
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FK_")}
    env.update({"FK_DATA_DIR": str(tmp_path / "var"), "FK_PORT": str(free_port())})
    if os.environ.get("FK_REDIS_URL"):
        env["FK_REDIS_URL"] = os.environ["FK_REDIS_URL"]
        env["FK_REDIS_PREFIX"] = f"fktest:{uuid.uuid4().hex[:12]}:"
    return env


@pytest.fixture
def demo_process(demo_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [COMMAND, "demo"], env=demo_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the child processes")
def test_demo_command_serves_delivers_mail_and_stops_its_children(
    demo_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data_dir = Path(demo_env["FK_DATA_DIR"])
    # An e-mail waiting in the outbox before the demo starts: its worker must deliver it to var/mail/.
    database_url = f"sqlite:///{data_dir / 'familienkarte.db'}"
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    with sync_transaction(make_sync_sessionmaker(engine)) as session:
        waiting = queue_email(session, to="familie@demo.example.org", subject="Willkommen", body_text="Hallo!").id
    engine.dispose()

    process: subprocess.Popen[str] = request.getfixturevalue("demo_process")
    base = f"http://127.0.0.1:{demo_env['FK_PORT']}"
    wait_until(lambda: _ready(f"{base}/health/ready") or process.poll() is not None, timeout=60, interval=0.2)
    assert process.poll() is None, process.communicate()[0]

    eml = data_dir / "mail" / f"{waiting}.eml"
    wait_until(eml.exists, timeout=30, interval=0.2, what="the queued e-mail in var/mail/")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Willkommen"
    assert (data_dir / "demo-logins.json").stat().st_mode & 0o777 == 0o600

    children = _children(process.pid)
    assert len(children) == 2
    assert all(_alive(pid) for pid in children)

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 0, output
    assert time.monotonic() - started < 30
    assert not any(_alive(pid) for pid in children)
    assert base in output
    assert "admin@demo.example.org" in output
    assert "Traceback" not in output
