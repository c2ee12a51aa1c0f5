"""The ``familienkarte`` command: bad input ends in one clear line (exit 2), staff accounts, the database commands.

The bad-input cases run the installed command as separate processes, all at once, as an operator would start it;
the other commands run in this process through click's test runner.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from familienkarte.accounts.models import User
from familienkarte.accounts.passwords import verify_password
from familienkarte.audit.models import AuditEntry
from familienkarte.cli import main
from familienkarte.db import make_sync_engine
from tests.conftest import _postgres_database
from tests.helpers import cli_env
from tests.workers_helpers import free_port

COMMAND = str(Path(sys.executable).parent / "familienkarte")
CLOSED = "127.0.0.1:1"


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FK_")}


@dataclass(frozen=True)
class BadInput:
    args: tuple[str, ...]
    env: dict[str, str]  # "{tmp}" stands for the cases' folder
    words: tuple[str, ...]  # what the one line must mention
    # Commands that would run until stopped (serve, worker, beat, demo) run as a process of their own with a
    # time limit, so that a missing check fails the test instead of hanging it; the others run in this process.
    runs_until_stopped: bool = True


REDIS_DOWN = {"FK_REDIS_URL": f"redis://{CLOSED}/0"}
POSTGRES_DOWN = {"FK_DATABASE_URL": f"postgresql://postgres@{CLOSED}/familienkarte"}
GARBAGE_DB = {"FK_DATABASE_URL": "sqlite:///{tmp}/garbage.db"}
STAFF_CREATE = ("staff", "create", "--email", "a@stadt.example", "--role", "admin")
BAD_INPUTS = {
    "unknown setting": BadInput(("serve",), {"FK_PROT": "8000"}, ("FK_PROT", "did you mean FK_PORT")),
    "bad port": BadInput(("worker",), {"FK_PORT": "abc"}, ("FK_PORT", "abc")),
    "bad boolean": BadInput(("db", "upgrade"), {"FK_SMTP_STARTTLS": "maybe"}, ("FK_SMTP_STARTTLS", "maybe"), False),
    "production without secret": BadInput(("serve",), {"FK_ENV": "production"}, ("FK_SECRET_KEY",)),
    "demo in production without secret": BadInput(("demo",), {"FK_ENV": "production"}, ("FK_SECRET_KEY",)),
    "postgres unreachable": BadInput(("serve",), POSTGRES_DOWN, (CLOSED, "FK_DATABASE_URL")),
    "postgres unreachable on upgrade": BadInput(("db", "upgrade"), POSTGRES_DOWN, (CLOSED, "FK_DATABASE_URL"), False),
    "redis unreachable for serve": BadInput(("serve",), REDIS_DOWN, (CLOSED, "FK_REDIS_URL")),
    "redis unreachable for worker": BadInput(("worker",), REDIS_DOWN, (CLOSED, "FK_REDIS_URL")),
    "redis unreachable for demo": BadInput(("demo",), REDIS_DOWN, (CLOSED, "FK_REDIS_URL")),
    "redis unreachable for beat": BadInput(("beat",), REDIS_DOWN, (CLOSED, "FK_REDIS_URL")),
    "corrupt sqlite": BadInput(("serve",), GARBAGE_DB, ("garbage.db", "not a database", "Move it")),
    "corrupt sqlite on upgrade": BadInput(("db", "upgrade"), GARBAGE_DB, ("garbage.db", "not a database"), False),
    "corrupt sqlite for staff": BadInput(STAFF_CREATE, GARBAGE_DB, ("garbage.db", "not a database"), False),
    "corrupt broker file": BadInput(("worker",), {"FK_DATA_DIR": "{tmp}/broken"}, ("broker.sqlite", "Move it")),
    "unmigrated database": BadInput(
        ("serve",), {"FK_DATABASE_URL": "sqlite:///{tmp}/empty.db"}, ("not at the latest version", "db upgrade")
    ),
    "keys list unmigrated": BadInput(
        ("keys", "list"),
        {"FK_DATABASE_URL": "sqlite:///{tmp}/keys-empty.db"},
        ("not at the latest version", "db upgrade"),
        False,
    ),
    "keys rotate on corrupt sqlite": BadInput(("keys", "rotate"), GARBAGE_DB, ("garbage.db", "not a database"), False),
    "keys rotate postgres unreachable": BadInput(("keys", "rotate"), POSTGRES_DOWN, (CLOSED, "FK_DATABASE_URL"), False),
}


@dataclass(frozen=True)
class Outcome:
    status: int | None
    stdout: str
    stderr: str


def _prepare_files(tmp: Path) -> None:
    (tmp / "garbage.db").write_bytes(b"\x00\x01 this is not a database file at all " * 64)
    (tmp / "broken").mkdir()
    (tmp / "broken" / "broker.sqlite").write_bytes(b"GIF89a not a database either " * 64)


def _case_env(case: BadInput, tmp: Path) -> dict[str, str]:
    return {
        "FK_DATA_DIR": str(tmp / f"data-{uuid.uuid4().hex[:8]}"),
        "FK_PORT": str(free_port()),
        **{key: value.format(tmp=tmp) for key, value in case.env.items()},
    }


@pytest.fixture(scope="module")
def bad_input_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bad-input")
    _prepare_files(tmp)
    return tmp


@pytest.fixture(scope="module")
def process_outcomes(bad_input_tmp: Path) -> dict[str, Outcome]:
    """The cases that need a process of their own, started together so that they take the time of one."""
    processes = {
        name: subprocess.Popen(
            [COMMAND, *case.args],
            env={**_clean_environ(), **_case_env(case, bad_input_tmp)},
            cwd=bad_input_tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, case in BAD_INPUTS.items()
        if case.runs_until_stopped
    }
    outcomes = {}
    for name, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr = "still running after 60 s\n" + stderr
        outcomes[name] = Outcome(process.returncode, stdout, stderr)
    return outcomes


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_clear_line_and_exit_2(
    name: str, request: pytest.FixtureRequest, bad_input_tmp: Path
) -> None:
    case = BAD_INPUTS[name]
    if case.runs_until_stopped:
        outcome = request.getfixturevalue("process_outcomes")[name]
    else:
        run = request.getfixturevalue("run")
        result = run(*case.args, **_case_env(case, bad_input_tmp))
        outcome = Outcome(result.exit_code, result.stdout, result.stderr)
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert outcome.status == 2, outcome
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("familienkarte: ")
    assert "Traceback" not in outcome.stdout + outcome.stderr
    for word in case.words:
        assert word in lines[0], (word, lines[0])


# In-process commands --------------------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, migrated_db: str) -> Iterator[Callable[..., Result]]:
    """Run a command in this process on the test database; logging is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    alembic_levels = {name: logging.getLogger(name).level for name in ("alembic", "alembic.runtime.migration")}
    base_env = cli_env(tmp_path / "var", migrated_db)

    def invoke(*args: str, input: str | None = None, **env: str) -> Result:
        return CliRunner().invoke(main, list(args), input=input, env={**base_env, **env}, catch_exceptions=False)

    yield invoke
    root.handlers[:], root.level = handlers, level
    for name, value in alembic_levels.items():
        logging.getLogger(name).setLevel(value)


