"""The rules of the family's data rights that need no database: what an erased audit entry keeps, the deletion's
confirmation, and the address carried in an e-mail change link."""

from __future__ import annotations

import uuid

import pytest

from familienkarte import i18n
from familienkarte.cards import family_data
from familienkarte.cards.models import Card
from familienkarte.credentials.card_numbers import format_card_number, new_card_number
from familienkarte.errors import InvalidInput

PERSONAL = family_data._personal_strings(["Ayşe", "Yılmaz", "ayse@example.org", "Venloer Straße", "Annas Handy"])


def test_erased_audit_details_keep_ids_and_codes_only() -> None:
    card_id = str(uuid.uuid4())
    details = {
        "card_id": card_id,
        "kind": "phone",
        "device_name": "Annas Handy",
        "reason": "Frau Yılmaz hat angerufen",
        "old_email": "ayse@example.org",
        "district": "Ehrenfeld",
        "automatic": False,
        "count": 2,
        "nested": {"household_id": card_id, "note": "x"},
        "not_an_id": "Ayşe",
    }
    assert family_data._scrubbed(None, details, PERSONAL) == {
        "card_id": card_id,
        "kind": "phone",
        "device_name": family_data.ERASED,
        "reason": family_data.ERASED,
        "old_email": family_data.ERASED,
        "district": "Ehrenfeld",
        "automatic": False,
        "count": 2,
        "nested": {"household_id": card_id, "note": family_data.ERASED},
        "not_an_id": family_data.ERASED,
    }


def test_a_code_that_mentions_a_person_is_erased_too() -> None:
    assert family_data._scrubbed(None, {"status": "by ayşe"}, PERSONAL) == {"status": family_data.ERASED}
    assert family_data._scrubbed(None, {"card_id": "Ayşe"}, PERSONAL) == {"card_id": family_data.ERASED}


NUMBER = new_card_number()


def _card() -> Card:
    return Card(number=NUMBER)


@pytest.mark.parametrize(
    "typed",
    ["DELETE", " delete ", format_card_number(NUMBER), NUMBER.lower(), format_card_number(NUMBER, "-"), NUMBER],
)
def test_the_deletion_is_confirmed_by_the_word_or_the_card_number(typed: str) -> None:
    family_data._check_confirmation(typed, _card())


def test_the_word_counts_in_every_offered_language() -> None:
    for locale in i18n.SUPPORTED_LOCALES:
        with i18n.use_locale(locale):
            word = i18n.gettext(family_data.CONFIRM_WORD)
        with i18n.use_locale("en"):
            family_data._check_confirmation(word.lower(), None)


@pytest.mark.parametrize(
    ("word", "typed"), [("USUŃ", "usun"), ("SİL", "sil"), ("SİL", "SIL"), ("ВИДАЛИТИ", "видалити")]
)
def test_the_word_counts_without_accents_and_case(word: str, typed: str) -> None:
    # Typed on a keyboard without the language's letters; Turkish İ casefolds with a combining dot.
    assert family_data._confirmation_key(typed) == family_data._confirmation_key(word)


def test_accents_do_not_make_other_words_equal() -> None:
    assert family_data._confirmation_key("USUŃ") != family_data._confirmation_key("USUNG")


@pytest.mark.parametrize("typed", ["", "   ", "yes", "7KX3QM9TB", NUMBER[:-1], "DELETE NOW"])
def test_anything_else_is_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(InvalidInput) as info:
        family_data._check_confirmation(typed, _card())
    assert [e.field for e in info.value.errors] == ["confirmation"]


def test_without_a_card_only_the_word_confirms() -> None:
    with pytest.raises(InvalidInput):
        family_data._check_confirmation(NUMBER, None)


@pytest.mark.parametrize("address", ["a@example.org", "ünïcode.name+tag@example.org", "x" * 300 + "@example.org"])
def test_the_link_carries_the_new_address(address: str) -> None:
    token = f"random.{family_data._encode_address(address)}"
    assert family_data._decode_address(token) == address


@pytest.mark.parametrize("token", ["", "no-dot", "random.", "random.!!!", "random.//79"])
def test_a_mangled_link_has_no_address(token: str) -> None:
    assert family_data._decode_address(token) is None
