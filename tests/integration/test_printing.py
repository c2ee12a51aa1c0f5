"""Printed cards: ordered by the family or staff, made by the print worker, downloaded, verified and revoked."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pypdfium2 as pdfium
import pytest
import zxingcpp
from celery.contrib.testing.worker import start_worker
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.cards import printing
from familienkarte.cards.credential_models import CardCredential, PrintJob
from familienkarte.cards.models import Card, HouseholdAdult
from familienkarte.credentials import keys_from_jwks
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.fk1 import Reason, verify_presentation
from familienkarte.credentials.status_list import status_lookup, verify_status_list_token
from familienkarte.db import utcnow
from familienkarte.i18n import gettext, use_locale
from familienkarte.mail.models import Email
from familienkarte.outbox_wake import set_waker
from familienkarte.settings import Settings
from tests.conftest import BASE_URL
from tests.helpers import make_test_settings, sign_in_as
from tests.integration.test_applications import KOELN
from tests.integration.test_card_api import activate
from tests.integration.test_card_credentials import Family, Phone, issue_family_card
from tests.workers_helpers import wait_until
from workers import tasks_print
from workers.celery_app import celery_app, configure

ORDER = "/card/prints"
# Pages in English, so that the assertions read the texts as written in the code.
EN = "?lang=en"


@pytest.fixture
def family(db: Callable[[], Session], make_user: Any) -> Family:
    return issue_family_card(db, make_user)


# Helpers ------------------------------------------------------------------------------------------------------


def order_as_family(client: TestClient[Litestar], family: Family, index: int = 0) -> Any:
    csrf = sign_in_as(client, family.users[index])
    return client.post(ORDER + EN, data={"csrf_token": csrf}, follow_redirects=False)


def order_as_staff(client: TestClient[Litestar], user: Any, card_id: uuid.UUID) -> Any:
    csrf = sign_in_as(client, user)
    return client.post(f"/staff/cards/{card_id}/prints{EN}", data={"csrf_token": csrf}, follow_redirects=False)


def jobs(db: Callable[[], Session]) -> list[PrintJob]:
    with db() as s:
        return list(s.scalars(select(PrintJob).order_by(PrintJob.created_at)))


def render(db: Callable[[], Session], settings: Settings, job_id: uuid.UUID) -> str | None:
    with db() as s, s.begin():
        return printing.render_print_job(s, job_id, KOELN, settings.secret_key, utcnow(), base_url=BASE_URL)


def credential(db: Callable[[], Session], job_id: uuid.UUID) -> CardCredential:
    with db() as s:
        job = s.get(PrintJob, job_id)
        assert job is not None
        assert job.credential_id is not None
        row = s.get(CardCredential, job.credential_id)
        assert row is not None
        return row


def qr_text(pdf: bytes) -> str:
    image = pdfium.PdfDocument(pdf)[0].render(scale=300 / 72).to_pil()
    (code,) = zxingcpp.read_barcodes(image)
    return str(code.text)


def verify_online(client: TestClient[Litestar], text: str) -> Reason:
    """As a scanner does: the published keys and a fresh download of the signed status list."""
    keys = keys_from_jwks(client.get("/.well-known/jwks.json").json())
    response = client.get("/api/v1/status-lists/1")
    assert response.status_code == 200
    status_list = verify_status_list_token(
        response.text, keys, time.time(), expected_sub=f"{BASE_URL}/api/v1/status-lists/1"
    ).status_list
    return verify_presentation(text, keys, time.time(), status_lookup({1: status_list})).reason


def ordered_and_made(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> uuid.UUID:
    response = order_as_family(client, family)
    assert response.status_code == 303, response.text
    job_id = jobs(db)[-1].id
    assert render(db, settings, job_id) == "ready"
    return job_id


# Ordering ---------------------------------------------------------------------------------------------------


def test_the_family_orders_on_the_card_page(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    sign_in_as(client, family.users[0])
    page = client.get("/card?lang=en").text
    assert 'action="/card/prints"' in page
    assert "Partners may ask you for an identity document" in page
    assert 'href="/card/data"' in page

    woken: list[Any] = []
    previous = set_waker(printing.PRINT_TOPIC, woken.extend)
    try:
        response = order_as_family(client, family)
    finally:
        set_waker(printing.PRINT_TOPIC, previous)
    assert (response.status_code, response.headers["location"]) == (303, "/card")
    (job,) = jobs(db)
    assert (job.card_id, job.status, job.by_staff, job.requested_by_id) == (
        family.card_id,
        "queued",
        False,
        family.users[0].id,
    )
    assert woken == [job.id]
    with db() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "print_job.order")).one()
    assert (entry.object_id, entry.actor_user_id) == (str(job.id), family.users[0].id)

    page = client.get("/card?lang=en").text
    assert "Your printed card is being made" in page  # the flash
    assert 'data-state="queued"' in page
    assert 'action="/card/prints"' not in page  # no second order while one is being made
    assert "already being made" in page


def test_a_second_order_while_one_is_queued_is_refused(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    assert order_as_family(client, family, 0).status_code == 303
    # The other parent asks too, before the first one is made.
    response = order_as_family(client, family, 1)
    assert response.status_code == 409
    assert "A printed card is already being made for this family card" in response.text
    assert len(jobs(db)) == 1


def test_at_most_two_printed_cards_are_in_use(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    first = ordered_and_made(client, db, settings, family)
    ordered_and_made(client, db, settings, family)

    response = order_as_family(client, family)
    assert response.status_code == 409
    assert "A family card can have at most 2 printed cards in use" in response.text
    assert len(jobs(db)) == 2
    page = client.get("/card?lang=en").text
    assert 'action="/card/prints"' not in page
    assert "at most 2 printed cards" in page

    # Reporting one lost makes room for a new one.
    csrf = sign_in_as(client, family.users[0])
    lost = credential(db, first).id
    assert client.post(f"/card/credentials/{lost}/revoke", data={"csrf_token": csrf}).status_code == 200
    assert order_as_family(client, family).status_code == 303


def test_an_expired_printed_card_no_longer_counts_nor_downloads(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    first = ordered_and_made(client, db, settings, family)
    ordered_and_made(client, db, settings, family)
    # The card was renewed: the first printed card keeps its old end date, which has now passed.
    with db() as s, s.begin():
        s.execute(
            update(CardCredential)
            .where(CardCredential.id == credential(db, first).id)
            .values(exp=utcnow() - dt.timedelta(days=1))
        )
    sign_in_as(client, family.users[0])
    assert client.get(f"/card/prints/{first}/card.pdf").status_code == 404
    page = client.get("/card?lang=en").text
    assert 'data-state="expired"' in page
    assert order_as_family(client, family).status_code == 303


def test_the_cap_also_holds_when_the_worker_makes_the_card(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    ordered_and_made(client, db, settings, family)
    assert order_as_family(client, family).status_code == 303
    # A second order that slipped past the check (two requests at once) is queued as well.
    with db() as s, s.begin():
        s.add(PrintJob(card_id=family.card_id, requested_by_id=family.users[1].id))
    queued = [job.id for job in jobs(db) if job.status == "queued"]
    assert [render(db, settings, job_id) for job_id in queued] == ["ready", "failed"]
    failed = [job for job in jobs(db) if job.status == "failed"]
    assert failed[0].error == printing.CAP_REACHED
    with db() as s:
        assert s.scalar(select(func.count()).select_from(CardCredential)) == 2


def test_no_order_for_a_card_that_is_not_active(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, make_user: Any
) -> None:
    # Ordered while active, suspended before the worker got to it: the job fails with a clear error.
    assert order_as_family(client, family).status_code == 303
    with db() as s, s.begin():
        s.execute(update(Card).where(Card.id == family.card_id).values(status="suspended"))
    (job,) = jobs(db)
    assert render(db, settings, job.id) == "failed"
    (job,) = jobs(db)
    assert (job.status, job.error, job.credential_id, job.pdf) == ("failed", printing.NOT_ACTIVE_ANY_MORE, None, None)

    response = order_as_family(client, family)
    assert response.status_code == 409
    assert "The family card is suspended, revoked or expired" in response.text
    response = order_as_staff(client, make_user(Role.CASEWORKER), family.card_id)
    assert response.status_code == 409
    assert len(jobs(db)) == 1
    sign_in_as(client, family.users[0])
    page = client.get("/card?lang=en").text
    assert 'data-state="failed"' in page
    assert "The family card was no longer active when the printed card was to be made." in page


def test_a_family_without_a_card_cannot_order(client: TestClient[Litestar], make_user: Any) -> None:
    csrf = sign_in_as(client, make_user(Role.FAMILY))
    response = client.post(ORDER + EN, data={"csrf_token": csrf})
    assert response.status_code == 404
    assert "There is no family card for you yet" in response.text


def test_ordering_needs_the_csrf_token(client: TestClient[Litestar], db: Callable[[], Session], family: Family) -> None:
    sign_in_as(client, family.users[0])
    assert client.post(ORDER, data={}).status_code == 403
    assert jobs(db) == []


# Making and downloading -------------------------------------------------------------------------------------


def test_the_worker_makes_a_printed_credential_the_family_downloads(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    assert order_as_family(client, family, 1).status_code == 303
    (job,) = jobs(db)
    assert render(db, settings, job.id) == "ready"

    row = credential(db, job.id)
    with db() as s:
        ben = s.scalars(select(HouseholdAdult).where(HouseholdAdult.user_id == family.users[1].id)).one()
        card = s.get(Card, family.card_id)
        assert card is not None
    assert (row.kind, row.device_key, row.adult_id, row.status) == ("printed", None, ben.id, "active")

    response = client.get(f"/card/prints/{job.id}/card.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="familienkarte-{card.number}.pdf"'
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"%PDF-")

    text = qr_text(response.content)
    assert verify_online(client, text) is Reason.OK
    keys = keys_from_jwks(client.get("/.well-known/jwks.json").json())
    result = verify_presentation(text, keys, time.time(), lambda _l, _s: 0)
    assert result.claims is not None
    assert result.claims.k is None
    assert (result.claims.sub, result.claims.l, result.claims.s) == (
        card.number,
        row.status_list_id,
        row.status_index,
    )
    page_text = pdfium.PdfDocument(response.content)[0].get_textpage().get_text_range()
    assert f"{card.number[:3]} {card.number[3:6]} {card.number[6:]}" in page_text
    assert "Venloer Straße 12a" in page_text

    # Both adults are told, in the household's language (German), where to download it.
    with db() as s:
        mails = s.scalars(select(Email).order_by(Email.to_address)).all()
        printed = [m for m in mails if f"{BASE_URL}/card" in m.body_text]
    assert sorted(m.to_address for m in printed) == ["ayse.yilmaz@example.org", "jan.mueller@example.org"]
    with use_locale("de"):
        subject = gettext("Your printed family card is ready")
    assert {m.subject for m in printed} == {subject}
    ayse = next(m for m in printed if m.to_address.startswith("ayse"))
    assert "Ayşe" in ayse.body_text
    assert "Köln" in ayse.body_text

    page = client.get("/card?lang=en").text
    assert f'href="/card/prints/{job.id}/card.pdf"' in page
    assert 'data-state="ready"' in page


def test_making_a_job_twice_makes_one_card(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    job_id = ordered_and_made(client, db, settings, family)
    pdf = jobs(db)[0].pdf
    assert render(db, settings, job_id) == "ready"
    assert render(db, settings, uuid.uuid4()) is None
    with db() as s:
        assert s.scalar(select(func.count()).select_from(CardCredential)) == 1
        assert s.scalar(select(func.count()).select_from(Email).where(Email.body_text.contains("/card"))) == 2
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "credential.print"))
    assert jobs(db)[0].pdf == pdf
    assert jobs(db)[0].attempts == 1


def test_another_familys_printed_card_is_not_found(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, make_user: Any
) -> None:
    job_id = ordered_and_made(client, db, settings, family)
    other = issue_family_card(
        db,
        make_user,
        **{
            "adult-0-email": "other@example.org",
            "adult-1-email": "other2@example.org",
            "street": "Aachener Straße",
            "house_number": "1",
        },
    )
    sign_in_as(client, other.users[0])
    assert client.get(f"/card/prints/{job_id}/card.pdf").status_code == 404
    assert client.get(f"/card/prints/{uuid.uuid4()}/card.pdf").status_code == 404
    # Staff find it under its own card only.
    sign_in_as(client, make_user(Role.CASEWORKER))
    assert client.get(f"/staff/cards/{other.card_id}/prints/{job_id}/card.pdf").status_code == 404
    assert client.get(f"/staff/cards/{family.card_id}/prints/{job_id}/card.pdf").status_code == 200


def test_a_queued_job_cannot_be_downloaded_yet(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family
) -> None:
    assert order_as_family(client, family).status_code == 303
    (job,) = jobs(db)
    assert client.get(f"/card/prints/{job.id}/card.pdf").status_code == 404


# Staff ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ADMIN])
def test_staff_order_a_printed_card_for_the_family(
    client: TestClient[Litestar],
    db: Callable[[], Session],
    settings: Settings,
    family: Family,
    make_user: Any,
    role: Role,
) -> None:
    staff = make_user(role)
    response = order_as_staff(client, staff, family.card_id)
    assert (response.status_code, response.headers["location"]) == (303, f"/staff/cards/{family.card_id}")
    (job,) = jobs(db)
    assert (job.by_staff, job.requested_by_id) == (True, staff.id)
    assert render(db, settings, job.id) == "ready"
    row = credential(db, job.id)
    assert (row.kind, row.adult_id) == ("printed", None)

    response = client.get(f"/staff/cards/{family.card_id}/prints/{job.id}/card.pdf")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["cache-control"] == "no-store"
    assert verify_online(client, qr_text(response.content)) is Reason.OK
    # The family downloads it as well.
    sign_in_as(client, family.users[0])
    assert client.get(f"/card/prints/{job.id}/card.pdf").content == response.content
    with db() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "print_job.order")).one().actor_user_id == (
            staff.id
        )


def test_staff_order_for_an_unknown_card_is_404(client: TestClient[Litestar], make_user: Any) -> None:
    assert order_as_staff(client, make_user(Role.CASEWORKER), uuid.uuid4()).status_code == 404


@pytest.mark.parametrize("role", [Role.PARTNER_MANAGER, Role.ANALYST, Role.CASHIER, Role.FAMILY])
def test_other_roles_cannot_order_for_a_card(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, make_user: Any, role: Role
) -> None:
    assert order_as_staff(client, make_user(role), family.card_id).status_code == 403
    assert jobs(db) == []


class _Request:
    """What the fragment needs of a request: a scope holding the session (for the CSRF field)."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}


