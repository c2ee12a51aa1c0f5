"""Putting the card on phones, renewing and revoking credentials: the service on the real database."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.cards import credentials, services
from familienkarte.cards.credential_models import CardCredential
from familienkarte.cards.models import Card, HouseholdAdult
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.fk1 import (
    Reason,
    VerificationResult,
    b64url_encode,
    encode_device_key,
    present_phone,
    present_printed,
    verify_presentation,
)
from familienkarte.credentials.models import StatusListRecord
from familienkarte.errors import InvalidInput
from tests.conftest import BASE_URL
from tests.integration.test_applications import KOELN, form, submit

SECRET = "the deployment secret of a test, 32+ characters long"


@dataclass(frozen=True)
class Family:
    card_id: uuid.UUID
    users: list[User]

    def principal(self, index: int = 0) -> Principal:
        return principal_for_user(self.users[index])


def issue_family_card(db: Callable[[], Session], make_user: Any, **changes: str) -> Family:
    """A household of two adults applies and is approved today: its card and the adults' family users."""
    return approved_family_card(db, make_user, KOELN.today(), **changes)


def approved_family_card(db: Callable[[], Session], make_user: Any, approved: dt.date, **changes: str) -> Family:
    """A household of two adults applies and is approved on ``approved``: its card and the adults' users."""
    received = submit(db, form(locale="de", **changes))
    caseworker = principal_for_user(make_user(Role.CASEWORKER))
    with db() as s, s.begin():
        card = services.approve_application(
            s, KOELN, caseworker, received.application_id, base_url=BASE_URL, today=approved
        )
        card_id = card.id
    with db() as s:
        adults = s.scalars(
            select(HouseholdAdult).where(HouseholdAdult.household_id == card.household_id).order_by("position")
        ).all()
        users = [s.get(User, adult.user_id) for adult in adults]
    return Family(card_id, [u for u in users if u is not None])


@dataclass(frozen=True)
class Phone:
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def new(cls) -> Phone:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def k(self) -> str:
        return encode_device_key(self.private_key.public_key())

    def present(self, credential: str, t: int) -> str:
        return present_phone(credential, t, self.private_key)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def activate(db: Callable[[], Session], principal: Principal, phone: Phone, name: str | None = "Phone") -> Any:
    with db() as s, s.begin():
        return credentials.activate_phone(s, principal, KOELN, phone.k, name, now(), SECRET)


def verify(db: Callable[[], Session], text: str, at: float | None = None) -> VerificationResult:
    with db() as s:
        keys = {key.kid: key for key in credential_services.published_keys(s, now())}
        return verify_presentation(text, keys, at or now().timestamp(), credential_services.status_lookup(s))


def stored(db: Callable[[], Session]) -> tuple[int, int]:
    with db() as s:
        count = s.scalar(select(func.count()).select_from(CardCredential)) or 0
        allocated = s.scalar(select(func.coalesce(func.sum(StatusListRecord.allocated), 0))) or 0
        return count, allocated


@pytest.fixture
def family(db: Callable[[], Session], make_user: Any) -> Family:
    return issue_family_card(db, make_user)


def test_an_activated_phone_presents_a_code_that_verifies(db: Callable[[], Session], family: Family) -> None:
    phone = Phone.new()
    issued = activate(db, family.principal(), phone)
    t = int(now().timestamp())
    result = verify(db, phone.present(issued.credential, t))
    assert result.reason is Reason.OK, result
    assert result.presentation_kind == "phone"
    claims = result.claims
    assert claims is not None
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
        row = s.get(CardCredential, issued.credential_id)
        assert row is not None
    assert claims.sub == card.number
    assert claims.a == 2
    # The born child (April 2019) before the expected one (February 2027).
    assert claims.c == (201904, 202702)
    assert claims.k == phone.k
    assert claims.exp == issued.exp <= credentials.end_of_validity(card, KOELN.timezone).timestamp()
    assert issued.exp <= t + credentials.PHONE_LIFETIME.total_seconds()
    assert (claims.l, claims.s) == (row.status_list_id, row.status_index)
    assert (row.kind, row.device_key, row.device_name, row.status) == ("phone", phone.k, "Phone", "active")
    assert row.adult_id is not None


