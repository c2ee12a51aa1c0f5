"""How an e-mail leaves the outbox: the message as it goes out, the transports, and the non-blocking wake-up.

Transports: SMTP (production; Mailpit in docker-compose) and a folder of ``.eml`` files (the demo's ``var/mail/``).
Both are deterministic per e-mail: the Message-ID is derived from the e-mail's id, and the folder transport names
the file by that id, so a repeated delivery overwrites instead of adding a second copy, and a receiving system can
recognise a duplicate SMTP delivery by its Message-ID.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from familienkarte import i18n
from familienkarte.city import load_city
from familienkarte.mail.bidi import plain_text
from familienkarte.mail.html import header_title, html_for_text

if TYPE_CHECKING:
    from familienkarte.mail.models import Email
    from familienkarte.settings import Settings

log = logging.getLogger("familienkarte.mail")

SMTP_TIMEOUT = 10.0


class MailDeliveryFailed(Exception):
    """The transport could not hand the e-mail over; the message says why, for ``Email.last_error``."""


def message_id(email_id: uuid.UUID, domain: str) -> str:
    return f"<{email_id}@{domain}>"


def compose(email: Email, sender: str, domain: str, *, city_name: str = "") -> EmailMessage:
    """The message exactly as it goes out; the same for every attempt at the same e-mail.

    An e-mail that knows its language goes out as multipart/alternative: the text, and HTML (the caller's, or
    the text laid out by ``familienkarte.mail.html`` with ``city_name`` as its header). In a language written
    right to left, both parts isolate the left-to-right tokens (``familienkarte.mail.bidi``). Attachments wrap that in
    multipart/mixed. An e-mail without a language (queued before languages were recorded) stays plain text.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = format_datetime(email.created_at)
    message["Message-ID"] = message_id(email.id, domain)
    message["Auto-Submitted"] = "auto-generated"
    # In a language written right to left, card numbers, codes and addresses are isolated as left to right.
    message.set_content(plain_text(email.body_text, email.locale))
    html = email.body_html
    if not html and email.locale:
        html = html_for_text(
            email.body_text, subject=email.subject, locale=email.locale, title=header_title(city_name, sender)
        )
    if html:
        message.add_alternative(html, subtype="html")
    for attachment in email.attachments:
        maintype, _slash, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    # Boundaries from the e-mail's id instead of random ones: every attempt sends the same bytes.
    for index, part in enumerate(part for part in message.walk() if part.is_multipart()):
        part.set_boundary(f"=_fk{index}_{email.id.hex}")
    if email.locale:
        # Last: setting the content drops every Content-* header set before.
        message["Content-Language"] = i18n.language_tag(email.locale)
    return message


class MailTransport(Protocol):
    sender: str
    domain: str
    # The header of the HTML part; empty: the sender's display name.
    city_name: str

    def deliver(self, message: EmailMessage, email_id: uuid.UUID) -> None:
        """Hand the message over; raise MailDeliveryFailed when that did not work."""
        ...


class SmtpTransport:
    """One SMTP conversation per e-mail, with timeouts so that a hanging server cannot hold a worker."""

    def __init__(
        self,
        sender: str,
        domain: str,
        host: str,
        port: int,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = SMTP_TIMEOUT,
        city_name: str = "",
    ) -> None:
        self.sender = sender
        self.domain = domain
        self.city_name = city_name
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def deliver(self, message: EmailMessage, email_id: uuid.UUID) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            detail = str(exc).strip() or type(exc).__name__
            raise MailDeliveryFailed(f"SMTP {self.host}:{self.port}: {detail}") from exc


class DirectoryTransport:
    """Writes ``<email id>.eml`` into a folder: the embedded default's stand-in for an SMTP server."""

    def __init__(self, sender: str, domain: str, directory: Path, *, city_name: str = "") -> None:
        self.sender = sender
        self.domain = domain
        self.city_name = city_name
        self.directory = directory

    def path_for(self, email_id: uuid.UUID) -> Path:
        return self.directory / f"{email_id}.eml"

    def deliver(self, message: EmailMessage, email_id: uuid.UUID) -> None:
        target = self.path_for(email_id)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Written next to the target and renamed, so a reader never sees half a message.
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(message.as_bytes())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise MailDeliveryFailed(f"Cannot write {target}: {exc.strerror or exc}") from exc


def message_domain(settings: Settings) -> str:
    """The right-hand side of Message-IDs: the sender's domain, else the site's host name."""
    address = parseaddr(settings.mail_from)[1]
    local, at, domain = address.rpartition("@")
    if local and at and domain:
        return domain
    return urlsplit(settings.base_url).hostname or "localhost"


def transport_from_settings(settings: Settings) -> MailTransport:
    domain = message_domain(settings)
    city_name = load_city(settings.city).name
    mail_dir = settings.effective_mail_dir
    if mail_dir is not None:
        return DirectoryTransport(settings.mail_from, domain, mail_dir, city_name=city_name)
    return SmtpTransport(
        settings.mail_from,
        domain,
        settings.smtp_host,
        settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        city_name=city_name,
    )
