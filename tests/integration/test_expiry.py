"""The end of a card's validity: reminders, expiry, renewal by the family (service, web page, tasks)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from familienkarte.audit.models import AuditEntry
from familienkarte.cards import credentials, expiry
from familienkarte.cards.credential_models import CardCredential
from familienkarte.cards.eligibility import ChildFacts, anniversary, eligible_until
from familienkarte.cards.models import Card, Child, Household
from familienkarte.db import utcnow
from familienkarte.mail.models import Email
from familienkarte.settings import Settings
from tests.conftest import BASE_URL
from tests.helpers import make_test_settings, sign_in_as
from tests.integration.test_applications import KOELN
from tests.integration.test_card_credentials import SECRET, Family, Phone, activate, issue_family_card
from tests.workers_helpers import wait_until
from workers import tasks_expiry
from workers.celery_app import celery_app, configure

BERLIN = KOELN.timezone
END = dt.date(2027, 3, 1)


def berlin(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in Köln, as the aware UTC datetime the services take."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BERLIN).astimezone(dt.UTC)


def today() -> dt.date:
    return KOELN.today()


@pytest.fixture
def family(db: Callable[[], Session], make_user: Any) -> Family:
    family = issue_family_card(db, make_user)
    with db() as s, s.begin():
        s.execute(delete(Email))
    return family


def change_card(db: Callable[[], Session], family: Family, **fields: Any) -> None:
    with db() as s, s.begin():
        card = s.get(Card, family.card_id)
        assert card is not None
        for name, value in fields.items():
            setattr(card, name, value)


def change_household(db: Callable[[], Session], family: Family, **fields: Any) -> None:
    with db() as s, s.begin():
        card = s.get(Card, family.card_id)
        assert card is not None
        household = s.get(Household, card.household_id)
        assert household is not None
        for name, value in fields.items():
            setattr(household, name, value)


def set_children(db: Callable[[], Session], family: Family, *birth_dates: dt.date) -> None:
    """Replace the household's children by born children with these dates."""
    with db() as s, s.begin():
        card = s.get(Card, family.card_id)
        assert card is not None
        s.execute(delete(Child).where(Child.household_id == card.household_id))
        for position, born in enumerate(birth_dates):
            s.add(
                Child(household_id=card.household_id, position=position, first_name=f"Kind{position}", birth_date=born)
            )


def card(db: Callable[[], Session], family: Family) -> Card:
    with db() as s:
        row = s.get(Card, family.card_id)
        assert row is not None
        return row


def household(db: Callable[[], Session], family: Family) -> Household:
    with db() as s:
        row = s.get(Household, card(db, family).household_id)
        assert row is not None
        return row


def mails(db: Callable[[], Session]) -> list[Email]:
    with db() as s:
        return list(s.scalars(select(Email).order_by(Email.to_address)))


def remind(db: Callable[[], Session], now: dt.datetime) -> int:
    with db() as s, s.begin():
        return expiry.send_expiry_reminders(s, KOELN, now, BASE_URL)


def expire(db: Callable[[], Session], now: dt.datetime) -> int:
    with db() as s, s.begin():
        return expiry.expire_cards(s, KOELN, now, BASE_URL)


# Reminders -------------------------------------------------------------------------------------------------------


def test_the_reminder_goes_out_60_days_before_the_end_by_the_citys_clock(
    db: Callable[[], Session], family: Family
) -> None:
    change_card(db, family, valid_until=END)
    change_household(db, family, locale="en")
    day_61 = END - dt.timedelta(days=61)
    day_60 = END - dt.timedelta(days=60)
    # Late on day 61 in Köln: nothing yet.
    assert remind(db, berlin(day_61, 23, 30)) == 0
    assert mails(db) == []
    # Half past midnight on day 60 in Köln is still day 61 in UTC: the city's day counts.
    first_minute = berlin(day_60, 0, 30)
    assert first_minute.date() == day_61
    assert remind(db, first_minute) == 1

    sent = mails(db)
    assert [m.to_address for m in sent] == ["ayse.yilmaz@example.org", "jan.mueller@example.org"]
    assert {m.subject for m in sent} == {"Your family card ends on March 1, 2027: please renew it"}
    ayse, jan = sent
    assert "Hello Ayşe," in ayse.body_text
    assert "Hello Jan," in jan.body_text
    for message in sent:
        assert f"{BASE_URL}/card/renew" in message.body_text
        assert f"{BASE_URL}/card/data" in message.body_text
        assert "order a new printed card" in message.body_text
    # Each adult gets a sign-in link of their own.
    links = [re.findall(rf"{BASE_URL}/login/family/\S+", m.body_text) for m in sent]
    assert all(len(found) == 1 for found in links)
    assert links[0] != links[1]
    assert card(db, family).reminder_sent_at == first_minute

    # Idempotent: later runs within the window send nothing more.
    assert remind(db, first_minute + dt.timedelta(hours=1)) == 0
    assert remind(db, berlin(END, 12)) == 0
    assert len(mails(db)) == 2