def test_the_issuing_key_stays_published_until_the_credential_expires(
    db: Callable[[], Session], family: Family
) -> None:
    issued = activate(db, family.principal(), Phone.new())
    with db() as s:
        row = s.get(CardCredential, issued.credential_id)
        assert row is not None
        keys = {key.kid for key in credential_services.published_keys(s, row.exp - dt.timedelta(seconds=1))}
    assert row.kid in keys


def test_a_bare_phone_credential_and_another_phones_proof_are_refused(
    db: Callable[[], Session], family: Family
) -> None:
    phone = Phone.new()
    issued = activate(db, family.principal(), phone)
    assert verify(db, present_printed(issued.credential)).reason is Reason.PRESENTATION_MISSING
    thief = Phone.new()
    assert verify(db, thief.present(issued.credential, int(now().timestamp()))).reason is Reason.BAD_PROOF


def test_activation_is_audited_without_key_material(db: Callable[[], Session], family: Family) -> None:
    phone = Phone.new()
    issued = activate(db, family.principal(), phone)
    with db() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "credential.activate")).one()
    assert entry.object_id == str(issued.credential_id)
    assert entry.actor_user_id == family.users[0].id
    assert phone.k not in str(entry.details)
    assert issued.credential not in str(entry.details)


def test_each_adult_gets_an_entry_of_their_own_and_revoking_one_leaves_the_other(
    db: Callable[[], Session], family: Family
) -> None:
    anna, ben = Phone.new(), Phone.new()
    first = activate(db, family.principal(0), anna)
    second = activate(db, family.principal(1), ben)
    with db() as s:
        rows = [s.get(CardCredential, first.credential_id), s.get(CardCredential, second.credential_id)]
    entries = {(r.status_list_id, r.status_index) for r in rows if r is not None}
    assert len(entries) == 2
    assert rows[0] is not None
    assert rows[1] is not None
    assert rows[0].adult_id != rows[1].adult_id

    # The second adult reports the first one's phone as lost.
    with db() as s, s.begin():
        assert credentials.revoke_credential(s, family.principal(1), first.credential_id, now())
    t = int(now().timestamp())
    assert verify(db, anna.present(first.credential, t)).reason is Reason.REVOKED
    assert verify(db, ben.present(second.credential, t)).reason is Reason.OK
    with db() as s:
        row = s.get(CardCredential, first.credential_id)
        assert row is not None
        assert (row.status, row.revoked_by_id) == ("revoked", family.users[1].id)
        assert row.revoked_at is not None
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "credential.revoke")).one()
    # Again: no error, nothing changes.
    with db() as s, s.begin():
        assert not credentials.revoke_credential(s, family.principal(1), first.credential_id, now())


def test_renewal_keeps_the_key_and_the_entry_and_a_revoked_phone_cannot_renew(
    db: Callable[[], Session], family: Family
) -> None:
    phone = Phone.new()
    issued = activate(db, family.principal(), phone)
    later = now() + dt.timedelta(days=2)
    with db() as s, s.begin():
        renewed = credentials.renew_phone(s, family.principal(), KOELN, issued.credential_id, later, SECRET)
    assert renewed.credential_id == issued.credential_id
    assert renewed.exp > issued.exp
    result = verify(db, phone.present(renewed.credential, int(now().timestamp())))
    assert result.reason is Reason.OK
    first = verify(db, phone.present(issued.credential, int(now().timestamp()))).claims
    assert result.claims is not None
    assert first is not None
    assert (result.claims.l, result.claims.s, result.claims.k) == (first.l, first.s, first.k)
    with pytest.raises(credentials.CredentialNotFound), db() as s, s.begin():
        credentials.renew_phone(s, family.principal(1), KOELN, issued.credential_id, now(), SECRET)
    with db() as s, s.begin():
        credentials.revoke_credential(s, family.principal(), issued.credential_id, now())
    with pytest.raises(credentials.CredentialNotActive), db() as s, s.begin():
        credentials.renew_phone(s, family.principal(), KOELN, issued.credential_id, now(), SECRET)


def _compressed_off_curve() -> str:
    # x = 5 has no point on P-256 (5^3 - 3*5 + b is not a square mod p); prefix 02 makes it look compressed.
    for x in range(1, 100):
        raw = b"\x02" + x.to_bytes(32, "big")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            return b64url_encode(raw)
    raise AssertionError("no x off the curve found")


