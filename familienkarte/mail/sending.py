"""How an e-mail leaves the outbox: the message as it goes out, the transports, and the non-blocking wake-up.

Transports: SMTP (production; Mailpit in docker-compose) and a folder of ``.eml`` files (the demo's ``var/mail/``).
Both are deterministic per e-mail: the Message-ID is derived from the e-mail's id, and the folder transport names
the file by that id, so a repeated delivery overwrites instead of adding a second copy, and a receiving system can
recognise a duplicate SMTP delivery by its Message-ID.
"""

from __future__ import annotations

import logging
import os
import queue
import smtplib
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from familienkarte.mail.models import Email
    from familienkarte.settings import Settings

log = logging.getLogger("familienkarte.mail")

SMTP_TIMEOUT = 10.0


class MailDeliveryFailed(Exception):
    """The transport could not hand the e-mail over; the message says why, for ``Email.last_error``."""


def message_id(email_id: uuid.UUID, domain: str) -> str:
    return f"<{email_id}@{domain}>"


def compose(email: Email, sender: str, domain: str) -> EmailMessage:
    """The message exactly as it goes out; the same for every attempt at the same e-mail."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = format_datetime(email.created_at)
    message["Message-ID"] = message_id(email.id, domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.body_text)
    if email.body_html:
        message.add_alternative(email.body_html, subtype="html")
    return message


class MailTransport(Protocol):
    sender: str
    domain: str

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
    ) -> None:
        self.sender = sender
        self.domain = domain
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

    def __init__(self, sender: str, domain: str, directory: Path) -> None:
        self.sender = sender
        self.domain = domain
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
    mail_dir = settings.effective_mail_dir
    if mail_dir is not None:
        return DirectoryTransport(settings.mail_from, domain, mail_dir)
    return SmtpTransport(
        settings.mail_from,
        domain,
        settings.smtp_host,
        settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
    )


class BackgroundWaker:
    """Calls ``publish`` with newly queued e-mail ids on a thread of its own, so the caller never waits for it.

    The queue is bounded and a full queue drops the wake-up: the outbox flush sends those e-mails anyway.
    A failing ``publish`` (broker down) is logged and forgotten for the same reason.
    """

    def __init__(self, publish: Callable[[Sequence[uuid.UUID]], None], maxsize: int = 1000) -> None:
        self._publish = publish
        self._maxsize = maxsize
        self._queue: queue.Queue[list[uuid.UUID]] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def __call__(self, email_ids: Sequence[uuid.UUID]) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(list(email_ids))
        except queue.Full:
            log.warning("mail wake-up queue full; the outbox flush will send %d e-mail", len(email_ids))

    def _ensure_thread(self) -> None:
        # A forked child inherits the object but not the thread: start one per process.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._queue = queue.Queue(self._maxsize)
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="mail-waker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            ids = self._queue.get()
            try:
                self._publish(ids)
            except Exception as exc:
                log.info("could not wake the mail worker (%s); the outbox flush will send %d e-mail", exc, len(ids))
            finally:
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every wake-up handed in so far was published or given up (tests, shutdown)."""
        self._queue.join()