def test_the_reminder_is_in_the_households_language(db: Callable[[], Session], family: Family) -> None:
    change_card(db, family, valid_until=END)
    change_household(db, family, locale="de")
    assert remind(db, berlin(END - dt.timedelta(days=10), 9)) == 1
    sent = mails(db)
    assert len(sent) == 2
    for message in sent:
        assert "1. März 2027" in message.body_text
        assert "March" not in message.body_text


def test_a_card_that_ends_with_the_youngest_child_is_not_offered_a_renewal(
    db: Callable[[], Session], family: Family
) -> None:
    born = dt.date(2009, 6, 1)
    set_children(db, family, born)
    change_household(db, family, locale="en")
    change_card(db, family, valid_until=dt.date(2027, 5, 31))
    assert remind(db, berlin(dt.date(2027, 5, 1), 9)) == 1
    sent = mails(db)
    assert {m.subject for m in sent} == {"Your family card ends on May 31, 2027"}
    assert all("cannot be renewed" in m.body_text for m in sent)


def test_erased_households_and_other_cards_get_no_reminder(db: Callable[[], Session], family: Family) -> None:
    change_card(db, family, valid_until=END)
    change_household(db, family, erased_at=utcnow())
    assert remind(db, berlin(END - dt.timedelta(days=5), 9)) == 0
    change_household(db, family, erased_at=None)
    change_card(db, family, status="suspended")
    assert remind(db, berlin(END - dt.timedelta(days=5), 9)) == 0
    # Already over: that is the expiry's e-mail, not a reminder.
    change_card(db, family, status="active")
    assert remind(db, berlin(END + dt.timedelta(days=1), 9)) == 0
    assert mails(db) == []


def test_reminders_go_out_in_batches_earliest_end_first(
    db: Callable[[], Session], make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    families = [
        issue_family_card(
            db,
            make_user,
            **{
                "adult-0-email": f"a{index}@example.org",
                "adult-1-email": f"b{index}@example.org",
                "adult-0-last_name": f"Name{index}",
                "adult-1-last_name": f"Other{index}",
                "street": f"Straße {index}",
            },
        )
        for index in range(3)
    ]
    for offset, member in zip((3, 1, 2), families, strict=True):
        change_card(db, member, valid_until=END + dt.timedelta(days=offset))
    monkeypatch.setattr(expiry, "BATCH", 2)
    now = berlin(END - dt.timedelta(days=30), 9)
    assert remind(db, now) == 2
    assert card(db, families[0]).reminder_sent_at is None
    assert card(db, families[1]).reminder_sent_at is not None
    assert card(db, families[2]).reminder_sent_at is not None
    assert remind(db, now) == 1
    assert card(db, families[0]).reminder_sent_at is not None
    assert remind(db, now) == 0


# Expiry ----------------------------------------------------------------------------------------------------------


def test_a_card_expires_when_its_last_day_has_passed_in_the_city(db: Callable[[], Session], family: Family) -> None:
    change_card(db, family, valid_until=END)
    change_household(db, family, locale="en")
    assert expire(db, berlin(END, 23, 59)) == 0
    assert card(db, family).status == "active"
    # Half past midnight in Köln, still the last day in UTC.
    after = berlin(END + dt.timedelta(days=1), 0, 30)
    assert after.date() == END
    assert expire(db, after) == 1

    row = card(db, family)
    assert row.status == "expired"
    assert row.status_changed_at == after
    assert row.status_reason == expiry.EXPIRED_REASON
    sent = mails(db)
    assert [m.to_address for m in sent] == ["ayse.yilmaz@example.org", "jan.mueller@example.org"]
    assert {m.subject for m in sent} == {"Your family card has expired"}
    assert all(f"{BASE_URL}/card/renew" in m.body_text and "February 29, 2028" in m.body_text for m in sent)
    with db() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "card.expired")).one().actor_role == "system"

    assert expire(db, after + dt.timedelta(hours=2)) == 0
    assert len(mails(db)) == 2
    assert card(db, family).status_changed_at == after


def test_an_erased_household_s_card_expires_without_mail(db: Callable[[], Session], family: Family) -> None:
    change_card(db, family, valid_until=END)
    change_household(db, family, erased_at=utcnow())
    assert expire(db, berlin(END + dt.timedelta(days=3), 9)) == 1
    assert card(db, family).status == "expired"
    assert mails(db) == []


# Renewal over the web --------------------------------------------------------------------------------------------


