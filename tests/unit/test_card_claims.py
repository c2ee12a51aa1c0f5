"""The claims of a card's credentials: adults, children oldest first, expiry capped by the card's last day."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from familienkarte.cards.credentials import PHONE_LIFETIME, card_claims, end_of_validity
from familienkarte.cards.models import Card, Child, Household, HouseholdAdult
from familienkarte.credentials.fk1 import CredentialClaims, IssuerKey, encode_device_key, issue_credential

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def _card(valid_until: dt.date, valid_from: dt.date = dt.date(2026, 11, 23)) -> Card:
    return Card(id=uuid.uuid4(), number="7KX3QM9TB", status="active", valid_from=valid_from, valid_until=valid_until)


def _household() -> tuple[Household, list[HouseholdAdult], list[Child]]:
    household = Household(id=uuid.uuid4(), tier_claimed=True)
    adults = [HouseholdAdult(first_name="Anna", last_name="Muster"), HouseholdAdult(first_name="Ben", last_name="M")]
    children = [
        Child(first_name="Mia", birth_date=dt.date(2022, 3, 9), position=0),
        Child(first_name="", expected_date=dt.date(2027, 2, 1), position=1),
        Child(first_name="Tom", birth_date=dt.date(2015, 12, 31), position=2),
    ]
    return household, adults, children


def claims(card: Card, **kwargs: object) -> CredentialClaims:
    household, adults, children = _household()
    return card_claims(
        card,
        household,
        adults,
        children,
        NOW,
        timezone=BERLIN,
        status_list_id=3,
        status_index=4711,
        **kwargs,  # type: ignore[arg-type]
    )


def test_adults_children_oldest_first_and_the_status_entry() -> None:
    result = claims(_card(dt.date(2032, 11, 22)))
    assert result.sub == "7KX3QM9TB"
    assert (result.a, result.c) == (2, (201512, 202203, 202702))
    assert (result.l, result.s, result.e, result.k, result.nbf) == (3, 4711, 0, None, None)


def test_a_phone_credential_lives_thirty_days_at_most() -> None:
    result = claims(_card(dt.date(2032, 11, 22)))
    assert result.exp == int((NOW + PHONE_LIFETIME).timestamp())


def test_expiry_never_passes_the_end_of_the_last_valid_day_in_the_city() -> None:
    card = _card(dt.date(2026, 12, 1))
    result = claims(card)
    # Midnight after 1 December in Berlin (UTC+1) is 23:00 UTC on 1 December.
    assert result.exp == int(dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC).timestamp())
    assert end_of_validity(card, BERLIN) == dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)


def test_a_printed_credential_lives_as_long_as_the_card() -> None:
    result = claims(_card(dt.date(2032, 11, 22)), lifetime=None)
    assert result.exp == int(dt.datetime(2032, 11, 22, 23, 0, tzinfo=dt.UTC).timestamp())


def test_a_card_starting_later_carries_its_start() -> None:
    result = claims(_card(dt.date(2032, 11, 22), valid_from=dt.date(2026, 12, 1)))
    assert result.nbf == int(dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC).timestamp())


def test_the_claims_sign_into_a_credential_with_the_device_key() -> None:
    device = IssuerKey.generate("dev")
    k = encode_device_key(device.public_key)
    result = claims(_card(dt.date(2032, 11, 22)), device_key=k)
    assert result.problem() is None
    assert issue_credential(result, IssuerKey.generate("iss")).count(".") == 2
    assert result.to_payload()["k"] == k
