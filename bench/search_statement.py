"""Latency of entry search itself: `search.entries.search_entries` (the one statement
behind `GET /search?type=journals`) at N concurrent connections, no HTTP.

    PYTHONPATH=<checkout>/src .venv/bin/python bench/search_statement.py \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/vibes_bench] \
        [--connections 8] [--requests 3000]

Against the seeded benchmark database (seed.py). Each request is a random seeded user
(through its live session) searching one of the marker words (`lighthouse` 1 %, `harbour`
5 %, `quiet` 20 % of entries) or a two-word query; prints p50/p95/p99 per query and over
all. The same call exists in older checkouts, so running it with another checkout's `src`
on PYTHONPATH (against a database that checkout migrated) measures before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import pathlib
import random
import statistics
import tempfile
import time

import asyncpg

from vibes.accounts.tokens import AccessClaims
from vibes.config import Settings
from vibes.db import Database
from vibes.journals.visibility import Viewer
from vibes.platform.pagination import PageParams
from vibes.search.entries import search_entries

QUERIES = ["lighthouse", "harbour", "quiet", "quiet harbour", "harbours"]
WARM_UP = 200


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, connections: int, requests: int) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=pathlib.Path(tempfile.mkdtemp()),
        database_url=url,
        run_dispatcher=False,
        database_pool_size=connections,
    )
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    sessions = await conn.fetch("SELECT id, user_id FROM auth_sessions")
    await conn.close()
    now = dt.datetime.now(dt.UTC)
    claims = [
        AccessClaims(
            user_id=row["user_id"],
            session_id=row["id"],
            issued_at=now,
            expires_at=now + dt.timedelta(hours=1),
        )
        for row in sessions
    ]
    database = Database(settings)
    rng = random.Random(1)
    timings: dict[str, list[float]] = {q: [] for q in QUERIES}

    async def one(record: bool) -> None:
        claim = claims[rng.randrange(len(claims))]
        q = QUERIES[rng.randrange(len(QUERIES))]
        started = time.perf_counter()
        await search_entries(
            database, claim, Viewer(user_id=claim.user_id), q=q, page=PageParams(limit=20)
        )
        if record:
            timings[q].append((time.perf_counter() - started) * 1000)

    async def worker(count: int, record: bool) -> None:
        for _ in range(count):
            await one(record)

    try:
        await asyncio.gather(*(worker(WARM_UP // connections, False) for _ in range(connections)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(requests // connections, True) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    finally:
        await database.dispose()
    every = [t for values in timings.values() for t in values]
    print(f"{len(every)} searches, {connections} connections, {len(every) / elapsed:.0f}/s")
    print(f"{'query':<16} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for q, values in [*timings.items(), ("all", every)]:
        print(
            f"{q:<16} {len(values):>5} {statistics.median(values):>8.1f}"
            f" {_quantile(values, 0.95):>8.1f} {_quantile(values, 0.99):>8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/vibes_bench"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.connections, args.requests))


if __name__ == "__main__":
    main()
