"""What a personal access token costs per request, beside a session's access token.

    .venv/bin/python bench/pat_auth.py [N] [DATABASE_URL]

Signs up one account in a fresh app (SQLite in a temporary folder unless a URL is given),
makes a PAT, writes one entry, then drives `GET /journals/{id}` (a JWT takes the fast
path; a PAT falls back to the documented route) and `GET /users/me` N times with each
bearer through the ASGI app, and prints this process's CPU time per request. After its
first use a PAT is resolved from the per-process cache (no query) and `last_used_at` is
written at most once per `VIBES_PAT_LAST_USED_MINUTES`: the difference left is the
documented route's FastAPI machinery against the fast path's.
"""

import asyncio
import pathlib
import sys
import tempfile
import time

import httpx

from vibes.app import create_app
from vibes.config import Settings

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
URL = sys.argv[2] if len(sys.argv) > 2 else None
PASSWORD = "violet kettle drums at noon"


async def main() -> None:
    data_dir = pathlib.Path(tempfile.mkdtemp())
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        database_url=URL or f"sqlite+aiosqlite:///{data_dir}/vibes.db",
        rate_limits_enabled=False,
        run_dispatcher=False,
        access_log=False,
    )
    if URL is None:
        from vibes.migrations import upgrade

        await upgrade(settings.database_url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench/api/v1"
        ) as client,
    ):
        email = f"bench-{time.time_ns()}@example.com"
        await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        pair = (
            await client.post("/auth/login", json={"email": email, "password": PASSWORD})
        ).json()
        jwt = {"Authorization": f"Bearer {pair['access_token']}"}
        made = await client.post("/auth/tokens", json={"name": "bench"}, headers=jwt)
        pat = {"Authorization": f"Bearer {made.json()['token']}"}
        entry = await client.post("/journals", json={"title": "t", "content": "c"}, headers=jwt)
        entry_id = entry.json()["id"]
        print(f"{N} requests each, {settings.database_url.split(':')[0]}")
        for path in (f"/journals/{entry_id}", "/users/me"):
            for name, headers in (("jwt", jwt), ("pat", pat)):
                for _ in range(100):  # warm up (and the PAT's first, uncached, use)
                    assert (await client.get(path, headers=headers)).status_code == 200
                started = time.process_time()
                for _ in range(N):
                    await client.get(path, headers=headers)
                per = (time.process_time() - started) / N * 1e6
                label = path.replace(entry_id, "{id}")
                print(f"GET {label:<16} {name}: {per:7.0f} µs CPU per request")


if __name__ == "__main__":
    asyncio.run(main())
