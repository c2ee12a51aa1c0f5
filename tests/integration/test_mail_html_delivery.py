"""Every e-mail reaches a real SMTP server (aiosmtpd) as text and HTML in the language it was written in, with its
attachments (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.accounts.services import send_set_password_link
from familienkarte.mail.models import Email, EmailAttachment
from familienkarte.mail.sending import transport_from_settings
from familienkarte.mail.services import Attachment, queue_email, send_email
from familienkarte.settings import Settings
from tests.helpers import make_test_settings
from tests.workers_helpers import SmtpServer

Factory = Callable[[], Session]
SENDER = "Familienkarte Köln <familienkarte@stadt.example>"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(migrated_db: str, tmp_path: Path, smtp: SmtpServer) -> Settings:
    smtp.clear()
    return make_test_settings(
        tmp_path, migrated_db, FK_MAIL_FROM=SENDER, FK_SMTP_HOST="127.0.0.1", FK_SMTP_PORT=str(smtp.port)
    )


def deliver(db: Factory, settings: Settings, email_id: uuid.UUID) -> None:
    with db() as session, session.begin():
        assert send_email(session, email_id, transport_from_settings(settings)).status == "sent"


def received(smtp: SmtpServer, address: str) -> EmailMessage:
    [message] = smtp.to(address)
    return message.message


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    # SMTP carries lines ending in CRLF.
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def test_a_german_email_arrives_with_text_and_html_and_names_stay_text(
    db: Factory, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    name = "Mia <script>alert(1)</script>"
    with db() as session, session.begin(), i18n.use_locale("de"):
        email_id = queue_email(
            session,
            to="familie@example.org",
            subject=f"Hallo {name}",
            body_text=f"Hallo {name},\n\nIhre Karte: https://stadt.example/karte\n",
        ).id

    deliver(db, smtp_settings, email_id)

    message = received(smtp, "familie@example.org")
    assert message.get_content_type() == "multipart/alternative"
    assert message["Content-Language"] == "de"
    text, html = parts(message)
    assert text == f"Hallo {name},\n\nIhre Karte: https://stadt.example/karte\n"
    assert '<html lang="de" dir="ltr">' in html
    assert "<script>" not in html
    assert "Hallo Mia &lt;script&gt;alert(1)&lt;/script&gt;," in html
    assert "<title>Hallo Mia &lt;script&gt;" in html
    assert '<a href="https://stadt.example/karte"' in html
    # The header names the configured city (Köln by default); the chrome is German.
    assert ">Köln</p>" in html
    assert ">Familienkarte</p>" in html


def test_an_arabic_email_arrives_right_to_left(db: Factory, smtp: SmtpServer, smtp_settings: Settings) -> None:
    with db() as session, session.begin():
        email_id = queue_email(
            session,
            to="usra@example.org",
            subject="بطاقة العائلة",
            body_text="مرحبا <b>سارة</b>،\n\nبطاقتك جاهزة.\n",
            locale="ar",
        ).id

    deliver(db, smtp_settings, email_id)

    message = received(smtp, "usra@example.org")
    assert message["Subject"] == "بطاقة العائلة"
    assert message["Content-Language"] == "ar"
    text, html = parts(message)
    assert text == "مرحبا <b>سارة</b>،\n\nبطاقتك جاهزة.\n"
    assert '<html lang="ar" dir="rtl">' in html
    assert '<div lang="ar" dir="rtl"' in html
    assert "مرحبا &lt;b&gt;سارة&lt;/b&gt;،" in html


def test_an_existing_caller_gets_html_in_the_recipients_language_without_asking(
    db: Factory, smtp: SmtpServer, smtp_settings: Settings, make_user: Callable[..., User]
) -> None:
    # The invitation of a partner user: written under the user's language by the accounts service.
    user = make_user(Role.PARTNER_OWNER, email="owner@zoo.example", locale="en")
    with db() as session, session.begin():
        link = send_set_password_link(
            session, session.get_one(User, user.id), base_url="https://stadt.example", invitation=True
        )
        email_id = session.scalars(select(Email.id).where(Email.to_address == "owner@zoo.example")).one()

    deliver(db, smtp_settings, email_id)

    text, html = parts(received(smtp, "owner@zoo.example"))
    assert link in text
    assert '<html lang="en" dir="ltr">' in html
    assert f'<a href="{link}"' in html


def test_attachments_arrive_with_the_email_on_every_attempt(
    db: Factory, smtp: SmtpServer, smtp_settings: Settings
) -> None:
    files = [
        Attachment("bericht-2026-07.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
        Attachment("zahlen.csv", "text/csv", "Vorteil;Einlösungen\nZoo;7\n".encode()),
    ]
    with db() as session, session.begin(), i18n.use_locale("de"):
        email_id = queue_email(
            session, to="partner@example.org", subject="Bericht", body_text="Anbei.", attachments=files
        ).id

    deliver(db, smtp_settings, email_id)

    message = received(smtp, "partner@example.org")
    assert message.get_content_type() == "multipart/mixed"
    text, html = parts(message)
    assert text.strip() == "Anbei."
    assert '<p style="margin:0 0 16px 0;">Anbei.</p>' in html
    attached = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attached] == [
        ("bericht-2026-07.pdf", "application/pdf"),
        ("zahlen.csv", "text/csv"),
    ]
    assert attached[0].get_payload(decode=True) == files[0].content
    assert attached[1].get_payload(decode=True) == files[1].content


def test_a_repeated_queue_stores_the_attachments_once_and_a_deleted_email_takes_them_along(db: Factory) -> None:
    pdf = Attachment("a.pdf", "application/pdf", b"%PDF")
    with db() as session, session.begin():
        first = queue_email(session, to="a@example.org", subject="x", body_text="x", dedupe_key="k", attachments=[pdf])
        again = queue_email(session, to="a@example.org", subject="x", body_text="x", dedupe_key="k", attachments=[pdf])
        assert again.id == first.id
    with db() as session, session.begin():
        assert len(session.scalars(select(EmailAttachment)).all()) == 1
        session.delete(session.get_one(Email, first.id))
    with db() as session:
        assert session.scalars(select(EmailAttachment)).all() == []
