"""What a web process remembers for verifying (credentials.services.VerifierCache), and how soon a change counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from familienkarte.credentials import services as credential_services
from familienkarte.credentials.fk1 import CredentialClaims, IssuerKey, issue_credential, present_printed
from familienkarte.credentials.models import IssuerKeyRecord, StatusListRecord
from familienkarte.credentials.services import (
    KEYS_CACHE_SECONDS,
    STATUS_CACHE_SECONDS,
    VERIFIER_CACHE,
    VerifierCache,
)
from familienkarte.credentials.status_list import StatusList
from tests.integration.test_card_credentials import SECRET, now
from tests.integration.test_verifications import Till, make_till, phone_code, scan, signed, status_entry

Client = TestClient[Litestar]


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(credential_services, "_monotonic", clock)
    return clock


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    return make_till(db, make_user)


def set_entry_elsewhere(sync_engine: Engine, entry: tuple[int, int], status: int) -> None:
    """Change a status entry as another process would: plain statements, unseen by this process's sessions."""
    list_id, index = entry
    with sync_engine.begin() as conn:
        bits = conn.scalar(select(StatusListRecord.bits).where(StatusListRecord.id == list_id))
        assert bits is not None
        entries = StatusList.from_bytes(bytes(bits))
        entries.set(index, status)
        conn.execute(update(StatusListRecord).where(StatusListRecord.id == list_id).values(bits=entries.to_bytes()))


def test_a_card_revoked_elsewhere_is_refused_within_the_status_cache_time(
    client: Client, db: Callable[[], Session], till: Till, sync_engine: Engine, clock: Clock
) -> None:
    entry = status_entry(db)
    text = signed(db, till.number, status=entry)
    assert scan(client, till, text=text)["reason"] == "ok"
    set_entry_elsewhere(sync_engine, entry, 1)
    clock.now += STATUS_CACHE_SECONDS - 0.5
    assert scan(client, till, text=text)["reason"] == "ok"  # remembered: not read again yet
    clock.now += 0.5
    assert scan(client, till, text=text)["reason"] == "revoked"


def test_a_card_revoked_in_this_process_is_refused_at_once(
    client: Client, db: Callable[[], Session], till: Till, clock: Clock
) -> None:
    entry = status_entry(db)
    text = signed(db, till.number, status=entry)
    assert scan(client, till, text=text)["reason"] == "ok"
    with db() as s, s.begin():
        credential_services.set_status(s, *entry, 2)
    assert scan(client, till, text=text)["reason"] == "suspended"


def test_a_new_credential_verifies_at_once_while_its_list_is_remembered(
    client: Client, db: Callable[[], Session], till: Till, clock: Clock
) -> None:
    assert scan(client, till, text=phone_code(db, till))["reason"] == "ok"
    # A new phone: a new entry of the remembered list (and its key), made after the list was read.
    assert scan(client, till, text=phone_code(db, till))["reason"] == "ok"


def test_a_list_or_index_not_remembered_is_read_at_once(db: Callable[[], Session], clock: Clock) -> None:
    cache = VerifierCache()
    entry = status_entry(db)
    with db() as s:
        s.info[VERIFIER_CACHE] = cache
        assert credential_services.status_lookup(s)(*entry) == 0
    assert cache.status_list(entry[0]) is not None
    with db() as s, s.begin():
        # A second list, opened by another process after the first was remembered.
        s.add(
            StatusListRecord(
                id=entry[0] + 1,
                size=8,
                bits=bytes([0b0000_0100, 0]),
                allocated=2,
                index_key=b"k" * 32,
                version=1,
                created_at=now(),
                updated_at=now(),
            )
        )
    with db() as s:
        s.info[VERIFIER_CACHE] = cache
        lookup = credential_services.status_lookup(s)
        assert lookup(entry[0] + 1, 1) == 1
        assert lookup(entry[0] + 1, 0) == 0
        assert lookup(entry[0] + 1, 8) == 1  # beyond the list: revoked (fail closed), as without the cache
        assert lookup(entry[0] + 2, 0) == 1  # no such list


def test_a_key_made_active_elsewhere_verifies_at_once(
    client: Client, db: Callable[[], Session], till: Till, sync_engine: Engine, clock: Clock
) -> None:
    assert scan(client, till, text=signed(db, till.number))["reason"] == "ok"
    # Another process rotates the key: a new active key, inserted with plain statements.
    new = IssuerKey.generate("nEw1")
    with sync_engine.begin() as conn:
        conn.execute(update(IssuerKeyRecord).values(active=None, retired_at=now()))
        conn.execute(
            insert(IssuerKeyRecord).values(
                kid=new.kid,
                public_key=credential_services._public_point(new.public_key),
                private_key_encrypted=b"not needed here",
                active=True,
                created_at=now(),
                activated_at=now(),
            )
        )
    with db() as s:
        list_id, index = credential_services.allocate_status_index(s, now())
        s.commit()
    exp = int(now().timestamp()) + 86400
    claims = CredentialClaims(sub=till.number, exp=exp, s=index, l=list_id, a=2, c=(201904,), e=0)
    text = present_printed(issue_credential(claims, new))
    clock.now += KEYS_CACHE_SECONDS - 0.5
    # The remembered keys lack the new one: the verifier reads them again instead of refusing.
    assert scan(client, till, text=text)["reason"] == "ok"
    # A key that is nowhere is still refused.
    stranger = present_printed(issue_credential(claims, IssuerKey.generate("zZz9")))
    assert scan(client, till, text=stranger)["reason"] == "unknown_key"


def test_a_key_rotated_in_this_process_verifies_at_once(
    client: Client, db: Callable[[], Session], till: Till, clock: Clock
) -> None:
    assert scan(client, till, text=signed(db, till.number))["reason"] == "ok"
    with db() as s, s.begin():
        credential_services.rotate_key(s, SECRET)
    # signed() signs with the active key: the new one.
    assert scan(client, till, text=signed(db, till.number))["reason"] == "ok"


def test_without_a_cache_every_lookup_reads_the_database(
    db: Callable[[], Session], sync_engine: Engine, clock: Clock
) -> None:
    entry = status_entry(db)
    with db() as s:
        assert credential_services.status_lookup(s)(*entry) == 0
    set_entry_elsewhere(sync_engine, entry, 1)
    with db() as s:
        assert credential_services.status_lookup(s)(*entry) == 1