def page(client: TestClient[Litestar], family: Family) -> tuple[str, str]:
    """The renewal page in English (the texts the tests look for), signed in as the first adult."""
    client.headers["Accept-Language"] = "en"
    csrf = sign_in_as(client, family.users[0])
    response = client.get("/card/renew")
    assert response.status_code == 200, response.text
    return response.text, csrf


def post(client: TestClient[Litestar], csrf: str, **fields: str) -> Any:
    return client.post("/card/renew", data={"csrf_token": csrf, **fields}, follow_redirects=False)


CONFIRMED = {"main_residence": "on", "facts_confirmed": "on"}


def test_renewal_is_not_open_long_before_the_end(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    valid_until = card(db, family).valid_until
    html, csrf = page(client, family)
    assert 'data-state="not_yet"' in html
    assert "Venloer Straße 12a" in html
    assert 'action="/card/renew"' not in html
    response = post(client, csrf, **CONFIRMED)
    assert response.status_code == 409
    assert "can be renewed from" in response.text
    assert card(db, family).valid_until == valid_until


def test_a_family_renews_in_the_window_and_the_card_runs_longer(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    ends = today() + dt.timedelta(days=30)
    change_card(db, family, valid_until=ends, reminder_sent_at=utcnow())
    change_household(db, family, locale="en")
    html, csrf = page(client, family)
    assert 'data-state="open"' in html
    # The expected child (February 2027) keeps the family eligible beyond the cap: six years from today.
    new_end = anniversary(today(), KOELN.card_validity_years) - dt.timedelta(days=1)
    assert f"the card will be valid until {new_end.strftime('%B')} {new_end.day}, {new_end.year}" in html
    assert 'href="/card/data"' in html
    assert "Ayşe Yılmaz" in html
    assert "Jan Müller" in html

    response = post(client, csrf, **CONFIRMED)
    assert response.status_code == 303
    assert response.headers["location"] == "/card"
    row = card(db, family)
    assert row.valid_until == new_end
    assert row.status == "active"
    assert row.reminder_sent_at is None
    assert household(db, family).confirmed_at is not None
    with db() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "card.renewed")).one()
    assert entry.actor_user_id == family.users[0].id
    assert entry.details["valid_until"] == new_end.isoformat()
    assert entry.details["previous_valid_until"] == ends.isoformat()
    sent = mails(db)
    assert [m.to_address for m in sent] == ["ayse.yilmaz@example.org", "jan.mueller@example.org"]
    assert {m.subject for m in sent} == {"Your family card has been renewed"}
    assert all("order a new printed card" in m.body_text for m in sent)
    # The card page tells them.
    assert "Your family card has been renewed" in client.get("/card").text

    # Renewed: the window is closed again until the new end comes near.
    html, csrf = page(client, family)
    assert 'data-state="not_yet"' in html
    assert post(client, csrf, **CONFIRMED).status_code == 409


