"""The rate-limit and security-header middleware alone, around a no-op ASGI app.

    .venv/bin/python bench/middleware_isolated.py [calls]

Prints microseconds per call for: the bare app, + security headers, + rate limit
(anonymous, by address), + rate limit with a bearer token (signature checked once, then
cached). In-memory limiter storage; with Redis add one round trip.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from limits.aio.storage import MemoryStorage

from vibes.accounts.tokens import issue_access_token, make_subject_reader
from vibes.config import Settings
from vibes.platform.keys import load_keyring
from vibes.platform.ratelimit import RateLimiter, RateLimitMiddleware
from vibes.platform.security import SecurityHeadersMiddleware


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


async def _time(app: Any, headers: list[tuple[bytes, bytes]], calls: int) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/journals",
        "headers": headers,
        "client": ("203.0.113.5", 5000),
        "scheme": "http",
    }
    for _ in range(200):
        await app(dict(scope), _receive, _send)
    started = time.perf_counter()
    for _ in range(calls):
        await app(dict(scope), _receive, _send)
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))  # type: ignore[call-arg]
        keyring = load_keyring(settings)
        limiter = RateLimiter(MemoryStorage(), key=b"k" * 32)
        token, _ = issue_access_token(
            keyring, settings, user_id=uuid.uuid4(), session_id=uuid.uuid4()
        )
        limited = RateLimitMiddleware(
            _noop,
            limit="100000000/minute",
            identify=make_subject_reader(keyring, settings),
            limiter=lambda: limiter,
        )
        bearer = [(b"authorization", f"Bearer {token}".encode())]
        rows = [
            ("bare app", await _time(_noop, [], calls)),
            ("+ security headers", await _time(SecurityHeadersMiddleware(_noop), [], calls)),
            ("+ rate limit (address)", await _time(limited, [], calls)),
            ("+ rate limit (bearer)", await _time(limited, bearer, calls)),
        ]
        for name, micros in rows:
            print(f"{name:<26} {micros:6.1f} us/call")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
