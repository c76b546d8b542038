"""The channels an event leaves by: signed webhooks and email (the live stream is broker.py).

Each send makes one attempt and reports its outcome; retries are the dispatcher's business.
No database work happens here, so no transaction is held open across the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import time
from base64 import b64encode
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from standardwebhooks import Webhook as StandardWebhook
from yarl import URL

from vibes import __version__
from vibes.config import Settings
from vibes.events.netguard import DestinationRefused, resolve
from vibes.events.pools import ConnectionPools, PoolKey
from vibes.platform.mail import MessageRefused, send_mail
from vibes.recording.models import OutboxEvent

USER_AGENT = f"Vibes-Webhooks/{__version__}"
# A receiver's answer is read up to this many bytes, to keep its connection; a longer
# one is cut off with the connection.
DRAIN_LIMIT = 64 * 1024


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


def describe(exc: BaseException) -> str:
    """A failed attempt's error as its owner reads it: what went wrong, without the
    request's URL (aiohttp quotes it whole in some errors) or the address connected to
    (which netguard's answers never tell)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"{name}: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # The errno's own words: the loop's message quotes the address.
        cause = exc.os_error
        return f"{name}: {os.strerror(cause.errno) if cause.errno else type(cause).__name__}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{name}: {exc.status}, {exc.message}"
    return f"{name}: {exc}"


def sign_headers(secret: str, *, msg_id: str, body: str, at: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt."""
    signature = StandardWebhook(secret).sign(msg_id, at, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


async def send_webhook(
    pools: ConnectionPools,
    settings: Settings,
    *,
    url: str,
    secret: str,
    msg_id: str,
    body: str,
) -> Outcome:
    """POST one signed event to `url`, connecting to the address vetted just now (on a
    connection kept alive for this site on this address, or a new one)."""
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        destination = await resolve(url, allow_private=settings.webhooks_allow_private)
    except DestinationRefused as exc:
        return Outcome(ok=False, error=str(exc), duration_ms=elapsed())
    # Connect to the vetted address (no second DNS lookup to rebind), keep the name for
    # the Host header and for TLS (SNI and certificate checks).
    address = str(destination.addresses[0])
    try:
        original = URL(url)
        target = (
            original.with_scheme(destination.scheme).with_host(address).with_port(destination.port)
        )
    except ValueError as exc:
        return Outcome(ok=False, error=f"The URL is not valid: {exc}"[:500], permanent=True)
    host = original.host_port_subcomponent or destination.host
    key = PoolKey(destination.scheme, address, destination.port, host)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": host,
        **sign_headers(secret, msg_id=msg_id, body=body, at=dt.datetime.now(dt.UTC)),
    }
    server_name = original.raw_host if destination.scheme == "https" else None
    timeout = settings.webhook_timeout_seconds
    try:
        async with (
            asyncio.timeout(timeout),
            pools.session(key) as session,
            session.post(
                target,
                data=body.encode(),
                headers=headers,
                allow_redirects=False,
                server_hostname=server_name,
            ) as r,
        ):
            status = r.status
            # A receiver cannot make us download a large body: a small one is read to
            # its end so the connection can serve the next request; past the cap the
            # response is closed unread, which drops its connection.
            drained = 0
            async for chunk in r.content.iter_any():
                drained += len(chunk)
                if drained > DRAIN_LIMIT:
                    r.close()
                    break
    except TimeoutError:
        return Outcome(ok=False, error=f"timed out after {timeout:g} s", duration_ms=elapsed())
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Outcome(ok=False, error=describe(exc)[:500], duration_ms=elapsed())
    if 200 <= status < 300:
        return Outcome(ok=True, status_code=status, duration_ms=elapsed())
    if status == 410:
        return Outcome(
            ok=False,
            status_code=status,
            error="receiver answered 410 Gone",
            gone=True,
            permanent=True,
            duration_ms=elapsed(),
        )
    error = "redirect not followed" if 300 <= status < 400 else f"HTTP {status}"
    return Outcome(ok=False, status_code=status, error=error, duration_ms=elapsed())


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
