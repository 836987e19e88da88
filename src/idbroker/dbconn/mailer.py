"""Outgoing mail (password reset and email verification links).

Two mailers behind one interface: SMTP (stdlib ``smtplib`` in a worker thread) when
``IDBROKER_SMTP_HOST`` is set, otherwise one ``.eml`` file per message in the outbox
directory (default ``{data_dir}/outbox``), which the demo and tests read. See docs/mailer.md.

A message body holds a single-use link, which is a credential for a while: it is never
logged; log lines name the recipient's domain and the message kind only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from idbroker.settings import Settings

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class OutboxMailer:
    """Writes each message as ``<time>-<random>.eml``: written to a temporary name and then
    renamed, so a reader never sees half a message. Files are readable by the owner only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns()}-{secrets.token_hex(4)}.eml"
        temporary = self.directory / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
        temporary.rename(self.directory / name)


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.security = settings.smtp_security
        self.timeout = settings.smtp_timeout
        self.username = settings.smtp_username
        secret = settings.smtp_password
        self.password = secret.get_secret_value() if secret else None

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.security == "starttls":
                # Required, not opportunistic: a server without STARTTLS fails the send
                # rather than receiving a reset link in the clear.
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


def mailer_for(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return OutboxMailer(settings.mail_outbox_dir or settings.data_dir / "outbox")


def compose(settings: Settings, *, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="idbroker.invalid")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


async def deliver(settings: Settings, message: EmailMessage, kind: str) -> bool:
    """Send, logging (never raising) a failure: the caller has already answered the person
    with a response that must not depend on whether mail could be sent."""
    domain = str(message["To"]).rpartition("@")[2]
    try:
        await mailer_for(settings).send(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("%s mail to a recipient at %s not sent: %s", kind, domain, type(exc).__name__)
        return False
    log.info("%s mail sent to a recipient at %s", kind, domain)
    return True
