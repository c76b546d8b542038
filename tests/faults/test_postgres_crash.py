"""kill -9 of PostgreSQL in the middle of a write load: every write the API acknowledged
is there after the restart, the outage is answered 503 (never 500), and the API recovers
without being restarted itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import asgi_client
from tests.factories import make_authed_user
from tests.faults.postgres import PrivatePostgres
from tests.waiting import wait_until
from vibes import migrations
from vibes.app import create_app
from vibes.config import Settings

pytestmark = pytest.mark.slow  # real processes, SIGKILLed and started again

WRITERS = 6


async def test_every_acknowledged_write_survives_a_kill_9_of_postgresql(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    await migrations.upgrade(private_postgres.url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=private_postgres.url,
        run_dispatcher=False,
        rate_limits_enabled=False,
        database_pool_size=4,
    )
    app = create_app(settings)
    acknowledged: list[str] = []
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async with app.router.lifespan_context(app):
        user = await make_authed_user(app)
        async with asgi_client(app, raise_app_exceptions=False) as client:

            async def writer(number: int) -> None:
                sequence = 0
                while not stop.is_set():
                    sequence += 1
                    response = await client.post(
                        "/api/v1/journals",
                        json={"title": f"w{number}-{sequence}", "content": "kept"},
                        headers=user.headers,
                    )
                    statuses[response.status_code] += 1
                    if response.status_code == 201:
                        acknowledged.append(response.json()["id"])
                    else:
                        await asyncio.sleep(0.02)  # as a client told to retry later

            writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
            try:
                await wait_until(lambda: len(acknowledged) >= 40, timeout=30)
                await asyncio.to_thread(private_postgres.kill)
                at_crash = len(acknowledged)
                await wait_until(lambda: statuses[503] >= WRITERS, message="503s while down")
                await asyncio.to_thread(private_postgres.start)
                await wait_until(
                    lambda: len(acknowledged) >= at_crash + 40,
                    timeout=30,
                    message="writes acknowledged again after the restart",
                )
            finally:
                stop.set()
                await asyncio.gather(*writers)

    conn = await asyncpg.connect(private_postgres.dsn)
    try:
        stored = {str(row["id"]) for row in await conn.fetch("SELECT id FROM journals")}
    finally:
        await conn.close()
    assert set(statuses) <= {201, 503}, statuses
    assert len(set(acknowledged)) == len(acknowledged)
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