def _users(db: Callable[[], Session], email: str) -> list[User]:
    with db() as session:
        return list(session.scalars(select(User).where(User.email == email)))


def test_staff_create_makes_an_account_that_signs_in_with_the_printed_password(
    run: Callable[..., Result], db: Callable[[], Session]
) -> None:
    result = run("staff", "create", "--email", " Erika.Muster@Stadt.example ", "--role", "caseworker")

    assert result.exit_code == 0, result.output
    password = result.stdout.split("Password (shown only this once): ")[1].strip()
    (user,) = _users(db, "erika.muster@stadt.example")
    assert user.role == "caseworker"
    assert user.display_name == "erika.muster"
    assert verify_password(user.password_hash, password)
    with db() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.object_id == str(user.id)))
    assert entry is not None
    assert entry.action == "staff_user.created"


def test_staff_create_reads_the_password_from_stdin_and_never_prints_it(
    run: Callable[..., Result], db: Callable[[], Session]
) -> None:
    secret = "a long and private passphrase"
    result = run(
        "staff", "create", "--email", "admin@stadt.example", "--role", "admin", "--name", "Ada", "--password-stdin",
        input=secret + "\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert secret not in result.output
    (user,) = _users(db, "admin@stadt.example")
    assert (user.role, user.display_name) == ("admin", "Ada")
    assert verify_password(user.password_hash, secret)


def test_staff_create_refuses_a_duplicate_whatever_its_case(
    run: Callable[..., Result], db: Callable[[], Session]
) -> None:
    assert run("staff", "create", "--email", "ana@stadt.example", "--role", "analyst").exit_code == 0

    again = run("staff", "create", "--email", "ANA@stadt.example", "--role", "admin")

    assert again.exit_code == 1
    assert "exists already" in again.stderr
    assert "Traceback" not in again.output
    (user,) = _users(db, "ana@stadt.example")
    assert user.role == "analyst"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("--role", "family"), 2, "'family' is not one of"),
        (("--role", "cashier"), 2, "'cashier' is not one of"),
        (("--role", "admin", "--password-stdin"), 1, "password"),
    ],
)
def test_staff_create_refuses_bad_input_and_stores_nothing(
    run: Callable[..., Result], db: Callable[[], Session], args: tuple[str, ...], status: int, message: str
) -> None:
    result = run("staff", "create", "--email", "x@stadt.example", *args, input="short\n")

    assert result.exit_code == status
    assert message in result.stderr
    assert _users(db, "x@stadt.example") == []


