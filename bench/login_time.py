"""Time one login end to end (HTTP in process, SQLite, Argon2id verify) and its parts.

    .venv/bin/python bench/login_time.py [rounds]

Prints the median and p95 of: a bare Argon2id verify with the default parameters, and a
full POST /api/v1/auth/login through the app (rate limits off so they do not interfere).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from vibes import migrations
from vibes.accounts import passwords
from vibes.app import create_app
from vibes.config import Settings

PASSWORD = "violet kettle drums at noon"


def _summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"{name:<32} median {statistics.median(ordered) * 1000:7.1f} ms"
        f"   p95 {p95 * 1000:7.1f} ms   (n={len(ordered)})"
    )


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, data_dir=data, rate_limits_enabled=False, run_dispatcher=False
        )
        await migrations.upgrade(settings.resolved_database_url)
        stored = await passwords.hash_password(settings, PASSWORD)
        verify: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            assert await passwords.verify_password(settings, stored, PASSWORD)
            verify.append(time.perf_counter() - started)

        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                email = "bench@example.com"
                response = await c.post(
                    "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
                )
                response.raise_for_status()
                logins: list[float] = []
                failures: list[float] = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    ok = await c.post(
                        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                    )
                    logins.append(time.perf_counter() - started)
                    assert ok.status_code == 200
                    started = time.perf_counter()
                    bad = await c.post(
                        "/api/v1/auth/login",
                        json={"email": "nobody@example.com", "password": PASSWORD},
                    )
                    failures.append(time.perf_counter() - started)
                    assert bad.status_code == 401
        print(
            f"Argon2id m={settings.password_hash_memory_kib} KiB, "
            f"t={settings.password_hash_time_cost}, p={settings.password_hash_parallelism}"
        )
        print(_summary("argon2id verify", verify))
        print(_summary("POST /auth/login (200)", logins))
        print(_summary("POST /auth/login unknown (401)", failures))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
