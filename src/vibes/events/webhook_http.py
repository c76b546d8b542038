"""A webhook's POST: one signed event to its receiver, on the pools' kept-alive connections.

The only module besides `pools` that imports aiohttp (~7 MiB and a tenth of a second or
more to import): the dispatcher imports it when it first delivers, so an API process that
runs no dispatcher (PostgreSQL: `vibes worker` delivers) never loads it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time

import aiohttp
from yarl import URL

from vibes.config import Settings
from vibes.events.channels import USER_AGENT, Outcome, sign_headers
from vibes.events.netguard import DestinationRefused, resolve
from vibes.events.pools import ConnectionPools, PoolKey

# A receiver's answer is read up to this many bytes, to keep its connection; a longer
# one is cut off with the connection.
DRAIN_LIMIT = 64 * 1024


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
