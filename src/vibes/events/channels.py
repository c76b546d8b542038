"""The channels an event leaves by: signed webhooks and email (the live stream is broker.py).

Each send makes one attempt and reports its outcome; retries are the dispatcher's business.
No database work happens here, so no transaction is held open across the network. A
webhook's POST itself is in `webhook_http`, with aiohttp: this module is imported by every
process (the API reads payloads and secrets from it), that one only by the one delivering.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import time
from base64 import b64encode
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook as StandardWebhook

from vibes import __version__
from vibes.config import Settings
from vibes.platform.mail import MessageRefused, send_mail
from vibes.recording.models import OutboxEvent

USER_AGENT = f"Vibes-Webhooks/{__version__}"


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and 32 random bytes in base64."""
    return "whsec_" + b64encode(secrets.token_bytes(32)).decode()


def event_payload(event: OutboxEvent) -> dict[str, Any]:
    """The thin document every channel sees: ids and metadata, never an entry's text."""
    return {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }


def encode_payload(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    # The receiver said the hook is gone (410): disable it, retry nothing.
    gone: bool = False
    # A failure that no retry can fix.
    permanent: bool = False


def url_host(url: str) -> str:
    """The part of a webhook URL that may be logged: its host (and port). The path and
    query can hold the receiver's secret (`/hooks/<token>`, `?key=`), and the user part
    credentials; none of them is ever written to a log."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def sign_headers(secret: str, *, msg_id: str, body: str, at: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt."""
    signature = StandardWebhook(secret).sign(msg_id, at, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


async def send_email(settings: Settings, *, to: str, subject: str, body: str) -> Outcome:
    started = time.perf_counter()
    try:
        sent = await send_mail(settings, to=to, subject=subject, body=body)
    except MessageRefused as exc:
        # The message cannot be built: every retry would fail the same way.
        return Outcome(
            ok=False,
            error=str(exc)[:500],
            permanent=True,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )
    except Exception as exc:
        # aiosmtplib raises its own errors and OSError subclasses; every one is retried.
        return Outcome(
            ok=False,
            error=f"{type(exc).__name__}: {exc}"[:500],
            duration_ms=int((time.perf_counter() - started) * 1000),
        )
    duration = int((time.perf_counter() - started) * 1000)
    if not sent:
        return Outcome(
            ok=False, error="SMTP is not configured", permanent=True, duration_ms=duration
        )
    return Outcome(ok=True, duration_ms=duration)


def due_at(event_data: dict[str, Any], created_at: dt.datetime) -> dt.datetime:
    """When an event was due: a reminder's fire time, else the event's creation."""
    raw = event_data.get("due_at")
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(raw)
    return created_at
