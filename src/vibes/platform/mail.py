"""Outgoing mail over SMTP (aiosmtplib). Without VIBES_SMTP_HOST nothing is sent."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import structlog

from vibes.config import Settings

log = structlog.get_logger("vibes.mail")


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def build_message(settings: Settings, *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


async def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> bool:
    """Send one plain-text mail. False when SMTP is not configured; raises on SMTP errors
    so callers that retry (the dispatcher) can."""
    if not settings.smtp_host:
        log.info("mail not sent: SMTP is not configured", subject=subject)
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
