"""CPU per request of the app itself, called in-process (no HTTP server, no wrk).

    PYTHONPATH=<checkout>/src .venv/bin/python bench/inprocess.py get|list [N] [DATABASE_URL]

Drives `GET /journals/{id}` or `GET /journals` through the ASGI app N times against the
seeded benchmark database (see seed.py) and prints this process's CPU time per request.
CPU time, unlike req/s, barely moves when other work shares the machine: run it with
two checkouts' `src` alternately to compare two versions on a busy box.
"""

import asyncio
import pathlib
import random
import sys
import tempfile
import time
from typing import Any

import asyncpg

from vibes.accounts.tokens import issue_access_token
from vibes.app import create_app
from vibes.config import Settings
from vibes.platform.keys import load_keyring

KIND = sys.argv[1] if len(sys.argv) > 1 else "get"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
URL = (
    sys.argv[3] if len(sys.argv) > 3 else "postgresql+asyncpg://postgres@127.0.0.1:5432/vibes_bench"
)
WARM_UP = 300


def _scope(path: str, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("bench", 80),
    }


async def main() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=pathlib.Path(tempfile.mkdtemp()),
        database_url=URL,
        rate_limits_enabled=False,
        run_dispatcher=False,
        database_pool_size=4,
        access_log=False,
    )
    keyring = load_keyring(settings)
    conn = await asyncpg.connect(URL.replace("+asyncpg", ""))
    sessions = await conn.fetch("SELECT id, user_id FROM auth_sessions LIMIT 200")
    entries = await conn.fetch(
        "SELECT id, user_id FROM journals WHERE user_id = ANY($1::uuid[])"
        " AND secret_tag_id IS NULL LIMIT 2000",
        [row["user_id"] for row in sessions],
    )
    await conn.close()
    tokens = {
        row["user_id"]: issue_access_token(
            keyring, settings, user_id=row["user_id"], session_id=row["id"]
        )[0]
        for row in sessions
    }
    app = create_app(settings)
    rng = random.Random(1)

    async def call() -> None:
        entry = entries[rng.randrange(len(entries))]
        path = f"/api/v1/journals/{entry['id']}" if KIND == "get" else "/api/v1/journals"
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(_scope(path, tokens[entry["user_id"]]), receive, send)
        assert status == [200], status

    async with app.router.lifespan_context(app):
        for _ in range(WARM_UP):
            await call()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(N):
            await call()
        cpu_us = (time.process_time() - cpu) / N * 1e6
        wall_us = (time.perf_counter() - wall) / N * 1e6
    print(f"{KIND}: {cpu_us:.0f} us CPU per request ({wall_us:.0f} us wall)")


asyncio.run(main())