def bad_device_keys() -> dict[str, object]:
    uncompressed = (
        ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    other_curve = (
        ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    )
    return {
        "missing": None,
        "empty": "",
        "not base64url": "not+base64/url==",
        "uncompressed 65 bytes": b64url_encode(uncompressed),
        "not on the curve": _compressed_off_curve(),
        "another curve": b64url_encode(other_curve),
        "not text": 12345,
    }


@pytest.mark.parametrize("case", list(bad_device_keys()))
def test_a_bad_device_key_is_refused_and_nothing_is_stored(
    db: Callable[[], Session], family: Family, case: str
) -> None:
    before = stored(db)
    with pytest.raises(InvalidInput) as info, db() as s, s.begin():
        credentials.activate_phone(s, family.principal(), KOELN, bad_device_keys()[case], None, now(), SECRET)
    assert [e.field for e in info.value.errors] == ["device_key"]
    assert stored(db) == before


def test_a_device_name_is_checked(db: Callable[[], Session], family: Family) -> None:
    with pytest.raises(InvalidInput) as info, db() as s, s.begin():
        credentials.activate_phone(s, family.principal(), KOELN, Phone.new().k, "x" * 61, now(), SECRET)
    assert [e.field for e in info.value.errors] == ["device_name"]


def test_at_most_five_phones_per_adult(db: Callable[[], Session], family: Family) -> None:
    for _ in range(credentials.MAX_PHONE_DEVICES):
        activate(db, family.principal(), Phone.new())
    before = stored(db)
    with pytest.raises(credentials.TooManyDevices), db() as s, s.begin():
        credentials.activate_phone(s, family.principal(), KOELN, Phone.new().k, None, now(), SECRET)
    assert stored(db) == before
    activate(db, family.principal(1), Phone.new())  # the other adult has phones of their own


def test_a_family_without_a_card_or_with_a_suspended_one(
    db: Callable[[], Session], family: Family, make_user: Any
) -> None:
    lonely = principal_for_user(make_user(Role.FAMILY))
    with db() as s:
        assert credentials.find_card_view(s, lonely, KOELN, now()) is None
        with pytest.raises(credentials.NoCard):
            credentials.card_view(s, lonely, KOELN, now())
    with pytest.raises(credentials.CardNotActive), db() as s, s.begin():
        credentials.activate_phone(s, lonely, KOELN, Phone.new().k, None, now(), SECRET)
    with db() as s, s.begin():
        card = s.get(Card, family.card_id)
        assert card is not None
        card.status = "suspended"
    with pytest.raises(credentials.CardNotActive), db() as s, s.begin():
        credentials.activate_phone(s, family.principal(), KOELN, Phone.new().k, None, now(), SECRET)


def test_another_familys_credential_is_not_found(db: Callable[[], Session], family: Family, make_user: Any) -> None:
    other = issue_family_card(
        db,
        make_user,
        street="Neusser Straße",
        postal_code="50733",
        **{
            "adult-0-email": "a@example.org",
            "adult-1-email": "b@example.org",
            "adult-0-last_name": "Other",
            "adult-1-last_name": "Other",
        },
    )
    issued = activate(db, other.principal(), Phone.new())
    with pytest.raises(credentials.CredentialNotFound), db() as s, s.begin():
        credentials.revoke_credential(s, family.principal(), issued.credential_id, now())
    with pytest.raises(credentials.CredentialNotFound), db() as s, s.begin():
        credentials.renew_phone(s, family.principal(), KOELN, issued.credential_id, now(), SECRET)
    with pytest.raises(credentials.CredentialNotFound), db() as s, s.begin():
        credentials.revoke_credential(s, family.principal(), uuid.uuid4(), now())


def test_the_card_view_shows_the_facts_in_the_city(db: Callable[[], Session], family: Family) -> None:
    activate(db, family.principal(1), Phone.new(), name="Jans Handy")
    with db() as s:
        view = credentials.card_view(s, family.principal(), KOELN, now())
    assert view.holders == ["Ayşe Yılmaz", "Jan Müller"]
    today = KOELN.today()
    age = today.year - 2019 - ((today.month, today.day) < (4, 12))
    assert [(c.first_name, c.age) for c in view.children] == [("Emre", age)]
    assert (view.status, view.city) == ("active", KOELN.name)
    assert [(c.device_name, c.holder, c.own) for c in view.credentials] == [("Jans Handy", "Jan Müller", False)]
