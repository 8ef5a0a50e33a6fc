"""Sending e-mail over SMTP (the standard library's smtplib), for delivered notifications."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Protocol

import msgspec


class SmtpSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where work e-mail leaves from (`actions.smtp` in vigie.yaml)."""

    host: str = "localhost"
    """The SMTP server's host name."""
    port: int = 25
    """The SMTP server's port (25, or 587 with `starttls`)."""
    sender: str = "vigie@localhost"
    """The `From` address of the e-mails."""
    starttls: bool = False
    """Whether to upgrade the connection with STARTTLS before logging in."""
    username: str | None = None
    """The login, when the server requires one."""
    password: str | None = None
    """The password of `username`."""
    timeout_seconds: float = 30.0
    """Seconds to wait for the SMTP server before a send fails."""


class Mailer(Protocol):
    """Something that sends one e-mail."""

    def send(self, *, to: str, subject: str, body: str) -> None: ...


class SmtpMailer:
    """A `Mailer` that opens one SMTP connection per message (notifications are rare)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds) as smtp:
            if s.starttls:
                smtp.starttls()
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(message)