def test_staff_create_refuses_an_invalid_email(run: Callable[..., Result], db: Callable[[], Session]) -> None:
    result = run("staff", "create", "--email", "not-an-address", "--role", "admin")
    assert result.exit_code == 1
    assert "valid e-mail address" in result.stderr
    with db() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_db_upgrade_then_check_finds_no_drift_and_check_finds_a_missing_index(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"

    upgraded = run("db", "upgrade", FK_DATABASE_URL=url)
    checked = run("db", "check", FK_DATABASE_URL=url)

    assert upgraded.exit_code == 0, upgraded.output
    assert "latest version" in upgraded.stdout
    assert checked.exit_code == 0, checked.output
    assert "match" in checked.stdout

    engine = make_sync_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_emails_sent_at"))
    engine.dispose()
    drifted = run("db", "check", FK_DATABASE_URL=url)
    assert drifted.exit_code == 1
    assert "ix_emails_sent_at" in drifted.stdout


def test_db_check_on_an_unmigrated_database_says_to_upgrade(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("db", "check", FK_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.exit_code == 2
    assert "familienkarte db upgrade" in result.stderr


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("FK_TEST_DATABASE_URL"), reason="needs FK_TEST_DATABASE_URL")
def test_db_upgrade_then_check_on_postgresql(run: Callable[..., Result]) -> None:
    for url in _postgres_database(os.environ["FK_TEST_DATABASE_URL"]):
        assert run("db", "upgrade", FK_DATABASE_URL=url).exit_code == 0
        checked = run("db", "check", FK_DATABASE_URL=url)
        assert checked.exit_code == 0, checked.output
        assert "match" in checked.stdout


def test_keys_rotate_prints_the_new_kid_and_keys_list_shows_every_state(
    run: Callable[..., Result], db: Callable[[], Session]
) -> None:
    from familienkarte.credentials.services import record_issued

    assert run("keys", "list").stdout.startswith("No issuer keys yet")
    first = run("keys", "rotate")
    assert first.exit_code == 0, first.output
    first_kid = first.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{4}", first_kid)
    assert "now active" in first.stderr
    with db() as session, session.begin():
        record_issued(session, first_kid, int(time.time()) + 86400)
    second_kid = run("keys", "rotate").stdout.strip()
    third_kid = run("keys", "rotate").stdout.strip()  # the second key signed nothing: no longer published

    listed = run("keys", "list")

    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["kid", "state", "created", "retired", "last", "exp"]
    states = {row.split()[0]: row.split()[1] for row in rows}
    assert states == {third_kid: "active", second_kid: "expired", first_kid: "retired"}
    assert rows[0].startswith(third_kid)  # newest first
    assert rows[0].endswith("-")  # an active key has not retired, and has signed nothing yet
    with db() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "issuer_key.rotated")).all()
    assert sorted(e.object_id or "" for e in entries) == sorted([first_kid, second_kid, third_kid])
    assert {e.actor_role for e in entries} == {"system"}
