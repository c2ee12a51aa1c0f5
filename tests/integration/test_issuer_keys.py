"""Issuer keys in the database: one active key, encrypted at rest, rotation, and how long a key stays published."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from familienkarte import secretbox
from familienkarte.audit.models import AuditEntry
from familienkarte.credentials import CredentialClaims, issue_credential, keys_by_kid, present_printed
from familienkarte.credentials import services as keys
from familienkarte.credentials.errors import IssuerKeyUnreadable
from familienkarte.credentials.fk1 import Reason, verify_presentation
from familienkarte.credentials.models import IssuerKeyRecord
from familienkarte.db import utcnow

SECRET = "the deployment secret of a test, 32+ characters long"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
ONE_DAY = dt.timedelta(days=1)


def _claims(exp: dt.datetime, s: int = 7) -> CredentialClaims:
    return CredentialClaims(sub="K7M2Q9X4A", exp=int(exp.timestamp()), a=2, c=(201803, 202107), s=s)


def _valid(presentation: str, session: Session, now: dt.datetime) -> Reason:
    published = keys_by_kid(keys.published_keys(session, now))
    return verify_presentation(presentation, published, now.timestamp(), lambda _l, _s: 0).reason


def test_ensure_active_key_makes_one_short_key_once(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        kid = keys.ensure_active_key(session, SECRET, NOW)
        assert keys.ensure_active_key(session, SECRET, NOW) == kid
    with db() as session, session.begin():
        assert keys.ensure_active_key(session, SECRET) == kid
        assert keys.signing_key(session, SECRET).kid == kid
        rows = session.scalars(select(IssuerKeyRecord)).all()
    assert re.fullmatch(r"[A-Za-z0-9_-]{4}", kid)
    assert [(row.kid, row.active, row.activated_at, row.retired_at) for row in rows] == [(kid, True, NOW, None)]


def test_the_private_key_is_stored_only_encrypted(db: Callable[[], Session], sync_engine: Any) -> None:
    with db() as session, session.begin():
        key = keys.signing_key(session, SECRET)
    assert key.private_key is not None
    d = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    der = key.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    pem = key.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    with sync_engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM issuer_keys")).one()
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    for secret_form in (d, der, pem, pem.split(b"\n")[1]):
        assert secret_form not in stored
    # What is stored is the key, under the deployment secret.
    encrypted = bytes(row._mapping["private_key_encrypted"])
    assert secretbox.decrypt(SECRET, keys.SECRETBOX_PURPOSE, encrypted) == der


def test_another_deployment_secret_cannot_sign_and_says_so(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        kid = keys.ensure_active_key(session, SECRET)
    with db() as session, session.begin(), pytest.raises(IssuerKeyUnreadable) as caught:
        keys.signing_key(session, SECRET + " changed")
    assert caught.value.code == "issuer_key_unreadable"
    # The public half needs no secret: what was signed before still verifies.
    with db() as session:
        assert [k.kid for k in keys.published_keys(session, utcnow())] == [kid]
    # Rotation is the way out: the new key is made under the new secret.
    with db() as session, session.begin():
        new = keys.rotate_key(session, SECRET + " changed")
        assert keys.signing_key(session, SECRET + " changed").kid == new


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_while_its_credentials_live(
    db: Callable[[], Session],
) -> None:
    exp = NOW + 30 * ONE_DAY
    with db() as session, session.begin():
        keys.ensure_active_key(session, SECRET, now=NOW)  # made at NOW, not at the wall clock's time
        old_key = keys.signing_key(session, SECRET)
        printed = present_printed(issue_credential(_claims(exp), old_key))
        keys.record_issued(session, old_key.kid, int(exp.timestamp()))

    with db() as session, session.begin():
        new_kid = keys.rotate_key(session, SECRET, now=NOW + ONE_DAY)
        new_key = keys.signing_key(session, SECRET)
    assert new_kid == new_key.kid != old_key.kid
    new_printed = present_printed(issue_credential(_claims(NOW + 60 * ONE_DAY), new_key))

    with db() as session:
        # Until the old key's last credential has expired (with the verifiers' 60 s tolerance), both are published.
        for moment in (NOW + 2 * ONE_DAY, exp, exp + dt.timedelta(seconds=59)):
            assert {k.kid for k in keys.published_keys(session, moment)} == {old_key.kid, new_kid}
            assert _valid(printed, session, moment) == Reason.OK
            assert _valid(new_printed, session, moment) == Reason.OK
        # Then the old key goes; its credential had expired anyway.
        later = exp + dt.timedelta(seconds=60)
        assert [k.kid for k in keys.published_keys(session, later)] == [new_kid]
        assert _valid(printed, session, later) == Reason.UNKNOWN_KEY

        listed = {k.kid: k for k in keys.list_keys(session, NOW + 2 * ONE_DAY)}
        assert listed[new_kid].state == "active"
        assert listed[old_key.kid].state == "retired"
        assert listed[old_key.kid].retired_at == NOW + ONE_DAY
        assert listed[old_key.kid].last_exp == exp
        # By kid, not by position.
        listed_later = {k.kid: k for k in keys.list_keys(session, later)}
        assert listed_later[old_key.kid].state == "expired"
        assert not listed_later[old_key.kid].published
        assert listed_later[new_kid].state == "active"


def test_a_rotated_key_that_never_signed_is_not_published(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        first = keys.ensure_active_key(session, SECRET)
        second = keys.rotate_key(session, SECRET)
    with db() as session:
        assert [k.kid for k in keys.published_keys(session, utcnow())] == [second]
        assert [(k.kid, k.state) for k in keys.list_keys(session, utcnow())] == [(second, "active"), (first, "expired")]


def test_rotation_is_in_the_audit_log_as_the_system(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        first = keys.rotate_key(session, SECRET)
        second = keys.rotate_key(session, SECRET)
    with db() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.object_type, e.object_id, e.actor_role, e.actor_user_id) for e in entries] == [
        ("issuer_key.rotated", "issuer_key", first, "system", None),
        ("issuer_key.rotated", "issuer_key", second, "system", None),
    ]
    assert entries[0].details == {"retired_kid": None}
    assert entries[1].details == {"retired_kid": first}


def test_record_issued_only_ever_moves_last_exp_later(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        kid = keys.ensure_active_key(session, SECRET)
        keys.record_issued(session, kid, int((NOW + 10 * ONE_DAY).timestamp()))
        keys.record_issued(session, kid, int((NOW + ONE_DAY).timestamp()))
    with db() as session:
        assert keys.list_keys(session, NOW)[0].last_exp == NOW + 10 * ONE_DAY
    with db() as session, session.begin(), pytest.raises(ValueError, match="unknown issuer key"):
        keys.record_issued(session, "nope", int(NOW.timestamp()))


def test_the_database_refuses_a_second_active_key(db: Callable[[], Session]) -> None:
    with db() as session, session.begin():
        keys.ensure_active_key(session, SECRET)
    with db() as session, pytest.raises(IntegrityError), session.begin():
        session.add(
            IssuerKeyRecord(kid="zzzz", public_key=b"x", private_key_encrypted=b"x", active=True, activated_at=NOW)
        )


def test_concurrent_first_signings_make_one_key(db: Callable[[], Session]) -> None:
    # Eight transactions of their own find no key at once; one makes it, the others wait and use it.
    start = threading.Barrier(8)
    kids: list[str] = []
    errors: list[BaseException] = []

    def sign() -> None:
        try:
            start.wait()
            with db() as session, session.begin():
                kids.append(keys.signing_key(session, SECRET).kid)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=sign) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(kids) == 8
    assert len(set(kids)) == 1
    with db() as session:
        assert len(session.scalars(select(IssuerKeyRecord)).all()) == 1
