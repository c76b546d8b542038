"""Outgoing mail over SMTP (aiosmtplib). Without VIBES_SMTP_HOST nothing is sent."""

from __future__ import annotations

import unicodedata
from email.message import EmailMessage

import aiosmtplib
import structlog

from vibes.config import Settings

log = structlog.get_logger("vibes.mail")


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


class MessageRefused(ValueError):
    """The message cannot be built (a bad address or header): retrying will not help."""


def clean_subject(subject: str) -> str:
    """One line of text: a CR or LF in a header would raise (or, worse, inject a header),
    so every run of whitespace and control characters becomes a single space."""
    cleaned = "".join(
        " " if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") else ch
        for ch in subject
    )
    return " ".join(cleaned.split())[:998]


def build_message(settings: Settings, *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    try:
        message["From"] = settings.smtp_from
        message["To"] = to
        message["Subject"] = clean_subject(subject)
        message.set_content(body)
    except (ValueError, TypeError, IndexError) as exc:
        raise MessageRefused(f"{type(exc).__name__}: {exc}") from None
    return message


async def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> bool:
    """Send one plain-text mail. False when SMTP is not configured; raises on SMTP errors
    so callers that retry (the dispatcher) can, and MessageRefused when the message itself
    cannot be built (permanent)."""
    if not settings.smtp_host:
        log.info("mail not sent: SMTP is not configured")
        return False
    message = build_message(settings, to=to, subject=subject, body=body)
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )
    return True