def test_the_staff_fragment_lists_the_orders(
    app: Litestar, db: Callable[[], Session], settings: Settings, client: TestClient[Litestar], family: Family
) -> None:
    job_id = ordered_and_made(client, db, settings, family)
    assert order_as_family(client, family).status_code == 303
    with db() as s:
        prints = printing.list_print_jobs(s, family.card_id)
    assert [p.state for p in prints] == ["queued", "ready"]
    engine = app.template_engine
    assert engine is not None
    with use_locale("en"):
        html = engine.get_template("staff_cards/_print.html").render(
            card_id=family.card_id, prints=prints, request=_Request()
        )
    assert f'action="/staff/cards/{family.card_id}/prints"' in html
    assert 'name="csrf_token"' in html
    assert f'href="/staff/cards/{family.card_id}/prints/{job_id}/card.pdf"' in html
    assert html.count("card.pdf") == 1  # the queued one has nothing to download yet
    assert "Being made" in html


# Revoking ---------------------------------------------------------------------------------------------------


def test_a_lost_printed_card_is_revoked_alone(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    phone = Phone.new()
    csrf = sign_in_as(client, family.users[0])
    issued = activate(client, csrf, phone)
    job_id = ordered_and_made(client, db, settings, family)
    sign_in_as(client, family.users[0])
    printed = qr_text(client.get(f"/card/prints/{job_id}/card.pdf").content)
    assert verify_online(client, printed) is Reason.OK

    # The other parent reports the printed card lost on the card page.
    csrf = sign_in_as(client, family.users[1])
    lost = credential(db, job_id).id
    response = client.post(f"/card/credentials/{lost}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303

    assert verify_online(client, printed) is Reason.REVOKED
    assert verify_online(client, phone.present(issued["credential"], int(time.time()))) is Reason.OK
    assert client.get(f"/card/prints/{job_id}/card.pdf").status_code == 404
    page = client.get("/card?lang=en").text
    assert 'data-state="removed"' in page
    assert f"/card/prints/{job_id}/card.pdf" not in page


def test_revoking_one_phone_leaves_the_other_holders_phone_and_the_printed_card_valid(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    first, second = Phone.new(), Phone.new()
    first_issued = activate(client, sign_in_as(client, family.users[0]), first)
    second_issued = activate(client, sign_in_as(client, family.users[1]), second)
    job_id = ordered_and_made(client, db, settings, family)
    sign_in_as(client, family.users[0])
    printed = qr_text(client.get(f"/card/prints/{job_id}/card.pdf").content)

    # The first adult's phone is lost; they remove it on the card page.
    csrf = sign_in_as(client, family.users[0])
    lost = first_issued["credential_id"]
    response = client.post(f"/card/credentials/{lost}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303

    t = int(time.time())
    assert verify_online(client, first.present(first_issued["credential"], t)) is Reason.REVOKED
    assert verify_online(client, second.present(second_issued["credential"], t)) is Reason.OK
    assert verify_online(client, printed) is Reason.OK


# The worker -------------------------------------------------------------------------------------------------


def test_the_task_makes_the_card_and_gives_up_on_a_broken_job(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, monkeypatch: Any
) -> None:
    configure(settings, configure_logs=False)
    assert order_as_family(client, family).status_code == 303
    (job,) = jobs(db)
    assert tasks_print.render_card(str(job.id)) == "ready"
    assert tasks_print.render_card(str(job.id)) == "ready"
    assert credential(db, job.id).kind == "printed"

    # An error that retrying cannot mend fails the job, so the family is not stuck with an order forever.
    assert order_as_family(client, family).status_code == 303
    broken = jobs(db)[-1].id

    def broken_pdf(_facts: Any) -> bytes:
        raise RuntimeError("printer on fire")

    monkeypatch.setattr(printing, "render_printed_card", broken_pdf)
    with pytest.raises(RuntimeError):
        tasks_print.render_card(str(broken))
    with db() as s:
        row = s.get(PrintJob, broken)
        assert row is not None
        assert (row.status, row.error, row.attempts) == ("failed", printing.RENDER_FAILED, 1)
        assert s.scalar(select(func.count()).select_from(CardCredential)) == 1  # nothing half-stored


def test_the_sweep_finds_jobs_whose_wake_up_was_lost(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family
) -> None:
    assert order_as_family(client, family).status_code == 303
    (job,) = jobs(db)
    with db() as s:
        assert printing.queued_print_job_ids(s, utcnow()) == [job.id]
        assert printing.queued_print_job_ids(s, job.created_at) == []


@pytest.fixture(scope="module")
def worker_settings(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_test_settings(tmp_path_factory.mktemp("print-worker"), migrated_db, FK_BASE_URL=BASE_URL)


@pytest.fixture(scope="module")
def worker(worker_settings: Settings) -> Iterator[Any]:
    configure(worker_settings, configure_logs=False)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30) as w:
        yield w


def test_a_real_worker_makes_the_card_right_after_the_order(
    db: Callable[[], Session], family: Family, worker: Any
) -> None:
    previous = set_waker(printing.PRINT_TOPIC, tasks_print.PRINT_WAKER)
    try:
        with db() as s, s.begin():
            job_id = printing.order_printed_card(s, family.principal(), KOELN, utcnow())

        def made() -> bool:
            with db() as s:
                return s.scalar(select(PrintJob.status).where(PrintJob.id == job_id)) == "ready"

        wait_until(made, timeout=20, what="the printed card")
    finally:
        set_waker(printing.PRINT_TOPIC, previous)
    row = credential(db, job_id)
    assert row.kind == "printed"
    with db() as s:
        pdf = s.scalar(select(PrintJob.pdf).where(PrintJob.id == job_id))
        assert pdf is not None
        keys = {key.kid: key for key in credential_services.published_keys(s, utcnow())}
        result = verify_presentation(qr_text(pdf), keys, time.time(), credential_services.status_lookup(s))
    assert result.reason is Reason.OK
