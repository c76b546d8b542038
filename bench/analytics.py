"""Dashboard latency for one user with many entries on PostgreSQL: p50/p95 cold and warm.

    .venv/bin/python bench/analytics.py \
        --database-url postgresql://postgres@127.0.0.1:5432/vibes_bench_analytics

Creates (drops first!) that database, loads one user with `--entries` entries spread over
three years and 20 tags (~1.5 links per entry) with `seed.py`'s COPY loader, then calls
`GET /api/v1/analytics/dashboard` in process through the whole app (ASGI, auth, vault
rule, JSON). *Cold*: the user's cache generation is bumped before every call, so each one
runs the queries; *warm*: repeated calls answered from the cache. Drops the database at
the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from seed import _create_database, _dsn, seed
from vibes.accounts.tokens import issue_access_token
from vibes.app import create_app
from vibes.config import Settings
from vibes.platform.keys import load_keyring
from vibes.platform.runtime import app_runtime


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"
        f"   max {ordered[-1] * 1000:7.1f} ms   (n={len(ordered)})"
    )


async def run(
    url: str, entries: int, cold: int, warm: int, period: str, redis: str | None, writes: int
) -> None:
    await _create_database(url)
    await seed(url, users=1, entries=entries, seed_value=42)
    conn = await asyncpg.connect(_dsn(url))
    try:
        # A zone with daylight saving, so local days are not UTC days. As an account zone
        # change does (`journals.days`), the user's per-day rows are rebuilt: timed.
        await conn.execute("UPDATE users SET timezone = 'Europe/Berlin'")
        start = time.perf_counter()
        await conn.execute(
            "DELETE FROM entry_days;"
            " INSERT INTO entry_days SELECT user_id, coalesce(secret_tag_id,"
            " '00000000-0000-0000-0000-000000000000'), d, count(*), sum(word_count),"
            " coalesce(sum(mood_rating), 0), count(mood_rating) FROM (SELECT *,"
            " CAST(timezone('Europe/Berlin', entry_date) AS DATE) AS d FROM journals) j"
            " GROUP BY 1, 2, 3"
        )
        print(
            f"zone change: per-day rows of {entries:,} entries rebuilt in"
            f" {(time.perf_counter() - start) * 1000:.0f} ms"
        )
        # As autovacuum leaves a settled table: the visibility map lets index-only scans
        # skip the heap.
        await conn.execute("VACUUM ANALYZE")
        session = await conn.fetchrow("SELECT id, user_id FROM auth_sessions LIMIT 1")
    finally:
        await conn.close()
    assert session is not None
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(data_dir),
            database_url=url.replace("postgresql://", "postgresql+asyncpg://", 1),
            redis_url=redis,
            rate_limits_enabled=False,
            run_dispatcher=False,
            access_log=False,
        )
        keyring = load_keyring(settings)
        token, _ = issue_access_token(
            keyring, settings, user_id=session["user_id"], session_id=session["id"]
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            cache = app_runtime(app).user_cache
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = {"Authorization": f"Bearer {token}"}
                path = f"/api/v1/analytics/dashboard?period={period}"

                async def timed() -> float:
                    start = time.perf_counter()
                    response = await client.get(path, headers=headers)
                    elapsed = time.perf_counter() - start
                    assert response.status_code == 200, response.text
                    return elapsed

                first = await timed()
                summary = (await client.get(path, headers=headers)).json()["summary"]
                print(f"entries {summary['total_journals']}, streak {summary['writing_streak']}")
                print(f"first call (cold connections and plans): {first * 1000:.1f} ms")
                cold_samples = []
                for _ in range(cold):
                    await cache.bump([session["user_id"]])
                    cold_samples.append(await timed())
                warm_samples = [await timed() for _ in range(warm)]
                print(f"dashboard?period={period} cold  {_percentiles(cold_samples)}")
                print(f"dashboard?period={period} warm  {_percentiles(warm_samples)}")
                if writes:
                    await _write_cost(url, client, headers, writes)


async def _write_cost(
    url: str, client: httpx.AsyncClient, headers: dict[str, str], rounds: int
) -> None:
    """What keeping `entry_days` and `tag_uses` adds to writes: single creates (two
    tags) and 1000-entry batches with their insert triggers enabled and disabled,
    alternating round by round in the same process and database. Wall time per request,
    and this process's CPU per request (the server side of an in-process call; the
    triggers run in PostgreSQL, so the wall time carries their cost)."""
    words = " ".join(["quiet harbour light"] * 20)
    single = {"title": "bench", "content": words, "tags": ["alpha", "beta"]}
    batch = {"items": [{**single, "title": f"bench {i}"} for i in range(1000)]}
    samples: dict[bool, dict[str, list[float]]] = {
        on: {"single": [], "single cpu": [], "batch": [], "batch cpu": []} for on in (True, False)
    }
    admin = await asyncpg.connect(_dsn(url))
    try:
        for round_ in range(rounds):
            for on in (True, False) if round_ % 2 == 0 else (False, True):
                state = "ENABLE" if on else "DISABLE"
                await admin.execute(f"ALTER TABLE journals {state} TRIGGER entry_days_after_insert")
                await admin.execute(
                    f"ALTER TABLE journal_tags {state} TRIGGER tag_uses_after_insert"
                )
                for path, body, n, name in (
                    ("/api/v1/journals", single, 20, "single"),
                    ("/api/v1/journals/batch", batch, 1, "batch"),
                ):
                    for _ in range(n):
                        cpu, start = time.process_time(), time.perf_counter()
                        response = await client.post(path, json=body, headers=headers)
                        samples[on][name].append(time.perf_counter() - start)
                        samples[on][f"{name} cpu"].append(time.process_time() - cpu)
                        assert response.status_code == 201, response.text
    finally:
        await admin.execute("ALTER TABLE journals ENABLE TRIGGER entry_days_after_insert")
        await admin.execute("ALTER TABLE journal_tags ENABLE TRIGGER tag_uses_after_insert")
        await admin.close()
    for name in ("single", "batch"):
        for on in (True, False):
            label = "with the summary triggers  " if on else "without (triggers disabled)"
            wall = sorted(samples[on][name])
            cpu = samples[on][f"{name} cpu"]
            print(
                f"{name:6} create {label}: wall p50 {statistics.median(wall) * 1000:7.2f} ms"
                f"  p95 {wall[max(0, round(0.95 * len(wall)) - 1)] * 1000:7.2f} ms"
                f"  server CPU mean {statistics.mean(cpu) * 1000:6.2f} ms  (n={len(wall)})"
            )


async def drop(url: str) -> None:
    target = make_url(url)
    admin = await asyncpg.connect(_dsn(str(target.set(database="postgres"))))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="postgresql://… (dropped first!)")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--cold", type=int, default=40)
    parser.add_argument("--warm", type=int, default=400)
    parser.add_argument("--period", default="year", choices=["week", "month", "quarter", "year"])
    parser.add_argument("--redis-url", default=None, help="cache in Redis (default: memory)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--writes", type=int, default=0, help="rounds of the write-cost comparison (0: none)"
    )
    args = parser.parse_args()
    try:
        asyncio.run(
            run(
                args.database_url,
                args.entries,
                args.cold,
                args.warm,
                args.period,
                args.redis_url,
                args.writes,
            )
        )
    finally:
        if not args.keep:
            asyncio.run(drop(args.database_url))


if __name__ == "__main__":
    main()
