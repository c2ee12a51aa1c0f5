"""Status lists: allocating entries, revoking and suspending, the signed list served at once, and its worker."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from familienkarte.credentials import (
    CredentialClaims,
    issue_credential,
    keys_from_jwks,
    present_printed,
    verify_presentation,
    verify_status_list_token,
)
from familienkarte.credentials import services as lists
from familienkarte.credentials.errors import StatusAlreadyRevoked, StatusEntryNotFound, StatusListNotFound
from familienkarte.credentials.fk1 import Reason
from familienkarte.credentials.models import StatusListRecord
from familienkarte.credentials.status_list import REVOKED, SUSPENDED, VALID, StatusListToken
from familienkarte.db import utcnow
from familienkarte.outbox_wake import set_waker
from familienkarte.settings import Settings
from tests.conftest import BASE_URL
from tests.helpers import make_test_settings
from tests.workers_helpers import wait_until
from workers import tasks
from workers.celery_app import celery_app, configure

SECRET = "the deployment secret of a test, 32+ characters long"


def _allocate(db: Callable[[], Session], count: int = 1) -> list[tuple[int, int]]:
    with db() as session, session.begin():
        return [lists.allocate_status_index(session) for _ in range(count)]


def _set(db: Callable[[], Session], list_id: int, index: int, status: int) -> bool:
    with db() as session, session.begin():
        return lists.set_status(session, list_id, index, status)


def _row(db: Callable[[], Session], list_id: int = 1) -> StatusListRecord:
    with db() as session:
        row = session.get(StatusListRecord, list_id)
        assert row is not None
        return row


# The permutation behind the indexes ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 17, 100, 1000, 4096, 5000])
def test_the_index_permutation_is_a_permutation_and_can_be_undone(size: int) -> None:
    key = secrets.token_bytes(32)
    positions = [lists.permuted_index(key, size, n) for n in range(size)]
    assert sorted(positions) == list(range(size))
    assert [lists.permuted_index(key, size, p, inverse=True) for p in positions] == list(range(size))
    with pytest.raises(ValueError, match="outside"):
        lists.permuted_index(key, size, size)


def test_another_key_gives_another_order() -> None:
    first = [lists.permuted_index(b"a" * 32, 1 << 17, n) for n in range(20)]
    second = [lists.permuted_index(b"b" * 32, 1 << 17, n) for n in range(20)]
    assert first != second


# Allocation -----------------------------------------------------------------------------------------------------


def test_sequential_allocations_are_unique_and_do_not_reveal_their_order(db: Callable[[], Session]) -> None:
    entries = _allocate(db, 400)

    assert len(set(entries)) == 400
    assert {list_id for list_id, _ in entries} == {1}
    indexes = [index for _, index in entries]
    assert all(0 <= index < lists.STATUS_LIST_SIZE for index in indexes)
    # In issuance order the indexes go up and down like random numbers: about half of the steps go down.
    downs = sum(1 for a, b in itertools.pairwise(indexes) if b < a)
    assert 120 < downs < 280, downs
    # And they are spread over the whole list, not packed at its start.
    assert max(indexes) > lists.STATUS_LIST_SIZE // 2 > min(indexes)
    row = _row(db)
    assert (row.id, row.size, row.allocated, len(row.bits)) == (1, lists.STATUS_LIST_SIZE, 400, 1 << 15)


def test_concurrent_allocations_in_transactions_of_their_own_are_unique(db: Callable[[], Session]) -> None:
    start = threading.Barrier(8)
    found: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def allocate() -> None:
        try:
            start.wait()
            for _ in range(5):
                with db() as session, session.begin():
                    found.append(lists.allocate_status_index(session))
                    time.sleep(0.005)  # the transaction goes on after the allocation, as issuing a card does
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(found) == 40
    assert len(set(found)) == 40
    assert _row(db).allocated == 40


def test_a_list_90_percent_full_makes_way_for_the_next(db: Callable[[], Session]) -> None:
    (first,) = _allocate(db)
    capacity = lists.STATUS_LIST_SIZE * 90 // 100
    with db() as session, session.begin():
        session.execute(update(StatusListRecord).values(allocated=capacity - 1))

    last_of_first, first_of_second, second_of_second = _allocate(db, 3)

    assert first[0] == last_of_first[0] == 1
    assert first_of_second[0] == second_of_second[0] == 2
    assert _row(db, 1).allocated == capacity
    assert _row(db, 2).allocated == 2
    assert _row(db, 1).index_key != _row(db, 2).index_key


# Changing entries -----------------------------------------------------------------------------------------------


def test_set_status_changes_one_entry_and_marks_the_list(db: Callable[[], Session]) -> None:
    (entry, neighbour) = _allocate(db, 2)
    version = _row(db).version

    assert _set(db, *entry, SUSPENDED) is True
    assert _set(db, *entry, SUSPENDED) is False  # the same again changes nothing
    row = _row(db)
    assert row.version == version + 1
    with db() as session:
        lookup = lists.status_lookup(session)
        assert lookup(*entry) == SUSPENDED
        assert lookup(*neighbour) == VALID

    assert _set(db, *entry, VALID) is True  # a suspension can be lifted
    assert _set(db, *entry, REVOKED) is True
    with pytest.raises(StatusAlreadyRevoked):
        _set(db, *entry, VALID)  # revocation is final
    with db() as session:
        assert lists.status_lookup(session)(*entry) == REVOKED


def test_set_status_refuses_what_is_not_an_entry(db: Callable[[], Session]) -> None:
    (entry,) = _allocate(db)
    taken = {entry[1]}
    unused = next(i for i in range(lists.STATUS_LIST_SIZE) if i not in taken)
    with pytest.raises(StatusListNotFound):
        _set(db, 2, entry[1], REVOKED)
    with pytest.raises(StatusEntryNotFound):
        _set(db, 1, unused, REVOKED)  # never handed out: no credential has it
    with pytest.raises(StatusEntryNotFound):
        _set(db, 1, lists.STATUS_LIST_SIZE, REVOKED)
    with pytest.raises(ValueError, match="status"):
        _set(db, *entry, 3)
    assert _row(db).version == 1


def test_the_lookup_fails_closed_for_unknown_lists_and_indexes(db: Callable[[], Session]) -> None:
    _allocate(db)
    with db() as session:
        lookup = lists.status_lookup(session)
        assert lookup(2, 0) == REVOKED
        assert lookup(0, 0) == REVOKED
        assert lookup(1, lists.STATUS_LIST_SIZE) == REVOKED
        assert lookup(1, -1) == REVOKED
        assert lookup(2**40, 0) == REVOKED


def test_verification_sees_revocation_and_suspension_through_the_database(db: Callable[[], Session]) -> None:
    now = utcnow()
    with db() as session, session.begin():
        key = lists.signing_key(session, SECRET)
        presentations = []
        for _ in range(2):
            list_id, index = lists.allocate_status_index(session)
            claims = CredentialClaims(sub="K7M2Q9X4A", exp=int(now.timestamp()) + 3600, a=1, c=(201803,), s=index)
            assert list_id == claims.l
            presentations.append((index, present_printed(issue_credential(claims, key))))
    keys = {key.kid: key.public_only()}

    def reasons() -> list[Reason]:
        with db() as session:
            lookup = lists.status_lookup(session)
            return [verify_presentation(text, keys, now.timestamp(), lookup).reason for _, text in presentations]

    assert reasons() == [Reason.OK, Reason.OK]
    _set(db, 1, presentations[0][0], REVOKED)
    _set(db, 1, presentations[1][0], SUSPENDED)
    assert reasons() == [Reason.REVOKED, Reason.SUSPENDED]
    _set(db, 1, presentations[1][0], VALID)
    assert reasons() == [Reason.REVOKED, Reason.OK]


# The signed list over HTTP --------------------------------------------------------------------------------------


def _directives(cache_control: str) -> set[str]:
    return {part.strip() for part in cache_control.split(",")}


def _download(client: TestClient[Litestar], list_id: int = 1) -> tuple[str, StatusListToken]:
    response = client.get(f"/api/v1/status-lists/{list_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/statuslist+jwt"
    assert _directives(response.headers["cache-control"]) == {"public", f"max-age={lists.TOKEN_TTL}"}
    assert response.headers["access-control-allow-origin"] == "*"
    keys = keys_from_jwks(client.get("/.well-known/jwks.json").json())
    verified = verify_status_list_token(
        response.text, keys, time.time(), expected_sub=f"{BASE_URL}/api/v1/status-lists/{list_id}"
    )
    return response.text, verified


def test_a_change_is_in_the_next_download_at_once_without_a_worker(
    client: TestClient[Litestar], db: Callable[[], Session]
) -> None:
    first, second = _allocate(db, 2)
    token, verified = _download(client)
    assert verified.status_list.get(first[1]) == VALID
    assert verified.ttl == lists.TOKEN_TTL
    assert verified.exp is not None
    assert verified.exp - verified.iat == lists.TOKEN_LIFETIME
    assert _download(client)[0] == token  # unchanged: the cached token is served

    _set(db, *first, REVOKED)
    changed, verified = _download(client)

    assert changed != token
    assert verified.status_list.get(first[1]) == REVOKED
    assert verified.status_list.get(second[1]) == VALID
    _set(db, *second, SUSPENDED)
    assert _download(client)[1].status_list.get(second[1]) == SUSPENDED
    row = _row(db)
    assert row.token_version == row.version


def test_the_first_download_signs_the_list(client: TestClient[Litestar], db: Callable[[], Session]) -> None:
    _allocate(db)
    assert _row(db).token is None
    token, _ = _download(client)
    assert _row(db).token == token


@pytest.mark.parametrize("path", ["/api/v1/status-lists/2", "/api/v1/status-lists/0", "/api/v1/status-lists/-1"])
def test_an_unknown_list_is_a_404_problem(client: TestClient[Litestar], db: Callable[[], Session], path: str) -> None:
    _allocate(db)
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "status_list_not_found"
    assert "public" not in response.headers.get("cache-control", "")


def test_a_list_id_beyond_any_integer_column_is_a_404_not_a_crash(client: TestClient[Litestar]) -> None:
    response = client.get(f"/api/v1/status-lists/{2**63}")
    assert response.status_code == 404


def test_a_list_that_cannot_be_signed_is_a_503_never_an_old_list(
    client: TestClient[Litestar], db: Callable[[], Session]
) -> None:
    (entry,) = _allocate(db)
    _download(client)
    # The active key was made under another deployment secret (FK_SECRET_KEY was changed).
    with db() as session, session.begin():
        lists.rotate_key(session, SECRET)
    _set(db, *entry, REVOKED)

    response = client.get("/api/v1/status-lists/1")

    assert response.status_code == 503
    assert response.json()["code"] == "issuer_key_unreadable"
    assert "public" not in response.headers.get("cache-control", "")


# The worker -----------------------------------------------------------------------------------------------------


def test_the_task_signs_what_changed_and_only_that(
    db: Callable[[], Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(settings, configure_logs=False)
    (entry,) = _allocate(db)

    assert tasks.refresh_status_lists() == [1]  # never signed yet
    assert tasks.refresh_status_lists() == []  # idempotent: nothing is due
    token = _row(db).token

    _set(db, *entry, SUSPENDED)
    assert tasks.refresh_status_lists() == [1]
    row = _row(db)
    assert row.token != token
    assert row.token_version == row.version
    assert row.token is not None
    keys = {key.kid: key for key in _published(db)}
    verified = verify_status_list_token(row.token, keys, time.time())
    assert verified.status_list.get(entry[1]) == SUSPENDED

    # A token an hour old is signed again, so that a download always has most of its day left.
    with db() as session, session.begin():
        session.execute(update(StatusListRecord).values(token_iat=utcnow() - lists.TOKEN_MAX_AGE))
    assert tasks.refresh_status_lists() == [1]
    assert tasks.refresh_status_lists() == []


def _published(db: Callable[[], Session]) -> list[Any]:
    with db() as session:
        return lists.published_keys(session, utcnow())


def test_a_committed_change_wakes_the_worker_and_a_rolled_back_one_does_not(db: Callable[[], Session]) -> None:
    (entry, other) = _allocate(db, 2)
    woken: list[Any] = []
    previous = set_waker(lists.STATUS_LISTS_TOPIC, woken.extend)
    try:
        with db() as session:
            with session.begin():
                lists.set_status(session, *entry, SUSPENDED)
                lists.set_status(session, *other, SUSPENDED)
            assert woken == [1]  # once per list and commit
            session.begin()
            lists.set_status(session, *entry, REVOKED)
            session.rollback()
        assert woken == [1]
    finally:
        set_waker(lists.STATUS_LISTS_TOPIC, previous)


@pytest.fixture(scope="module")
def worker_settings(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_test_settings(tmp_path_factory.mktemp("status-worker"), migrated_db, FK_BASE_URL=BASE_URL)


@pytest.fixture(scope="module")
def worker(worker_settings: Settings) -> Iterator[Any]:
    configure(worker_settings, configure_logs=False)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30) as w:
        yield w


def test_a_real_worker_signs_the_list_right_after_the_change(
    db: Callable[[], Session], worker: Any, worker_settings: Settings, tmp_path: Path
) -> None:
    (entry,) = _allocate(db)
    previous = set_waker(lists.STATUS_LISTS_TOPIC, tasks.STATUS_LIST_WAKER)
    try:
        _set(db, *entry, REVOKED)
        wait_until(lambda: _row(db).token_version == _row(db).version, timeout=15, what="the signed list")
    finally:
        set_waker(lists.STATUS_LISTS_TOPIC, previous)
    row = _row(db)
    assert row.token is not None
    keys = {key.kid: key for key in _published(db)}
    verified = verify_status_list_token(row.token, keys, time.time(), expected_sub=f"{BASE_URL}/api/v1/status-lists/1")
    assert verified.status_list.get(entry[1]) == REVOKED
    assert dt.datetime.fromtimestamp(verified.iat, dt.UTC) <= utcnow()
    with db() as session:
        assert session.scalar(select(StatusListRecord.token_version).where(StatusListRecord.id == 1)) == row.version
