"""The collector's settings after startup (`platform/memory`)."""

import gc
import os
import subprocess
import sys

from vibes.config import Settings
from vibes.platform.memory import FULL_COLLECTION_EVERY, freeze_startup_objects


def test_startup_freezes_and_makes_full_collections_rarer() -> None:
    freeze_startup_objects()
    freeze_startup_objects()  # once per process: a second call changes nothing
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[2] == FULL_COLLECTION_EVERY


_SERVE_WITHOUT_WEBHOOKS = """
import asyncio, sys
import httpx
from vibes.app import create_app
from vibes.config import Settings

async def main():
    app = create_app(Settings(_env_file=None))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = {"email": "m@example.com", "password": "a long enough password 1"}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            answer = await client.post("/api/v1/auth/login", json=body)
            headers = {"Authorization": "Bearer " + answer.json()["access_token"]}
            entry = {"title": "t", "content": "c"}
            r = await client.post("/api/v1/journals", json=entry, headers=headers)
            assert r.status_code == 201, r.text
            await asyncio.sleep(0.5)  # the dispatcher fans the event out meanwhile
    print("aiohttp" in sys.modules)

asyncio.run(main())
"""


def test_a_serving_process_loads_aiohttp_only_to_deliver_a_webhook(settings: Settings) -> None:
    """aiohttp is ~7 MiB of a serving process and a tenth of a second of its start: an API
    process that delivers no webhook (PostgreSQL's, whose `vibes worker` delivers) never
    loads it. The embedded default runs the dispatcher, as here, and still does not."""
    env = {
        **os.environ,
        "VIBES_DATA_DIR": str(settings.data_dir),
        "VIBES_DATABASE_URL": settings.resolved_database_url,
        "VIBES_RUN_DISPATCHER": "true",
    }
    env.pop("VIBES_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_WITHOUT_WEBHOOKS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