def test_an_expired_card_is_active_again_after_renewal(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    change_card(db, family, valid_until=today() - dt.timedelta(days=20), status="expired")
    html, csrf = page(client, family)
    assert 'data-state="open"' in html
    assert 'data-status="expired"' in html
    assert post(client, csrf, **CONFIRMED).status_code == 303
    row = card(db, family)
    assert row.status == "active"
    assert row.valid_until > today()
    assert row.status_reason == expiry.RENEWED_REASON


def test_both_confirmations_are_needed_and_each_is_named(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    change_card(db, family, valid_until=today() + dt.timedelta(days=5))
    change_household(db, family, locale="en")
    _html, csrf = page(client, family)
    response = post(client, csrf)
    assert response.status_code == 422
    text = response.text
    assert "Please confirm that your household&#39;s main residence is still in the city." in text
    assert "Please confirm that the details shown are right" in text
    assert 'href="#field-main_residence"' in text
    assert 'href="#field-facts_confirmed"' in text
    # The facts are still on the page shown again.
    assert "Venloer Straße 12a" in text

    response = post(client, csrf, main_residence="on")
    assert response.status_code == 422
    assert "main residence is still in the city" not in response.text
    assert 'href="#field-facts_confirmed"' in response.text
    assert 'id="field-main_residence" name="main_residence" type="checkbox" value="on" checked' in response.text
    row = card(db, family)
    assert row.valid_until == today() + dt.timedelta(days=5)
    assert mails(db) == []


def test_a_household_without_an_eligible_child_cannot_renew(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    set_children(db, family, anniversary(today(), -19), anniversary(today(), -20))
    change_card(db, family, valid_until=today() + dt.timedelta(days=10))
    html, csrf = page(client, family)
    assert 'id="renewal-problems"' in html
    response = post(client, csrf, **CONFIRMED)
    assert response.status_code == 422
    assert "No child is under 18" in response.text
    assert 'href="#field-children"' in response.text
    assert card(db, family).valid_until == today() + dt.timedelta(days=10)
    assert household(db, family).confirmed_at is None


def test_a_renewal_that_would_not_extend_the_card_is_refused(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    # The only child turns 18 in 20 days; the card already ends the day before.
    born = anniversary(today() + dt.timedelta(days=20), -18)
    set_children(db, family, born)
    last_day = eligible_until(KOELN.eligibility, ChildFacts("Kind0", born))
    assert last_day == today() + dt.timedelta(days=19)
    change_card(db, family, valid_until=last_day)
    html, csrf = page(client, family)
    assert 'id="renewal-outcome"' in html
    assert "would not extend the card" in html
    response = post(client, csrf, **CONFIRMED)
    assert response.status_code == 409
    assert "would not extend the card" in response.text
    assert card(db, family).valid_until == last_day


@pytest.mark.parametrize("status", ["suspended", "revoked"])
def test_a_suspended_or_revoked_card_cannot_be_renewed(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, status: str
) -> None:
    change_card(db, family, valid_until=today() + dt.timedelta(days=10), status=status)
    html, csrf = page(client, family)
    assert f'data-state="{status}"' in html
    assert 'action="/card/renew"' not in html
    response = post(client, csrf, **CONFIRMED)
    assert response.status_code == 409
    assert f"Your family card {'is suspended' if status == 'suspended' else 'has been revoked'}" in response.text
    row = card(db, family)
    assert (row.status, row.valid_until) == (status, today() + dt.timedelta(days=10))


def test_renewal_closes_a_year_after_the_end(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    change_card(db, family, valid_until=today() - dt.timedelta(days=expiry.RENEWAL_GRACE_DAYS + 1), status="expired")
    html, csrf = page(client, family)
    assert 'data-state="too_late"' in html
    assert post(client, csrf, **CONFIRMED).status_code == 409
    assert card(db, family).status == "expired"


def test_a_family_without_a_card_finds_no_renewal(client: TestClient[Litestar], make_user: Any) -> None:
    from familienkarte.accounts.roles import Role

    sign_in_as(client, make_user(Role.FAMILY))
    assert client.get("/card/renew").status_code == 404


def test_a_phone_renewed_after_the_renewal_carries_the_new_end(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    change_card(db, family, valid_until=today() + dt.timedelta(days=10))
    phone = Phone.new()
    issued = activate(db, family.principal(), phone)
    old_end = credentials.end_of_validity(card(db, family), BERLIN)
    assert issued.exp == int(old_end.timestamp())

    _html, csrf = page(client, family)
    assert post(client, csrf, **CONFIRMED).status_code == 303

    now = utcnow()
    with db() as s, s.begin():
        renewed = credentials.renew_phone(s, family.principal(), KOELN, issued.credential_id, now, SECRET)
    assert renewed.exp == int((now + credentials.PHONE_LIFETIME).timestamp())
    assert renewed.exp > issued.exp
    with db() as s:
        row = s.get(CardCredential, issued.credential_id)
        assert row is not None
        assert int(row.exp.timestamp()) == renewed.exp


# Tasks -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def worker_settings(migrated_db: str, tmp_path: Path) -> Settings:
    settings = make_test_settings(tmp_path / "worker", migrated_db, FK_BASE_URL=BASE_URL)
    configure(settings, configure_logs=False)
    return settings


def test_the_tasks_run_on_a_real_worker(db: Callable[[], Session], family: Family, worker_settings: Settings) -> None:
    change_card(db, family, valid_until=today() - dt.timedelta(days=1))
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
        tasks_expiry.expire.delay()
        wait_until(lambda: card(db, family).status == "expired", what="the card to expire")
        change_card(db, family, status="active", valid_until=today() + dt.timedelta(days=3))
        tasks_expiry.send_reminders.delay()
        wait_until(lambda: card(db, family).reminder_sent_at is not None, what="the reminder")
    with db() as s:
        subjects = [m.subject for m in s.scalars(select(Email).where(Email.to_address == "jan.mueller@example.org"))]
    # One e-mail about the expiry, one reminder.
    assert len(subjects) == 2, subjects


def test_the_tasks_are_idempotent_when_called_directly(
    db: Callable[[], Session], family: Family, worker_settings: Settings
) -> None:
    change_card(db, family, valid_until=today() + dt.timedelta(days=3))
    assert tasks_expiry.send_reminders() == 1
    assert tasks_expiry.send_reminders() == 0
    assert tasks_expiry.expire() == 0
    change_card(db, family, valid_until=today() - dt.timedelta(days=1))
    assert tasks_expiry.expire() == 1
    assert tasks_expiry.expire() == 0
    assert card(db, family).status == "expired"
