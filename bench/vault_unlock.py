"""How long one secret-tag unlock takes here: the Argon2id run, and the whole HTTP call.

Run from the repository root: PYTHONPATH=. .venv/bin/python bench/vault_unlock.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from vibes import migrations
from vibes.app import create_app
from vibes.config import Settings
from vibes.vault import crypto

ROUNDS = 10


def bench_kdf() -> list[float]:
    salt = crypto.new_salt()
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        crypto.derive_master("a phrase to time", salt)
        times.append(time.perf_counter() - started)
    return times


async def bench_http(data_dir: Path) -> tuple[list[float], list[float]]:
    from tests.factories import make_authed_user

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data_dir, rate_limits_enabled=False, run_dispatcher=False
    )
    await migrations.upgrade(settings.resolved_database_url)
    app = create_app(settings)
    right, wrong = [], []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            user = await make_authed_user(app)
            created = await client.post(
                "/api/v1/secret-tags",
                json={"name": "bench", "phrase": "a phrase to time"},
                headers=user.headers,
            )
            assert created.status_code == 201
            for phrase, bucket in (("a phrase to time", right), ("not the phrase", wrong)):
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    response = await client.post(
                        "/api/v1/secret-tags/unlock", json={"phrase": phrase}, headers=user.headers
                    )
                    bucket.append(time.perf_counter() - started)
                    assert response.status_code in (200, 401)
    return right, wrong


def report(label: str, times: list[float]) -> None:
    print(
        f"{label:<28} median {statistics.median(times) * 1000:7.1f} ms"
        f"   min {min(times) * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms"
    )


def main() -> None:
    params = crypto.DEFAULT_KDF
    print(
        f"Argon2id m={params.memory_kib} KiB t={params.iterations} p={params.parallelism}, "
        f"{ROUNDS} rounds each"
    )
    report("Argon2id run", bench_kdf())
    with tempfile.TemporaryDirectory() as tmp:
        right, wrong = asyncio.run(bench_http(Path(tmp)))
    report("POST unlock, right phrase", right)
    report("POST unlock, wrong phrase", wrong)


if __name__ == "__main__":
    main()
