"""The HTML part of every e-mail and the attachments: what a mail program shows and what it offers to open."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import uuid
from email.message import EmailMessage

import pytest

from familienkarte import i18n
from familienkarte.mail.html import header_title, html_for_text, linkify, paragraphs
from familienkarte.mail.models import Email, EmailAttachment
from familienkarte.mail.sending import compose
from familienkarte.mail.services import Attachment

SENDER = "Familienkarte Köln <familienkarte@stadt.example>"
BODY = (
    "Hallo <script>alert('x')</script> Schmitz & Co,\n\n"
    "öffnen Sie diesen Link:\n\nhttps://stadt.example/login/family/abc?x=1&y=2.\n\n"
    "Viele Grüße\nIhre Stadt\n"
)


def _email(**fields: object) -> Email:
    values: dict[str, object] = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "to_address": "familie@example.org",
        "subject": "Ihr Anmeldelink <b>",
        "body_text": BODY,
        "body_html": None,
        "locale": "de",
        "created_at": dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC),
    }
    values.update(fields)
    return Email(**values)


def _reparsed(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def test_an_email_with_a_language_goes_out_as_text_and_html() -> None:
    message = _reparsed(compose(_email(), SENDER, "stadt.example", city_name="Köln"))

    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Content-Language"] == "de"
    text = message.get_body(("plain",))
    assert text is not None
    assert text.get_content() == BODY
    html = _html(message)
    assert '<html lang="de" dir="ltr">' in html
    assert '<div lang="de" dir="ltr"' in html
    # The city's name is the header; the link is clickable; the paragraphs of the text are paragraphs.
    assert ">Köln</p>" in html
    assert '<a href="https://stadt.example/login/family/abc?x=1&amp;y=2"' in html
    assert html.count('<p style="margin:0 0 16px 0;">') == 4
    assert "Viele Grüße<br>\nIhre Stadt" in html


def test_whatever_the_text_contains_stays_text_in_the_html() -> None:
    html = _html(compose(_email(), SENDER, "stadt.example", city_name="Köln <i>"))

    assert "<script>" not in html
    assert "Hallo &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Schmitz &amp; Co," in html
    assert "<title>Ihr Anmeldelink &lt;b&gt;</title>" in html
    assert "Köln &lt;i&gt;" in html
    assert "<i>" not in html


def test_arabic_is_written_right_to_left() -> None:
    arabic = _email(
        locale="ar", subject="بطاقة العائلة", body_text="مرحبا،\n\nبطاقتك جاهزة: https://stadt.example/card\n"
    )
    html = _html(compose(arabic, SENDER, "stadt.example", city_name="Köln"))

    assert '<html lang="ar" dir="rtl">' in html
    assert '<div lang="ar" dir="rtl"' in html
    assert "text-align:right" in html
    assert "مرحبا،" in html
    assert '<a href="https://stadt.example/card"' in html


def test_the_layout_uses_inline_styles_only_and_no_images() -> None:
    html = _html(compose(_email(), SENDER, "stadt.example", city_name="Köln"))
    lowered = html.lower()
    for absent in ("<style", "<link", "<img", "<script", "background-image", "url("):
        assert absent not in lowered


def test_the_callers_own_html_is_sent_as_it_is() -> None:
    message = compose(_email(body_html="<p>Eigenes HTML</p>"), SENDER, "stadt.example", city_name="Köln")
    assert _html(message) == "<p>Eigenes HTML</p>\n"


def test_an_email_queued_before_languages_were_recorded_stays_plain_text() -> None:
    message = compose(_email(locale=None), SENDER, "stadt.example", city_name="Köln")
    assert message.get_content_type() == "text/plain"


def test_without_a_city_name_the_header_names_the_sender() -> None:
    assert header_title("", SENDER) == "Familienkarte Köln"
    assert header_title("", "noreply@stadt.example") == "Familienkarte"
    assert header_title("Hamm", SENDER) == "Hamm"


def test_attachments_wrap_the_alternative_in_mixed() -> None:
    pdf = b"%PDF-1.4 figures"
    row = _email(
        attachments=[
            EmailAttachment(
                position=0, filename="familienkarte-2026-07.pdf", content_type="application/pdf", content=pdf
            ),
            EmailAttachment(position=1, filename="liste.csv", content_type="text/csv", content=b"a;b\n1;2\n"),
        ]
    )
    message = _reparsed(compose(row, SENDER, "stadt.example", city_name="Köln"))

    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["multipart/alternative", "application/pdf", "text/csv"]
    assert [p.get_content_type() for p in parts[0].iter_parts()] == ["text/plain", "text/html"]
    files = list(message.iter_attachments())
    assert [f.get_filename() for f in files] == ["familienkarte-2026-07.pdf", "liste.csv"]
    assert files[0].get_content() == pdf
    assert files[1].get_content_disposition() == "attachment"
    # The same e-mail gives the same bytes on every attempt.
    assert (
        compose(row, SENDER, "stadt.example", city_name="Köln").as_bytes()
        == compose(row, SENDER, "stadt.example", city_name="Köln").as_bytes()
    )


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("", "application/pdf"),
        ("../etc/passwd", "application/pdf"),
        ("a\r\nBcc: x@example.org", "application/pdf"),
        ("x" * 201, "application/pdf"),
        ("report.pdf", "pdf"),
        ("report.pdf", "application/pdf\r\nX: y"),
    ],
)
def test_a_wrong_attachment_is_refused_before_anything_is_stored(filename: str, content_type: str) -> None:
    with pytest.raises(ValueError, match="attachment"):
        Attachment(filename, content_type, b"x")


def test_paragraphs_keep_lines_and_links_end_before_punctuation() -> None:
    shown = paragraphs("a\nb\n\n\n(see https://x.example/p).\n")
    assert [str(p) for p in shown] == [
        "a<br>\nb",
        '(see <a href="https://x.example/p" style="color:#0b4f8a;text-decoration:underline;">https://x.example/p</a>).',
    ]
    assert str(linkify('"><script>')) == "&#34;&gt;&lt;script&gt;"


def test_the_html_of_a_text_names_its_language_even_without_a_catalogue() -> None:
    html = html_for_text("Hello", subject="Hi", locale="en", title="Hamm")
    assert '<html lang="en" dir="ltr">' in html
    assert "Family card" in html
    german = html_for_text("Hallo", subject="Hi", locale="de", title="Hamm")
    assert "Familienkarte" in german


def test_every_family_language_writes_its_e_mail_in_its_own_direction() -> None:
    for locale in i18n.FAMILY_REQUIRED_LOCALES:
        message = compose(_email(locale=locale, subject="Familienkarte", body_text="1234\n"), SENDER, "stadt.example")
        html = _html(message)
        direction = "rtl" if locale == "ar" else "ltr"
        assert f'<html lang="{locale}" dir="{direction}">' in html, locale
        assert message["Content-Language"] == locale


def test_leichte_sprache_e_mails_are_german_to_mail_programs() -> None:
    message = compose(_email(locale="ls", subject="Familienkarte", body_text="Hallo\n"), SENDER, "stadt.example")
    assert '<html lang="de" dir="ltr">' in _html(message)
    assert message["Content-Language"] == "de"
