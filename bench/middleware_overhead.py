"""Per-request cost of the rate-limit and security-header middleware (in process).

    .venv/bin/python bench/middleware_overhead.py [requests] [redis-url]

Sends GET /healthz and an authenticated GET /api/v1/users/me through the ASGI app with
the limits on and off and prints the mean time per request. With a Redis URL the limiter
counts in Redis (one round trip per request); otherwise in memory.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

from vibes import migrations
from vibes.app import create_app
from vibes.config import Settings

PASSWORD = "violet kettle drums at noon"


async def _run(settings: Settings, requests: int) -> tuple[float, float]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            email = f"bench-{time.time_ns()}@example.com"
            await c.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
            tokens = (
                await c.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            ).json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            results = []
            for path, hdrs in (("/healthz", {}), ("/api/v1/users/me", headers)):
                for _ in range(50):
                    await c.get(path, headers=hdrs)
                started = time.perf_counter()
                for _ in range(requests):
                    response = await c.get(path, headers=hdrs)
                assert response.status_code == 200, response.text
                results.append((time.perf_counter() - started) / requests)
            return results[0], results[1]


async def main(requests: int, redis_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        base = Settings(_env_file=None, data_dir=data, run_dispatcher=False)  # type: ignore[call-arg]
        await migrations.upgrade(base.resolved_database_url)
        for enabled in (False, True):
            settings = base.model_copy(
                update={
                    "rate_limits_enabled": enabled,
                    "rate_limit_default": "1000000/minute",
                    "redis_url": redis_url,
                    "redis_prefix": f"vibes-bench:{time.time_ns()}:",
                }
            )
            health, me = await _run(settings, requests)
            where = "redis" if redis_url else "memory"
            label = f"limits {'on ' if enabled else 'off'} ({where})"
            print(
                f"{label:<22} GET /healthz {health * 1e6:7.0f} us/req"
                f"   GET /users/me {me * 1e6:7.0f} us/req"
            )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    asyncio.run(main(count, sys.argv[2] if len(sys.argv) > 2 else None))
